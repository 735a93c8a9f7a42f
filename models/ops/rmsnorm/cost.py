"""Cost model of RMSNorm: LayerNorm's without the mean, the subtraction and beta."""

from __future__ import annotations

from models.ops.costmodel import SCALE_BITS, T_MUX, Dims, Path, Res, depth, mult_weights, t_add, t_mul


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n_tok, n, wacc, tab_w, R = d.n_tok, d.n_in, d.wacc, d.tab_w, d.reuse
    dsp_ms = r.mult(n_tok, wacc, SCALE_BITS, R, const=True)  # mean square * 1/dim
    dsp_sq = r.mult(n_tok * n, d.wi, d.wi, R)
    dsp_rs = r.mult(n_tok * n, d.wi, tab_w, R)
    dsp_g = r.mult(n_tok * mult_weights(layer, n, 0), d.wi, d.ww, R, const=True, weights=True)
    r.adders(n_tok * n, wacc, R)  # square-sum
    r.lut += n_tok * wacc * depth(wacc)  # leading-one detector + the shift
    bram = r.table(n_tok, d.tab_entries, tab_w, R)
    path.op(t_mul(d.wi, d.wi, dsp_sq))
    path.op(t_add(wacc), depth(n))
    path.op(t_mul(wacc, SCALE_BITS, dsp_ms))
    path.op(T_MUX, depth(wacc))  # leading-one detector
    path.lookup(bram)
    path.op(T_MUX, depth(wacc))  # the shift
    path.op(t_mul(d.wi, tab_w, dsp_rs))
    path.op(t_mul(d.wi, d.ww, dsp_g))
    return R, True, n_tok * n * wacc
