"""The residual add's integer arithmetic (hls4ml's merge layer): an exact aligned sum, one cast."""

from __future__ import annotations

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import align, ceil_log2, float_for


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
