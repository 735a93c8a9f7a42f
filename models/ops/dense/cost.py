"""Cost model of Dense (hls4ml's dense_latency / resource, or trigformer's DA kernel)."""

from __future__ import annotations

from trigformer.models.ops.costmodel import Dims, Path, Res, depth, mult_weights, t_add, t_mul
from trigformer.models.ops.da import STRATEGY, dense_cost


def dense(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    if d.strategy == STRATEGY:  # hls4ml's DA Dense with trigformer's kernel (models/ops/da.py)
        return dense_cost(layer, d, path, r)
    R = d.reuse
    nw = mult_weights(layer, d.n_in * d.n_out, d.n_out)
    dsp = r.mult(d.n_tok * nw, d.wi, d.ww, R, const=True, weights=True)
    r.adders(d.n_tok * d.n_out * d.n_in, d.wacc, R)
    r.weights_store(int(layer.get("n_weights", 0)), d.ww, R, d.strategy)
    path.op(t_mul(d.wi, d.ww, dsp))
    path.op(t_add(d.wacc), depth(d.n_in + 1))
    return R, True, d.n_tok * d.n_out * d.wacc
