"""Cost model of the glue layers: activation (ReLU / cast) and residual add."""

from __future__ import annotations

from trigformer.models.ops.costmodel import T_MUX, Dims, Path, Res, t_add


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
