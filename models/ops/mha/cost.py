"""Cost model of the attention layer (q, k, v, context and probabilities are out_bits wide as in the template)."""

from __future__ import annotations

from models.ops.costmodel import SCALE_BITS, Dims, Path, Res, depth, mult_weights, t_add, t_mul
from models.ops.softmax.cost import softmax_path


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n_in, n_out, wi, ww, wacc, tab_w, R = d.n_in, d.n_out, d.wi, d.ww, d.wacc, d.tab_w, d.reuse
    tab_n = d.tab_entries // 2  # exp and 1/sum tables of equal size
    H, K = int(layer.get("num_heads", 1)), int(layer.get("key_dim", n_in))
    HK, N = H * K, d.n_tok
    wq = d.wo  # q, k, v, context and probabilities are out_bits wide (template qkv_t / prob_t)
    nw = mult_weights(layer, 3 * n_in * HK + HK * n_out, 3 * HK + n_out)
    n_proj_in = 3 * n_in * HK
    share_in = n_proj_in / (n_proj_in + HK * n_out)  # Q/K/V weights vs output-projection weights
    dsp_in = r.mult(N * round(nw * share_in), wi, ww, R, const=True, weights=True)
    dsp_out = r.mult(N * round(nw * (1 - share_in)), wq, ww, R, const=True, weights=True)
    dsp_qk = r.mult(H * N * N * K, wq, wq, R)
    dsp_sc = r.mult(H * N * N, wacc, SCALE_BITS, R, const=True)
    dsp_pn = r.mult(H * N * N, tab_w, tab_w, R)
    dsp_pv = r.mult(H * N * N * K, wq, wq, R)
    r.adders(N * 3 * HK * n_in + H * N * N * K + H * N * N * 2 + H * N * K * N + N * n_out * HK, wacc, R)
    bram = r.table(H * N * N, tab_n, tab_w, R) | r.table(H * N, tab_n, tab_w, R)
    r.weights_store(int(layer.get("n_weights", 0)), ww, R, d.strategy)
    path.op(t_mul(wi, ww, dsp_in))  # Q, K, V projections
    path.op(t_add(wacc), depth(n_in + 1))
    path.op(t_mul(wq, wq, dsp_qk))  # Q K^T
    path.op(t_add(wacc), depth(K))
    path.op(t_mul(wacc, SCALE_BITS, dsp_sc))  # * 1/sqrt(d)
    softmax_path(path, N, wacc, tab_w, bram, dsp_pn)
    path.op(t_mul(wq, wq, dsp_pv))  # P V
    path.op(t_add(wacc), depth(N))
    path.op(t_mul(wq, ww, dsp_out))  # output projection
    path.op(t_add(wacc), depth(HK + 1))
    return R, True, H * N * N * wacc
