"""Keras layer: quantized multi-head self-attention whose forward pass is the firmware's arithmetic
(models/ops/mha/spec.py); the gradient is the float attention's."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from models.fixed import FixedType
from models.ops.keras_common import F64, fake_quant, types_config, weight_quantizer
from models.ops.common import dot_accum_t
from models.ops.softmax.keras import lut_softmax
from models.ops.softmax.spec import SoftmaxSpec


class QMultiHeadAttention(tf.keras.layers.Layer):
    """Self-attention over tokens [batch, n, d]: quantized Q/K/V/O projections, exact dot products, LUT softmax
    with the 1/sqrt(key_dim) scale folded into its table. Output [batch, n, output_dim]."""

    def __init__(self, num_heads, key_dim, output_dim=None, weight_type="ap_fixed<8,1,AP_RND_CONV,AP_SAT>",
                 act_type="ap_fixed<10,5,AP_RND_CONV,AP_SAT>", prob_type="ap_ufixed<10,1,AP_RND_CONV,AP_SAT>",
                 table_size=1024, input_range=8.0, table_bits=18, qkv_type=None, quantized=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim, self.output_dim = int(num_heads), int(key_dim), output_dim
        self.weight_t, self.act_t = FixedType.parse(weight_type), FixedType.parse(act_type)
        # q, k, v and the context are internal to the layer; they may be finer than the output type
        self.qkv_t = FixedType.parse(qkv_type) if qkv_type else self.act_t
        self.prob_t = FixedType.parse(prob_type)
        self.table_size, self.input_range, self.table_bits = table_size, float(input_range), table_bits
        self.quantized = quantized
        self.wq = weight_quantizer(self.weight_t) if quantized else None

    def build(self, input_shape):
        n, d = int(input_shape[-2]), int(input_shape[-1])
        self.n_tokens, self.in_dim = n, d
        self.out_dim = int(self.output_dim or d)
        hk = self.num_heads * self.key_dim
        for name, shape in (("query", (d, hk)), ("key", (d, hk)), ("value", (d, hk)), ("output", (hk, self.out_dim))):
            setattr(self, f"{name}_kernel", self.add_weight(name=f"{name}_kernel", shape=shape,
                                                                       initializer="glorot_uniform"))
            setattr(self, f"{name}_bias", self.add_weight(name=f"{name}_bias", shape=(shape[1],), initializer="zeros"))
        super().build(input_shape)

    def softmax_spec(self) -> SoftmaxSpec:
        """Over the exact dot products Q K^T (the same spec as models.ops.mha.spec.MHASpec.softmax)."""
        dot_t = dot_accum_t(self.qkv_t, self.qkv_t, self.key_dim)
        return SoftmaxSpec(dot_t, self.n_tokens, self.table_size, self.input_range, self.table_bits, self.prob_t,
                           in_scale=1 / math.sqrt(self.key_dim))

    def quantized_weights(self) -> dict[str, np.ndarray]:
        """Float values of the weights as the firmware stores them."""
        out = {}
        for w in ("query", "key", "value", "output"):
            for part in ("kernel", "bias"):
                v = getattr(self, f"{w}_{part}")
                out[f"{w}_{part}"] = np.asarray(self.wq(v)) if self.quantized else v.numpy()
        return out

    def snap_to_grid(self):
        if self.quantized:
            self.set_weights([self.weight_t.round_trip(w) for w in self.get_weights()])

    def _proj(self, x, name, out_t):
        k, b = getattr(self, f"{name}_kernel"), getattr(self, f"{name}_bias")
        if self.quantized:
            k, b = self.wq(k), self.wq(b)
        y = tf.einsum("bnd,de->bne", x, tf.cast(k, x.dtype)) + tf.cast(b, x.dtype)
        return fake_quant(y, out_t) if self.quantized else y

    def _heads(self, t):  # [b, n, h*k] -> [b, h, n, k]
        return tf.transpose(tf.reshape(t, (-1, self.n_tokens, self.num_heads, self.key_dim)), (0, 2, 1, 3))

    def call(self, x):
        dtype = x.dtype
        x = tf.cast(x, F64) if self.quantized else x
        q, k, v = (self._heads(self._proj(x, n, self.qkv_t)) for n in ("query", "key", "value"))
        s = tf.einsum("bhqk,bhmk->bhqm", q, k)  # exact in float64 when quantized
        if self.quantized:
            p = lut_softmax(s, self.softmax_spec())
        else:
            p = tf.nn.softmax(s / math.sqrt(self.key_dim), axis=-1)
        ctx = tf.einsum("bhqm,bhmk->bhqk", p, v)
        ctx = fake_quant(ctx, self.qkv_t) if self.quantized else ctx
        ctx = tf.reshape(tf.transpose(ctx, (0, 2, 1, 3)), (-1, self.n_tokens, self.num_heads * self.key_dim))
        return tf.cast(self._proj(ctx, "output", self.act_t), dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], int(self.output_dim or input_shape[-1]))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "output_dim": self.output_dim,
                **types_config(weight_type=self.weight_t, act_type=self.act_t, prob_type=self.prob_t,
                               qkv_type=self.qkv_t),
                "table_size": self.table_size, "input_range": self.input_range, "table_bits": self.table_bits,
                "quantized": self.quantized}
