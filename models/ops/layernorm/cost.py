"""Cost model of LayerNorm (nnet_tf_layernorm.h): `tokens_parallel` token units per iteration; per token a sum, the
mean constant product, the differences and their squares, the variance constant product, a leading-one detector, a
1/sqrt table read (two tokens per ROM copy), one shift, and per element the normalising product and gamma, beta."""

from __future__ import annotations

import math

from trigformer.models.ops.costmodel import SCALE_BITS, T_MUX, Dims, Path, Res, depth, mult_weights, share_mux, t_add, t_mul, units


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n, wd, wacc, tab_w = d.n_in, d.wi + 1, d.wacc, d.tab_w
    tp, iters = units(layer, d.n_tok, "tokens_parallel")
    rs_w = tab_w + 10  # the shifted 1/sqrt: table bits plus the shift range
    nw = mult_weights(layer, n, n)  # gamma (beta is an add)
    dsp_mean = r.mult(tp * 2, wacc, SCALE_BITS, 1, const=True)  # mean and variance * 1/dim
    dsp_sq = r.var_mult(tp * n, wd, wd, layer)
    dsp_rs = r.var_mult(tp * n, wd, rs_w, layer)
    dsp_g = r.mult(tp * nw, wd, d.ww, 1, const=True, weights=True)
    r.adders(tp * 4 * n, wacc)  # sum, subtract, square-sum, beta
    r.lut += tp * (wacc * depth(wacc) + rs_w * depth(10))  # leading-one detector + one shift per token
    bram = r.table(tp, d.tab_entries, tab_w, 1)
    share_mux(r, tp * n * d.wi, iters)
    path.op(t_add(wacc), depth(n))
    path.op(t_mul(wacc, SCALE_BITS, dsp_mean))
    path.op(t_add(wd))
    path.op(t_mul(wd, wd, dsp_sq))
    path.op(t_add(wacc), depth(n))
    path.op(t_mul(wacc, SCALE_BITS, dsp_mean))
    path.op(T_MUX, depth(wacc))  # leading-one detector
    path.lookup(bram)
    path.op(T_MUX, depth(10))  # the shift
    path.op(t_mul(wd, rs_w, dsp_rs))
    path.op(t_mul(wd, d.ww, dsp_g))
    path.op(t_add(wacc))
    return iters, True, d.n_tok * n * wacc
