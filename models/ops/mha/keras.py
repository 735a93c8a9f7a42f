"""Keras layer: quantized multi-head attention whose forward pass is the firmware's arithmetic
(models/ops/mha/spec.py); the gradient is the float attention's.

Called on one tensor (self-attention) or on [query, key_value] (cross-attention: key and value are the same
tensor, which may have another token count and width than the query)."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.keras_common import F64, fake_quant, types_config, weight_quantizer
from trigformer.models.ops.mha.spec import MHASpec
from trigformer.models.ops.softmax.keras import lut_softmax

PROJECTIONS = ("query", "key", "value", "output")


def _split_inputs(inputs):
    """(query, key_value or None) of a call or build argument."""
    if isinstance(inputs, (list, tuple)) and not isinstance(inputs, tf.TensorShape) and len(inputs) and \
            not isinstance(inputs[0], (int, type(None))):
        if len(inputs) == 1:
            return inputs[0], None
        if len(inputs) == 2:
            return inputs[0], inputs[1]
        raise ValueError(f"QMultiHeadAttention takes a tensor or [query, key_value], got {len(inputs)} inputs")
    return inputs, None


class QMultiHeadAttention(tf.keras.layers.Layer):
    """Attention over tokens: query [batch, n, d], key/value [batch, m, d_kv] (the query itself when not given).
    Quantized Q/K/V/O projections, exact dot products, LUT softmax with the 1/sqrt(key_dim) scale folded into its
    table. Output [batch, n, output_dim]."""

    spec_class = MHASpec
    INTERNALS = ("q", "k", "v", "context")  # what `internals` returns (the tensors of qkv_t)

    def __init__(self, num_heads, key_dim, output_dim=None, weight_type="ap_fixed<8,1,AP_RND_CONV,AP_SAT>",
                 act_type="ap_fixed<10,5,AP_RND_CONV,AP_SAT>", prob_type="ap_ufixed<10,1,AP_RND_CONV,AP_SAT>",
                 table_size=1024, input_range=8.0, table_bits=18, qkv_type=None, quantized=True, value_dim=None,
                 use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim, self.output_dim = int(num_heads), int(key_dim), output_dim
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.use_bias = bool(use_bias)
        self.weight_t, self.act_t = FixedType.parse(weight_type), FixedType.parse(act_type)
        # q, k, v and the context are internal to the layer; they may be finer than the output type
        self.qkv_t = FixedType.parse(qkv_type) if qkv_type else self.act_t
        self.prob_t = FixedType.parse(prob_type)
        self.table_size, self.input_range, self.table_bits = table_size, float(input_range), table_bits
        self.quantized = quantized
        self.wq = weight_quantizer(self.weight_t) if quantized else None

    def build(self, input_shape):
        q_shape, kv_shape = _split_inputs(input_shape)
        q_shape = tf.TensorShape(q_shape)
        kv_shape = tf.TensorShape(kv_shape) if kv_shape is not None else q_shape
        self.cross = kv_shape is not q_shape
        self.n_tokens, self.in_dim = int(q_shape[-2]), int(q_shape[-1])
        self.n_kv, self.kv_dim = int(kv_shape[-2]), int(kv_shape[-1])
        self.out_dim = int(self.output_dim or self.in_dim)
        hk, hv = self.num_heads * self.key_dim, self.num_heads * self.value_dim
        shapes = {"query": (self.in_dim, hk), "key": (self.kv_dim, hk), "value": (self.kv_dim, hv),
                  "output": (hv, self.out_dim)}
        for name in PROJECTIONS:
            shape = shapes[name]
            setattr(self, f"{name}_kernel", self.add_weight(name=f"{name}_kernel", shape=shape,
                                                            initializer="glorot_uniform"))
            if self.use_bias:
                setattr(self, f"{name}_bias", self.add_weight(name=f"{name}_bias", shape=(shape[1],),
                                                              initializer="zeros"))
        super().build(input_shape)

    def spec(self, in_t: FixedType | None = None, kv_t: FixedType | None = None) -> MHASpec:
        """The op's spec for inputs of these types. The input types only size the projection accumulators; the
        Keras forward pass (float64, exact) does not need them, so they default to the activation type."""
        in_t = in_t or self.act_t
        return self.spec_class(in_t, self.n_tokens, self.in_dim, self.num_heads, self.key_dim, self.out_dim,
                               self.weight_t, self.qkv_t, self.prob_t, self.act_t, self.table_size, self.input_range,
                               self.table_bits, value_dim=self.value_dim, n_kv=self.n_kv, kv_dim=self.kv_dim,
                               kv_t=self._kv_type(kv_t), use_bias=self.use_bias)

    def _kv_type(self, kv_t: FixedType | None) -> FixedType | None:
        """The spec's kv_t: the key/value input's type in cross-attention, None in self-attention."""
        return (kv_t or self.act_t) if self.cross else None

    def quantized_weights(self) -> dict[str, np.ndarray]:
        """Float values of the weights as the firmware stores them (zero biases without use_bias)."""
        out = {}
        for w in PROJECTIONS:
            k = getattr(self, f"{w}_kernel")
            out[f"{w}_kernel"] = np.asarray(self.wq(k)) if self.quantized else k.numpy()
            if self.use_bias:
                b = getattr(self, f"{w}_bias")
                out[f"{w}_bias"] = np.asarray(self.wq(b)) if self.quantized else b.numpy()
            else:
                out[f"{w}_bias"] = np.zeros(k.shape[-1], np.float32)
        return out

    def snap_to_grid(self):
        if self.quantized:
            self.set_weights([self.weight_t.round_trip(w) for w in self.get_weights()])

    def _proj(self, x, name, out_t):
        k = getattr(self, f"{name}_kernel")
        k = self.wq(k) if self.quantized else k
        y = tf.einsum("bnd,de->bne", x, tf.cast(k, x.dtype))
        if self.use_bias:
            b = getattr(self, f"{name}_bias")
            y = y + tf.cast(self.wq(b) if self.quantized else b, x.dtype)
        return fake_quant(y, out_t) if self.quantized else y

    def _heads(self, t, n, c):  # [b, n, h*c] -> [b, h, n, c]
        return tf.transpose(tf.reshape(t, (-1, n, self.num_heads, c)), (0, 2, 1, 3))

    def call(self, inputs):
        return self._attend(inputs)[0]

    def internals(self, inputs) -> list:
        """[Q, K, V, context] of `inputs` (the tensors of qkv_t): what a model file's calibration ranges."""
        return self._attend(inputs)[1]

    def _attend(self, inputs):
        x, x_kv = _split_inputs(inputs)
        dtype = x.dtype
        x_kv = x if x_kv is None else x_kv
        if self.quantized:
            x, x_kv = tf.cast(x, F64), tf.cast(x_kv, F64)
        x_k, x_v = self._kv_sources(x, x_kv)
        q = self._heads(self._proj(x, "query", self.qkv_t), self.n_tokens, self.key_dim)
        k = self._heads(self._proj(x_k, "key", self.qkv_t), self.n_kv, self.key_dim)
        v = self._heads(self._proj(x_v, "value", self.qkv_t), self.n_kv, self.value_dim)
        s = tf.einsum("bhqk,bhmk->bhqm", q, k)  # exact in float64 when quantized
        if self.quantized:
            p = lut_softmax(s, self.spec().softmax)
        else:
            p = tf.nn.softmax(s / math.sqrt(self.key_dim), axis=-1)
        ctx = tf.einsum("bhqm,bhmk->bhqk", p, v)
        ctx = fake_quant(ctx, self.qkv_t) if self.quantized else ctx
        ctx = tf.reshape(tf.transpose(ctx, (0, 2, 1, 3)), (-1, self.n_tokens, self.num_heads * self.value_dim))
        return tf.cast(self._proj(ctx, "output", self.act_t), dtype), [q, k, v, ctx]

    def _kv_sources(self, x, x_kv):
        """The tensors the key and the value projections read: here both the key/value input."""
        return x_kv, x_kv

    def compute_output_shape(self, input_shape):
        q_shape, _ = _split_inputs(input_shape)
        q_shape = tf.TensorShape(q_shape)
        return q_shape[:-1].concatenate([int(self.output_dim or q_shape[-1])])

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "output_dim": self.output_dim, "use_bias": self.use_bias,
                **types_config(weight_type=self.weight_t, act_type=self.act_t, prob_type=self.prob_t,
                               qkv_type=self.qkv_t),
                "table_size": self.table_size, "input_range": self.input_range, "table_bits": self.table_bits,
                "quantized": self.quantized}
