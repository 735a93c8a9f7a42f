"""Cost model of RMSNorm (nnet_tf_rmsnorm.h): LayerNorm's without the mean, the subtraction and beta."""

from __future__ import annotations

import math

from trigformer.models.ops.costmodel import SCALE_BITS, T_MUX, Dims, Path, Res, depth, mult_weights, share_mux, t_add, t_mul, units


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n, wacc, tab_w = d.n_in, d.wacc, d.tab_w
    tp, iters = units(layer, d.n_tok, "tokens_parallel")
    rs_w = tab_w + 10
    dsp_ms = r.mult(tp, wacc, SCALE_BITS, 1, const=True)  # mean square * 1/dim
    dsp_sq = r.var_mult(tp * n, d.wi, d.wi, layer)
    dsp_rs = r.var_mult(tp * n, d.wi, rs_w, layer)
    dsp_g = r.mult(tp * mult_weights(layer, n, 0), d.wi, d.ww, 1, const=True, weights=True)
    r.adders(tp * n, wacc)  # square-sum
    r.lut += tp * (wacc * depth(wacc) + rs_w * depth(10))  # leading-one detector + the shift
    bram = r.table(tp, d.tab_entries, tab_w, 1)
    share_mux(r, tp * n * d.wi, iters)
    path.op(t_mul(d.wi, d.wi, dsp_sq))
    path.op(t_add(wacc), depth(n))
    path.op(t_mul(wacc, SCALE_BITS, dsp_ms))
    path.op(T_MUX, depth(wacc))  # leading-one detector
    path.lookup(bram)
    path.op(T_MUX, depth(10))  # the shift
    path.op(t_mul(d.wi, rs_w, dsp_rs))
    path.op(t_mul(d.wi, d.ww, dsp_g))
    return iters, True, d.n_tok * n * wacc
