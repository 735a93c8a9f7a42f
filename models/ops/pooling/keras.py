"""Keras layer: pool [batch, n, d] over tokens, max or mean (sum times a fixed-point 1/n)."""

from __future__ import annotations

import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.keras_common import F64, fake_quant
from trigformer.models.ops.pooling.spec import PoolSpec


class TokenPooling(tf.keras.layers.Layer):
    """Pool [batch, n, d] over tokens: max, or mean as sum times a fixed-point 1/n."""

    def __init__(self, mode="mean", in_type="ap_fixed<10,5,AP_RND_CONV,AP_SAT>", const_bits=18, quantized=True,
                 **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"pooling mode must be mean or max, got {mode!r}")
        self.mode, self.in_t, self.const_bits, self.quantized = mode, FixedType.parse(in_type), const_bits, quantized

    def spec(self, n: int) -> PoolSpec:
        return PoolSpec(self.in_t, n, self.mode, self.const_bits)

    def call(self, x):
        if self.mode == "max":
            return tf.reduce_max(x, axis=-2)
        if not self.quantized:
            return tf.reduce_mean(x, axis=-2)
        sp = self.spec(int(x.shape[-2]))
        x64 = fake_quant(tf.cast(x, F64), self.in_t)
        y = fake_quant(tf.reduce_sum(x64, -2) * sp.invn_t.to_float(sp.invn_raw), sp.out_t)
        return tf.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "in_type": self.in_t.ap_type,
                "const_bits": self.const_bits, "quantized": self.quantized}
