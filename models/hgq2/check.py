"""The alkaid trace of an HGQ2 model (its II = 1 form) and the integer comparison of two forms of it.

HGQ2 claims its Keras inference equals the firmware bit for bit; that claim is checked here, not assumed: HGQ2's
Keras inference, alkaid's interpreter of the trace and (rtl.py) the Verilator simulation of the Verilog each give
every output as an integer on that output's own grid (the trace's output fraction bits, one per output element:
heterogeneous), and the integers are compared. A value off its grid counts as a mismatch; no float tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Inputs beyond the range the model was trained on: HGQ2's input quantizers wrap or saturate there, and the firmware
# must do exactly the same. Each family is scaled from the data's own spread (powers of two and off-grid values).
OUT_OF_RANGE_SCALES = (8.0, 64.0, 1024.0)


@dataclass
class Traced:
    comb: object  # alkaid CombLogic: the whole model's II = 1 arithmetic
    n_inputs: int
    n_outputs: int
    out_frac: np.ndarray  # [n_outputs] fraction bits of each output (its grid: raw * 2**-frac)
    cost: float  # alkaid's own cost figure of the traced logic (its LUT estimate)
    seconds: float
    note: str | None = None  # how alkaid was steered around a failure of its own, if it had to be


def _trace_model(model, **kw):
    """alkaid's `trace_model(model, **kw)` and a note (None unless it had to be steered around its own failure)."""
    from alkaid.converter import trace_model

    try:
        return trace_model(model, **kw), None
    except AssertionError as e:
        if "does not cover all values" not in str(e):
            raise
        # alkaid 0.8.2 lowers groups of 1-bit inputs of a constant matrix into partial-sum tables and asserts when
        # such a bit is signed (values -1, 0); without that lowering the same products are traced as shift-adds
        note = ("alkaid 0.8.2's binary-LUT lowering of 1-bit inputs failed on a signed 1-bit input (its assertion: "
                f"{str(e)[:160]}); traced with solver option binary_lut: false")
        return trace_model(model, solver_options={"binary_lut": False}, **kw), note


def trace(model) -> Traced:
    """Trace a Keras 3 HGQ2 model with alkaid (HGQ2's plugin for alkaid, `alkaid.converter.trace_model`)."""
    import time

    from alkaid.trace import trace as to_comb

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"an HGQ2 model with one input and one output is supported; this one has "
                         f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    t0 = time.perf_counter()
    (inp, out), note = _trace_model(model)
    comb = to_comb(inp, out)
    n_in, n_out = comb.shape
    frac = np.asarray(comb.out_kifs, dtype=np.int64)[2].reshape(-1)
    return Traced(comb, int(n_in), int(n_out), frac, float(comb.cost), round(time.perf_counter() - t0, 2), note)


def critical_path(model, latency_cutoff: float) -> list[dict]:
    """Where the pipeline's cycles go, layer by layer: alkaid's arrival time (its surrogate delay, the one its
    pipeliner cuts by) of each layer's latest output, from the same tracer with every layer's output kept
    (`trace_model(dump=True)`). A layer's output can be registered no earlier than ceil(arrival / cutoff) stages
    after the input register, so `at_output` is that count and `cycles` what the layer adds to the latest earlier
    layer's (the critical path's share; an estimate: the pipeline's own total is the RTL's latency)."""
    import math

    traces, _ = _trace_model(model, dump=True)  # the note is trace()'s: same model, same steering
    rows, before = [], 0
    for key, arr in traces.items():
        parts = key.strip("/").split("/")
        if len(parts) != 2 or parts[1] != "final":  # a layer's output after its own output quantizer
            continue
        arrival = max((float(v.latency) for v in _variables(arr)), default=0.0)
        at = math.ceil(round(arrival / latency_cutoff, 9))
        rows.append({"name": parts[0], "arrival": round(arrival, 3), "at_output": at, "cycles": max(at - before, 0)})
        before = max(before, at)
    return rows


def _variables(arr):
    """The traced variables of a layer's output: an alkaid array (its `_vars`), or a tuple/list of them."""
    if isinstance(arr, (tuple, list)):
        for a in arr:
            yield from _variables(a)
        return
    for v in np.asarray(getattr(arr, "_vars", arr), dtype=object).ravel():
        if hasattr(v, "latency"):
            yield v


def to_int(y: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw integers, off-grid mask) of outputs y [events, n] on grids 2**-frac [n]."""
    scaled = np.asarray(y, dtype=np.float64).reshape(len(y), -1) * np.exp2(frac.astype(np.float64))
    raw = np.round(scaled)
    return raw.astype(np.int64), raw != scaled


def keras_outputs(model, x: np.ndarray) -> np.ndarray:
    """HGQ2's own Keras inference (float32 tensors, as HGQ2 runs it), flattened per event. Fed as a tf.data pipeline:
    Keras 3's array adapter makes TensorFlow 2.21 log a C++ error under op determinism (flow/train.py batches)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, dtype=np.float32),)).batch(4096)
    y = model.predict(ds, verbose=0)
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def compare(a: np.ndarray, b: np.ndarray, frac: np.ndarray, names: tuple[str, str]) -> dict:
    """Integer comparison of two forms' outputs on each output's grid; a value off its grid is a mismatch."""
    ra, off_a = to_int(a, frac)
    rb, off_b = to_int(b, frac)
    wrong = (ra != rb) | off_a | off_b
    first = None
    if wrong.any():
        e, j = (int(v) for v in np.argwhere(wrong)[0])
        first = {"event": e, "output": j, names[0]: float(a[e, j]), names[1]: float(b[e, j]),
                 "frac_bits": int(frac[j])}
    return {"n_events": int(len(a)), "mismatched_values": int(wrong.sum()), "off_grid_values": int((off_a | off_b).sum()),
            "bit_exact_fraction": float(1 - wrong.any(axis=1).mean()) if len(a) else 1.0, "first_mismatch": first,
            "compared": f"{names[0]} vs {names[1]}: integers on each output's grid (raw = value * 2**frac)"}


def stress_inputs(x: np.ndarray, seed: int, n: int | None = None) -> tuple[np.ndarray, list[str]]:
    """`x` (the data's events) followed by out-of-range events: the data scaled by OUT_OF_RANGE_SCALES, uniform noise
    over +-1024, and the extremes +-(large) in every element. Returns (events, description per family)."""
    rng = np.random.default_rng(seed)
    n = n or len(x)
    base = x[:n].astype(np.float32)
    spread = float(np.max(np.abs(base))) if base.size else 1.0
    parts, what = [base], [f"{len(base)} events of the data"]
    for s in OUT_OF_RANGE_SCALES:
        parts.append((base * np.float32(s)).astype(np.float32))
        what.append(f"{len(base)} events of the data x {s:g}")
    noise = rng.uniform(-1024, 1024, size=base.shape).astype(np.float32)
    parts.append(noise)
    what.append(f"{len(base)} events uniform in +-1024")
    ext = np.stack([np.full(base.shape[1:], v, dtype=np.float32) for v in (2 ** 15, -2 ** 15, spread * 4, -spread * 4)])
    parts.append(ext)
    what.append("4 constant events at +-2**15 and +-4x the data's largest |value|")
    return np.concatenate(parts), what


def check_trace(model, traced: Traced, x: np.ndarray, seed: int, n_threads: int = 1) -> tuple[dict, np.ndarray]:
    """HGQ2 Keras == alkaid trace (its C++ interpreter) on the data's events and out-of-range ones. Returns the
    report section and the stress events (reused by the Verilator check)."""
    xs, families = stress_inputs(x, seed)
    yk = keras_outputs(model, xs)
    yt = np.asarray(traced.comb.predict(xs.reshape(len(xs), -1), n_threads=n_threads), dtype=np.float64)
    sec = compare(yk, yt, traced.out_frac, ("keras", "trace"))
    sec["inputs"] = families
    sec["interpreter"] = "alkaid CombLogic.predict (C++ interpreter, exact)"
    return sec, xs
