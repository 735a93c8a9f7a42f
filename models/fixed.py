"""One fixed-point type description shared by training, code generation and emulation.

A `FixedType` is what `ap_fixed<W, I, Q, O>` / `ap_ufixed<W, I, Q, O>` means: W total bits, I integer bits (sign
included, as in ap_fixed), a quantization (rounding) mode Q and an overflow mode O. Values are carried as int64
arrays of the raw two's-complement integer `v`, with real value `v * 2**-frac`. Every cast in the firmware has a
twin here (`cast`), and every float-to-fixed conversion (`quantize`) follows ap_fixed's rules, so the emulator and
the C++ agree bit for bit.
"""

from __future__ import annotations

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
            v = v << np.int64(-shift)
        return self._overflow(v)

    def quantize(self, x) -> np.ndarray:
        """float (any dtype) -> raw int64, with this type's rounding and overflow (float-to-ap_fixed conversion)."""
        scaled = np.asarray(x, dtype=np.float64) * (2.0 ** self.frac)
        fl = np.floor(scaled)
        rem = scaled - fl  # exact: scaled has at most 53 significant bits
        half, above, exact = rem == 0.5, rem > 0.5, rem == 0.0
        v = fl.astype(np.int64)
        neg = scaled < 0
        r = self.rounding
        if r == "TRN":
            out = v
        elif r == "TRN_ZERO":
            out = np.where(neg & ~exact, v + 1, v)
        else:
            up = above | (half & _half_goes_up(v, neg, r))
            out = v + up
        return self._overflow(out)

    def to_float(self, raw) -> np.ndarray:
        return np.asarray(raw, dtype=np.float64) * self.lsb

    def round_trip(self, x) -> np.ndarray:
        """Float values as this type represents them (quantize then back)."""
        return self.to_float(self.quantize(x))

    def _overflow(self, v: np.ndarray) -> np.ndarray:
        lo, hi = self.raw_min, self.raw_max
        o = self.overflow
        if o == "WRAP":
            span = np.int64(1) << np.int64(self.width)
            w = np.bitwise_and(v, span - 1)
            return np.where(w > hi, w - span, w) if self.signed else w
        if o == "SAT_SYM" and self.signed:
            lo = -hi
        if o == "SAT_ZERO":
            return np.where((v < lo) | (v > hi), 0, v)
        # ap_fixed saturates only on overflow: an in-range raw_min survives SAT_SYM
        return np.where(v > hi, hi, np.where(v < self.raw_min, lo, v))


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


def _round_shift(v: np.ndarray, shift: int, mode: str) -> np.ndarray:
    """Drop `shift` low bits of raw `v` with the given rounding mode (exact integer arithmetic)."""
    s = np.int64(shift)
    fl = v >> s  # arithmetic shift = floor
    rem = v - (fl << s)
    half = np.int64(1) << (s - 1)
    neg = v < 0
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return np.where(neg & (rem != 0), fl + 1, fl)
    up = (rem > half) | ((rem == half) & _half_goes_up(fl, neg, mode))
    return fl + up


def bits_for_range(lo: float, hi: float, frac: int, signed: bool | None = None) -> FixedType:
    """Smallest exact type with `frac` fractional bits holding every value in [lo, hi] (TRN/WRAP: never rounds)."""
    signed = lo < 0 if signed is None else signed
    raw_lo, raw_hi = int(np.floor(lo * 2.0**frac)), int(np.ceil(hi * 2.0**frac))
    mag = max(raw_hi, -raw_lo - 1, 0)
    width = max(int(mag).bit_length() + (1 if signed else 0), 1)
    return FixedType(width, width - frac, signed)
