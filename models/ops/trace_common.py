"""The ops' integer arithmetic as da4ml traces (the RTL form): recipes shared by every op's trace.py.

A traced value is a da4ml FixedVariable carrying a *real* value: a FixedType raw r means r * 2**-frac. Each recipe
reproduces models.fixed / the op specs bit for bit (every cast with its rounding and overflow mode, every table
index), so the trace of a layer computes exactly what its emulator kernel and its HLS C++ compute. Only primitives of
da4ml 0.5.2 (the version hls4ml 1.3.0 pins) are used; msb_mux only where both branches agree at the tie (max, min,
saturation, the shift steps of a leading-one detector).
"""

from __future__ import annotations

import math

import numpy as np

from models.fixed import FixedType


def kif(t: FixedType) -> tuple[int, int, int]:
    """da4ml's (keep_negative, integer bits without the sign, fraction bits) of a FixedType."""
    return int(t.signed), t.integer - int(t.signed), t.frac


def new_inputs(t: FixedType, n: int):
    """A da4ml FixedVariableArray of n fresh inputs of type t (the layer's declared input type)."""
    from da4ml.trace import FixedVariableArray

    k, i, f = kif(t)
    return FixedVariableArray.from_kif(np.full(n, k), np.full(n, i), np.full(n, f))


def as_array(vs, solver_options=None):
    from da4ml.trace import FixedVariableArray

    return FixedVariableArray(np.asarray(vs, dtype=object), solver_options)


def frac_of(v) -> int:
    return int(v.kif[2])


def is_const(v) -> bool:
    return not hasattr(v, "quantize")


def cast(x, t: FixedType):
    """ap_fixed assignment of an exact value x to t (rounding TRN / RND / RND_CONV, overflow WRAP / SAT / SAT_SYM).
    RND_CONV (half to even) = TRN of x + (1/2 ulp_out - ulp_in) + b * ulp_in, with b the kept LSB of x."""
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


def dense(x_rows: np.ndarray, w_raw: np.ndarray, w_t: FixedType, b_raw, b_t: FixedType | None) -> np.ndarray:
    """x_rows [rows, n_in] of variables @ W + b, exact (da4ml's constant-matrix solver: shift-and-add, shared
    partial sums). Returns [rows, n_out] exact sums."""
    w = np.asarray(w_raw, dtype=np.float64) * 2.0**-w_t.frac
    y = as_array(x_rows) @ w
    out = np.asarray(y._vars, dtype=object)
    if b_raw is not None:
        out = out + np.asarray(b_raw, dtype=np.float64) * 2.0**-b_t.frac
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
    """table_real[idx] for an integer variable idx. da4ml keys a table on the variable's own interval [lo, hi], so
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
        c[j] = _below_pow2(v, top - k + 1)
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
