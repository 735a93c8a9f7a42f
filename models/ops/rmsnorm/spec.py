"""RMSNorm over the last axis in fixed point: types, constants and the integer arithmetic of nnet_tf_rmsnorm.h.

ms = cast<var_t>(sum(x^2) * 1/dim); rs = 1/sqrt(ms + eps) (models.ops.rsqrt: a leading-one detector, a table and
one shift per token); norm = cast<norm_t>(x * rs); y = cast<out_t>(norm * gamma). No mean, no beta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import INTERNAL_ROUNDING, Spec, ceil_log2, check_products, inv_const_t, to_raw
from trigformer.models.ops.rsqrt import RsqrtSpec


@dataclass(frozen=True)
class RMSNormSpec(Spec):
    in_t: FixedType
    dim: int
    table_size: int = 1024
    table_bits: int = 18
    out_t: FixedType | None = None
    epsilon: float = 1e-3
    norm_frac: int = 10
    gamma_t: FixedType = field(default_factory=lambda: FixedType(8, 2, True, "RND_CONV", "SAT"))
    n_tokens: int = 1

    @property
    def invdim_t(self) -> FixedType:
        return inv_const_t(self.dim, self.table_bits)

    @cached_property
    def invdim_raw(self) -> int:
        return int(self.invdim_t.quantize(1.0 / self.dim))

    @property
    def sqsum_t(self) -> FixedType:
        i = 2 * (self.in_t.integer - 1) + 1 + ceil_log2(self.dim)  # (-2**(I-1))**2 reaches 2**(2I-2)
        return FixedType(i + 2 * self.in_t.frac, i, False)

    @property
    def var_t(self) -> FixedType:
        i = 2 * (self.in_t.integer - 1) + 1
        return FixedType(i + 2 * self.in_t.frac + 4, i, False, INTERNAL_ROUNDING, "SAT")

    @cached_property
    def eps_raw(self) -> int:
        return max(int(self.var_t.quantize(self.epsilon)), 1)

    @cached_property
    def rsqrt(self) -> RsqrtSpec:
        return RsqrtSpec(self.var_t, self.table_size, self.table_bits, self.eps_raw)

    @property
    def norm_t(self) -> FixedType:
        i = ceil_log2(int(math.ceil(math.sqrt(self.dim)))) + 2  # |x| / rms(x) <= sqrt(dim), plus sign
        return FixedType(i + self.norm_frac, i, True, INTERNAL_ROUNDING, "SAT")

    @property
    def result_t(self) -> FixedType:
        return self.out_t or self.in_t

    def check(self) -> None:
        check_products("RMSNorm", {"sum(x^2) * 1/dim": self.sqsum_t.width + self.invdim_t.width,
                                   "x * 1/sqrt(mean square)": self.in_t.width + self.rsqrt.rs_t.width,
                                   "norm * gamma": self.norm_t.width + self.gamma_t.width})

    def internal_types(self) -> dict[str, FixedType]:
        return {"invdim": self.invdim_t, "sqsum": self.sqsum_t, "var": self.var_t, "rs": self.rsqrt.rs_t,
                "norm": self.norm_t}

    def forward(self, x_raw: np.ndarray, gamma_raw: np.ndarray) -> np.ndarray:
        """Over the last axis: raw in_t -> raw result_t. int64 in, int64 out; integer-valued floats in, the same
        values as float64 out."""
        x = to_raw(x_raw)
        kind = x.dtype
        x = x.astype(np.int64)
        fi, fd = self.in_t.frac, self.invdim_t.frac
        sq = (x * x).sum(axis=-1, keepdims=True)
        ms = self.var_t.cast(sq * self.invdim_raw, 2 * fi + fd)
        entry, half = self.rsqrt.lookup(ms + self.eps_raw)
        lo, hi = self.rsqrt.half_range
        norm = self.norm_t.cast(x * (entry << (hi - half)), fi + self.rsqrt.rsqrt_t.frac + hi)
        y = self.result_t.cast(norm * np.asarray(gamma_raw, dtype=np.int64), self.norm_t.frac + self.gamma_t.frac)
        return y.astype(np.float64) if kind == np.float64 else y
