"""Numeric helpers shared by the ops: exact accumulator widths, the integer-valued float domain, tree reductions,
table indexing, and the serialisable base of every op spec.

A spec is a frozen dataclass whose fields are sizes, constants and `FixedType`s. It is the one description of an op
instance: the Keras layer, the hls4ml layer, the emulator and the cost model all build it from the same fields, and
`to_attrs` / `from_attrs` carry it across JSON (emulator.json) and the hls4ml layer attributes, where a type becomes
its `ap_fixed<...>` string and is parsed back.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np

from trigformer.models.fixed import FixedType

INTERNAL_ROUNDING = "RND_CONV"  # the same half-to-even rounding QKeras applies, so every cast in the net is alike


def ceil_log2(n: int) -> int:
    return max(int(n - 1).bit_length(), 0)


def max_abs(t: FixedType) -> float:
    """Largest magnitude of a type: for signed types the most negative value, -2**(I-1), is the largest."""
    return -t.min_value if t.signed else t.max_value


def dot_accum_t(a: FixedType, b: FixedType, n: int, bias: FixedType | None = None) -> FixedType:
    """Exact signed accumulator for a sum of n products a*b (+ bias): no rounding, no overflow.

    The bound is reached: (-2**(Ia-1)) * (-2**(Ib-1)) = +2**(Ia+Ib-2) needs one bit more than the operand widths
    suggest."""
    frac = max(a.frac + b.frac, bias.frac if bias else 0)
    bound = max_abs(a) * max_abs(b) * n + (max_abs(bias) if bias else 0.0)
    integer = math.floor(math.log2(bound)) + 2 if bound > 0 else 1  # 2**(I-1) > bound
    return FixedType(integer + frac, integer, True)


def sum_t(t: FixedType, n: int) -> FixedType:
    """Exact type of a sum of n values of `t` (same fraction, ceil(log2 n) more integer bits, always signed)."""
    g = ceil_log2(n)
    return FixedType(t.width + g + (0 if t.signed else 1), t.integer + g + (0 if t.signed else 1), True)


def float_for(bits: int):
    """The narrowest float type holding every integer of `bits` magnitude bits exactly: float32 up to 24 bits,
    else float64 (callers keep to 52)."""
    return np.float32 if bits <= 24 else np.float64


def to_raw(x) -> np.ndarray:
    """Raw values become integer-valued float64 (the emulator's fast, exact domain) if they are floats, else int64."""
    x = np.asarray(x)
    return x.astype(np.float64, copy=False) if x.dtype.kind == "f" else x.astype(np.int64)


def tree_reduce(ufunc, x: np.ndarray, axis: int) -> np.ndarray:
    """ufunc.reduce(x, axis, keepdims=True) as a pairwise tree of whole-slice ufunc calls. NumPy's own reduction
    over a short axis makes one tiny inner loop per output row; here each level is one call over contiguous
    blocks. Exact for max, and for sums of integer-valued floats whose every partial sum is representable."""
    axis %= x.ndim
    n = x.shape[axis]

    def sl(a: int, b: int):
        return (slice(None),) * axis + (slice(a, b),)

    y = x
    while n > 1:  # halve y; the first level writes a fresh array, the later ones its first half
        h = n // 2
        z = ufunc(y[sl(0, h)], y[sl(h, 2 * h)], out=None if y is x else y[sl(0, h)])
        if n % 2:
            ufunc(z[sl(0, 1)], y[sl(2 * h, n)], out=z[sl(0, 1)])
        y, n = z, h
    return x.copy() if y is x else y


def table_index(v: np.ndarray, shift: int, size: int) -> np.ndarray:
    """min(v >> shift, size - 1) for non-negative raw v (a left shift when shift < 0), as an index array."""
    if v.dtype == np.float64:
        idx = np.floor(np.ldexp(v, -shift))
    else:
        idx = v >> shift if shift >= 0 else v << -shift
    return np.minimum(idx, size - 1).astype(np.intp)


def bit_length(v: np.ndarray) -> np.ndarray:
    """Exact bit length of positive int64 (< 2**53) values."""
    _, exp = np.frexp(np.asarray(v).astype(np.float64))
    return exp.astype(np.int64)


def align(v: np.ndarray, k: int) -> np.ndarray:
    """v * 2**k, k >= 0, in v's dtype (exact)."""
    return v * v.dtype.type(2.0**k) if v.dtype.kind == "f" else v << np.int64(k)


def fits_float(*bits: float) -> bool:
    return sum(bits) <= 52


def matmul_raw(a: np.ndarray, b: np.ndarray, a_t: FixedType, b_t: FixedType, bits: int | None = None) -> np.ndarray:
    """Exact a @ b of raws: float32 BLAS when every partial sum stays below 2**24 (`bits` magnitude bits, by
    default from the operand types and the length) unless both operands are float64 already (a conversion pass
    costs more than the wider product), float64 below 2**52, else int64."""
    if bits is None:
        bits = a_t.magnitude_bits + b_t.magnitude_bits + int(np.ceil(np.log2(max(a.shape[-1], 2))))
    if a.dtype.kind == "f" and bits <= 52:
        dt = np.float64 if a.dtype == b.dtype == np.float64 else float_for(bits)
        return np.matmul(a.astype(dt, copy=False), b.astype(dt, copy=False))
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


# ------------------------------------------------------------------------------------------------------------------
# Spec base: typed fields <-> plain attributes
# ------------------------------------------------------------------------------------------------------------------
class Spec:
    """Mixin for frozen dataclass specs: `to_attrs()` gives JSON-able attributes (types as ap_fixed strings),
    `from_attrs()` builds the spec back, parsing each type field once."""

    @classmethod
    def _type_fields(cls) -> set[str]:
        hints = typing.get_type_hints(cls)
        return {f.name for f in dataclasses.fields(cls)
                if hints.get(f.name) in (FixedType, FixedType | None, typing.Optional[FixedType])}

    def to_attrs(self) -> dict:
        types = self._type_fields()
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = (v.ap_type if v is not None else None) if f.name in types else v
        return out

    @classmethod
    def from_attrs(cls, attrs: dict):
        types = cls._type_fields()
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name not in attrs:
                continue
            v = attrs[f.name]
            kw[f.name] = (FixedType.parse(v) if isinstance(v, str) else v) if f.name in types else v
        return cls(**kw)


def raw_on_grid(values, t: FixedType) -> np.ndarray:
    """Raw integers of float values that must already lie on `t`'s grid (weights after snapping)."""
    q = t.quantize(np.asarray(values, dtype=np.float64))
    if not np.array_equal(t.to_float(q), np.asarray(values, dtype=np.float64)):
        raise ValueError(f"weights are not on the {t} grid: snap them before conversion")
    return q


def inv_const_t(n: int, bits: int) -> FixedType:
    """Type of the constant 1/n: exact with the fewest bits when n is a power of 2 (then the product is a shift),
    else `bits` significant bits (rounded)."""
    g = ceil_log2(n)
    return FixedType(g + 1, 1, False, "RND", "SAT") if n & (n - 1) == 0 else FixedType(bits + g, 1, False, "RND", "SAT")


def check_products(owner: str, products: dict[str, int], limit: int = 62) -> None:
    """The integer reference multiplies these in int64: refuse (ValueError, naming the product) any wider than
    `limit` bits."""
    for what, bits in products.items():
        if bits > limit:
            raise ValueError(f"{owner}: {what} is {bits} bits wide; the integer reference arithmetic holds {limit} "
                             "(use narrower activations)")


# The layer-description keys that name how many units of work run side by side per iteration (`split_units`):
# token-dense and per-token Dense (tokens or an output block), attention rows, norm/pooling features.
PARALLEL_KEYS = ("tokens_parallel", "out_block", "rows_parallel", "features_parallel")


def split_units(units: int, reuse: int) -> tuple[int, int]:
    """How a layer with `units` independent pieces of work (tokens, attention rows, features) shares hardware at
    reuse factor `reuse`: (parallel units per iteration, iterations = the layer's II). See nnet_tf_common.h."""
    parallel = max(1, math.ceil(units / max(1, reuse)))
    return parallel, math.ceil(units / parallel)


def quantizer_type(q) -> FixedType:
    """The ap type a QKeras quantizer rounds to (half to even, saturating)."""
    if type(q).__name__ == "quantized_relu":
        return FixedType(q.bits, q.integer, False, "RND_CONV", "SAT")
    if type(q).__name__ == "quantized_bits":
        return FixedType.from_qkeras(q.bits, q.integer, bool(q.keep_negative))
    raise ValueError(f"unsupported quantizer {q}")


def inbound_layers(node) -> list:
    """The layers whose outputs a Keras graph node consumes (Keras 3: the parent nodes' operations; Keras 2 named
    them `inbound_layers`, a layer or a list)."""
    if not hasattr(node, "inbound_layers"):
        return [parent.operation for parent in node.parent_nodes]
    return node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]


def input_shape(layer) -> tuple:
    """The shape of a single-input Keras layer's input, batch first (Keras 3 has no `layer.input_shape`)."""
    return tuple(layer.input.shape)


def activation_quantizer(layer):
    """The quantizer of a QActivation (QKeras 0.9: `.quantizer`; qkeras-v3 keeps it as `.activation`), else None."""
    if type(layer).__name__ != "QActivation":
        return None
    return getattr(layer, "quantizer", None) or layer.activation


def next_layers(model, layer) -> list:
    return [other for other in model.layers for node in other._inbound_nodes if layer in inbound_layers(node)]
