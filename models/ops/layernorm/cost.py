"""Cost model of LayerNorm (x - mean is exact: one bit wider than the input)."""

from __future__ import annotations

from models.ops.costmodel import SCALE_BITS, T_MUX, Dims, Path, Res, depth, mult_weights, t_add, t_mul


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n_tok, n, wd, wacc, tab_w, R = d.n_tok, d.n_in, d.wi + 1, d.wacc, d.tab_w, d.reuse
    nw = mult_weights(layer, n, n)  # gamma (beta is an add)
    dsp_mean = r.mult(n_tok * 2, wacc, SCALE_BITS, R, const=True)  # mean and variance * 1/dim
    dsp_sq = r.mult(n_tok * n, wd, wd, R)
    dsp_rs = r.mult(n_tok * n, wd, tab_w, R)
    dsp_g = r.mult(n_tok * nw, wd, d.ww, R, const=True, weights=True)
    r.adders(n_tok * (4 * n), wacc, R)  # sum, subtract, square-sum, beta
    r.lut += n_tok * (wacc * depth(wacc) + n * wacc * 2)  # leading-one detector + barrel shifts
    bram = r.table(n_tok, d.tab_entries, tab_w, R)
    path.op(t_add(wacc), depth(n))
    path.op(t_mul(wacc, SCALE_BITS, dsp_mean))
    path.op(t_add(wd))
    path.op(t_mul(wd, wd, dsp_sq))
    path.op(t_add(wacc), depth(n))
    path.op(t_mul(wacc, SCALE_BITS, dsp_mean))
    path.op(T_MUX, depth(wacc))  # leading-one detector
    path.lookup(bram)
    path.op(t_mul(wd, tab_w, dsp_rs))
    path.op(T_MUX, depth(wacc))  # shift by 2^-e/2
    path.op(t_mul(wd, d.ww, dsp_g))
    path.op(t_add(wacc))
    return R, True, n_tok * n * wacc
