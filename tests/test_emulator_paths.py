"""The emulator's fast float paths against the integer reference paths of the same arithmetic.

The op specs (models.ops) compute softmax and LayerNorm two ways: on int64 raws (shifts and integer casts, written to
follow the HLS C++ line by line) and on integer-valued float32/float64 raws (fewer passes, BLAS sums, tree
reductions, scales folded into per-row constants). The float paths are what the emulator runs; csim checks them
in test_hls on a few models, and here they are compared with the int64 paths value by value over many types,
sizes (odd and prime ones included) and inputs with the extremes of every type."""

import numpy as np
import pytest

from trigformer.models.fixed import FixedType
from trigformer.models.ops import BY_KIND, Node
from trigformer.models.ops.common import tree_reduce
from trigformer.models.ops.layernorm.spec import LayerNormSpec
from trigformer.models.ops.softmax.spec import SoftmaxSpec

RNG = np.random.default_rng(77)


def sat(w: int, i: int, signed: bool = True, rounding: str = "RND_CONV") -> FixedType:
    return FixedType(w, i, signed, rounding, "SAT")


def raws(t: FixedType, shape, extremes: bool = True) -> np.ndarray:
    """Random raws of `t`, with raw_min / raw_max / 0 sprinkled in."""
    v = RNG.integers(t.raw_min, t.raw_max + 1, shape)
    if extremes:
        pick = RNG.random(shape)
        v[pick < 0.05] = t.raw_min
        v[(pick >= 0.05) & (pick < 0.1)] = t.raw_max
        v[(pick >= 0.1) & (pick < 0.12)] = 0
    return v


@pytest.mark.parametrize("ufunc", [np.maximum, np.add])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 13, 16, 17])
@pytest.mark.parametrize("axis", [0, -1, -2])
def test_tree_reduce_equals_numpy_reduce(ufunc, n, axis):
    x = RNG.integers(-1000, 1000, (3, n, n + 1, 2)).astype(np.float32)
    want = ufunc.reduce(x, axis=axis, keepdims=True)
    got = tree_reduce(ufunc, x, axis)
    assert got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("in_t, n, table_size, rng_, out_t", [
    (sat(14, 6), 16, 1024, 8.0, sat(10, 1, False)),  # the default types
    (sat(14, 6), 13, 512, 4.0, sat(8, 1, False)),
    (sat(10, 4), 7, 1024, 8.0, sat(10, 1, False, "TRN")),
    (sat(20, 8), 5, 2048, 16.0, sat(12, 1, False, "RND")),
    (sat(26, 10), 32, 1024, 8.0, sat(10, 1, False)),  # differences beyond float32: the float64 path
    (sat(14, 6), 1, 1024, 8.0, sat(10, 1, False)),
])
@pytest.mark.parametrize("axis", [-1, -2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_float_path_equals_integer_path(in_t, n, table_size, rng_, out_t, axis, dtype):
    sp = SoftmaxSpec(in_t, n, table_size, rng_, 18, out_t)
    shape = (300, n, 9) if axis == -2 else (300, 9, n)
    x = raws(in_t, shape)
    if in_t.width > 24:
        dtype = np.float64  # float32 cannot hold these raws; the emulator carries them in float64
    want = sp.forward(x, axis=axis)  # int64 path
    got = sp.forward(x.astype(dtype), axis=axis)
    assert got.dtype.kind == "f" and want.dtype == np.int64
    assert np.array_equal(got.astype(np.int64), want)
    assert np.array_equal(got, got.astype(np.int64))  # integer-valued


@pytest.mark.parametrize("in_t, dim, out_t, gamma_t", [
    (sat(10, 5), 16, sat(10, 5), sat(8, 2)),  # the default types
    (sat(10, 5), 13, sat(10, 5), sat(8, 2)),
    (sat(6, 3), 5, sat(6, 3, rounding="TRN"), sat(4, 2)),
    (sat(13, 6), 11, sat(12, 4, rounding="RND"), sat(10, 3)),  # sum of squares beyond float32: float64
    (sat(8, 3, False), 3, sat(8, 3), sat(6, 2)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tokens", [None, 7])
def test_layernorm_float_path_equals_integer_path(in_t, dim, out_t, gamma_t, dtype, tokens):
    sp = LayerNormSpec(in_t, dim, 1024, 18, out_t, gamma_t=gamma_t)
    shape = (400, dim) if tokens is None else (60, tokens, dim)
    x = raws(in_t, shape)
    x[:3] = in_t.raw_max  # constant rows: zero variance
    x[3:6] = in_t.raw_min
    gamma, beta = raws(gamma_t, (dim,), extremes=False), raws(gamma_t, (dim,), extremes=False)
    gamma[0], beta[-1] = gamma_t.raw_min, gamma_t.raw_max
    assert sp.float_exact
    want = sp.forward(x, gamma, beta)  # int64 path
    got = sp.forward(x.astype(dtype), gamma, beta)
    assert got.dtype == (np.float32 if out_t.width <= 24 else np.float64) and want.dtype == np.int64
    assert np.array_equal(got.astype(np.int64), want)
    assert got.min() >= out_t.raw_min and got.max() <= out_t.raw_max


@pytest.mark.parametrize("types, out_t", [
    ((FixedType(10, 5), FixedType(10, 5)), FixedType(10, 5)),
    ((FixedType(20, 2), FixedType(20, 18)), FixedType(24, 12)),  # aligned sum needs 37 bits: not float32
    ((FixedType(12, 10), FixedType(8, 1, False)), sat(9, 6)),  # saturates
])
def test_add_kernel_is_exact_whatever_the_alignment(types, out_t):
    vals = [raws(t, (500, 8)) for t in types]
    f = max(t.frac for t in types)
    exact = sum(v << (f - t.frac) for v, t in zip(vals, types))  # int64 reference
    want = out_t.cast(exact, f)
    node = Node("add", "add", ["a", "b"], out_t)
    for dt in (np.float32, np.float64):
        got = BY_KIND["add"].run(node, [v.astype(dt) for v in vals], list(types))
        assert np.array_equal(np.asarray(got).astype(np.int64), want), dt
