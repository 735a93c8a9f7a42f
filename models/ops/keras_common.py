"""TensorFlow helpers shared by the ops' Keras layers: the straight-through cast and the weight quantizer.

The quantized forward passes compute in float64, where every intermediate value of our fixed-point types is exact,
and take their tables and constants from the op specs (the same arrays the HLS headers and the emulator use).
Gradients: straight-through for casts, the float op for the table-based steps.
"""

from __future__ import annotations

import tensorflow as tf
from qkeras.quantizers import quantized_bits

from trigformer.models.fixed import FixedType

F64 = tf.float64


@tf.custom_gradient
def value_of_second(approx, exact):
    """Returns `exact` bit for bit; the gradient flows into `approx` (a straight-through estimator)."""
    return tf.identity(exact), lambda dy: (dy, tf.zeros_like(exact))


def exp2(e):
    """2**e for float64 integer-valued e: exact."""
    return tf.pow(tf.constant(2.0, F64), e)


def fake_quant(x, t: FixedType):
    """Round x (float64) onto `t`'s grid with its rounding and saturation; straight-through gradient."""
    if t.overflow != "SAT":
        raise NotImplementedError(f"training-time overflow {t.overflow}")
    scale = 2.0**t.frac
    r = t.round_scaled(x * scale, xp=tf)
    q = tf.clip_by_value(r, float(t.raw_min), float(t.raw_max)) / scale
    return value_of_second(x, tf.stop_gradient(q))


def weight_quantizer(fixed: FixedType) -> quantized_bits:
    return quantized_bits(**fixed.qkeras_config())


def types_config(**types: FixedType) -> dict:
    return {k: v.ap_type for k, v in types.items()}
