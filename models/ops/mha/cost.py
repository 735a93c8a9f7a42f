"""Cost model of the attention layer (nnet_tf_mha.h): four token-dense projections, then `rows_parallel` attention
rows per iteration (a row: N_kv dot products of key_dim, a LUT softmax row, value_dim context sums over N_kv), with
the exp table in ceil(N_kv/2) ROM copies per row and the 1/sum table in one. Cross-attention: the queries come from
N tokens, keys and values from N_kv tokens of width kv_dim (self-attention: N_kv = N, kv_dim = the input width).
q, k, v and context are qkv_bits wide (qkv_t: quantization.attention_bits), probabilities prob_bits (prob_t); without
them (a description made before conversion) out_bits. The 1/sqrt(key_dim) scale is in the exp table (no multiply).
With distributed_arithmetic the four projections are alkaid kernels (models/ops/da.py), the rest unchanged."""

from __future__ import annotations

import math

from trigformer.models.ops.common import split_units
from trigformer.models.ops.costmodel import Dims, Path, Res, depth, mult_weights, share_mux, t_add, t_mul, units
from trigformer.models.ops.da import STRATEGY, add_luts, add_path, kernels_of
from trigformer.models.ops.softmax.cost import softmax_path


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n_in, n_out, wi, ww, wacc, tab_w = d.n_in, d.n_out, d.wi, d.ww, d.wacc, d.tab_w
    H, K = int(layer.get("num_heads", 1)), int(layer.get("key_dim", n_in))
    V = int(layer.get("value_dim") or K)
    HK, HV, N = H * K, H * V, d.n_tok
    N_kv = int(layer.get("n_kv") or N)
    kv_in = int(layer.get("kv_dim") or n_in)
    wq = int(layer.get("qkv_bits") or d.wo)  # q, k, v, context: qkv_t
    wp = int(layer.get("prob_bits") or d.wo)  # probabilities: prob_t
    # projections: latency strategy = token-parallel units with constant weights; resource = ROM weights. The
    # per-token weight count is averaged over query and key/value tokens (they differ in cross-attention).
    n_proj_in = (N * n_in * HK + N_kv * kv_in * (HK + HV)) / N
    nw = mult_weights(layer, round(n_proj_in) + HV * n_out, 2 * HK + HV + n_out)
    share_in = n_proj_in / (n_proj_in + HV * n_out)
    tp, tok_iters = split_units(N, d.reuse)  # the projections' token units
    da = d.strategy == STRATEGY
    if da:  # one alkaid kernel per token and projection: their cost, no multipliers (models/ops/da.py)
        kernels = {k["product"]: k for k in kernels_of(layer)}
        add_luts(r, list(kernels.values()))
        dsp_in = dsp_out = False
    elif d.strategy == "resource":
        dsp_in = r.mult(N * round(nw * share_in), wi, ww, tok_iters)
        dsp_out = r.mult(N * round(nw * (1 - share_in)), wq, ww, tok_iters)
        r.weights_store(int(layer.get("n_weights", 0)), ww, tok_iters, "resource")
    else:
        dsp_in = r.mult(tp * round(nw * share_in), wi, ww, 1, const=True, weights=True)
        dsp_out = r.mult(tp * round(nw * (1 - share_in)), wq, ww, 1, const=True, weights=True)
        share_mux(r, tp * (n_in * wi + HV * wq), tok_iters)
    if not da:
        r.adders(round(tp * (n_proj_in + n_out * HV)), wacc)
    # attention rows
    rows, iters = units(layer, H * N, "rows_parallel")
    dsp_qk = r.var_mult(rows * N_kv * K, wq, wq, layer)
    dsp_pn = r.var_mult(rows * N_kv, tab_w, tab_w, layer)
    dsp_pv = r.var_mult(rows * N_kv * V, wp, wq, layer)
    r.adders(rows * (N_kv * K + 3 * N_kv + V * N_kv), wacc)  # dots, softmax max/subtract/sum, context sums
    tab_n = d.tab_entries // 2
    copies = rows * math.ceil(N_kv / 2)
    bram = r.table(2 * copies, tab_n, tab_w, 1) | r.table(rows, tab_n, tab_w, 1)
    share_mux(r, rows * (K + N_kv * (K + V)) * wq, iters)  # which query row, which head's keys and values
    if da:
        add_path(path, [kernels[w] for w in "qkv"], wacc)  # Q, K, V projections, side by side
    else:
        path.op(t_mul(wi, ww, dsp_in))  # Q, K, V projections
        path.op(t_add(wacc), depth(n_in + 1))
    path.op(t_mul(wq, wq, dsp_qk))  # Q K^T
    path.op(t_add(wacc), depth(K))
    softmax_path(path, N_kv, wacc, tab_w, bram, dsp_pn)
    path.op(t_mul(wp, wq, dsp_pv))  # P V
    path.op(t_add(wacc), depth(N_kv))
    if da:
        add_path(path, [kernels["o"]], wacc)  # output projection
    else:
        path.op(t_mul(wq, ww, dsp_out))  # output projection
        path.op(t_add(wacc), depth(HV + 1))
    return max(iters, tok_iters), True, rows * N * wacc
