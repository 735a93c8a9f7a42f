"""Keras layer: DyT, gamma * tanh(alpha * x) + beta per element. The quantized forward pass is the firmware's
arithmetic (spec.py: the input's top bits index a tanh table, then one product and one sum); the gradient is the
float DyT's (straight-through), so alpha, gamma and beta all train. alpha is a float scalar folded into the table
when the firmware is written: the table is recomputed from the trained alpha, never quantized itself."""

from __future__ import annotations

import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.dyt.spec import DyTSpec
from trigformer.models.ops.keras_common import F64, fake_quant, types_config, value_of_second, weight_quantizer


class QDyT(tf.keras.layers.Layer):
    def __init__(self, in_type="ap_fixed<10,5,AP_RND_CONV,AP_SAT>", out_type=None,
                 gamma_type="ap_fixed<8,2,AP_RND_CONV,AP_SAT>", table_size=1024, table_bits=18, alpha_init=0.5,
                 quantized=True, **kwargs):
        super().__init__(**kwargs)
        self.in_t = FixedType.parse(in_type)
        self.out_t = FixedType.parse(out_type) if out_type else self.in_t
        self.gamma_t = FixedType.parse(gamma_type)
        self.table_size, self.table_bits, self.alpha_init = table_size, table_bits, float(alpha_init)
        self.quantized = quantized
        self.gq = weight_quantizer(self.gamma_t) if quantized else None

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.alpha = self.add_weight(name="alpha", shape=(), initializer=tf.keras.initializers.Constant(self.alpha_init))
        self.gamma = self.add_weight(name="gamma", shape=(d,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(d,), initializer="zeros")
        super().build(input_shape)

    def spec(self) -> DyTSpec:
        return DyTSpec(self.in_t, int(self.gamma.shape[0]), float(self.alpha.numpy()), self.table_size,
                       self.table_bits, self.out_t, gamma_t=self.gamma_t)

    def snap_to_grid(self):
        if self.quantized:  # gamma and beta onto their grid; alpha stays a float (it only shapes the table)
            self.gamma.assign(self.gamma_t.round_trip(self.gamma.numpy()))
            self.beta.assign(self.gamma_t.round_trip(self.beta.numpy()))

    def call(self, x):
        if not self.quantized:
            return self.gamma * tf.tanh(self.alpha * x) + self.beta
        sp = DyTSpec(self.in_t, 1, 0.0, self.table_size, self.table_bits, self.out_t, gamma_t=self.gamma_t)
        x64 = fake_quant(tf.cast(x, F64), self.in_t)
        alpha = tf.cast(self.alpha, F64)
        gamma, beta = tf.cast(self.gq(self.gamma), F64), tf.cast(self.gq(self.beta), F64)
        y_float = gamma * tf.tanh(alpha * x64) + beta
        # the table's bin of x and the value it stands for (DyTSpec.bin_centres), then the table entry
        step = 2.0**sp.shift * sp.in_t.lsb
        centre = tf.floor(tf.stop_gradient(x64) / step) * step + (2.0**sp.shift - 1) / 2 * sp.in_t.lsb
        t = fake_quant(tf.tanh(tf.stop_gradient(alpha) * centre), sp.tanh_t)
        y = fake_quant(t * gamma + beta, sp.result_t)
        return tf.cast(value_of_second(y_float, tf.stop_gradient(y)), x.dtype)

    def get_config(self):
        return {**super().get_config(),
                **types_config(in_type=self.in_t, out_type=self.out_t, gamma_type=self.gamma_t),
                "table_size": self.table_size, "table_bits": self.table_bits, "alpha_init": self.alpha_init,
                "quantized": self.quantized}
