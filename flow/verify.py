"""HLS project + the three-way check: C-simulation == emulator (every bit, every layer), emulator ~ float model."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numpy as np

from flow.convert import convert, layer_descriptions
from sim.emulator import Emulator, EmulatorSettings


def deterministic_stamp(cfg) -> str:
    """hls4ml names the csim library with a random stamp; derive it from the config for reproducible projects."""
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:8]


TB_SRC = ".tb_src"  # testbench sources hls4ml reads on every write(); removed by `finalize`


def write_project(cfg, fixed, part_full: str, work: Path, x_tb: np.ndarray):
    """Convert and write the hls4ml project into `work`, with tb_data from `x_tb` and the emulator's outputs."""
    hls_model = convert(fixed, cfg, work, part_full)
    hls_model.config.config["Stamp"] = deterministic_stamp(cfg)
    emu = Emulator.from_hls_model(hls_model, fixed, EmulatorSettings.tuned())
    src = work / TB_SRC
    src.mkdir(parents=True, exist_ok=True)
    for name, arr in (("tb_input_features", x_tb.astype(np.float32)), ("tb_output_predictions", emu.predict(x_tb))):
        np.save(src / f"{name}.npy", arr.reshape(len(arr), -1))
    hls_model.config.config["InputData"] = str(src / "tb_input_features.npy")
    hls_model.config.config["OutputPredictions"] = str(src / "tb_output_predictions.npy")
    hls_model.write()
    return hls_model, emu


def finalize(work: Path, final: Path) -> None:
    """After hls4ml's last write: drop the testbench sources (tb_data/ holds them) and make the paths that
    hls4ml_config.yml records point at the project's final place instead of the temporary build folder."""
    shutil.rmtree(work / TB_SRC, ignore_errors=True)
    cfg_file = work / "hls4ml_config.yml"
    text = cfg_file.read_text()
    for name in ("tb_input_features", "tb_output_predictions"):
        text = text.replace(f"{work / TB_SRC / name}.npy", f"{final / 'tb_data' / name}.dat")
    cfg_file.write_text(text.replace(str(work), str(final)))


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


def softmax_argmax_agreement(emu: Emulator, x: np.ndarray) -> dict | None:
    """LUT softmax vs float softmax of the same fixed-point scores, every attention row of every head and block."""
    from sim.emulator import attention_scores

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


def verify(cfg, opts, fixed, ds, logits: dict, part_full: str, work: Path, report: dict, timings: dict) -> list[str]:
    """Write the project, C-simulate, emulate and compare; fills report["verification"] and
    report["accuracy"]["firmware"]. `logits`: the float twin's and the quantized model's test-set outputs."""
    n = min(cfg.verify.n_events, len(ds.x_test))
    x_v = ds.x_test[:n]
    t0 = time.perf_counter()
    hls_model, emu = write_project(cfg, fixed, part_full, work, x_v)
    timings["convert_write_s"] = round(time.perf_counter() - t0, 1)
    emu.save(work / "emulator")
    report["layers"] = layer_descriptions(hls_model, cfg)

    t0 = time.perf_counter()
    y_emu_raw_all = emu.run(ds.x_test)
    timings["emulator_test_set_s"] = round(time.perf_counter() - t0, 2)
    y_fw = emu.output_type.to_float(y_emu_raw_all)
    report["accuracy"]["firmware"] = float(np.mean(np.argmax(y_fw, -1) == ds.y_test))

    messages: list[str] = []
    ver: dict = {"n_events": n}
    _, emu_trace = emu.run(x_v, trace=True)
    if opts.csim:
        t0 = time.perf_counter()
        y_csim, csim_trace = hls_model.trace(x_v)
        timings["csim_compile_and_run_s"] = round(time.perf_counter() - t0, 1)
        layers, bad_events = compare_layers(emu, emu_trace, csim_trace, n)
        out_raw_csim = emu.output_type.quantize(np.asarray(y_csim).reshape(n, -1))
        bad_events |= np.any(out_raw_csim != y_emu_raw_all[:n], axis=-1)
        mism_values = int(np.count_nonzero(out_raw_csim != y_emu_raw_all[:n])) + sum(r["mismatched_values"]
                                                                                   for r in layers)
        first = next((r["layer"] for r in layers if r["mismatched_values"]), None)
        ver["csim_vs_emulator"] = {"bit_exact_fraction": float(1 - bad_events.mean()), "mismatched_values": mism_values,
                                   "compared": "raw integers of the outputs and of every traced layer; an event is "
                                               "bit-exact when all of them agree",
                                   "first_mismatching_layer": first, "per_layer": layers}
        if mism_values or first:  # reporting.exit_code turns this into exit 1
            messages.append(f"C-simulation and emulator disagree: first mismatching layer {first}, "
                            f"{mism_values} mismatched output values")
        _clean_build_artifacts(work)
    else:
        ver["csim_vs_emulator"] = {"skipped": "--no-csim"}

    raw_keras = emu.output_type.quantize(logits["fixed"][:n])
    ver["keras_fixed_vs_emulator"] = {"bit_exact_fraction": float(np.mean(np.all(raw_keras == y_emu_raw_all[:n], -1)))}
    # the float reference: the same trained weights with every activation, softmax and norm in float
    from models.builder import build_model

    ref = build_model(cfg, quantized=False)
    ref.set_weights(fixed.get_weights())
    y_ref_all = ref.predict(ds.x_test, batch_size=1024, verbose=0)
    y_ref = y_ref_all[:n]
    ver["float_vs_fixed"] = {"reference": "same weights, float activations/softmax/LayerNorm",
                             "max_abs_diff": float(np.abs(y_ref - y_fw[:n]).max()),
                             "argmax_agreement": float(np.mean(y_ref.argmax(-1) == y_fw[:n].argmax(-1)))}
    sm = softmax_argmax_agreement(emu, x_v)
    if sm:
        ver["lut_softmax_vs_float"] = sm
    report["verification"] = ver
    # per-event outputs for the ROC curves and difference histograms of the HTML report
    np.savez_compressed(work / "predictions.npz", y_true=ds.y_test, float=logits["float"], fixed=logits["fixed"],
                        firmware=y_fw, float_same_weights=y_ref_all)
    return messages


def _clean_build_artifacts(work: Path) -> None:
    """The csim shared library is a build product (with a stamp in its name); keep the project source-only."""
    for so in (work / "firmware").glob("*.so"):
        so.unlink()
