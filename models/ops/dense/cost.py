"""Cost model of the glue layers: per-token dense, activation (ReLU / cast) and residual add."""

from __future__ import annotations

from trigformer.models.ops.costmodel import T_MUX, Dims, Path, Res, depth, mult_weights, t_add, t_mul
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


def activation(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    if layer.get("activation") == "relu":
        path.op(T_MUX)
        r.lut += d.n_tok * d.n_out * r.k.relu_lut_per_bit * (d.wi + d.wo)
    elif d.wi != d.wo:
        r.lut += d.n_tok * d.n_out * r.k.relu_lut_per_bit * (d.wi + d.wo) / 2  # cast only
    return 1, False, 0


def add(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    path.op(t_add(d.wo + 1))
    r.adders(d.n_tok * d.n_out, d.wo + 1)
    return 1, False, 0
