"""LUT softmax: types, tables and the integer arithmetic (reference and fast path).

d = x - max(x) <= 0 (exact); e = exp_table[min(-d >> exp_shift, size - 1)] (a bit slice; each entry is the exp
of its bin's centre); s = sum(e) (exact in sum_t); inv = inv_table[min(s >> inv_shift, size - 1)];
p = cast<out_t>(e * inv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType, saturate_
from trigformer.models.ops.common import INTERNAL_ROUNDING, Spec, ceil_log2, float_for, table_index, to_raw, tree_reduce


@dataclass(frozen=True)
class SoftmaxSpec(Spec):
    """Row softmax of `n` values of `in_t` computed as the firmware does.

    d = x - max(x) <= 0; exp(d) from a table indexed by the bit slice floor(-d / step), step = range/size
    (the last entry covers everything below -range); sum exact; 1/sum from a second table indexed by the top bits
    of the sum (sum lies in [1, n]); p = exp * (1/sum) cast to `out_t`.
    """

    in_t: FixedType
    n: int
    table_size: int = 1024
    input_range: float = 8.0
    table_bits: int = 18
    out_t: FixedType = field(default_factory=lambda: FixedType(10, 1, False, INTERNAL_ROUNDING, "SAT"))
    in_scale: float = 1.0  # a raw unit of x is worth in_t.lsb * in_scale (attention: 1/sqrt(key_dim), folded here)

    def __post_init__(self):
        if self.table_size & (self.table_size - 1) or self.table_size < 2:
            raise ValueError(f"softmax table size must be a power of 2, got {self.table_size}")
        if 2.0 ** round(math.log2(self.input_range)) != self.input_range:
            raise ValueError(f"softmax input range must be a power of 2, got {self.input_range}")
        if not (self.in_scale > 0 and math.isfinite(self.in_scale)):
            raise ValueError(f"softmax input scale must be a positive number, got {self.in_scale}")

    # exp table: index = (-d_raw) >> exp_shift (a left shift when negative)
    @property
    def table_log2(self) -> int:
        return int(math.log2(self.table_size))

    @property
    def exp_shift(self) -> int:
        """Raw units of d per table step, as a power of 2: the smallest step whose table still covers input_range
        (exactly input_range / table_size when in_scale is 1 or a power of 2)."""
        step = math.log2(self.input_range / self.table_size) + self.in_t.frac - math.log2(self.in_scale)
        return round(step) if abs(step - round(step)) < 1e-9 else math.ceil(step)

    @property
    def diff_t(self) -> FixedType:
        """x - max(x): exact, one more integer bit than the input, never positive."""
        return FixedType(self.in_t.width + 1, self.in_t.integer + 1, True)

    @property
    def exp_t(self) -> FixedType:
        return FixedType(self.table_bits, 1, False, "RND", "SAT")

    @property
    def sum_t(self) -> FixedType:
        g = max(ceil_log2(self.n), 1)
        return FixedType(self.table_bits + g, 1 + g, False)

    @property
    def inv_t(self) -> FixedType:
        return FixedType(self.table_bits, 1, False, "RND", "SAT")

    @property
    def inv_shift(self) -> int:
        """The reciprocal table spans sum in [0, 2**g) with table_size bins: index = sum_raw >> inv_shift."""
        g = max(ceil_log2(self.n), 1)
        return self.sum_t.frac - (self.table_log2 - g)

    @property
    def row_exp_copies(self) -> int:
        """exp table copies one row of n values reads (two reads per ROM copy)."""
        return math.ceil(self.n / 2)

    def internal_types(self) -> dict[str, FixedType]:
        return {"diff": self.diff_t, "sum": self.sum_t}

    @cached_property
    def exp_table(self) -> np.ndarray:
        i = np.arange(self.table_size, dtype=np.float64)
        width = 2.0**self.exp_shift  # raw input steps per bin (a fraction when the table is finer than the input)
        # centre of the raw d values that land in bin i (the bin's only value when width <= 1)
        d = -(i * width + max(width - 1, 0) / 2) * self.in_t.lsb * self.in_scale
        return self.exp_t.quantize(np.exp(d))

    @cached_property
    def inv_table(self) -> np.ndarray:
        i = np.arange(self.table_size, dtype=np.float64)
        bin_w = 2.0 ** self.inv_shift * self.sum_t.lsb
        centre = i * bin_w + max(2.0**self.inv_shift - 1, 0) / 2 * self.sum_t.lsb  # of the raw sums in bin i
        return self.inv_t.quantize(1.0 / np.maximum(centre, 1.0))  # sums below 1 cannot occur (max term is 1)

    @cached_property
    def exp_by_diff(self) -> np.ndarray:
        """exp_table[exp_index(-k)] for every possible raw difference k >= 0 (float64): the same values, one gather."""
        k = np.arange(2 ** (self.diff_t.width - 1) + 1, dtype=np.int64)
        return self.exp_table[self.exp_index(-k)].astype(np.float64)

    def exp_index(self, diff_raw: np.ndarray) -> np.ndarray:
        return table_index(-to_raw(diff_raw), self.exp_shift, self.table_size)

    def inv_index(self, sum_raw: np.ndarray) -> np.ndarray:
        return table_index(to_raw(sum_raw), self.inv_shift, self.table_size)

    def forward(self, x_raw: np.ndarray, axis: int = -1) -> np.ndarray:
        """Reference over `axis`: raw `in_t` -> raw `out_t` (int64 in, int64 out; float64 integer-valued
        raws in, the same out: every intermediate stays below 2**37)."""
        x = to_raw(x_raw)
        if x.dtype == np.float64 and self.out_t.rounding in ("RND_CONV", "RND", "TRN"):
            return self._forward_float(x, axis)
        d = x - x.max(axis=axis, keepdims=True)
        e = self.exp_table[self.exp_index(d)]
        s = e.sum(axis=axis, keepdims=True)  # exact: sum_t has room for n terms
        inv = self.inv_table[self.inv_index(s)]
        return self.out_t.cast(e * inv, self.exp_t.frac + self.inv_t.frac)

    def _forward_float(self, x: np.ndarray, axis: int) -> np.ndarray:
        """The same arithmetic on integer-valued floats, in few passes: the exp gather is indexed by the raw
        difference itself, and the output cast's power-of-two scale is folded into the (per-row) reciprocal.
        Max, difference, table values and their sum are float32 when they fit its 24-bit mantissa (they do for
        the usual types); the exp * 1/sum products (about 36 bits) are float64. Returns float64."""
        dt = float_for(max(self.diff_t.width, self.sum_t.width))
        x = x.astype(dt, copy=False)
        if self.diff_t.width <= 17:  # gather straight from every possible difference (at most 64 Ki entries)
            idx = np.subtract(tree_reduce(np.maximum, x, axis), x, out=np.empty(x.shape, np.intp), casting="unsafe")
            e = (self._exp_by_diff_f32 if dt == np.float32 else self.exp_by_diff)[idx]
        else:  # wide differences (the attention's exact dot products): the index by shift and clamp
            d = np.subtract(tree_reduce(np.maximum, x, axis), x)
            e = self.exp_table.astype(dt)[table_index(d.astype(np.float64), self.exp_shift, self.table_size)]
        s = tree_reduce(np.add, e, axis)  # exact: sum_t holds n terms and fits the float type
        shift = self.exp_t.frac + self.inv_t.frac - self.out_t.frac
        p = np.multiply(e, self.inv_table[self.inv_index(s)] * 2.0**-shift, dtype=np.float64)  # exact dyadic
        if shift > 0:
            self.out_t.round_scaled(p, out=p)
        if self.exp_table.max() * self.inv_table.max() * 2.0**-shift > self.out_t.raw_max:  # else it cannot saturate
            saturate_(p, self.out_t.raw_min, self.out_t.raw_max)
        return p

    @cached_property
    def _exp_by_diff_f32(self) -> np.ndarray:
        return self.exp_by_diff.astype(np.float32)  # exact when sum_t fits float32 (when it is used)
