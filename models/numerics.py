"""Fixed-point arithmetic of trigformer's layers: types, constants and lookup tables, computed once.

Everything the Keras forward pass, the HLS headers and the emulator need to agree on lives here as plain NumPy:
- `QuantTypes`: the ap_fixed types of the whole network, derived from the `quantization` section.
- `SoftmaxSpec`: LUT softmax (max subtraction, exp table, exact sum, reciprocal table).
- `LayerNormSpec`: mean/variance in fixed point, 1/sqrt from an exponent-normalised table.
- `ScaleSpec`: the 1/sqrt(key_dim) attention scale as a fixed-point constant (exact when key_dim is a power of 4).

Tables are raw integers of their `FixedType`s; `*_forward` functions are the integer reference used by the emulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from models.fixed import FixedType, saturate_

INTERNAL_ROUNDING = "RND_CONV"  # the same half-to-even rounding QKeras applies, so every cast in the net is alike


def ceil_log2(n: int) -> int:
    return max(int(n - 1).bit_length(), 0)


def max_abs(t: FixedType) -> float:
    """Largest magnitude of a type: for signed types the most negative value, -2**(I-1), is the largest."""
    return -t.min_value if t.signed else t.max_value


def dot_accum_t(a: FixedType, b: FixedType, n: int, bias: FixedType | None = None) -> FixedType:
    """Exact signed accumulator for a sum of n products a*b (+ bias): no rounding, no overflow.

    The bound is reached: (-2**(Ia-1)) * (-2**(Ib-1)) = +2**(Ia+Ib-2) needs one bit more than the operand widths
    suggest."""
    frac = max(a.frac + b.frac, bias.frac if bias else 0)
    bound = max_abs(a) * max_abs(b) * n + (max_abs(bias) if bias else 0.0)
    integer = math.floor(math.log2(bound)) + 2 if bound > 0 else 1  # 2**(I-1) > bound
    return FixedType(integer + frac, integer, True)


@dataclass(frozen=True)
class QuantTypes:
    """All network-level types. `integer` arguments follow QKeras (sign bit excluded)."""

    weight_bits: int = 8
    weight_int_bits: int = 0
    act_bits: int = 10
    act_int_bits: int = 4
    input_bits: int = 12
    input_int_bits: int = 4
    score_bits: int | None = None
    score_int_bits: int | None = None
    prob_bits: int = 10
    table_bits: int = 18
    softmax_table_size: int = 1024
    softmax_input_range: float = 8.0
    layernorm_table_size: int = 1024
    attention_bits: int | None = None

    @classmethod
    def from_config(cls, q) -> QuantTypes:
        return cls(**{k: getattr(q, k) for k in cls.__dataclass_fields__})

    @property
    def input_t(self) -> FixedType:
        return FixedType.from_qkeras(self.input_bits, self.input_int_bits)

    @property
    def weight_t(self) -> FixedType:
        return FixedType.from_qkeras(self.weight_bits, self.weight_int_bits)

    @property
    def gamma_t(self) -> FixedType:
        """LayerNorm gamma/beta: weight bits, at least one integer bit so that gamma = 1 is representable-ish."""
        return FixedType.from_qkeras(self.weight_bits, max(self.weight_int_bits, 1))

    @property
    def act_t(self) -> FixedType:
        return FixedType.from_qkeras(self.act_bits, self.act_int_bits)

    @property
    def relu_t(self) -> FixedType:
        """QKeras quantized_relu(act_bits, act_int_bits): unsigned, act_int_bits integer bits."""
        return FixedType(self.act_bits, self.act_int_bits, False, "RND_CONV", "SAT")

    @property
    def qkv_t(self) -> FixedType:
        """Attention-internal q, k, v and context: act_int_bits integer bits, attention_bits wide (default act_bits)."""
        b = self.act_bits if self.attention_bits is None else self.attention_bits
        return FixedType.from_qkeras(b, self.act_int_bits)

    @property
    def score_t(self) -> FixedType:
        i = self.act_int_bits + 1 if self.score_int_bits is None else self.score_int_bits
        b = i + 1 + 8 if self.score_bits is None else self.score_bits
        return FixedType.from_qkeras(b, i)

    @property
    def prob_t(self) -> FixedType:
        return FixedType(self.prob_bits, 1, False, INTERNAL_ROUNDING, "SAT")

    def softmax(self, n: int) -> SoftmaxSpec:
        return SoftmaxSpec(self.score_t, n, self.softmax_table_size, self.softmax_input_range, self.table_bits,
                           self.prob_t)

    def layernorm(self, dim: int) -> LayerNormSpec:
        return LayerNormSpec(self.act_t, dim, self.layernorm_table_size, self.table_bits, self.act_t)


@dataclass(frozen=True)
class ScaleSpec:
    """Multiplication by 1/sqrt(key_dim) as one exact product with a quantized constant, then one cast."""

    key_dim: int
    bits: int = 18

    @property
    def const_t(self) -> FixedType:
        return FixedType(self.bits, 1, False, "RND", "SAT")

    @cached_property
    def const_raw(self) -> int:
        return int(self.const_t.quantize(1.0 / math.sqrt(self.key_dim)))

    @property
    def exact(self) -> bool:
        return self.const_t.to_float(self.const_raw) * math.sqrt(self.key_dim) == 1.0


@dataclass(frozen=True)
class SoftmaxSpec:
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

    def __post_init__(self):
        if self.table_size & (self.table_size - 1) or self.table_size < 2:
            raise ValueError(f"softmax table size must be a power of 2, got {self.table_size}")
        if 2.0 ** round(math.log2(self.input_range)) != self.input_range:
            raise ValueError(f"softmax input range must be a power of 2, got {self.input_range}")

    # exp table: index = (-d_raw) >> exp_shift (a left shift when negative)
    @property
    def table_log2(self) -> int:
        return int(math.log2(self.table_size))

    @property
    def exp_shift(self) -> int:
        step_log2 = int(round(math.log2(self.input_range))) - self.table_log2
        return self.in_t.frac + step_log2  # raw units of d per table step, as a power of 2

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

    @cached_property
    def exp_table(self) -> np.ndarray:
        i = np.arange(self.table_size, dtype=np.float64)
        width = 2.0**self.exp_shift  # raw input steps per bin (a fraction when the table is finer than the input)
        # centre of the raw d values that land in bin i (the bin's only value when width <= 1)
        d = -(i * width + max(width - 1, 0) / 2) * self.in_t.lsb
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
        return _table_index(-_raw(diff_raw), self.exp_shift, self.table_size)

    def inv_index(self, sum_raw: np.ndarray) -> np.ndarray:
        return _table_index(_raw(sum_raw), self.inv_shift, self.table_size)

    def forward(self, x_raw: np.ndarray, axis: int = -1) -> np.ndarray:
        """Reference over `axis`: raw `in_t` -> raw `out_t` (int64 in, int64 out; float64 integer-valued
        raws in, the same out: every intermediate stays below 2**37)."""
        x = _raw(x_raw)
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
        idx = np.subtract(tree_reduce(np.maximum, x, axis), x, out=np.empty(x.shape, np.intp), casting="unsafe")
        e = (self._exp_by_diff_f32 if dt == np.float32 else self.exp_by_diff)[idx]
        s = tree_reduce(np.add, e, axis)  # exact: sum_t holds n terms and fits the float type
        shift = self.exp_t.frac + self.inv_t.frac - self.out_t.frac
        p = np.multiply(e, self.inv_table[self.inv_index(s)] * 2.0**-shift, dtype=np.float64)  # exact dyadic
        if shift > 0:
            _ROUND_INPLACE[self.out_t.rounding](p)
        if self.exp_table.max() * self.inv_table.max() * 2.0**-shift > self.out_t.raw_max:  # else it cannot saturate
            saturate_(p, self.out_t.raw_min, self.out_t.raw_max)
        return p

    @cached_property
    def _exp_by_diff_f32(self) -> np.ndarray:
        return self.exp_by_diff.astype(np.float32)  # exact when sum_t fits float32 (when it is used)


def tree_reduce(ufunc, x: np.ndarray, axis: int) -> np.ndarray:
    """ufunc.reduce(x, axis, keepdims=True) as a pairwise tree of whole-slice ufunc calls. NumPy's own reduction
    over a short axis makes one tiny inner loop per output row; here each level is one call over contiguous
    blocks. Exact for max, and for sums of integer-valued floats whose every partial sum is representable."""
    axis %= x.ndim
    n = x.shape[axis]

    def sl(a: int, b: int):
        return (slice(None),) * axis + (slice(a, b),)

    y = x
    while n > 1:  # halve y; the first level writes a fresh array, the later ones its first half
        h = n // 2
        z = ufunc(y[sl(0, h)], y[sl(h, 2 * h)], out=None if y is x else y[sl(0, h)])
        if n % 2:
            ufunc(z[sl(0, 1)], y[sl(2 * h, n)], out=z[sl(0, 1)])
        y, n = z, h
    return x.copy() if y is x else y


_ROUND_INPLACE = {"RND_CONV": lambda y: np.rint(y, out=y), "TRN": lambda y: np.floor(y, out=y),
                  "RND": lambda y: np.floor(np.add(y, 0.5, out=y), out=y)}


def _raw(x) -> np.ndarray:
    """Raw values become integer-valued float64 (the emulator's fast, exact domain) if they are floats, else int64."""
    x = np.asarray(x)
    return x.astype(np.float64, copy=False) if x.dtype.kind == "f" else x.astype(np.int64)


def _table_index(v: np.ndarray, shift: int, size: int) -> np.ndarray:
    """min(v >> shift, size - 1) for non-negative raw v (a left shift when shift < 0), as an index array."""
    if v.dtype == np.float64:
        idx = np.floor(np.ldexp(v, -shift))
    else:
        idx = v >> shift if shift >= 0 else v << -shift
    return np.minimum(idx, size - 1).astype(np.intp)


@dataclass(frozen=True)
class LayerNormSpec:
    """LayerNorm over `dim` values of `in_t`, the firmware's way.

    mean = cast(sum * 1/dim), diff = x - mean (exact), var = cast(sum(diff^2) * 1/dim) + eps, and
    1/sqrt(var) = table[parity(e), mantissa bits] * 2**-floor(e/2) with var in [2**e, 2**(e+1)):
    relative error bounded by the table size for every variance, no range calibration needed.
    y = cast(cast(diff * rsqrt) * gamma + beta).
    """

    in_t: FixedType
    dim: int
    table_size: int = 1024
    table_bits: int = 18
    out_t: FixedType | None = None
    epsilon: float = 1e-3
    extra_mean_bits: int = 4
    norm_frac: int = 10

    @property
    def invdim_t(self) -> FixedType:
        return FixedType(self.table_bits + ceil_log2(self.dim), 1, False, "RND", "SAT")

    @cached_property
    def invdim_raw(self) -> int:
        return int(self.invdim_t.quantize(1.0 / self.dim))

    @property
    def mean_t(self) -> FixedType:
        f = self.in_t.frac + self.extra_mean_bits
        return FixedType(self.in_t.integer + f, self.in_t.integer, True, INTERNAL_ROUNDING, "SAT")

    @property
    def diff_t(self) -> FixedType:
        m = self.mean_t
        return FixedType(m.width + 1, m.integer + 1, True)

    @property
    def var_t(self) -> FixedType:
        d = self.diff_t
        i = 2 * (d.integer - 1)  # |diff| < 2**(I-1): diff^2 < 2**(2I-2)
        f = 2 * self.in_t.frac + 4
        return FixedType(i + f, i, False, INTERNAL_ROUNDING, "SAT")

    @cached_property
    def eps_raw(self) -> int:
        return max(int(self.var_t.quantize(self.epsilon)), 1)  # keep var + eps >= one lsb

    @property
    def mant_bits(self) -> int:
        return int(math.log2(self.table_size)) - 1  # one bit of the index is the exponent parity

    @property
    def rsqrt_t(self) -> FixedType:
        return FixedType(self.table_bits, 0, False, "RND", "SAT")  # entries lie in (1/2, 1)

    @cached_property
    def rsqrt_table(self) -> np.ndarray:
        t = self.mant_bits
        j = np.arange(2**t, dtype=np.float64)
        m = 1.0 + (j + 0.5) / 2**t
        return self.rsqrt_t.quantize(np.concatenate([1 / np.sqrt(m), 1 / np.sqrt(2 * m)]))

    @property
    def half_range(self) -> tuple[int, int]:
        """floor(e/2) over every possible var+eps: e from -var_frac to var integer bits."""
        v = self.var_t
        e_min, e_max = -v.frac, v.integer  # var+eps may carry into one more bit
        return e_min // 2, e_max // 2

    @property
    def norm_t(self) -> FixedType:
        i = ceil_log2(int(math.ceil(math.sqrt(self.dim)))) + 2  # |normalised| <= sqrt(dim - 1), plus sign
        return FixedType(i + self.norm_frac, i, True, INTERNAL_ROUNDING, "SAT")

    @property
    def result_t(self) -> FixedType:
        return self.out_t or self.in_t

    def rsqrt_lookup(self, var_eps_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table entry raw, half) for raw var+eps >= 1: 1/sqrt(var) = entry * 2**-rsqrt_t.frac * 2**-half."""
        v = np.asarray(var_eps_raw, dtype=np.int64)
        p = _bit_length(v) - 1
        e = p - self.var_t.frac
        par = e & 1
        half = (e - par) // 2
        t = self.mant_bits
        mant = np.where(p >= t, v >> np.maximum(p - t, 0), v << np.maximum(t - p, 0)) & ((1 << t) - 1)
        return self.rsqrt_table[par * (1 << t) + mant], half

    @property
    def float_exact(self) -> bool:
        """Every per-element product of `forward` stays below 2**52, so integer-valued float64 is exact."""
        lo, hi = self.half_range
        d = self.diff_t.width
        return max(2 * d + ceil_log2(self.dim), d + self.rsqrt_t.width + hi - lo, self.norm_t.width + 24) <= 52

    def forward(self, x_raw: np.ndarray, gamma_raw: np.ndarray, beta_raw: np.ndarray, gamma_t: FixedType) -> np.ndarray:
        """Reference over the last axis. int64 raws in, int64 out; integer-valued float raws in, the same values
        as integer-valued floats out (float32 when the result type fits its mantissa, else float64)."""
        x = np.asarray(x_raw)
        if x.dtype.kind == "f" and self.float_exact and all(
                t.rounding in _ROUND_INPLACE and t.overflow == "SAT" for t in (self.norm_t, self.result_t)):
            return self._forward_float(x, gamma_raw, beta_raw, gamma_t)
        x = _raw(x)
        if x.dtype == np.float64 and not self.float_exact:
            return self.forward(x.astype(np.int64), gamma_raw, beta_raw, gamma_t).astype(np.float64)
        fi, fm = self.in_t.frac, self.mean_t.frac
        fd = self.invdim_t.frac
        # per-token statistics in int64 (their products with 1/dim may exceed 2**53); they are small arrays
        xsum = x.sum(axis=-1, keepdims=True).astype(np.int64)
        mean = self.mean_t.cast(xsum * self.invdim_raw, fi + fd)
        diff = x * (1 << (fm - fi)) - mean.astype(x.dtype)
        sq = (diff * diff).sum(axis=-1, keepdims=True).astype(np.int64)
        var = self.var_t.cast(sq * self.invdim_raw, 2 * fm + fd)
        entry, half = self.rsqrt_lookup(var + self.eps_raw)
        lo, hi = self.half_range
        # diff * entry * 2**-half, aligned on a common fraction so one cast rounds it
        wide = diff * (entry << (hi - half)).astype(x.dtype)
        norm = self.norm_t.cast_any(wide, fm + self.rsqrt_t.frac + hi)
        beta = np.asarray(beta_raw, dtype=np.int64) << self.norm_t.frac
        y = norm * np.asarray(gamma_raw).astype(x.dtype) + beta.astype(x.dtype)
        return self.result_t.cast_any(y, self.norm_t.frac + gamma_t.frac)


    def _forward_float(self, x, gamma_raw, beta_raw, gamma_t: FixedType) -> np.ndarray:
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
        entry, half = self.rsqrt_lookup(var + self.eps_raw)
        lo, hi = self.half_range
        norm_shift = fm + self.rsqrt_t.frac + hi - self.norm_t.frac
        r = (entry << (hi - half)) * 2.0 ** (fm - fi - norm_shift)  # per token
        # (x - m 2^-a) * r = x r - m 2^-a r: both products and their difference are exact (float_exact)
        norm = x2.astype(np.float64)
        norm *= r[:, None]
        norm -= (mean * 2.0**-a * r)[:, None]
        _ROUND_INPLACE[self.norm_t.rounding](norm)
        saturate_(norm, self.norm_t.raw_min, self.norm_t.raw_max)
        out_shift = self.norm_t.frac + gamma_t.frac - self.result_t.frac
        k = x.shape[-2] if x.ndim >= 3 else 1  # tokens per row of the tiled view
        rows = norm.reshape(-1, k * self.dim)
        rows *= np.tile(np.asarray(gamma_raw, dtype=np.float64) * 2.0**-out_shift, k)
        rows += np.tile(np.asarray(beta_raw, dtype=np.float64) * 2.0 ** (self.norm_t.frac - out_shift), k)
        if out_shift > 0:
            _ROUND_INPLACE[self.result_t.rounding](norm)
        saturate_(norm, self.result_t.raw_min, self.result_t.raw_max)
        return norm.reshape(x.shape).astype(float_for(self.result_t.width), copy=False)


def float_for(bits: int):
    """The narrowest float type holding every integer of `bits` magnitude bits exactly: float32 up to 24 bits,
    else float64 (callers keep to 52)."""
    return np.float32 if bits <= 24 else np.float64


@dataclass(frozen=True)
class PoolSpec:
    """Pooling over `n` tokens: max, or mean = cast(sum * 1/n) with 1/n a constant (exact when n is a power of 2)."""

    in_t: FixedType
    n: int
    mode: str = "mean"
    const_bits: int = 18

    @property
    def invn_t(self) -> FixedType:
        return FixedType(self.const_bits + ceil_log2(self.n), 1, False, "RND", "SAT")

    @cached_property
    def invn_raw(self) -> int:
        return int(self.invn_t.quantize(1.0 / self.n))

    @property
    def out_t(self) -> FixedType:
        return self.in_t

    def forward(self, x_raw: np.ndarray, axis: int = -2) -> np.ndarray:
        x = _raw(x_raw)
        if self.mode == "max":
            return x.max(axis=axis)
        total = x.sum(axis=axis)
        if x.dtype == np.float64 and self.in_t.width + ceil_log2(self.n) + self.invn_t.width > 52:
            total = total.astype(np.int64)
        return self.out_t.cast_any(total * self.invn_raw, self.in_t.frac + self.invn_t.frac)


def input_scale_log2(x: np.ndarray, input_t: FixedType, quantile: float = 0.999, lo: int = -8, hi: int = 16):
    """Per-feature power-of-two input scale k: x * 2**k puts the `quantile` of |x| (non-padding particles of the
    training set) inside input_t's range. A power of two only moves the binary point of the upstream words, so it
    costs nothing in firmware; it lets small features (pT fractions, angles ~0.04) use the embedding's range."""
    flat = np.abs(np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1]))
    ks = []
    for col in flat.T:
        q = np.quantile(col[col > 0], quantile) if np.any(col > 0) else 0.0
        ks.append(hi if q == 0 else int(np.clip(np.floor(np.log2(input_t.max_value / q)), lo, hi)))
    return np.array(ks, dtype=np.int64)


def _bit_length(v: np.ndarray) -> np.ndarray:
    """Exact bit length of positive int64 (< 2**53) values."""
    _, exp = np.frexp(v.astype(np.float64))
    return exp.astype(np.int64)
