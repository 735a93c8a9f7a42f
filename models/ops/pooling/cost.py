"""Cost model of token pooling (a pool layer reduces n_tokens_in tokens: the previous layer's n_tokens)."""

from __future__ import annotations

from trigformer.models.ops.costmodel import SCALE_BITS, T_MUX, Dims, Path, Res, depth, t_add, t_mul, units


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    wi, n_out = d.wi, d.n_out
    R = units(layer, n_out, "features_parallel")[1]
    nt = int(layer.get("n_tokens_in", d.n_tok))  # tokens reduced (n_tokens is the output's: 1)
    if layer.get("pool", layer.get("activation")) == "max":
        r.adders(nt * n_out, wi + 1, R)
        path.op(t_add(wi) + T_MUX, depth(nt))
    else:
        ws = wi + depth(nt)
        r.adders(nt * n_out, ws, R)
        path.op(t_add(ws), depth(nt))
        if nt & (nt - 1):  # 1/n is a shift when n is a power of two
            dsp = r.mult(n_out, ws, SCALE_BITS, R, const=True)
            path.op(t_mul(ws, SCALE_BITS, dsp))
    return R, True, n_out * (wi + depth(nt))
