"""Cost model of the per-token Dense (nnet_tf_dense.h): latency = `tokens_parallel` token units with constant
weights; resource = every token computes one output block per iteration with weights read from a ROM;
distributed_arithmetic = one alkaid kernel per token (models/ops/da.py: alkaid's cost and adder depth)."""

from __future__ import annotations

from trigformer.models.ops.costmodel import Dims, Path, Res, depth, mult_weights, share_mux, t_add, t_mul, units
from trigformer.models.ops.da import STRATEGY, dense_cost


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    if d.strategy == STRATEGY:
        return dense_cost(layer, d, path, r)
    nw = mult_weights(layer, d.n_in * d.n_out, d.n_out)
    if d.strategy == "resource":
        out_block, iters = units(layer, d.n_out, "out_block")
        dsp = r.mult(d.n_tok * nw, d.wi, d.ww, iters)  # the weight is a ROM word: a variable operand
        r.adders(d.n_tok * d.n_out * d.n_in, d.wacc, iters)
        r.weights_store(int(layer.get("n_weights", 0)), d.ww, iters, "resource")
    else:
        tp, iters = units(layer, d.n_tok, "tokens_parallel")
        dsp = r.mult(tp * nw, d.wi, d.ww, 1, const=True, weights=True)
        r.adders(tp * d.n_out * d.n_in, d.wacc)
        share_mux(r, tp * d.n_in * d.wi, iters)
    path.op(t_mul(d.wi, d.ww, dsp))
    path.op(t_add(d.wacc), depth(d.n_in + 1))
    return iters, True, d.n_tok * d.n_out * d.wacc
