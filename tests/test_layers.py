"""Keras layers and their numerics.

References: float64 NumPy softmax / LayerNorm / 1/sqrt (the math the tables approximate), error bounds derived by
hand from the table geometry, and the integer reference of the op specs (models.ops) (a second, independent implementation
of the same arithmetic: NumPy int64 versus TensorFlow float64)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from trigformer.models.fixed import FixedType
from trigformer.models.builder import custom_objects
from trigformer.models.ops.layernorm.keras import QLayerNormalization
from trigformer.models.ops.layernorm.spec import LayerNormSpec
from trigformer.models.ops.mha.keras import QMultiHeadAttention
from trigformer.models.ops.pooling.keras import TokenPooling
from trigformer.models.ops.softmax.keras import LUTSoftmax
from trigformer.models.ops.softmax.spec import SoftmaxSpec
from trigformer.models.quant import QuantTypes

QT = QuantTypes()
RNG = np.random.default_rng(1234)


def float_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def softmax_bound(sp: SoftmaxSpec) -> float:
    """Worst-case |LUT softmax - softmax| from the table geometry (derived in the README):
    exp input bin half-width, exp and 1/x entry rounding, reciprocal bin half-width, the tail beyond -range,
    and the output rounding."""
    half_bin = max(2.0**sp.exp_shift - 1, 0) / 2 * sp.in_t.lsb * sp.in_scale
    e_rel = math.expm1(half_bin) + sp.exp_t.lsb  # relative error of one exp value (entries >= e^-range are large)
    inv_rel = (2.0**sp.inv_shift * sp.sum_t.lsb) / 2 + sp.inv_t.lsb  # 1/s bin half-width relative to s >= 1
    tail = sp.n * math.exp(-sp.input_range)
    return 2 * e_rel + inv_rel + tail + sp.out_t.lsb / 2 + sp.exp_t.lsb * sp.n


@pytest.mark.parametrize("n, spread", [(4, 0.5), (16, 2.0), (16, 20.0), (32, 4.0), (7, 3.0)])
def test_lut_softmax_error_bound_and_argmax(n, spread):
    sp = QT.softmax(n)
    raw = QT.score_t.quantize(RNG.normal(0, spread, (4000, n)))
    x = QT.score_t.to_float(raw)
    p = sp.out_t.to_float(sp.forward(raw))
    ref = float_softmax(x)
    err = np.abs(p - ref).max()
    assert err <= softmax_bound(sp), (err, softmax_bound(sp))
    # the max of the LUT output is always the float argmax (ties in the quantized output allowed)
    a = ref.argmax(-1)
    assert np.all(np.take_along_axis(p, a[:, None], -1)[:, 0] == p.max(-1))


def test_lut_softmax_tables_against_math():
    sp = QT.softmax(16)
    assert sp.exp_t.to_float(sp.exp_table[0]) == pytest.approx(1.0, abs=2 ** -sp.exp_shift * sp.in_t.lsb)
    i = np.arange(sp.table_size)
    centre = -(i * 2.0**sp.exp_shift + (2.0**sp.exp_shift - 1) / 2) * sp.in_t.lsb
    assert np.abs(sp.exp_t.to_float(sp.exp_table) - np.exp(centre)).max() <= sp.exp_t.lsb / 2
    # reciprocal entries for sums in [1, n]
    s = np.linspace(1, 16, 5000)
    idx = sp.inv_index(sp.sum_t.quantize(s))
    assert np.abs(sp.inv_t.to_float(sp.inv_table[idx]) * s - 1).max() <= 2.0**sp.inv_shift * sp.sum_t.lsb + sp.inv_t.lsb


def test_keras_lut_softmax_equals_integer_reference():
    layer = LUTSoftmax(QT.score_t.ap_type, QT.prob_t.ap_type)
    x = QT.score_t.round_trip(RNG.normal(0, 3, (256, 5, 16))).astype(np.float32)
    y = layer(x).numpy()
    want = QT.prob_t.to_float(layer.spec(16).forward(QT.score_t.quantize(x)))
    assert np.array_equal(QT.prob_t.quantize(y), QT.prob_t.quantize(want))


def test_lut_softmax_gradient_is_the_float_softmax_gradient():
    layer = LUTSoftmax(QT.score_t.ap_type, QT.prob_t.ap_type)
    x = tf.constant(QT.score_t.round_trip(RNG.normal(0, 1, (3, 8))), tf.float32)
    w = tf.constant(RNG.normal(0, 1, (3, 8)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a = tf.reduce_sum(layer(x) * w)
        b = tf.reduce_sum(tf.nn.softmax(x) * w)
    np.testing.assert_allclose(tape.gradient(a, x), tape.gradient(b, x), atol=1e-6)


def test_rsqrt_relative_error_over_the_whole_range():
    sp = QT.layernorm(16)
    raw = np.unique(np.concatenate([np.arange(1, 5000), RNG.integers(1, 2 ** sp.var_t.width, 20000)]))
    entry, half = sp.rsqrt.lookup(raw)
    got = sp.rsqrt.rsqrt_t.to_float(entry) * 2.0 ** (-half.astype(np.float64))
    ref = 1 / np.sqrt(sp.var_t.to_float(raw))
    # bin half-width of the mantissa (relative 2^-(t+1)) -> 1/sqrt moves by half of that; plus entry rounding
    bound = 2.0 ** -(sp.rsqrt.mant_bits + 2) + sp.rsqrt.rsqrt_t.lsb * 2
    assert np.abs(got / ref - 1).max() <= bound


@pytest.mark.parametrize("dim", [16, 7, 13])
def test_layernorm_integer_reference_vs_float(dim):
    g_t = QT.gamma_t
    sp = LayerNormSpec(QT.act_t, dim, gamma_t=g_t)
    x = QT.act_t.quantize(RNG.normal(0.5, 2.0, (3000, dim)))
    gamma, beta = g_t.quantize(RNG.uniform(0.5, 1.5, dim)), g_t.quantize(RNG.uniform(-0.5, 0.5, dim))
    y = QT.act_t.to_float(sp.forward(x, gamma, beta))
    xf = QT.act_t.to_float(x)
    ref = (xf - xf.mean(-1, keepdims=True)) / np.sqrt(xf.var(-1, keepdims=True) + sp.epsilon)
    ref = ref * g_t.to_float(gamma) + g_t.to_float(beta)
    ref = np.clip(ref, QT.act_t.min_value, QT.act_t.max_value)
    # output rounding (half an lsb) + norm rounding and mean/var/rsqrt relative errors times |gamma * norm|
    bound = QT.act_t.lsb / 2 + 2 * sp.norm_t.lsb + 2e-3 * np.abs(ref).max() + 1.5 * QT.act_t.lsb
    assert np.abs(y - ref).max() <= bound


def test_keras_layernorm_equals_integer_reference():
    layer = QLayerNormalization(QT.act_t.ap_type, gamma_type=QT.gamma_t.ap_type)
    x = QT.act_t.round_trip(RNG.normal(0, 2, (500, 6, 12))).astype(np.float32)
    layer.build(x.shape)
    layer.set_weights([QT.gamma_t.round_trip(RNG.uniform(0.5, 1.5, 12)), QT.gamma_t.round_trip(RNG.normal(0, .3, 12))])
    y = layer(x).numpy()
    g, b = (QT.gamma_t.quantize(w) for w in layer.get_weights())
    want = layer.spec().forward(QT.act_t.quantize(x), g, b)
    assert np.array_equal(QT.act_t.quantize(y), want)


@pytest.mark.parametrize("key_dim", [1, 3, 4, 8, 16])
def test_attention_scale_folded_into_the_exp_table(key_dim):
    """softmax(s / sqrt(key_dim)) from the exact dot products s: the table indexed by the raw difference holds
    exp(-c * difference) at each bin's centre (hand formula), and it covers at least the configured input range."""
    dot_t = FixedType(24, 10)
    c = 1 / math.sqrt(key_dim)
    sp = SoftmaxSpec(dot_t, 16, 1024, 8.0, 18, QT.prob_t, in_scale=c)
    width = 2.0**sp.exp_shift
    centre = (np.arange(sp.table_size) * width + max(width - 1, 0) / 2) * dot_t.lsb
    assert np.abs(sp.exp_t.to_float(sp.exp_table) - np.exp(-c * centre)).max() <= sp.exp_t.lsb / 2
    covered = sp.table_size * width * dot_t.lsb * c  # input range the table spans, in scaled units
    assert 8.0 <= covered < 16.0 + 1e-9
    # the softmax of the scaled scores, within the LUT bound of the same geometry
    raw = dot_t.quantize(RNG.normal(0, 3 / c, (2000, 16)))
    p = sp.out_t.to_float(sp.forward(raw))
    assert np.abs(p - float_softmax(dot_t.to_float(raw) * c)).max() <= softmax_bound(sp)


def _model(quantized=True):
    inp = tf.keras.Input((8, 6))
    x = QMultiHeadAttention(2, 4, 6, quantized=quantized, name="mha")(inp)
    x = QLayerNormalization(quantized=quantized, name="ln")(x)
    x = LUTSoftmax(quantized=quantized, name="sm")(x)
    x = TokenPooling("mean", quantized=quantized, name="pool")(x)
    return tf.keras.Model(inp, x)


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_layers_save_load_round_trip(tmp_path, fmt):
    tf.keras.utils.set_random_seed(3)
    m = _model()
    x = RNG.normal(0, 1, (64, 8, 6)).astype(np.float32)
    before = m.predict(x, verbose=0)
    path = tmp_path / f"m.{fmt}"
    m.save(path)
    loaded = tf.keras.models.load_model(path, custom_objects=custom_objects())
    assert np.array_equal(loaded.predict(x, verbose=0), before)
    for a, b in zip(m.layers, loaded.layers):
        assert a.get_config() == b.get_config()


def test_pooling_mean_constant_and_max():
    for n in (8, 16, 12, 31):
        sp = TokenPooling("mean", QT.act_t.ap_type).spec(n)
        x = QT.act_t.quantize(RNG.normal(0, 3, (2000, n, 4)))
        y = QT.act_t.to_float(sp.forward(x, axis=1))
        ref = np.clip(QT.act_t.to_float(x).mean(1), QT.act_t.min_value, QT.act_t.max_value)
        assert np.abs(y - ref).max() <= QT.act_t.lsb / 2 + (0 if n & (n - 1) == 0 else QT.act_t.lsb / 2)
    layer = TokenPooling("max", QT.act_t.ap_type)
    x = RNG.normal(0, 1, (5, 7, 3)).astype(np.float32)
    assert np.array_equal(layer(x).numpy(), x.max(1))


def test_fixedtype_is_what_qkeras_quantizes_to():
    """QKeras quantized_bits (the training quantizer) and FixedType.from_qkeras give the same grid values."""
    from qkeras.quantizers import quantized_bits, quantized_relu

    x = np.concatenate([RNG.normal(0, 20, 20000), (np.arange(-600, 600) + 0.5) / 32]).astype(np.float32)
    for bits, integer in ((10, 4), (8, 0), (6, 2)):
        q = quantized_bits(bits, integer, alpha=1)(x).numpy()
        t = FixedType.from_qkeras(bits, integer)
        inside = np.abs(x) < t.max_value  # QKeras' straight-through output is inexact only when it saturates
        assert np.array_equal(q[inside], t.round_trip(x[inside]).astype(np.float32))
    r = quantized_relu(10, 4)(x).numpy()
    t = QT.relu_t
    inside = x < t.max_value
    assert np.array_equal(r[inside], t.round_trip(np.maximum(x[inside], 0)).astype(np.float32))


def test_input_scale_log2_hand_values():
    """k = floor(log2(max_value / q)) for the 99.9 % quantile q of |x|: hand-computed cases."""
    from trigformer.models.quant import input_scale_log2

    t = FixedType.from_qkeras(12, 4)  # max 15.9921875
    x = np.zeros((1000, 4, 3))
    x[:, 0, 0] = 0.74  # log2(15.99/0.74) = 4.43 -> 4
    x[:, 0, 1] = -3.0  # log2(15.99/3) = 2.41 -> 2
    x[:, 0, 2] = 40.0  # log2(15.99/40) = -1.32 -> -2
    assert input_scale_log2(x, t).tolist() == [4, 2, -2]
    scaled = x * 2.0 ** input_scale_log2(x, t)
    assert np.abs(scaled).max() <= t.max_value


@pytest.mark.parametrize("dim", [16, 7])
def test_rmsnorm_integer_reference_vs_float(dim):
    """RMSNorm (models.ops.rmsnorm): the fixed-point arithmetic against x / sqrt(mean(x^2) + eps) * gamma in float64,
    within the output rounding plus the rsqrt table's relative error times |y|."""
    from trigformer.models.ops.rmsnorm.spec import RMSNormSpec

    g_t = QT.gamma_t
    sp = RMSNormSpec(QT.act_t, dim, gamma_t=g_t)
    x = QT.act_t.quantize(RNG.normal(0.3, 2.0, (3000, dim)))
    gamma = g_t.quantize(RNG.uniform(0.5, 1.5, dim))
    y = QT.act_t.to_float(sp.forward(x, gamma))
    xf = QT.act_t.to_float(x)
    ref = np.clip(xf / np.sqrt((xf**2).mean(-1, keepdims=True) + sp.epsilon) * g_t.to_float(gamma),
                  QT.act_t.min_value, QT.act_t.max_value)
    bound = QT.act_t.lsb / 2 + 2 * sp.norm_t.lsb + 2e-3 * np.abs(ref).max() + 1.5 * QT.act_t.lsb
    assert np.abs(y - ref).max() <= bound


def test_keras_rmsnorm_equals_integer_reference():
    from trigformer.models.ops.rmsnorm.keras import QRMSNormalization

    layer = QRMSNormalization(QT.act_t.ap_type, gamma_type=QT.gamma_t.ap_type)
    x = QT.act_t.round_trip(RNG.normal(0, 2, (500, 6, 12))).astype(np.float32)
    layer.build(x.shape)
    layer.set_weights([QT.gamma_t.round_trip(RNG.uniform(0.5, 1.5, 12))])
    y = layer(x).numpy()
    want = layer.spec().forward(QT.act_t.quantize(x), QT.gamma_t.quantize(layer.get_weights()[0]))
    assert np.array_equal(QT.act_t.quantize(y), want)
