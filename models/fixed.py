"""One fixed-point type description shared by training, code generation and emulation.

A `FixedType` is what `ap_fixed<W, I, Q, O>` / `ap_ufixed<W, I, Q, O>` means: W total bits, I integer bits (sign
included, as in ap_fixed), a quantization (rounding) mode Q and an overflow mode O. Values are carried as int64
arrays of the raw two's-complement integer `v`, with real value `v * 2**-frac`. Every cast in the firmware has a
twin here (`cast`), and every float-to-fixed conversion (`quantize`) follows ap_fixed's rules, so the emulator and
the C++ agree bit for bit.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 62  # raw values and their exact products must fit int64


@dataclass(frozen=True)
class FixedType:
    width: int
    integer: int  # integer bits including the sign bit (ap_fixed convention); may be <= 0 or > width
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"fixed-point width must be 1..{MAX_WIDTH}, got {self.width}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unknown rounding mode {self.rounding!r}; expected one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unknown overflow mode {self.overflow!r}; expected one of {OVERFLOW_MODES}")

    # ---- description -------------------------------------------------------------------------------------------
    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def magnitude_bits(self) -> int:
        """Bits of the largest raw magnitude: the width without the sign bit (|raw| <= 2**magnitude_bits)."""
        return self.width - (1 if self.signed else 0)

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min_value(self) -> float:
        return self.raw_min * self.lsb

    @property
    def max_value(self) -> float:
        return self.raw_max * self.lsb

    @property
    def ap_type(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def __str__(self) -> str:
        return self.ap_type

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> FixedType:
        return FixedType(self.width, self.integer, self.signed, rounding or self.rounding, overflow or self.overflow)

    @classmethod
    @functools.lru_cache(maxsize=4096)
    def parse(cls, text: str) -> FixedType:
        """Parse `ap_fixed<W,I[,AP_Q[,AP_O]]>` / `ap_ufixed<...>` / `fixed<...>` (hls4ml's spelling)."""
        m = re.fullmatch(r"\s*(ap_)?(u?)fixed<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*\d+\s*)?>\s*", text)
        if not m:
            raise ValueError(f"not a fixed-point type: {text!r}")
        return cls(int(m[3]), int(m[4]), m[2] != "u", m[5] or "TRN", m[6] or "WRAP")

    @classmethod
    def from_qkeras(cls, bits: int, integer: int, keep_negative: bool = True) -> FixedType:
        """The type QKeras `quantized_bits(bits, integer, alpha=1)` rounds to: half-to-even, saturating."""
        return cls(bits, integer + 1 if keep_negative else integer, keep_negative, "RND_CONV", "SAT")

    def qkeras_config(self) -> dict:
        """quantized_bits arguments producing exactly this grid (only for RND_CONV/SAT types)."""
        return {"bits": self.width, "integer": self.integer - (1 if self.signed else 0),
                "keep_negative": self.signed, "alpha": 1}

    @classmethod
    def from_hls4ml(cls, precision) -> FixedType:
        """The type of an hls4ml precision object (before or after the backend gave it its C++ definition)."""
        if hasattr(precision, "definition_cpp"):
            return cls.parse(precision.definition_cpp())
        return cls(precision.width, precision.integer, precision.signed, str(precision.rounding_mode),
                   str(precision.saturation_mode))

    def to_hls4ml(self):
        from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

        return FixedPrecisionType(width=self.width, integer=self.integer, signed=self.signed,
                                  rounding_mode=RoundingMode.from_string(self.rounding),
                                  saturation_mode=SaturationMode.from_string(self.overflow))

    # ---- arithmetic -----------------------------------------------------------------------------------------------
    def cast(self, raw, src_frac: int) -> np.ndarray:
        """Assign a value with `src_frac` fractional bits (raw int64, exact) to this type, as ap_fixed does."""
        v = np.asarray(raw, dtype=np.int64)
        shift = src_frac - self.frac
        if shift > 0:
            v = _round_shift(v, shift, self.rounding)
        elif shift < 0:
            v = self._shift_left(v, -shift)
        return self._overflow(v)

    def cast_any(self, raw, src_frac: int, inplace: bool = False) -> np.ndarray:
        """`cast` for int64 raws, or for integer-valued float64 raws below 2**52 in magnitude (the emulator's fast
        domain: BLAS matmuls and rint/floor/clip are exact there). Returns the same dtype it was given.
        `inplace`: a float64 `raw` the caller owns may be overwritten (saves a pass)."""
        if not (isinstance(raw, np.ndarray) and raw.dtype in (np.float64, np.float32)):
            return self.cast(raw, src_frac)
        if raw.dtype == np.float32 and self.width > 24:  # float32 holds integers below 2**24 exactly
            raw, inplace = raw.astype(np.float64), True
        if self.rounding not in FLOAT_ROUNDING or self.overflow not in ("SAT", "WRAP") or self.width > FLOAT_EXACT_BITS:
            return self.cast(raw.astype(np.int64), src_frac).astype(raw.dtype)
        shift = src_frac - self.frac
        if inplace:
            y = raw
            if shift:
                y *= y.dtype.type(2.0**-shift)
        else:
            y = raw * raw.dtype.type(2.0**-shift)  # exact: a power-of-two scaling
        if shift > 0:
            self.round_scaled(y, out=y)
        lo, hi = y.dtype.type(self.raw_min), y.dtype.type(self.raw_max)
        if self.overflow == "SAT":
            return saturate_(y, lo, hi)
        if y.min(initial=lo) < lo or y.max(initial=hi) > hi:  # WRAP: two's-complement modulo 2**width
            span = y.dtype.type(2.0**self.width)
            y = y - span * np.floor((y - lo) / span)
        return y

    def round_scaled(self, y, xp=np, out=None):
        """Round values already scaled to raw units (raw + fraction, as floats) with this type's rounding mode.

        The one float-domain rounding dispatch of the project: `xp` is NumPy (in place with `out`) or TensorFlow
        (the training-time forward pass). Both `round` functions round half to even. Only the modes in
        FLOAT_ROUNDING are supported here; `cast` handles every mode on int64 raws."""
        kw = {} if out is None else {"out": out}
        if self.rounding == "RND_CONV":
            return xp.round(y, **kw)
        if self.rounding == "RND":
            return xp.floor(xp.add(y, 0.5, **kw) if out is not None else y + 0.5, **kw)
        if self.rounding == "TRN":
            return xp.floor(y, **kw)
        raise NotImplementedError(f"float-domain rounding {self.rounding} (supported: {', '.join(FLOAT_ROUNDING)})")

    def quantize(self, x) -> np.ndarray:
        """float (any dtype) -> raw int64, with this type's rounding and overflow (float-to-ap_fixed conversion).

        Exact for every double, as ap_fixed's `ap_fixed(double)` is: grids finer than a double and magnitudes
        beyond int64 (WRAP keeps the low bits) convert exactly. Like ap_fixed, +-inf and NaN convert as a magnitude
        of 2**1024 with their sign bit.
        """
        x = np.asarray(x, dtype=np.float64)
        if self.frac >= 0:  # fast path: scaling up by 2**frac is exact, and below 2**53 so are floor and remainder
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = np.ldexp(x, self.frac)
                fast = bool(np.all(np.abs(scaled) < 2.0**53))  # (false for inf and NaN too)
            if fast:
                fl = np.floor(scaled)
                return self._overflow(_round(fl.astype(np.int64), scaled - fl, 0.5, scaled < 0, self.rounding))
        # exact path: x = mant * 2**exp raw lsbs with an integer mantissa |mant| < 2**53
        finite = np.isfinite(x)
        m, e = np.frexp(np.where(finite, x, np.copysign(0.5, x)))  # 0.5 <= |m| < 1 (or 0)
        mant = np.ldexp(m, 53).astype(np.int64)
        exp = np.where(finite, e, 1025).astype(np.int64) + (self.frac - 53)  # non-finite: 0.5 * 2**1025
        right = exp < 0
        s = np.where(right, -exp, 1)
        tiny = s > 55  # |value| < 1/8 lsb: only its sign matters to every rounding mode, so round +-1/4 instead
        rounded = _round_shift(np.where(tiny, np.sign(mant), mant), np.where(tiny, 2, s), self.rounding)
        return self._overflow(np.where(right, rounded, self._shift_left(mant, np.where(right, 0, exp))))

    def to_float(self, raw) -> np.ndarray:
        return np.asarray(raw, dtype=np.float64) * self.lsb

    def round_trip(self, x) -> np.ndarray:
        """Float values as this type represents them (quantize then back)."""
        return self.to_float(self.quantize(x))

    def _shift_left(self, v: np.ndarray, k) -> np.ndarray:
        """`v * 2**k` (k >= 0) as far as `_overflow` can tell: modulo 2**64 for WRAP, else clipped to +-2**62."""
        k = np.asarray(k, dtype=np.int64)
        if self.overflow == "WRAP":  # numpy's unsigned shift is modular and gives 0 for k >= 64
            return (v.astype(np.uint64) << k.astype(np.uint64)).astype(np.int64)
        k = np.minimum(k, 62)
        lim = np.int64(1) << (62 - k)  # 2**62 lies beyond every raw range (MAX_WIDTH = 62)
        return np.clip(v, -lim, lim) << k

    def _overflow(self, v: np.ndarray) -> np.ndarray:
        lo, hi = self.raw_min, self.raw_max
        o = self.overflow
        if o == "WRAP":
            span = np.int64(1) << np.int64(self.width)
            w = np.bitwise_and(v, span - 1)
            return np.where(w > hi, w - span, w) if self.signed else w
        if o == "SAT_ZERO":
            return np.where((v < lo) | (v > hi), 0, v)
        if o == "SAT_SYM" and self.signed and self.width > 1:
            # ap_fixed treats a result equal to raw_min as underflow too, so raw_min itself maps to -raw_max
            # (for W = 1 its "raw_min | 1" is raw_min again: SAT_SYM acts as SAT; unsigned SAT_SYM is SAT as well)
            lo = -hi
        return np.where(v > hi, hi, np.where(v < lo, lo, v))


FLOAT_EXACT_BITS = 52  # float64 holds every integer below 2**53; keep a bit for the +0.5 of RND
FLOAT_ROUNDING = ("RND_CONV", "RND", "TRN")  # the modes FixedType.round_scaled implements on floats


def _half_goes_up(fl: np.ndarray, neg: np.ndarray, mode: str) -> np.ndarray:
    """For a tie exactly between fl and fl+1: does the value round up to fl+1?"""
    if mode == "RND":
        return np.ones_like(neg)
    if mode == "RND_MIN_INF":
        return np.zeros_like(neg)
    if mode == "RND_ZERO":
        return neg  # toward zero: up for negatives
    if mode == "RND_INF":
        return ~neg  # away from zero: up for positives
    if mode == "RND_CONV":
        return (fl & 1) == 1  # to even
    raise ValueError(mode)


def _round(fl: np.ndarray, rem, half, neg: np.ndarray, mode: str) -> np.ndarray:
    """Round `fl + rem / (2 * half)` (0 <= rem < 2 * half) to an integer with `mode`; `neg`: the value is < 0."""
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return fl + (neg & (rem != 0))
    return fl + ((rem > half) | ((rem == half) & _half_goes_up(fl, neg, mode)))


def _round_shift(v: np.ndarray, shift, mode: str) -> np.ndarray:
    """Drop `shift` (>= 1, scalar or per element) low bits of raw `v` with the given rounding mode, exactly."""
    s = np.asarray(shift, dtype=np.int64)
    neg = v < 0
    if np.any(s > 62):  # keep 62: fold the bits below into a sticky bit (rounding only asks whether any is set)
        d = np.clip(s - 62, 0, 63)
        sticky = (v.astype(np.uint64) & ((np.uint64(1) << d.astype(np.uint64)) - np.uint64(1))) != 0
        v, s = (v >> d) | sticky, np.minimum(s, 62)
    fl = v >> s  # arithmetic shift = floor
    return _round(fl, v - (fl << s), np.int64(1) << (s - 1), neg, mode)


def bits_for_range(lo: float, hi: float, frac: int, signed: bool | None = None) -> FixedType:
    """Smallest exact type with `frac` fractional bits holding every value in [lo, hi] (TRN/WRAP: never rounds)."""
    signed = lo < 0 if signed is None else signed
    raw_lo, raw_hi = int(np.floor(lo * 2.0**frac)), int(np.ceil(hi * 2.0**frac))
    mag = max(raw_hi, -raw_lo - 1, 0)
    width = max(int(mag).bit_length() + (1 if signed else 0), 1)
    return FixedType(width, width - frac, signed)


def saturate_(y: np.ndarray, lo, hi) -> np.ndarray:
    """np.clip(y, lo, hi) in place. The bounds are checked first with two reductions, which are several times
    cheaper than a clip pass, and most casts do not saturate."""
    if y.size and (y.min() < lo or y.max() > hi):
        np.clip(y, lo, hi, out=y)
    return y
