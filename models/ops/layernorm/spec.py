"""LayerNorm over the last axis in fixed point: types (the C++ internal ones included), constants, and the integer
arithmetic of nnet_tf_layernorm.h (reference and fast path).

mean = cast<mean_t>(sum(x) * 1/dim); diff = x - mean (exact); var = cast<var_t>(sum(diff^2) * 1/dim);
1/sqrt(var + eps) from models.ops.rsqrt (entry * 2**-half); norm = cast<norm_t>(diff * entry * 2**-half);
y = cast<out_t>(norm * gamma + beta).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType, saturate_
from trigformer.models.ops.common import INTERNAL_ROUNDING, Spec, ceil_log2, check_products, float_for, inv_const_t, to_raw
from trigformer.models.ops.rsqrt import RsqrtSpec


@dataclass(frozen=True)
class LayerNormSpec(Spec):
    in_t: FixedType
    dim: int
    table_size: int = 1024
    table_bits: int = 18
    out_t: FixedType | None = None
    epsilon: float = 1e-3
    extra_mean_bits: int = 4
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
    def sum_t(self) -> FixedType:
        g = ceil_log2(self.dim)
        return FixedType(self.in_t.width + g, self.in_t.integer + g, True)

    @property
    def mean_t(self) -> FixedType:
        f = self.in_t.frac + self.extra_mean_bits
        return FixedType(self.in_t.integer + f, self.in_t.integer, True, INTERNAL_ROUNDING, "SAT")

    @property
    def diff_t(self) -> FixedType:
        m = self.mean_t
        return FixedType(m.width + 1, m.integer + 1, True)

    @property
    def sqsum_t(self) -> FixedType:
        d = self.diff_t
        i = 2 * (d.integer - 1) + ceil_log2(self.dim)
        return FixedType(i + 2 * d.frac, i, False)

    @property
    def var_t(self) -> FixedType:
        d = self.diff_t
        i = 2 * (d.integer - 1)  # |diff| < 2**(I-1): diff^2 < 2**(2I-2)
        f = 2 * self.in_t.frac + 4
        return FixedType(i + f, i, False, INTERNAL_ROUNDING, "SAT")

    @cached_property
    def eps_raw(self) -> int:
        return max(int(self.var_t.quantize(self.epsilon)), 1)  # keep var + eps >= one lsb

    @cached_property
    def rsqrt(self) -> RsqrtSpec:
        return RsqrtSpec(self.var_t, self.table_size, self.table_bits, self.eps_raw)

    @property
    def norm_t(self) -> FixedType:
        i = ceil_log2(int(math.ceil(math.sqrt(self.dim)))) + 2  # |normalised| <= sqrt(dim - 1), plus sign
        return FixedType(i + self.norm_frac, i, True, INTERNAL_ROUNDING, "SAT")

    def check(self) -> None:
        """Every product of the integer reference fits int64 (ValueError naming it otherwise)."""
        check_products("LayerNorm", {"sum(x) * 1/dim": self.sum_t.width + self.invdim_t.width,
                                     "sum((x - mean)^2) * 1/dim": self.sqsum_t.width + self.invdim_t.width,
                                     "(x - mean) * 1/sqrt(var)": self.diff_t.width + self.rsqrt.rs_t.width,
                                     "norm * gamma": self.norm_t.width + self.gamma_t.width})

    def internal_types(self) -> dict[str, FixedType]:
        return {"sum": self.sum_t, "invdim": self.invdim_t, "mean": self.mean_t, "diff": self.diff_t,
                "sqsum": self.sqsum_t, "var": self.var_t, "rs": self.rsqrt.rs_t, "norm": self.norm_t}

    @property
    def result_t(self) -> FixedType:
        return self.out_t or self.in_t

    @property
    def float_exact(self) -> bool:
        """Every per-element product of `forward` stays below 2**52, so integer-valued float64 is exact."""
        lo, hi = self.rsqrt.half_range
        d = self.diff_t.width
        return max(2 * d + ceil_log2(self.dim), d + self.rsqrt.rsqrt_t.width + hi - lo, self.norm_t.width + 24) <= 52

    def forward(self, x_raw: np.ndarray, gamma_raw: np.ndarray, beta_raw: np.ndarray) -> np.ndarray:
        """Reference over the last axis. int64 raws in, int64 out; integer-valued float raws in, the same values
        as integer-valued floats out (float32 when the result type fits its mantissa, else float64)."""
        x = np.asarray(x_raw)
        if x.dtype.kind == "f" and self.float_exact and all(
                t.rounding in ("RND_CONV", "RND", "TRN") and t.overflow == "SAT" for t in (self.norm_t, self.result_t)):
            return self._forward_float(x, gamma_raw, beta_raw)
        x = to_raw(x)
        if x.dtype == np.float64 and not self.float_exact:
            return self.forward(x.astype(np.int64), gamma_raw, beta_raw).astype(np.float64)
        fi, fm = self.in_t.frac, self.mean_t.frac
        fd = self.invdim_t.frac
        # per-token statistics in int64 (their products with 1/dim may exceed 2**53); they are small arrays
        xsum = x.sum(axis=-1, keepdims=True).astype(np.int64)
        mean = self.mean_t.cast(xsum * self.invdim_raw, fi + fd)
        diff = x * (1 << (fm - fi)) - mean.astype(x.dtype)
        sq = (diff * diff).sum(axis=-1, keepdims=True).astype(np.int64)
        var = self.var_t.cast(sq * self.invdim_raw, 2 * fm + fd)
        entry, half = self.rsqrt.lookup(var + self.eps_raw)
        lo, hi = self.rsqrt.half_range
        # diff * entry * 2**-half, aligned on a common fraction so one cast rounds it
        wide = diff * (entry << (hi - half)).astype(x.dtype)
        norm = self.norm_t.cast_any(wide, fm + self.rsqrt.rsqrt_t.frac + hi)
        beta = np.asarray(beta_raw, dtype=np.int64) << self.norm_t.frac
        y = norm * np.asarray(gamma_raw).astype(x.dtype) + beta.astype(x.dtype)
        return self.result_t.cast_any(y, self.norm_t.frac + self.gamma_t.frac)

    def _forward_float(self, x, gamma_raw, beta_raw) -> np.ndarray:
        """`forward` on integer-valued floats in few passes; every value stays dyadic and exact.

        The per-token sums of x and x^2 are BLAS products (float32 when they fit its mantissa), and the sum of
        squared differences follows from them exactly in int64: sum((x 2^a - m)^2) = 2^2a sum x^2 - 2^(a+1) m sum x
        + dim m^2. Every power-of-two alignment and cast scale is folded into per-token (1/sqrt) or per-feature
        (gamma, beta) constants; the per-feature ones are tiled over the tokens so their loops run long."""
        fi, fm, fd = self.in_t.frac, self.mean_t.frac, self.invdim_t.frac
        a = fm - fi
        x2 = x.reshape(-1, self.dim)
        mag, g = self.in_t.magnitude_bits, ceil_log2(self.dim)
        xs = x2.astype(float_for(mag + g), copy=False)
        s1 = (xs @ np.ones(self.dim, xs.dtype)).astype(np.int64)  # exact: integer partial sums below 2**24 / 2**53
        xq = x2.astype(float_for(2 * mag + g), copy=False)
        s2 = np.einsum("ij,ij->i", xq, xq).astype(np.int64)
        mean = self.mean_t.cast(s1 * self.invdim_raw, fi + fd)
        sq = (s2 << (2 * a)) - ((mean * s1) << (a + 1)) + self.dim * mean * mean  # sum of squared raw differences
        var = self.var_t.cast(sq * self.invdim_raw, 2 * fm + fd)
        entry, half = self.rsqrt.lookup(var + self.eps_raw)
        lo, hi = self.rsqrt.half_range
        norm_shift = fm + self.rsqrt.rsqrt_t.frac + hi - self.norm_t.frac
        r = (entry << (hi - half)) * 2.0 ** (fm - fi - norm_shift)  # per token
        # (x - m 2^-a) * r = x r - m 2^-a r: both products and their difference are exact (float_exact)
        norm = x2.astype(np.float64)
        norm *= r[:, None]
        norm -= (mean * 2.0**-a * r)[:, None]
        self.norm_t.round_scaled(norm, out=norm)
        saturate_(norm, self.norm_t.raw_min, self.norm_t.raw_max)
        out_shift = self.norm_t.frac + self.gamma_t.frac - self.result_t.frac
        k = x.shape[-2] if x.ndim >= 3 else 1  # tokens per row of the tiled view
        rows = norm.reshape(-1, k * self.dim)
        rows *= np.tile(np.asarray(gamma_raw, dtype=np.float64) * 2.0**-out_shift, k)
        rows += np.tile(np.asarray(beta_raw, dtype=np.float64) * 2.0 ** (self.norm_t.frac - out_shift), k)
        if out_shift > 0:
            self.result_t.round_scaled(norm, out=norm)
        saturate_(norm, self.result_t.raw_min, self.result_t.raw_max)
        return norm.reshape(x.shape).astype(float_for(self.result_t.width), copy=False)
