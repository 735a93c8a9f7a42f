"""Stage: comparisons only. C-simulation == emulator (every bit, every traced layer), the quantized Keras model
== emulator, and how far the firmware is from float arithmetic with the same weights."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trigformer.sim.csim import CsimResult
from trigformer.sim.emulator import Emulator


@dataclass
class Verification:
    section: dict  # report.json["verification"]
    firmware_logits: np.ndarray  # the emulator (= firmware) outputs of the whole test set, as floats
    messages: list[str] = field(default_factory=list)


def compare_layers(emu: Emulator, emu_trace: dict, csim_trace: dict, n: int) -> tuple[list[dict], np.ndarray]:
    """Per-layer integer comparison of csim trace outputs with the emulator (csim floats -> raw of the layer type;
    a csim value off the type's grid counts as a mismatch too). Returns the rows and a per-event mismatch mask."""
    types = emu.types()
    rows, bad_events = [], np.zeros(n, dtype=bool)
    for node in emu.nodes:
        if node.name not in csim_trace:
            continue
        csim = np.asarray(csim_trace[node.name]).reshape(n, -1)
        raw_csim = types[node.name].quantize(csim)
        bad = (raw_csim != emu_trace[node.name]) | (types[node.name].to_float(raw_csim) != csim)
        bad_events |= bad.any(axis=-1)
        rows.append({"layer": node.name, "type": types[node.name].ap_type, "values": int(raw_csim.size),
                     "mismatched_values": int(np.count_nonzero(bad))})
    return rows, bad_events


def csim_vs_emulator(emu: Emulator, x, y_emu_raw: np.ndarray, csim: CsimResult) -> dict:
    n = len(y_emu_raw)
    _, emu_trace = emu.run(x, trace=True)
    layers, bad_events = compare_layers(emu, emu_trace, csim.trace, n)
    out_raw_csim = emu.output_type.quantize(csim.outputs.reshape(n, -1))
    off_grid = emu.output_type.to_float(out_raw_csim) != csim.outputs.reshape(n, -1)
    bad_out = (out_raw_csim != y_emu_raw) | off_grid
    bad_events |= bad_out.any(axis=-1)
    mism = int(np.count_nonzero(bad_out)) + sum(r["mismatched_values"] for r in layers)
    first = next((r["layer"] for r in layers if r["mismatched_values"]), None)
    return {"bit_exact_fraction": float(1 - bad_events.mean()), "mismatched_values": mism,
            "compared": "raw integers of the outputs and of every traced layer; an event is bit-exact when all of "
                        "them agree",
            "first_mismatching_layer": first, "per_layer": layers}


def softmax_argmax_agreement(emu: Emulator, x: np.ndarray) -> dict | None:
    """LUT softmax vs float softmax of the same fixed-point scores, every attention row of every head and block."""
    from trigformer.sim.emulator import attention_scores

    rows = attention_scores(emu, x)
    if not rows:
        return None
    strict, tie_aware, total, max_err = 0, 0, 0, 0.0
    for s_float, p_lut in rows:
        ref = np.exp(s_float - s_float.max(-1, keepdims=True))
        ref /= ref.sum(-1, keepdims=True)
        a_ref = ref.argmax(-1)
        strict += int(np.count_nonzero(p_lut.argmax(-1) == a_ref))
        tie_aware += int(np.count_nonzero(np.take_along_axis(p_lut, a_ref[..., None], -1)[..., 0] == p_lut.max(-1)))
        total += a_ref.size
        max_err = max(max_err, float(np.abs(p_lut - ref).max()))
    return {"rows": total, "argmax_agreement": strict / total, "argmax_agreement_ties_allowed": tie_aware / total,
            "max_abs_prob_error": max_err}


def verify(emu: Emulator, x_test, y_test: np.ndarray, logits: dict, n_events: int,
           csim: CsimResult | None, csim_skipped: str | None = None) -> Verification:
    """`logits`: the float twin's, the quantized model's and the same-weights float model's test-set outputs.
    `csim`: the C-simulation of the first `n_events` test events (None when skipped, with the reason).
    x_test: the model's inputs (an array, or one per input of a multi-input model)."""
    n = min(n_events, len(y_test))
    x_v = [a[:n] for a in x_test] if isinstance(x_test, list) else x_test[:n]
    y_raw = emu.run(x_test)
    y_fw = emu.output_type.to_float(y_raw)
    ver: dict = {"n_events": n}
    messages: list[str] = []
    if csim is None:
        ver["csim_vs_emulator"] = {"skipped": csim_skipped or "not run"}
    elif not csim.ok:
        ver["csim_vs_emulator"] = {"failed": csim.error, "status": csim.status, "log": csim.log.name}
        messages.append(f"C-simulation failed ({csim.status}): {csim.error}; log: {csim.log.name}")
    else:
        c = csim_vs_emulator(emu, x_v, y_raw[:n], csim)
        ver["csim_vs_emulator"] = c
        if c["mismatched_values"] or c["first_mismatching_layer"]:
            messages.append(f"C-simulation and emulator disagree: first mismatching layer {c['first_mismatching_layer']}"
                            f", {c['mismatched_values']} mismatched output values")
    raw_keras = emu.output_type.quantize(logits["fixed"][:n])
    ver["keras_fixed_vs_emulator"] = {"bit_exact_fraction": float(np.mean(np.all(raw_keras == y_raw[:n], -1)))}
    y_ref = logits["float_same_weights"][:n]
    ver["float_vs_fixed"] = {"reference": "same weights, float activations/softmax/LayerNorm",
                             "max_abs_diff": float(np.abs(y_ref - y_fw[:n]).max()),
                             "argmax_agreement": float(np.mean(y_ref.argmax(-1) == y_fw[:n].argmax(-1)))}
    sm = softmax_argmax_agreement(emu, x_v)
    if sm:
        ver["lut_softmax_vs_float"] = sm
    return Verification(ver, y_fw, messages)
