"""1/sqrt(v) of a positive fixed-point value by exponent normalisation, the building block of the norms.

With v in [2**e, 2**(e+1)): 1/sqrt(v) = table[parity(e), top mantissa bits] * 2**-floor(e/2), a leading-one
detector, a table of 2 * 2**mant_bits entries in (1/2, 1] and a shift. The relative error is bounded by the table
size for every v, with no range calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import Spec, bit_length


@dataclass(frozen=True)
class RsqrtSpec(Spec):
    var_t: FixedType  # unsigned type of v; v = var + eps may carry into one more bit
    table_size: int = 1024
    table_bits: int = 18
    v_min_raw: int = 1  # the smallest v that can occur (var >= 0, so eps)

    @property
    def mant_bits(self) -> int:
        return int(math.log2(self.table_size)) - 1  # one bit of the index is the exponent parity

    @property
    def rsqrt_t(self) -> FixedType:
        return FixedType(self.table_bits, 0, False, "RND", "SAT")  # entries lie in (1/2, 1)

    @cached_property
    def table(self) -> np.ndarray:
        t = self.mant_bits
        j = np.arange(2**t, dtype=np.float64)
        m = 1.0 + (j + 0.5) / 2**t
        return self.rsqrt_t.quantize(np.concatenate([1 / np.sqrt(m), 1 / np.sqrt(2 * m)]))

    @property
    def half_range(self) -> tuple[int, int]:
        """floor(e/2) over every possible v: e from that of v_min to the var type's integer bits."""
        v = self.var_t
        e_min, e_max = int(self.v_min_raw).bit_length() - 1 - v.frac, v.integer  # var+eps may carry one more bit
        return e_min // 2, e_max // 2

    @property
    def rs_t(self) -> FixedType:
        """1/sqrt(v) = entry * 2**-half as one value: the entry shifted by half_max - half (exact for every v)."""
        lo, hi = self.half_range
        return FixedType(self.rsqrt_t.width + hi - lo, -lo, False)

    def lookup(self, v_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table entry raw, half) for raw v >= 1: 1/sqrt(v) = entry * 2**-rsqrt_t.frac * 2**-half."""
        v = np.asarray(v_raw, dtype=np.int64)
        p = bit_length(v) - 1
        e = p - self.var_t.frac
        par = e & 1
        half = (e - par) // 2
        t = self.mant_bits
        mant = np.where(p >= t, v >> np.maximum(p - t, 0), v << np.maximum(t - p, 0)) & ((1 << t) - 1)
        return self.table[par * (1 << t) + mant], half


def tf_lookup(v_raw, sp: RsqrtSpec):
    """`RsqrtSpec.lookup` in TensorFlow for float64 integer-valued v_raw >= 1: (entry as a float, half)."""
    import tensorflow as tf

    from trigformer.models.ops.keras_common import F64, exp2

    # floor(log2) from the float64 exponent field: exact for the integer-valued v_raw
    p = tf.cast(tf.bitwise.right_shift(tf.bitcast(v_raw, tf.int64), 52) - 1023, F64)
    e = p - sp.var_t.frac
    par = tf.math.floormod(e, 2.0)
    half = (e - par) / 2
    t = sp.mant_bits
    mant = tf.floor(v_raw * exp2(t - p)) - 2.0**t
    idx = tf.cast(par * 2**t + mant, tf.int32)
    return tf.gather(tf.constant(sp.rsqrt_t.to_float(sp.table), F64), idx), half
