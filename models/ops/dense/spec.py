"""Dense (per token) and residual add: the integer arithmetic of hls4ml's dense_latency / merge layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import Spec, align, ceil_log2, dot_accum_t, float_for, matmul_raw


@dataclass(frozen=True)
class DenseSpec(Spec):
    """The types hls4ml uses for a Dense / PointwiseConv1D layer (the input type is the previous layer's)."""

    weight_t: FixedType
    bias_t: FixedType
    accum_t: FixedType


def dense_raw(x, x_t: FixedType, w, w_t: FixedType, b, b_t: FixedType, acc_t: FixedType, out_t: FixedType):
    """hls4ml dense_latency: each product cast to accum_t, summed with the bias in accum_t, cast to the result.
    x: [..., n_in] raw; w: [n_in, n_out] raw."""
    pf = x_t.frac + w_t.frac
    exact = holds_every_sum(acc_t, x_t, w_t, b_t, w.shape[0])
    if exact and pf >= b_t.frac:  # the accumulator never rounds or wraps: one exact sum, one cast
        bits = dot_accum_t(x_t, w_t, w.shape[0], b_t).magnitude_bits  # room for the bias
        acc = matmul_raw(x, w, x_t, w_t, bits=bits)
        acc += align(np.asarray(b), pf - b_t.frac).astype(acc.dtype)
        if out_t.frac == pf and holds_every_sum(out_t, x_t, w_t, b_t, w.shape[0]):
            return acc  # the result type holds every sum exactly (e.g. the accumulator feeding a relu)
        return out_t.cast_any(acc, pf, inplace=True)
    if acc_t.frac >= pf:  # products are exact in accum_t: sum first (wrap arithmetic is associative)
        acc = align(matmul_raw(x, w, x_t, w_t), acc_t.frac - pf)
    else:
        prods = acc_t.cast(x.astype(np.int64)[..., :, None] * w, pf)
        acc = prods.sum(axis=-2)
    acc = acc + acc_t.cast(b, b_t.frac).astype(acc.dtype)
    return out_t.cast_any(acc_t.cast_any(acc, acc_t.frac), acc_t.frac)


def holds_every_sum(acc_t: FixedType, x_t: FixedType, w_t: FixedType, b_t: FixedType, n: int) -> bool:
    """accum_t keeps all fraction bits of the products and the bias, and its range covers the largest sum."""
    need = dot_accum_t(x_t, w_t, n, b_t)
    return acc_t.frac >= need.frac and acc_t.integer >= need.integer and acc_t.signed


def add_raw(ins: list[np.ndarray], in_t: list[FixedType], out_t: FixedType) -> np.ndarray:
    """Exact sum of the aligned inputs, one cast to out_t (hls4ml's Merge add with a wide enough sum)."""
    f = max(t.frac for t in in_t)
    # magnitude bits of the exact sum: the widest aligned term, plus the carries of adding len(ins) of them
    bits = max(t.magnitude_bits + f - t.frac for t in in_t) + ceil_log2(len(ins))
    dt = np.int64 if bits > 52 or any(v.dtype.kind != "f" for v in ins) else float_for(bits)
    total = None
    for v, t in zip(ins, in_t):
        term = v.astype(dt, copy=False)
        if f > t.frac:
            term = align(term, f - t.frac)
        if total is None:
            total = term.copy() if term is v else term  # a fresh array, ours to overwrite
        else:
            total += term
    return out_t.cast_any(total, f, inplace=True)
