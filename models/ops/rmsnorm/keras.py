"""Keras layer: RMSNorm over the last axis with a fixed-point mean square, 1/sqrt from a table and a quantized
gamma. The quantized forward pass is the firmware's arithmetic; the gradient is the float RMSNorm's."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.keras_common import F64, exp2, fake_quant, types_config, value_of_second, weight_quantizer
from trigformer.models.ops.rmsnorm.spec import RMSNormSpec
from trigformer.models.ops.rsqrt import tf_lookup


class QRMSNormalization(tf.keras.layers.Layer):
    def __init__(self, in_type="ap_fixed<10,5,AP_RND_CONV,AP_SAT>", out_type=None,
                 gamma_type="ap_fixed<8,2,AP_RND_CONV,AP_SAT>", table_size=1024, table_bits=18, epsilon=1e-3,
                 quantized=True, **kwargs):
        super().__init__(**kwargs)
        self.in_t = FixedType.parse(in_type)
        self.out_t = FixedType.parse(out_type) if out_type else self.in_t
        self.gamma_t = FixedType.parse(gamma_type)
        self.table_size, self.table_bits, self.epsilon = table_size, table_bits, float(epsilon)
        self.quantized = quantized
        self.gq = weight_quantizer(self.gamma_t) if quantized else None

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(int(input_shape[-1]),), initializer="ones")
        super().build(input_shape)

    def spec(self) -> RMSNormSpec:
        return RMSNormSpec(self.in_t, int(self.gamma.shape[0]), self.table_size, self.table_bits, self.out_t,
                           self.epsilon, gamma_t=self.gamma_t)

    def snap_to_grid(self):
        if self.quantized:
            self.set_weights([self.gamma_t.round_trip(w) for w in self.get_weights()])

    def call(self, x):
        if not self.quantized:
            return x * tf.math.rsqrt(tf.reduce_mean(x * x, -1, keepdims=True) + self.epsilon) * self.gamma
        sp = self.spec()
        x64 = fake_quant(tf.cast(x, F64), self.in_t)
        gamma = tf.cast(self.gq(self.gamma), F64)
        y_float = x64 * tf.math.rsqrt(tf.reduce_mean(x64 * x64, -1, keepdims=True) + self.epsilon) * gamma
        xs = tf.stop_gradient(x64)
        invdim = sp.invdim_t.to_float(sp.invdim_raw)
        ms = fake_quant(tf.reduce_sum(xs * xs, -1, keepdims=True) * invdim, sp.var_t)
        entry, half = tf_lookup(ms * 2.0**sp.var_t.frac + sp.eps_raw, sp.rsqrt)
        norm = fake_quant(xs * entry * exp2(-half), sp.norm_t)
        y = fake_quant(norm * gamma, sp.result_t)
        return tf.cast(value_of_second(y_float, tf.stop_gradient(y)), x.dtype)

    def get_config(self):
        return {**super().get_config(),
                **types_config(in_type=self.in_t, out_type=self.out_t, gamma_type=self.gamma_t),
                "table_size": self.table_size, "table_bits": self.table_bits, "epsilon": self.epsilon,
                "quantized": self.quantized}
