"""`models.fixed.FixedType` against real `ap_fixed`, bit for bit.

The independent reference is hls4ml's own ap_types headers (`ap_fixed.h`, the C-simulation model of Vivado/Vitis
HLS types) compiled with g++: ONE harness program instantiates every (type, rounding, overflow) combination used
below, reads test vectors from stdin (doubles as IEEE bit patterns, fixed-point sources as raw integers) and writes
the raw bit pattern of every ap_fixed result. Results are compared as raw integers with `np.array_equal`; there are
no float tolerances anywhere. The binary is cached by `gxx.compile_program` (tests/gxx.py), so only the first run compiles.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from trigformer.models.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
import gxx

MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))  # order shared with the C++ harness
T, F = True, False

# Every case below is instantiated for all 28 (rounding, overflow) modes; each instantiation costs ~20 ms of g++
# time, so the lists are chosen to cover the corners without bloating the one compile.

# (width, integer, signed) of the float -> ap_fixed targets
QUANT_SHAPES = [
    (10, 5, T), (8, 1, T), (16, 6, T),             # typical
    (8, -2, T), (6, 9, T), (8, 8, T),              # I <= 0, I > W, I == W
    (1, 0, T), (2, 1, T),                          # W = 1..2
    (62, 31, T), (48, -4, T),                      # wide: grids finer than a double's 53 bits
    (10, 5, F), (8, -2, F), (6, 9, F), (8, 8, F), (1, 1, F), (62, 30, F),
]

# (source shape, target shape) for fixed -> fixed assignment; source is TRN/WRAP (its modes play no part)
CAST_PAIRS = [
    ((16, 6, T), (8, 4, T)),     # drop 6 fractional bits, overflow
    ((16, 6, T), (8, 4, F)),     # signed -> unsigned
    ((12, 4, F), (6, 3, T)),     # unsigned -> signed
    ((12, 4, F), (7, 2, F)),
    ((8, 6, T), (10, 5, T)),     # fewer fractional bits in the source: left shift, overflow
    ((12, 4, T), (8, -2, T)),    # I <= 0 target
    ((12, 4, T), (6, 9, T)),     # I > W target (negative frac)
    ((8, 2, T), (4, 8, T)),      # right shift (10) wider than the source: see _FLAGS
    ((8, 4, T), (8, 4, T)),      # identity (SAT_SYM on raw_min)
    ((8, 3, T), (16, 6, T)),     # wider everything: exact
    ((8, 3, T), (1, 1, T)),      # W = 1..2 targets
    ((8, 3, F), (2, 1, F)),
    ((62, 20, T), (16, 6, T)),   # wide source
    ((40, 30, T), (50, 10, T)),  # left shift by 30: the exact value exceeds int64
    ((24, 4, T), (62, 2, T)),    # left shift by 40
    ((60, -10, T), (8, 8, T)),   # right shift by 70 (> 63, > source width)
]

# (a, b, result) for `result = a * b` (full-precision ap_fixed product, then assignment)
MUL_CASES = [
    ((8, 3, T), (10, 2, T), (8, 3, T)),
    ((8, 3, T), (10, 2, T), (6, -1, F)),
    ((12, 4, F), (8, 2, T), (10, 4, T)),
    ((30, 15, T), (30, 1, T), (20, 10, T)),
]

# -O0: the harness is compile-bound (~1000 template instantiations), not run-bound.
# -DNDEBUG: ap_private asserts (aborts) when an assignment's right shift exceeds the source width (it reads the
# rounding bit past the MSB before discarding it); the conversion code is identical either way.
_FLAGS = ("-O0", "-std=c++14", "-DNDEBUG")

N_RANDOM = 1500  # random values per shape, on top of grid points and edges


def _ft(shape, rounding="TRN", overflow="WRAP") -> FixedType:
    return FixedType(shape[0], shape[1], shape[2], rounding, overflow)


# ---- C++ harness ----------------------------------------------------------------------------------------------------
_HARNESS = r"""
#include <ap_fixed.h>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <vector>

template <int W, int I, bool S, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP>
using fx = typename std::conditional<S, ap_fixed<W, I, Q, O>, ap_ufixed<W, I, Q, O> >::type;

template <class T> T from_raw(uint64_t r) { T x; x.V = (long long)r; return x; }  // raw bits, sign-extended
template <class T> uint64_t to_raw(const T& x) { return x.range().to_uint64(); }

#define FOR_ALL_MODES(X) @MODES@

template <class D> void quant1(const uint64_t* in, int n, uint64_t* out) {
  for (int k = 0; k < n; ++k) { double d; std::memcpy(&d, in + k, 8); D y = d; out[k] = to_raw(y); }
}
template <class S, class D> void cast1(const uint64_t* in, int n, uint64_t* out) {
  for (int k = 0; k < n; ++k) { S s = from_raw<S>(in[k]); D y = s; out[k] = to_raw(y); }
}
template <class A, class B, class D> void mul1(const uint64_t* in, int n, uint64_t* out) {
  for (int k = 0; k < n; ++k) {
    A a = from_raw<A>(in[2 * k]); B b = from_raw<B>(in[2 * k + 1]); D y = a * b; out[k] = to_raw(y);
  }
}

template <int W, int I, bool S> void quant_all(const uint64_t* in, int n, uint64_t* out) {
#define X(Q, O) quant1<fx<W, I, S, Q, O> >(in, n, out); out += n;
  FOR_ALL_MODES(X)
#undef X
}
template <int W2, int I2, bool S2, int W, int I, bool S> void cast_all(const uint64_t* in, int n, uint64_t* out) {
#define X(Q, O) cast1<fx<W2, I2, S2>, fx<W, I, S, Q, O> >(in, n, out); out += n;
  FOR_ALL_MODES(X)
#undef X
}
template <int WA, int IA, bool SA, int WB, int IB, bool SB, int W, int I, bool S>
void mul_all(const uint64_t* in, int n, uint64_t* out) {
#define X(Q, O) mul1<fx<WA, IA, SA>, fx<WB, IB, SB>, fx<W, I, S, Q, O> >(in, n, out); out += n;
  FOR_ALL_MODES(X)
#undef X
}

struct Case { void (*fn)(const uint64_t*, int, uint64_t*); int arity; };
static const Case table[] = {
@TABLE@
};
static const int n_modes = @NMODES@;

// stdin: repeated {int32 case, int32 n, n*arity uint64}; stdout: n_modes*n uint64 per case, mode-major.
int main() {
  int32_t hdr[2];
  std::vector<uint64_t> in, out;
  while (std::fread(hdr, sizeof(int32_t), 2, stdin) == 2) {
    const Case& c = table[hdr[0]];
    size_t n = (size_t)hdr[1];
    in.resize(n * c.arity + 1);
    out.resize(n * n_modes + 1);
    if (std::fread(in.data(), sizeof(uint64_t), n * c.arity, stdin) != n * c.arity) return 2;
    c.fn(in.data(), (int)n, out.data());
    std::fwrite(out.data(), sizeof(uint64_t), n * n_modes, stdout);
  }
  return 0;
}
"""


def _targs(shape) -> str:
    return f"{shape[0]}, {shape[1]}, {'true' if shape[2] else 'false'}"


def harness_source() -> tuple[str, list]:
    """The C++ source and its dispatch table: [(kind, shapes)] in table order."""
    cases = [("quant", (s,)) for s in QUANT_SHAPES] + [("cast", p) for p in CAST_PAIRS] + [("mul", m) for m in MUL_CASES]
    rows = []
    for kind, shapes in cases:
        args = ", ".join(_targs(s) for s in shapes)
        rows.append(f"  {{&{kind}_all<{args}>, {2 if kind == 'mul' else 1}}},")
    modes = " ".join(f"X(AP_{q}, AP_{o})" for q, o in MODES)
    src = (_HARNESS.replace("@MODES@", modes).replace("@TABLE@", "\n".join(rows))
           .replace("@NMODES@", str(len(MODES))))
    return src, cases


# ---- test vectors ---------------------------------------------------------------------------------------------------
def _scaled(k: int, num: int, den_log2: int, frac: int) -> float:
    """(k + num / 2**den_log2) * 2**-frac as the nearest double (exact whenever it is representable)."""
    return math.ldexp((k << den_log2) + num, -frac - den_log2)


def quant_inputs(t: FixedType, rng: np.random.Generator) -> np.ndarray:
    lo, hi, f, w = t.min_value, t.max_value, t.frac, t.width
    span = max(hi - lo, t.lsb)
    parts = [rng.uniform(lo - span, hi + span, N_RANDOM)]                        # across and beyond the range
    parts.append((rng.standard_normal(200) * max(abs(lo), abs(hi), t.lsb)).astype(np.float32).astype(np.float64))
    # grid points, exact ties and quarter points: float32 mantissas (<= 24 bits) times powers of two
    k_lo, k_hi = (t.raw_min - (1 << w), t.raw_max + (1 << w)) if w <= 20 else (-(1 << 22), 1 << 22)
    k = rng.integers(k_lo, k_hi + 1, 300)
    for num in (0, 1, 2, 3):  # k, k+1/4, k+1/2, k+3/4
        parts.append(np.ldexp(k * 4.0 + num, -f - 2))
    # the edges: min/max, one lsb and half an lsb beyond, wrap-around points
    edges = [t.raw_min, t.raw_max, t.raw_min + 1, t.raw_max - 1, t.raw_min - 1, t.raw_max + 1, 0, 1, -1, 2, -2,
             (1 << w), -(1 << w), (1 << w) + t.raw_min, t.raw_max + (1 << (w - 1)), t.raw_min - (1 << (w - 1))]
    vals = [_scaled(e, num, 2, f) for e in edges for num in (-3, -2, -1, 0, 1, 2, 3)]
    # large magnitudes (raw values needing more than 53 bits, up to far beyond int64) and specials
    mant = rng.integers(1 << 52, 1 << 53, 200)
    big = np.ldexp(mant.astype(np.float64), rng.integers(-f - 60, -f + 40, 200)) * rng.choice([-1.0, 1.0], 200)
    specials = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-300, -1e-300,
                1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308, 2.0**63, -2.0**63, 2.0**64,
                2.0**100, -2.0**100, np.inf, -np.inf, np.nan, np.copysign(np.nan, -1.0), 0.5, -0.5, 1.5, -1.5, 2.5, -2.5]
    return np.concatenate(parts + [np.array(vals), big, np.array(specials, dtype=np.float64)])


def raw_inputs(t: FixedType, rng: np.random.Generator, shift: int = 0) -> np.ndarray:
    """Raw values of type `t`: every value for narrow types, else random + edges + exact ties for a `shift`."""
    if t.width <= 12:
        return np.arange(t.raw_min, t.raw_max + 1, dtype=np.int64)
    r = [rng.integers(t.raw_min, t.raw_max, 3000, endpoint=True)]
    r.append(np.array([t.raw_min, t.raw_min + 1, t.raw_max, t.raw_max - 1, 0, 1, -1, 2, -2], dtype=np.int64))
    if shift > 0:  # exact ties, and one either side, of the target grid
        k = rng.integers(t.raw_min >> min(shift, 62), (t.raw_max >> min(shift, 62)) + 1, 300)
        for d in (-1, 0, 1):
            r.append(np.array([(int(x) << shift) + (1 << (shift - 1)) + d for x in k], dtype=object))
    v = np.concatenate([np.asarray(a, dtype=object) for a in r])
    v = v[(v >= t.raw_min) & (v <= t.raw_max)]
    return v.astype(np.int64)


def mul_inputs(a: FixedType, b: FixedType, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ea = np.array([a.raw_min, a.raw_min + 1, a.raw_max, a.raw_max - 1, 0, 1, -1], dtype=np.int64).clip(a.raw_min, a.raw_max)
    eb = np.array([b.raw_min, b.raw_min + 1, b.raw_max, b.raw_max - 1, 0, 1, -1], dtype=np.int64).clip(b.raw_min, b.raw_max)
    ga, gb = (g.ravel() for g in np.meshgrid(ea, eb))
    ra = rng.integers(a.raw_min, a.raw_max, 3000, endpoint=True)
    rb = rng.integers(b.raw_min, b.raw_max, 3000, endpoint=True)
    return np.concatenate([ga, ra]), np.concatenate([gb, rb])


def _sign_extend(bits: np.ndarray, t: FixedType) -> np.ndarray:
    v = (bits & np.uint64((1 << t.width) - 1)).astype(np.int64)
    return np.where(v > t.raw_max, v - (np.int64(1) << np.int64(t.width)), v) if t.signed else v


@pytest.fixture(scope="module")
def apfixed():
    """Run every test vector through the compiled ap_fixed harness once; results keyed by case."""
    src, cases = harness_source()
    t0 = time.perf_counter()
    exe = gxx.compile_program(src, "fixed_vs_apfixed", flags=_FLAGS)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(20240611)
    inputs, chunks = [], []
    for i, (kind, shapes) in enumerate(cases):
        if kind == "quant":
            x = quant_inputs(_ft(shapes[0]), rng)
            payload = x.view(np.uint64)
        elif kind == "cast":
            src_t, dst_t = _ft(shapes[0]), _ft(shapes[1])
            x = raw_inputs(src_t, rng, shift=src_t.frac - dst_t.frac)
            payload = x.view(np.uint64)
        else:
            x = mul_inputs(_ft(shapes[0]), _ft(shapes[1]), rng)
            payload = np.stack(x, axis=1).ravel().view(np.uint64)
        n = len(x) if kind != "mul" else len(x[0])
        inputs.append(x)
        chunks += [np.array([i, n], dtype=np.int32).tobytes(), payload.astype("<u8").tobytes()]
    t0 = time.perf_counter()
    out = np.frombuffer(gxx.run_program(exe, b"".join(chunks)), dtype="<u8")
    run_s = time.perf_counter() - t0
    results, pos = {}, 0
    for (kind, shapes), x in zip(cases, inputs):
        n = len(x) if kind != "mul" else len(x[0])
        block = out[pos:pos + n * len(MODES)].reshape(len(MODES), n)
        pos += n * len(MODES)
        results[kind, shapes] = (x, block)
    assert pos == len(out), "harness output size does not match the requests"
    return {"results": results, "compile_s": compile_s, "run_s": run_s, "exe": exe}


def _check(apfixed, kind, rounding, overflow, emulate):
    """Compare emulate(FixedType target, case shapes, inputs) with ap_fixed for every case of `kind`."""
    m = MODES.index((rounding, overflow))
    failures, n_values = [], 0
    for (k, shapes), (x, block) in apfixed["results"].items():
        if k != kind:
            continue
        t = _ft(shapes[-1], rounding, overflow)
        want = _sign_extend(block[m], t)
        got = emulate(t, shapes, x)
        n_values += len(want)
        if not np.array_equal(got, want):
            bad = np.flatnonzero(got != want)
            xs = [x[0][bad], x[1][bad]] if kind == "mul" else [x[bad]]
            examples = ", ".join(f"{tuple(repr(a[j].item()) for a in xs)} -> ap_fixed {want[bad][j]}, python {got[bad][j]}"
                                 for j in range(min(4, len(bad))))
            failures.append(f"{' <- '.join(str(_ft(s)) for s in shapes[::-1])} [{t.ap_type}]: "
                            f"{len(bad)}/{len(want)} differ, e.g. {examples}")
    assert n_values > 0
    assert not failures, "\n".join(failures)
    return n_values


def _quantize_in_parts(t: FixedType, shapes, x: np.ndarray) -> np.ndarray:
    """quantize() the moderate inputs (float fast path when frac >= 0) apart from the rest (exact path)."""
    with np.errstate(over="ignore", invalid="ignore"):
        moderate = np.abs(np.ldexp(x, max(t.frac, 0))) < 2.0**52
    out = np.empty(len(x), dtype=np.int64)
    out[moderate], out[~moderate] = t.quantize(x[moderate]), t.quantize(x[~moderate])
    return out


@pytest.mark.parametrize("rounding,overflow", MODES)
def test_quantize_matches_apfixed(apfixed, rounding, overflow):
    """FixedType.quantize(double) == `ap_fixed<W,I,Q,O> y = double` (g++-compiled hls4ml ap_types), bit for bit,
    over random, grid, tie, edge, huge, subnormal and non-finite inputs for every shape in QUANT_SHAPES; once as
    whole batches and once split so that the moderate values take quantize's float fast path."""
    _check(apfixed, "quant", rounding, overflow, lambda t, shapes, x: t.quantize(x))
    _check(apfixed, "quant", rounding, overflow, _quantize_in_parts)


@pytest.mark.parametrize("rounding,overflow", MODES)
def test_cast_matches_apfixed(apfixed, rounding, overflow):
    """FixedType.cast(raw, src_frac) == ap_fixed-to-ap_fixed assignment (g++-compiled hls4ml ap_types) for every
    (source, target) pair in CAST_PAIRS: left shifts, rounding right shifts, shifts beyond the width, overflow."""
    _check(apfixed, "cast", rounding, overflow, lambda t, shapes, x: t.cast(x, _ft(shapes[0]).frac))


@pytest.mark.parametrize("rounding,overflow", MODES)
def test_product_matches_apfixed(apfixed, rounding, overflow):
    """FixedType.cast(a_raw * b_raw, fa + fb) == `result = a * b` with ap_fixed operands (g++-compiled hls4ml
    ap_types): the full-precision ap_fixed product, then assignment with the result type's modes."""
    _check(apfixed, "mul", rounding, overflow,
           lambda t, shapes, x: t.cast(x[0] * x[1], _ft(shapes[0]).frac + _ft(shapes[1]).frac))


def test_harness_is_cached(apfixed, monkeypatch):
    """compile_program returns the cached binary for an unchanged source without running the compiler again."""
    src, _ = harness_source()
    real_run, calls = gxx.subprocess.run, []

    def spy(cmd, *a, **k):
        calls.append(list(cmd))
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(gxx.subprocess, "run", spy)
    assert gxx.compile_program(src, "fixed_vs_apfixed", flags=_FLAGS) == apfixed["exe"]
    assert not [c for c in calls if "-o" in c], calls


def test_compile_error_is_reported(tmp_path, monkeypatch):
    """A source g++ rejects raises RuntimeError carrying g++'s diagnostics."""
    monkeypatch.setenv("TRIGFORMER_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match="this_is_not_cpp"):
        gxx.compile_program("int main() { this_is_not_cpp; }\n", "broken")
    assert [p.name for p in (tmp_path / "gxx").iterdir() if p.suffix != ".cpp"] == []  # no (half) binary left
