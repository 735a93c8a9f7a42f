"""Keras-2 layers whose quantized forward pass is the firmware's arithmetic.

The quantized paths compute in float64, where every intermediate value of our fixed-point types is exact, and take
their tables and constants from `models.numerics` (the same arrays the HLS headers and the emulator use).
Gradients: straight-through for casts, the float softmax / LayerNorm for the table-based steps.
Each layer has `quantized=False` for the float twin, with identical weights and structure.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from qkeras.quantizers import quantized_bits

from models.fixed import FixedType
from models.numerics import LayerNormSpec, PoolSpec, ScaleSpec, SoftmaxSpec

F64 = tf.float64


@tf.custom_gradient
def _value_of_second(approx, exact):
    """Returns `exact` bit for bit; the gradient flows into `approx` (a straight-through estimator)."""
    return tf.identity(exact), lambda dy: (dy, tf.zeros_like(exact))


def _exp2(e):
    """2**e for float64 integer-valued e: exact."""
    return tf.pow(tf.constant(2.0, F64), e)


def fake_quant(x, t: FixedType):
    """Round x (float64) onto `t`'s grid with its rounding and saturation; straight-through gradient."""
    scale = 2.0**t.frac
    raw = x * scale
    if t.rounding == "RND_CONV":
        r = tf.round(raw)  # TensorFlow rounds half to even
    elif t.rounding == "RND":
        r = tf.floor(raw + 0.5)
    elif t.rounding == "TRN":
        r = tf.floor(raw)
    else:
        raise NotImplementedError(f"training-time rounding {t.rounding}")
    if t.overflow != "SAT":
        raise NotImplementedError(f"training-time overflow {t.overflow}")
    q = tf.clip_by_value(r, float(t.raw_min), float(t.raw_max)) / scale
    return _value_of_second(x, tf.stop_gradient(q))


def weight_quantizer(fixed: FixedType) -> quantized_bits:
    return quantized_bits(**fixed.qkeras_config())


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
    return _value_of_second(tf.nn.softmax(x, axis=-1), tf.stop_gradient(p))


def _types_config(**types: FixedType) -> dict:
    return {k: v.ap_type for k, v in types.items()}


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
        return {**super().get_config(), **_types_config(in_type=self.in_t, out_type=self.out_t),
                "table_size": self.table_size, "input_range": self.input_range, "table_bits": self.table_bits,
                "quantized": self.quantized}


class QMultiHeadAttention(tf.keras.layers.Layer):
    """Self-attention over tokens [batch, n, d]: quantized Q/K/V/O projections, fixed-point 1/sqrt(key_dim)
    scale, LUT softmax. Output [batch, n, output_dim]."""

    def __init__(self, num_heads, key_dim, output_dim=None, weight_type="ap_fixed<8,1,AP_RND_CONV,AP_SAT>",
                 act_type="ap_fixed<10,5,AP_RND_CONV,AP_SAT>", score_type="ap_fixed<14,6,AP_RND_CONV,AP_SAT>",
                 prob_type="ap_ufixed<10,1,AP_RND_CONV,AP_SAT>", table_size=1024, input_range=8.0, table_bits=18,
                 scale_bits=18, qkv_type=None, quantized=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim, self.output_dim = int(num_heads), int(key_dim), output_dim
        self.weight_t, self.act_t = FixedType.parse(weight_type), FixedType.parse(act_type)
        # q, k, v and the context are internal to the layer; they may be finer than the output type
        self.qkv_t = FixedType.parse(qkv_type) if qkv_type else self.act_t
        self.score_t, self.prob_t = FixedType.parse(score_type), FixedType.parse(prob_type)
        self.table_size, self.input_range, self.table_bits = table_size, float(input_range), table_bits
        self.scale = ScaleSpec(self.key_dim, scale_bits)
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
        return SoftmaxSpec(self.score_t, self.n_tokens, self.table_size, self.input_range, self.table_bits, self.prob_t)

    def quantized_weights(self) -> dict[str, np.ndarray]:
        """Float values of the weights as the firmware stores them."""
        out = {}
        for w in ("query", "key", "value", "output"):
            for part in ("kernel", "bias"):
                v = getattr(self, f"{w}_{part}")
                out[f"{w}_{part}"] = np.asarray(self.wq(v)) if self.quantized else v.numpy()
        return out

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
        s = tf.einsum("bhqk,bhmk->bhqm", q, k)
        if self.quantized:
            c = self.scale.const_t.to_float(self.scale.const_raw)
            p = lut_softmax(fake_quant(s * c, self.score_t), self.softmax_spec())
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
                **_types_config(weight_type=self.weight_t, act_type=self.act_t, score_type=self.score_t,
                                prob_type=self.prob_t, qkv_type=self.qkv_t),
                "table_size": self.table_size, "input_range": self.input_range, "table_bits": self.table_bits,
                "scale_bits": self.scale.bits, "quantized": self.quantized}


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
                             self.epsilon)

    def quantized_weights(self) -> dict[str, np.ndarray]:
        q = self.gq if self.quantized else (lambda v: v)
        return {"gamma": np.asarray(q(self.gamma)), "beta": np.asarray(q(self.beta))}

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
        var_raw = var * 2.0**sp.var_t.frac + sp.eps_raw
        # floor(log2) from the float64 exponent field: exact for the integer-valued var_raw
        p = tf.bitwise.right_shift(tf.bitcast(var_raw, tf.int64), 52) - 1023
        p = tf.cast(p, F64)
        e = p - sp.var_t.frac
        par = tf.math.floormod(e, 2.0)
        half = (e - par) / 2
        t = sp.mant_bits
        mant = tf.floor(var_raw * _exp2(t - p)) - 2.0**t
        idx = tf.cast(par * 2**t + mant, tf.int32)
        entry = tf.gather(tf.constant(sp.rsqrt_t.to_float(sp.rsqrt_table), F64), idx)
        norm = fake_quant(diff * entry * _exp2(-half), sp.norm_t)
        y = fake_quant(norm * gamma + beta, sp.result_t)
        return tf.cast(_value_of_second(y_float, tf.stop_gradient(y)), x.dtype)

    def get_config(self):
        return {**super().get_config(),
                **_types_config(in_type=self.in_t, out_type=self.out_t, gamma_type=self.gamma_t),
                "table_size": self.table_size, "table_bits": self.table_bits, "epsilon": self.epsilon,
                "quantized": self.quantized}


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


def custom_objects() -> dict:
    """Everything needed to load a saved trigformer model (ours and QKeras')."""
    from qkeras.utils import _add_supported_quantized_objects

    objs = {"LUTSoftmax": LUTSoftmax, "QMultiHeadAttention": QMultiHeadAttention,
            "QLayerNormalization": QLayerNormalization, "TokenPooling": TokenPooling}
    _add_supported_quantized_objects(objs)
    return objs
