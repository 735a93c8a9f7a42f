"""Keras layer: LayerNorm over the last axis with fixed-point mean and variance, 1/sqrt from a table, quantized
gamma/beta. The quantized forward pass is the firmware's arithmetic; the gradient is the float LayerNorm's."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.keras_common import F64, exp2, fake_quant, types_config, value_of_second, weight_quantizer
from trigformer.models.ops.layernorm.spec import LayerNormSpec
from trigformer.models.ops.rsqrt import tf_lookup


class QLayerNormalization(tf.keras.layers.Layer):
    """LayerNorm over the last axis: fixed-point mean and variance, 1/sqrt from a table, quantized gamma/beta."""

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
        d = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(d,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(d,), initializer="zeros")
        super().build(input_shape)

    def spec(self) -> LayerNormSpec:
        return LayerNormSpec(self.in_t, int(self.gamma.shape[0]), self.table_size, self.table_bits, self.out_t,
                             self.epsilon, gamma_t=self.gamma_t)

    def quantized_weights(self) -> dict[str, np.ndarray]:
        q = self.gq if self.quantized else (lambda v: v)
        return {"gamma": np.asarray(q(self.gamma)), "beta": np.asarray(q(self.beta))}

    def snap_to_grid(self):
        if self.quantized:
            self.set_weights([self.gamma_t.round_trip(w) for w in self.get_weights()])

    def call(self, x):
        if not self.quantized:
            mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + self.epsilon) * self.gamma + self.beta
        sp = self.spec()
        x64 = fake_quant(tf.cast(x, F64), self.in_t)
        gamma, beta = tf.cast(self.gq(self.gamma), F64), tf.cast(self.gq(self.beta), F64)
        # float path: carries the gradient
        mean_f, var_f = tf.nn.moments(x64, axes=[-1], keepdims=True)
        y_float = (x64 - mean_f) * tf.math.rsqrt(var_f + self.epsilon) * gamma + beta
        # exact path: the firmware's arithmetic
        xs = tf.stop_gradient(x64)
        invdim = sp.invdim_t.to_float(sp.invdim_raw)
        mean = fake_quant(tf.reduce_sum(xs, -1, keepdims=True) * invdim, sp.mean_t)
        diff = xs - mean
        var = fake_quant(tf.reduce_sum(diff * diff, -1, keepdims=True) * invdim, sp.var_t)
        entry, half = tf_lookup(var * 2.0**sp.var_t.frac + sp.eps_raw, sp.rsqrt)
        norm = fake_quant(diff * entry * exp2(-half), sp.norm_t)
        y = fake_quant(norm * gamma + beta, sp.result_t)
        return tf.cast(value_of_second(y_float, tf.stop_gradient(y)), x.dtype)

    def get_config(self):
        return {**super().get_config(),
                **types_config(in_type=self.in_t, out_type=self.out_t, gamma_type=self.gamma_t),
                "table_size": self.table_size, "table_bits": self.table_bits, "epsilon": self.epsilon,
                "quantized": self.quantized}
