"""Pooling over tokens: max (comparator tree), or mean = cast(sum * 1/n) with 1/n a fixed-point constant (exact
when n is a power of 2). The integer arithmetic of nnet_tf_pooling.h."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import Spec, ceil_log2, to_raw


@dataclass(frozen=True)
class PoolSpec(Spec):
    in_t: FixedType
    n: int
    mode: str = "mean"
    const_bits: int = 18
    dim: int = 1

    @property
    def invn_t(self) -> FixedType:
        return FixedType(self.const_bits + ceil_log2(self.n), 1, False, "RND", "SAT")

    @cached_property
    def invn_raw(self) -> int:
        return int(self.invn_t.quantize(1.0 / self.n))

    @property
    def sum_t(self) -> FixedType:
        g = ceil_log2(self.n)
        return FixedType(self.in_t.width + g, self.in_t.integer + g, True)

    def internal_types(self) -> dict[str, FixedType]:
        return {"sum": self.sum_t, "invn": self.invn_t}

    @property
    def out_t(self) -> FixedType:
        return self.in_t

    def forward(self, x_raw: np.ndarray, axis: int = -2) -> np.ndarray:
        x = to_raw(x_raw)
        if self.mode == "max":
            return x.max(axis=axis)
        total = x.sum(axis=axis)
        if x.dtype == np.float64 and self.in_t.width + ceil_log2(self.n) + self.invn_t.width > 52:
            total = total.astype(np.int64)
        return self.out_t.cast_any(total * self.invn_raw, self.in_t.frac + self.invn_t.frac)
