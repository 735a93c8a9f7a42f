"""Cost model of the Linformer attention (nnet_tf_linformer.h): E^T x and F^T x, constant-weight products over the
feature columns (in_dim columns of N -> k each, shared over `reuse_factor` like a token dense), before the
attention's cost (models/ops/mha/cost.py) with n_kv = k key/value tokens: the scores and the context are N x k per
head. With distributed_arithmetic, E and F are alkaid kernels (their LUTs are counted with the attention's)."""

from __future__ import annotations

from trigformer.models.ops.common import split_units
from trigformer.models.ops.costmodel import Dims, Path, Res, depth, share_mux, t_add, t_mul
from trigformer.models.ops.da import STRATEGY, add_path, kernels_of
from trigformer.models.ops.linformer.spec import TOKEN_PROJECTIONS
from trigformer.models.ops.mha.cost import cost as mha_cost


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n, k = d.n_tok, int(layer.get("n_kv") or 1)
    n_const = 2 * n * k  # E and F products of one feature column
    cols, iters = split_units(d.n_in, d.reuse)  # the feature-column units
    if d.strategy == STRATEGY:
        add_path(path, [c for c in kernels_of(layer) if c["product"] in TOKEN_PROJECTIONS], d.wacc)
    else:
        if d.strategy == "resource":
            dsp = r.mult(d.n_in * n_const, d.wi, d.ww, iters)
        else:
            dsp = r.mult(cols * n_const, d.wi, d.ww, 1, const=True, weights=True)
            share_mux(r, cols * n * d.wi, iters)
        r.adders(cols * n_const, d.wacc)
        path.op(t_mul(d.wi, d.ww, dsp))
        path.op(t_add(d.wacc), depth(n))
    ii, reg, live = mha_cost(layer, path, r)
    return max(ii, iters), reg, live
