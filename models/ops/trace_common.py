"""The ops' integer arithmetic as alkaid traces (the RTL form): recipes shared by every op's trace.py.

A traced value is an alkaid FVariable carrying a *real* value: a FixedType raw r means r * 2**-frac. Each recipe
reproduces models.fixed / the op specs bit for bit (every cast with its rounding and overflow mode, every table
index), so the trace of a layer computes exactly what its emulator kernel and its HLS C++ compute (checked against
the emulator, never assumed: flow/rtl.py, tests/test_rtl.py); `cast` says why RND_CONV is not alkaid's own. msb_mux
only where both branches agree at the tie (max, min, saturation, the shift steps of a leading-one detector).

A constant-weight product (a Dense, an attention projection) is a `Product`: its kernel is one alkaid CMVM solve,
replayed on every token here and written as C++ by the HLS distributed-arithmetic strategy (models/ops/da.py), so
both forms compute with the same shift-and-add graph.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from trigformer.models.fixed import FixedType


def kif(t: FixedType) -> tuple[int, int, int]:
    """alkaid's (keep_negative, integer bits without the sign, fraction bits) of a FixedType."""
    return int(t.signed), t.integer - int(t.signed), t.frac


def new_inputs(t: FixedType, n: int):
    """An alkaid FVArray of n fresh inputs of type t (the layer's declared input type)."""
    from alkaid.trace import FVArray

    k, i, f = kif(t)
    return FVArray.from_kif(np.full(n, k), np.full(n, i), np.full(n, f))


def as_array(vs, solver_options=None):
    from alkaid.trace import FVArray

    return FVArray(np.asarray(vs, dtype=object), solver_options)


def frac_of(v) -> int:
    return int(v.kif[2])


def is_const(v) -> bool:
    return not hasattr(v, "quantize")


def cast(x, t: FixedType):
    """ap_fixed assignment of an exact value x to t (rounding TRN / RND / RND_CONV, overflow WRAP / SAT / SAT_SYM).
    RND_CONV (half to even) = TRN of x + (1/2 ulp_out - ulp_in) + b * ulp_in, with b the kept LSB of x: one adder
    after a constant addition. alkaid's own RND_CONV is as exact but ANDs the sticky bits first, one delay unit more
    (on the tiny test model 5 of its 8 units took one stage more: 59 cycles instead of 54 at 5 ns)."""
    if is_const(x):  # a constant folds to its value on t's grid
        raw = int(t.quantize(np.float64(x)))
        return raw * 2.0**-t.frac
    k, i, f = kif(t)
    ov, rnd = t.overflow, t.rounding
    if ov not in ("WRAP", "SAT", "SAT_SYM"):
        raise NotImplementedError(f"trace of overflow mode {ov}")
    fx = frac_of(x)
    if fx <= f or rnd == "TRN":
        return x.quantize(k, i, f, ov, "TRN")
    if rnd == "RND":
        return (x + 2.0 ** (-f - 1)).quantize(k, i, f, ov, "TRN")
    if rnd == "RND_CONV":
        b = x.quantize(0, 1 - f, f)  # the kept LSB, value 0 or 2**-f: a wire
        return (x + (2.0 ** (-f - 1) - 2.0**-fx) + (b >> (fx - f))).quantize(k, i, f, ov, "TRN")
    raise NotImplementedError(f"trace of rounding mode {rnd}")


def cast_all(xs, t: FixedType) -> np.ndarray:
    return np.array([cast(v, t) for v in np.ravel(xs)], dtype=object).reshape(np.shape(xs))


# alkaid's CMVM solver settings for every constant-weight product: every decomposition depth searched, as hls4ml
# 1.3.0's DA strategy does (backends/vivado/passes/distributed_arithmetic.py), but hard_dc 0 (the minimal depth) where
# hls4ml passes 2. da4ml 0.5.2 counted hard_dc in adder levels (adder_size 1: every adder 1 unit, the unit the
# pipelining counts in: unit_delays), and at 2 its kernels kept the minimal depth; alkaid counts it in its own
# carry-chain delay (1.1 + 0.025 per bit per adder, _binary/cmvm/state_opr.cc cost_add) and at 2 trades depth for
# cost: on the default example's stop-24 weights K and V 7 adder levels and O 8 instead of 6, the attention unit 2
# cycles and the head 1 cycle longer (README: the default example). At 0 the kernels are 6 levels again for +0.9 % of
# alkaid's cost of the network. Fixed here (hls4ml reads DA_HARD_DC from the environment) so firmware is reproducible.
# binary_lut off: alkaid would otherwise fold groups of 1-bit inputs into tables; the kernel stays shifts and adds.
SOLVER_OPTIONS = {"hard_dc": 0, "search_all_decompose_dc": True, "binary_lut": False}


@dataclass(frozen=True, eq=False)
class Product:
    """One constant-weight product of a layer: x (n_in values of the declared input type in_t) @ W + b, exact,
    computed `instances` times per inference (once per token). The ops list theirs (`OpDef.products`); the trace
    computes each with its kernel, and hls.strategy distributed_arithmetic writes the same kernel as C++."""

    suffix: str  # "" for a layer's only product, "_q", "_k", ... (the C++ kernel is dense_da_<index><suffix>)
    w_raw: np.ndarray  # [n_in, n_out] raw integers of w_t
    w_t: FixedType
    b_raw: np.ndarray | None  # [n_out] raw integers of b_t, or None
    b_t: FixedType | None
    in_t: FixedType
    instances: int

    def kernel(self):
        """The one trace of the product: one token's exact x @ W + b from n_in fresh inputs of in_t, solved by
        alkaid's CMVM solver into a shift-and-add graph (an alkaid CombLogic: inputs of in_t, outputs the exact sums).
        Solved once per distinct product (cached on its content)."""
        w = np.ascontiguousarray(self.w_raw, dtype=np.int64)
        b = None if self.b_raw is None else np.ascontiguousarray(self.b_raw, dtype=np.int64).ravel()
        return _kernel(w.tobytes(), w.shape, self.w_t, None if b is None else b.tobytes(), self.b_t, self.in_t)


@functools.lru_cache(maxsize=128)
def _kernel(w_bytes, shape, w_t, b_bytes, b_t, in_t):
    from alkaid.trace import trace

    w_raw = np.frombuffer(w_bytes, dtype=np.int64).reshape(shape)
    x = as_array(np.asarray(new_inputs(in_t, shape[0])), SOLVER_OPTIONS)
    y = x @ (w_raw.astype(np.float64) * 2.0**-w_t.frac)
    if b_bytes is not None:
        y = y + np.frombuffer(b_bytes, dtype=np.int64).astype(np.float64) * 2.0**-b_t.frac
    return trace(x, y)


def dense(x_rows: np.ndarray, product: Product) -> np.ndarray:
    """x_rows [rows, n_in] of variables (each of the product's input type or narrower) @ W + b, exact: the
    product's kernel replayed on every row (the RTL form computes with the very graph the HLS DA form writes).
    Returns [rows, n_out] exact sums."""
    kernel = product.kernel()
    n_in, n_out = np.shape(product.w_raw)
    rows = np.asarray(x_rows, dtype=object).reshape(-1, n_in)
    out = np.empty((len(rows), n_out), dtype=object)
    for r, row in enumerate(rows):
        out[r, :] = kernel(row)
    return out


def vsum(xs):
    """Balanced adder tree (exact)."""
    xs = list(xs)
    while len(xs) > 1:
        nxt = [xs[i] + xs[i + 1] for i in range(0, len(xs) - 1, 2)]
        if len(xs) % 2:
            nxt.append(xs[-1])
        xs = nxt
    return xs[0]


def vmax(xs):
    """Balanced comparator tree (max_of: a subtraction and an MSB mux)."""
    xs = list(xs)
    while len(xs) > 1:
        nxt = [xs[i].max_of(xs[i + 1]) if not is_const(xs[i]) else xs[i + 1].max_of(xs[i])
               for i in range(0, len(xs) - 1, 2)]
        if len(xs) % 2:
            nxt.append(xs[-1])
        xs = nxt
    return xs[0]


def table_index(v, shift: int, size: int):
    """min(v_raw >> shift, size - 1) for a non-negative variable v (v_raw = v * 2**frac); shift may be negative.
    The rescale is a power of two (wires); the floor and the clamp are one saturating quantize."""
    t = v * (2.0 ** frac_of(v) * 2.0**-shift)
    return t.quantize(0, int(math.log2(size)), 0, "SAT", "TRN")


def lookup(idx, table_real: np.ndarray):
    """table_real[idx] for an integer variable idx. alkaid keys a table on the variable's own interval [lo, hi], so
    the table is sliced to it (entry 0 = the smallest index the variable can take)."""
    if is_const(idx):
        return float(table_real[int(idx)])
    lo, hi = int(idx.low), int(idx.high)
    if lo == hi:
        return float(table_real[lo])
    return idx.lookup(np.ascontiguousarray(table_real[lo:hi + 1], dtype=np.float64))


def real_table(raw: np.ndarray, t: FixedType) -> np.ndarray:
    return np.asarray(raw, dtype=np.float64) * 2.0**-t.frac


def lut_softmax_row(xs, sp) -> list:
    """One row of models.ops.softmax.spec.SoftmaxSpec.forward: xs n variables of sp.in_t -> n of sp.out_t."""
    m = vmax(xs)
    exp_real, inv_real = real_table(sp.exp_table, sp.exp_t), real_table(sp.inv_table, sp.inv_t)
    es = [lookup(table_index(m - x, sp.exp_shift, sp.table_size), exp_real) for x in xs]  # m - x = -d >= 0, exact
    inv = lookup(table_index(vsum(es), sp.inv_shift, sp.table_size), inv_real)
    return [cast(e * inv, sp.out_t) for e in es]


def _below_pow2(v, p: int):
    """1 when 0 <= v < 2**p, else 0: the sign bit of v - 2**p as a {0, 1} variable."""
    d = v - 2.0**p
    _, i, _ = d.kif
    return d.quantize(0, i + 1, -i) * 2.0**-i


def rsqrt(v, rs):
    """models.ops.rsqrt.RsqrtSpec.lookup as one value: 1/sqrt(v) = entry * 2**-floor(e/2) for v = var + eps > 0.

    A log shifter normalises v (for k = 2**j, high to low: if v < 2**(top-k+1), v <<= k; the bits c_j count the
    leading zeros). The exponent parity and floor(e/2) follow from the c_j bits and constants, the mantissa is the
    bits under the leading one; the table entry is then shifted by the same c_j bits (one mux row per bit)."""
    f = rs.var_t.frac
    top = int(math.ceil(math.log2(float(v.high) * 2.0**f + 1))) - 1 - f  # exponent of the highest possible bit
    nbits = max(int(top + f).bit_length(), 1)
    c = {}
    for j in reversed(range(nbits)):
        k = 1 << j
        # c_j & c_j: a 1-bit wire of its own; alkaid's mux would otherwise read the MSB of the wide difference, which
        # then stays live (registered at full width) until the exponent's muxes
        c[j] = _below_pow2(v, top - k + 1)
        c[j] = c[j] & c[j]
        v = c[j].msb_mux(v * 2.0**k, v)
    t = rs.mant_bits
    mant = (v - 2.0**top).quantize(0, top, -(top - t)) * 2.0 ** (t - top)  # the t bits under the leading one
    parity = c[0] if top % 2 == 0 else 1 - c[0]  # e = top - sum c_j 2**j
    idx = (mant + parity * 2.0**t).quantize(0, t + 1, 0)
    entry = lookup(idx, real_table(rs.table, rs.rsqrt_t))
    # 2**-floor(e/2) = 2**-(top // 2) * prod 2**(c_j 2**(j-1)) (j >= 1), times 2**c_0 when top is even
    r = entry * 2.0 ** -(top // 2)
    for j in sorted(c):
        if j >= 1:
            r = c[j].msb_mux(r * 2.0 ** (1 << (j - 1)), r)
    if top % 2 == 0:
        r = c[0].msb_mux(r * 2.0, r)
    return r


def _width(qint) -> int:
    """Bits of an operation's result (its minimal sign, integer and fraction bits)."""
    return int(sum(qint.kif))


def unit_delays(comb) -> list[float]:
    """Every operation's arrival time in the project's delay unit, da4ml 0.5.2's model (HWConfig(1, -1, -1)), on
    which the clock calibration is fitted (sim/rtl/timing.py NS_PER_UNIT): an adder, a sum, a comparator mux or a
    bitwise operation of any width 1 unit (a 1-bit bitwise operation 0: it merges into the LUT that reads it), a table of b input bits max(b - 6, 1), a variable product of wa x wb bits
    max(wa, wb), everything else (casts, negations, constant additions, wires) 0. alkaid's own delays (its surrogate
    model, in its own units) are not what NS_PER_UNIT was fitted on, hence this one definition. For a constant-weight
    kernel the outputs' largest arrival is its adder depth."""
    t: list[float] = []
    for op in comb.ops:
        t.append(max((t[a] for a in op.addr), default=0.0) + unit_delay(op, comb.ops))
    return t


def unit_delay(op, ops) -> float:
    """One operation's delay in the unit of unit_delays (`ops`: the program it belongs to)."""
    if op.opcode == 10 and _width(op.qint) <= 1:
        return 0.0  # a 1-bit AND/OR/XOR: absorbed into the LUT that reads it
    if op.opcode in (0, 1, 6, 10, 11):
        return 1.0
    if op.opcode == 8:
        return float(max(_width(ops[op.addr[0]].qint) - 6, 1))
    if op.opcode == 7:
        return float(max(_width(ops[op.addr[0]].qint), _width(ops[op.addr[1]].qint)))
    return 0.0
