"""Keras layer: softmax over the last axis through the firmware's exp and reciprocal tables."""

from __future__ import annotations

import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.keras_common import F64, fake_quant, types_config, value_of_second
from trigformer.models.ops.softmax.spec import SoftmaxSpec


def lut_softmax(x, spec: SoftmaxSpec):
    """Softmax over the last axis of float64 `x` (already on spec.in_t's grid), exactly as the firmware computes."""
    exp_tab = tf.constant(spec.exp_t.to_float(spec.exp_table), F64)
    inv_tab = tf.constant(spec.inv_t.to_float(spec.inv_table), F64)
    xs = tf.stop_gradient(x)
    d_raw = (xs - tf.reduce_max(xs, axis=-1, keepdims=True)) * 2.0**spec.in_t.frac
    idx = tf.minimum(tf.floor(-d_raw * 2.0**-spec.exp_shift), spec.table_size - 1)
    e = tf.gather(exp_tab, tf.cast(idx, tf.int32))
    s = tf.reduce_sum(e, axis=-1, keepdims=True)
    sidx = tf.minimum(tf.floor(s * 2.0 ** (spec.sum_t.frac - spec.inv_shift)), spec.table_size - 1)
    p = fake_quant(e * tf.gather(inv_tab, tf.cast(sidx, tf.int32)), spec.out_t)
    return value_of_second(tf.nn.softmax(x * spec.in_scale, axis=-1), tf.stop_gradient(p))


class LUTSoftmax(tf.keras.layers.Layer):
    """Softmax over the last axis through the firmware's exp and reciprocal tables."""

    def __init__(self, in_type="ap_fixed<14,6,AP_RND_CONV,AP_SAT>", out_type="ap_ufixed<10,1,AP_RND_CONV,AP_SAT>",
                 table_size=1024, input_range=8.0, table_bits=18, quantized=True, **kwargs):
        super().__init__(**kwargs)
        self.in_t, self.out_t = FixedType.parse(in_type), FixedType.parse(out_type)
        self.table_size, self.input_range, self.table_bits = table_size, float(input_range), table_bits
        self.quantized = quantized

    def spec(self, n: int) -> SoftmaxSpec:
        return SoftmaxSpec(self.in_t, n, self.table_size, self.input_range, self.table_bits, self.out_t)

    def call(self, x):
        if not self.quantized:
            return tf.nn.softmax(x, axis=-1)
        x64 = fake_quant(tf.cast(x, F64), self.in_t)
        return tf.cast(lut_softmax(x64, self.spec(int(x.shape[-1]))), x.dtype)

    def get_config(self):
        return {**super().get_config(), **types_config(in_type=self.in_t, out_type=self.out_t),
                "table_size": self.table_size, "input_range": self.input_range, "table_bits": self.table_bits,
                "quantized": self.quantized}
