"""Keras layer: Linformer self-attention whose forward pass is the firmware's arithmetic (spec.py LinformerSpec):
QMultiHeadAttention whose key and value projections read E^T x and F^T x (k tokens) instead of x. E and F
([N, k], no bias, shared by the heads) are weights of the weight type, like HGQ2's QLinformerAttention's."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.ops.keras_common import F64, fake_quant
from trigformer.models.ops.linformer.spec import TOKEN_PROJECTIONS, LinformerSpec
from trigformer.models.ops.mha.keras import QMultiHeadAttention, _split_inputs


class QLinformerAttention(QMultiHeadAttention):
    """Self-attention over [batch, n, d] with keys and values from lin_k < n projected tokens. lin_type: the type of
    the projected tokens (default: qkv_type, the attention's internal type). Output [batch, n, output_dim]."""

    spec_class = LinformerSpec
    INTERNALS = (*QMultiHeadAttention.INTERNALS, *(f"{p}_tokens" for p in TOKEN_PROJECTIONS))

    def __init__(self, num_heads, key_dim, output_dim=None, lin_k=1, lin_type=None, **kwargs):
        super().__init__(num_heads, key_dim, output_dim, **kwargs)
        self.lin_k = int(lin_k)
        self.lin_type = lin_type  # kept as given: None follows qkv_type (a model file's calibration sets that)
        self.lin_t = FixedType.parse(lin_type) if lin_type else self.qkv_t

    def build(self, input_shape):
        q_shape, kv_shape = _split_inputs(input_shape)
        if kv_shape is not None:
            raise ValueError(f"{self.name}: Linformer attention is self-attention (one input)")
        n = int(tf.TensorShape(q_shape)[-2])
        if not 1 <= self.lin_k < n:
            raise ValueError(f"{self.name}: lin_k must be at least 1 and below the {n} tokens, got {self.lin_k}")
        for p in TOKEN_PROJECTIONS:
            setattr(self, f"{p}_kernel", self.add_weight(name=f"{p}_kernel", shape=(n, self.lin_k),
                                                         initializer="glorot_uniform"))
        super().build(input_shape)
        self.n_kv = self.lin_k  # the keys and values the attention sees

    def _kv_type(self, kv_t):
        return self.lin_t

    def _kv_sources(self, x, x_kv):
        return self._token_proj(x, "e"), self._token_proj(x, "f")

    def _token_proj(self, x, name):
        """E^T x: [b, n, d] -> [b, lin_k, d], cast to lin_t (exact before the cast in float64)."""
        k = getattr(self, f"{name}_kernel")
        k = self.wq(k) if self.quantized else k
        y = tf.einsum("bnd,nk->bkd", x, tf.cast(k, x.dtype))
        return fake_quant(y, self.lin_t) if self.quantized else y

    def internals(self, inputs) -> list:
        """Plus E^T x and F^T x (of lin_t, which follows qkv_type unless lin_type is given): a model file's
        calibration ranges them with Q, K, V and the context."""
        x = tf.cast(inputs, F64) if self.quantized else inputs
        return [*super().internals(inputs), *self._kv_sources(x, x)]

    def quantized_weights(self) -> dict:
        out = super().quantized_weights()
        for p in TOKEN_PROJECTIONS:
            k = getattr(self, f"{p}_kernel")
            out[f"{p}_kernel"] = np.asarray(self.wq(k)) if self.quantized else k.numpy()
        return out

    def get_config(self):
        return {**super().get_config(), "lin_k": self.lin_k, "lin_type": self.lin_type}
