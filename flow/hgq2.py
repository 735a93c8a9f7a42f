"""`synth` on an HGQ2 model (models/hgq2): its stages and its report.

An HGQ2 model (model.file naming HGQ2 layers in its .keras config, or an HGQ2 model object given to trigformer.synth)
is not mapped onto trigformer's layers: its per-element bit widths have no place in trigformer's one-type-per-layer
specs, emulator and HLS kernels, so the chain csim == emulator does not apply to it (report: verification.
not_covered). Its firmware is the alkaid trace of its II = 1 form:

    data (flow.data, features as they are) -> load (safe_mode, config inspected first) -> alkaid trace ->
    HGQ2 Keras == trace (integers, the data's events and out-of-range ones) -> RTL (alkaid's Verilog, always: it
    is the form) -> Verilator == HGQ2 Keras (integers) -> Yosys counts -> budget -> report.json / report.html.

report.json["forms"] has `rtl` only (latency: alkaid's pipeline schedule; resources: Yosys). With hls.form: trace
the traced HLS C++ (alkaid's HLS code generation of the same trace, models/hgq2/hls.py) is written to hls/,
compiled with g++ and compared with HGQ2 Keras too (rtl.hls_vs_keras); with no HLS tool it has no figures, so it
is not a form.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DESIGN = ("rtl/<name>.v: alkaid's pipelined Verilog of the HGQ2 model's trace (HGQ2's alkaid plugin), II = 1; "
          "no HLS project")
HLS_CSIM = ("alkaid's HLS code generation of the same trace (hls/src: ap_fixed C++, II = 1 pragmas), compiled with "
            "g++ by alkaid's bridge (its bundled ap_types); not scheduled by an HLS tool: no latency or resource "
            "figure, so not a form in report.forms")
NOT_COVERED = ("trigformer's own chain (C-simulation == emulator) does not cover an HGQ2 model: its heterogeneous "
               "per-element quantizers have no trigformer layer, emulator node or HLS kernel. It is covered by "
               "HGQ2 Keras == alkaid trace == Verilator RTL, compared as integers on each output's grid.")


CRITICAL_PATH_NOTE = ("where the cycles go: each layer's latest output by alkaid's arrival time (its delay model, "
                      "the one its pipeliner cuts by) over the latency cutoff, rounded up (at_output), and what the "
                      "layer adds to the latest earlier layer (cycles); an estimate of the schedule, whose own total "
                      "is pipeline_cycles")


def wants_hgq2(cfg, opts) -> bool:
    """Whether the run's model is an HGQ2 model (a .keras config naming HGQ2 layers, an HGQ2 model object, or one
    to build from the keys and train: quantization.mode hgq2)."""
    from trigformer.models.hgq2 import is_hgq2_file, is_hgq2_model

    if cfg.quantization.mode == "hgq2":
        return True
    if opts.model is not None:
        return is_hgq2_model(opts.model)
    if cfg.model.file is None:
        return False
    from trigformer.flow.config import resolve_model_file
    from trigformer.flow.run import config_path

    try:
        return is_hgq2_file(resolve_model_file(cfg, config_path(opts)))
    except Exception:  # noqa: BLE001 -- a missing file: the ordinary path names it (exit 2)
        return False


def load(cfg, opts):
    """The HGQ2 model, its inputs checked against the data section. Raises ConfigError (exit 2)."""
    from trigformer.flow.config import ConfigError, resolve_model_file
    from trigformer.flow.run import config_path, label
    from trigformer.models.byom import ModelFileError
    from trigformer.models.hgq2 import load_hgq2

    where, key = label(opts), ("model" if opts.model is not None else "model.file")
    try:
        model = opts.model if opts.model is not None else load_hgq2(resolve_model_file(cfg, config_path(opts)))
    except ModelFileError as e:
        raise ConfigError(f"{where}: {key}: {e}") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError(f"{where}: {key}: an HGQ2 model with one input and one output is supported (this one: "
                          f"{len(model.inputs)} inputs, {len(model.outputs)} outputs)")
    shape = tuple(model.inputs[0].shape[1:])
    d = cfg.data
    if len(shape) != 2 or shape[1] != len(d.features):
        raise ConfigError(f"{where}: data.features: the model's input is {shape}; (tokens, {len(d.features)}) "
                          f"is what data.features gives ({', '.join(d.features)})")
    if shape[0] > d.n_particles:
        raise ConfigError(f"{where}: data.n_particles: the model takes {shape[0]} tokens; data.n_particles is "
                          f"{d.n_particles} (set it to {shape[0]})")
    n_out = int(np.prod(model.outputs[0].shape[1:]))
    if n_out != len(cfg.model.classes):
        raise ConfigError(f"{where}: model.classes: the model gives {n_out} scores per event; the data has "
                          f"{len(cfg.model.classes)} classes ({', '.join(cfg.model.classes)})")
    return model


def building(cfg, opts) -> bool:
    """quantization.mode hgq2: the model is built from the keys and trained here (flow/train.py train_hgq2)."""
    return cfg.quantization.mode == "hgq2" and opts.model is None and cfg.model.file is None


def save_models(trained, folder: Path) -> None:
    """The trained HGQ2 model (.keras: loads back with `synth`'s model.file) and the float twin's weights."""
    folder.mkdir(parents=True, exist_ok=True)
    trained.fixed.save(folder / "hgq2.keras")
    trained.float.save_weights(folder / "float.weights.h5")


def check_options(opts) -> None:
    from trigformer.flow.run import UsageError

    for flag, on in (("--fit", opts.fit), ("--synth", opts.vendor_synth), ("--cosim", opts.cosim),
                     ("--vsynth", opts.vsynth), ("--weights", opts.weights is not None)):
        if on:
            raise UsageError(f"{flag}: an HGQ2 model has no HLS project (its form is alkaid's RTL of the trace); "
                             f"run without {flag}")


def synth(cfg, opts, out: Path):
    """flow.pipeline.synth for an HGQ2 model: every check before anything is written (exit 2), then the stages."""
    from trigformer.flow.outdir import Output
    from trigformer.flow.run import UsageError
    from trigformer.flow.progress import reporting
    from trigformer.flow.rtl import check_tools
    from trigformer.models import quiet_third_party
    from trigformer.sim.cache import CacheError
    from trigformer.sim.rtl.verilator import ToolMissing

    check_options(opts)
    model = None if building(cfg, opts) else load(cfg, opts)
    try:
        check_tools(cfg.rtl)  # alkaid, Verilator and Yosys as for --rtl
    except (ToolMissing, CacheError) as e:
        raise UsageError(f"HGQ2 model (its form is the RTL): {e}") from None
    quiet_third_party()
    with reporting(opts.progress), Output(out, opts.force) as o:
        result = run(cfg, opts, model, o.work, out)
        o.commit()
    result.out_dir = out
    return result


def run(cfg, opts, model, work: Path, final: Path):
    """The HGQ2 flow's stages (module doc) in `work`; returns flow.pipeline.Result."""
    from trigformer.flow import data as data_stage
    from trigformer.flow.parts import fractions, resolve_part
    from trigformer.flow.report.files import write_outputs
    from trigformer.flow.run import Result, config_path
    from trigformer.flow.progress import stage
    from trigformer.flow.report import judge_budget
    from trigformer.flow.report.forms import apply as apply_forms
    from trigformer.flow.rtl import cosim_messages
    from trigformer.models.hgq2 import check, hls, rtl, versions
    from trigformer.sim.emulator import usable_cores

    timings: dict[str, float] = {}
    messages: list[str] = []
    t0 = time.perf_counter()
    with stage("data"):
        data = data_stage.prepare(cfg, config_path(opts), False, trained_model=True)
    ds = data.ds
    timings["data_s"] = round(time.perf_counter() - t0, 1)
    trained = None
    if model is None:  # quantization.mode hgq2: build from the keys, train (HGQ2 learns every bit width)
        from trigformer.flow.train import train_hgq2

        t0 = time.perf_counter()
        trained = train_hgq2(cfg, ds, opts.progress)
        model = trained.fixed
        save_models(trained, work / "keras")
        timings["train_s"] = round(time.perf_counter() - t0, 1)
    part, _ = resolve_part(cfg.hls.part)
    n_tok = int(model.inputs[0].shape[1])
    x_test = ds.x_test[:, :n_tok, :].astype(np.float32)
    n = min(cfg.verify.n_events, len(x_test))
    jobs = cfg.rtl.jobs or usable_cores()

    t0 = time.perf_counter()
    with stage("alkaid trace (HGQ2 plugin)"):
        try:
            traced = check.trace(model)
        except Exception as e:  # noqa: BLE001 -- alkaid's own failure: named, not a trigformer traceback
            from trigformer.flow.run import ToolFailure

            raise ToolFailure(f"alkaid could not trace the HGQ2 model ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:300]})") from None
    timings["trace_s"] = traced.seconds
    if traced.note:
        messages.append(traced.note)
    with stage("HGQ2 Keras vs trace", note=f"{n} events and out-of-range ones"):
        trace_sec, x_stress = check.check_trace(model, traced, x_test[:n], cfg.seed)
    if trace_sec["mismatched_values"]:
        messages.append(f"HGQ2 Keras and the alkaid trace disagree: {trace_sec['mismatched_values']} values; first "
                        f"{trace_sec['first_mismatch']}")
    y_keras = check.keras_outputs(model, x_test)
    y_trace = np.asarray(traced.comb.predict(x_test.reshape(len(x_test), -1)), dtype=np.float64)
    timings["trace_check_s"] = round(time.perf_counter() - t0, 1)

    folder = work / "rtl"
    lc = rtl.cutoff(cfg.hls.clock_period_ns, cfg.rtl.latency_cutoff)
    t0 = time.perf_counter()
    with stage("critical path per layer (alkaid arrival times)"):
        try:
            path = {"source": "estimate", "rows": check.critical_path(model, lc)}
            path.update(sum_cycles=sum(r["cycles"] for r in path["rows"]))
        except Exception as e:  # noqa: BLE001 -- an analysis: its failure is reported, the run goes on
            path = {"failed": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}
    timings["critical_path_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    with stage("Verilog (alkaid)"):
        rtl_model = rtl.write(traced.comb, folder, cfg.name, cfg.hls.clock_period_ns, lc, part)
        sec_products = rtl.bind(folder, cfg.hls.multipliers)  # before Verilator and Yosys: both see this Verilog
    timings["generate_s"] = round(time.perf_counter() - t0, 1)
    cycles = int(rtl_model.latency)
    sec: dict = {"folder": "rtl", "design": DESIGN, "timings": timings,
                 "latency": {"source": "rtl", "cycles": cycles, "ns": round(cycles * cfg.hls.clock_period_ns, 3),
                             "ii": 1, "clock_ns": cfg.hls.clock_period_ns, "latency_cutoff": lc,
                             "convention": "alkaid's pipeline schedule: input register to output register",
                             "per_layer": [],
                             "critical_path": {**path, "pipeline_cycles": cycles, "note": CRITICAL_PATH_NOTE}},
                 "products": sec_products, "trace_vs_keras": trace_sec,
                 **({"trace_note": traced.note} if traced.note else {}),
                 "alkaid_cost": {"trace": round(traced.cost, 1), "written": round(rtl.written_cost(rtl_model), 1),
                                 "note": "alkaid's cost figure (its LUT estimate) of the trace, and of the logic "
                                         "its RTLModel writes (after its ternary-adder fusion)"}}
    if cfg.rtl.cosim:
        try:
            t0 = time.perf_counter()
            with stage("Verilator build (alkaid binder)", note=f"{jobs} jobs"):
                rtl.verilate(rtl_model, folder, jobs)
            timings["verilator_build_s"] = round(time.perf_counter() - t0, 1)
            with stage("Verilator simulation", note=f"{len(x_stress)} events"):
                y_rtl = rtl.simulate(rtl_model, x_stress)
            yk = check.keras_outputs(model, x_stress)
            sec["cosim"] = check.compare(yk, y_rtl, traced.out_frac, ("keras", "rtl"))
            sec["cosim"]["inputs"] = trace_sec["inputs"]
            sec["cosim"]["simulator"] = "Verilator, alkaid's binder (sim/fsm_binder.cc), II = 1"
        except (RuntimeError, OSError) as e:
            sec["cosim"] = {"failed": str(e)[:500], "n_events": int(len(x_stress))}
        finally:
            import shutil

            shutil.rmtree(folder / "sim" / "obj_dir", ignore_errors=True)  # build products; the binder is loaded
            shutil.rmtree(folder / "verilator_bin", ignore_errors=True)
            for f in (folder / "sim").glob("*.so"):
                f.unlink()
        messages += cosim_messages(sec["cosim"], "HGQ2 Keras")
    else:
        sec["cosim"] = {"skipped": "rtl.cosim: false"}
    if cfg.hls.form == "trace":  # the traced HLS form: alkaid's C++ of the trace, g++-compiled (minutes)
        t0 = time.perf_counter()
        try:
            with stage("traced HLS C++ (alkaid) + g++", note=f"{len(x_stress)} events"):
                hls_model = hls.write_and_compile(traced.comb, work / "hls", cfg.name, cfg.hls.clock_period_ns, part)
                y_hls = hls.simulate(hls_model, x_stress)
            sec["hls_vs_keras"] = check.compare(check.keras_outputs(model, x_stress), y_hls, traced.out_frac,
                                                ("keras", "hls_csim"))
            sec["hls_vs_keras"].update({"folder": "hls", "inputs": trace_sec["inputs"], "compiled": HLS_CSIM})
        except (RuntimeError, OSError) as e:
            sec["hls_vs_keras"] = {"failed": str(e)[:500], "n_events": int(len(x_stress))}
        finally:
            hls.clean(work / "hls")
        timings["hls_csim_s"] = round(time.perf_counter() - t0, 1)
        h = sec["hls_vs_keras"]
        if h.get("failed") or h.get("mismatched_values"):
            messages.append(f"traced HLS C++ and HGQ2 Keras: {h.get('failed') or h['first_mismatch']}")
    else:
        sec["hls_vs_keras"] = {"skipped": "hls.form: kernels (the default); hls.form: trace writes and checks alkaid's "
                                          "HLS C++ of the trace"}
    if cfg.rtl.yosys != "none":
        t0 = time.perf_counter()
        try:
            with stage("yosys", unit="jobs", note=f"{jobs} in parallel") as st:
                syn = rtl.count(folder, cfg.name, rtl_model.reg_bits, jobs, cfg.rtl.yosys, cfg.hls.clock_period_ns,
                                on_job=lambda done, total, cached: st.update(done, total))
            tot = syn["total"]
            sec["resources"] = {"source": "yosys", **{k: tot[k] for k in ("LUT", "FF", "DSP", "BRAM_18K")},
                                "CARRY4": tot["CARRY4"], "MUXF": tot["MUXF"], "SRL": tot["SRL"], "URAM": tot["URAM"],
                                "fraction": fractions(tot, part), "part": part, "yosys": syn["yosys"],
                                "jobs": syn["jobs"], "cached_jobs": syn["cached"], "cpu_seconds": syn["cpu_seconds"],
                                "ff_source": "alkaid's pipeline register bits (an upper bound: no pruning)",
                                "method": "Yosys synth_xilinx -family xcup, one job per alkaid stage module "
                                          "(tables as case logic), summed", "per_stage": syn["per_stage"]}
            from trigformer.sim.rtl.timing import LABEL

            sec["timing"] = {"label": LABEL, "clock_ns": cfg.hls.clock_period_ns, **syn["timing"]}
            if syn["timing"]["too_deep"]:
                messages.append(f"{LABEL}: {len(syn['timing']['too_deep'])} stage(s) deeper than the "
                                f"{cfg.hls.clock_period_ns} ns clock allows (worst {syn['timing']['worst']['stage']}, "
                                f"{syn['timing']['worst']['path_ns']} ns)")
            cost = sec["alkaid_cost"]["written"]
            sec["vs_alkaid_cost"] = {"yosys_LUT": tot["LUT"], "alkaid_cost_written": cost,
                                     "yosys_over_alkaid": round(tot["LUT"] / cost, 3) if cost else None}
        except (RuntimeError, OSError) as e:
            sec["resources"] = {"failed": str(e)[:500]}
            messages.append(f"Yosys failed: {str(e)[:300]}")
        timings["yosys_s"] = round(time.perf_counter() - t0, 1)
    else:
        sec["resources"] = {"skipped": "rtl.yosys: none"}

    y = ds.y_test
    acc_keras = float(np.mean(np.argmax(y_keras, -1) == y))
    if trained is None:
        training = {"epochs": 0, "note": "an HGQ2 model comes trained; it is not retrained"}
        source = opts.model_source or cfg.model.file or "the HGQ2 model given to trigformer.synth"
    else:
        training = trained.summary
        source = "built from the model keys (quantization.mode: hgq2; models/hgq2/build.py), trained here"
    report = {"name": cfg.name, "part": part, "backend": cfg.hls.backend, "seed": cfg.seed,
              "config": cfg.model_dump(mode="json"), "input_scaling": data.scaling,
              "training": training,
              "model": {"framework": "hgq2", "versions": versions(), "source": source,
                        "parameters": int(model.count_params()),
                        "layers": [lyr.name for lyr in model.layers], "inputs": [{"tokens": n_tok,
                                                                                  "features": len(cfg.data.features)}]},
              "accuracy": {**({"float": trained.accuracy["float"]} if trained is not None else {}),
                           "fixed": acc_keras, "firmware": float(np.mean(np.argmax(y_trace, -1) == y)),
                           "n_events": int(len(y)), "note": "fixed: HGQ2's Keras inference (the quantized model); "
                                                           "firmware: the alkaid trace"
                                                           + ("; float: the float twin (Keras' own layers, same "
                                                              "keys, seed and epochs)" if trained is not None else "")},
              "verification": {"n_events": int(n), "not_covered": NOT_COVERED, "trace_vs_keras": trace_sec,
                               "csim_vs_emulator": {"skipped": "not applicable to an HGQ2 model"}},
              "layers": [{"name": lyr.name, "kind": type(lyr).__name__} for lyr in model.layers],
              "estimate": {}, "timings": timings, "hls_form": "none", "rtl": sec}
    if "resources" in sec and sec["resources"].get("source") is None:
        report["resources"] = {"source": "none"}
    apply_forms(report)  # forms.rtl.design is sec["design"] (DESIGN)
    report.setdefault("resources", {"source": "none"})
    report["budget"] = judge_budget(report, cfg.budget_dict())
    predictions = {"y_true": y, "float": y_keras if trained is None else trained.logits["float"], "fixed": y_keras,
                   "firmware": y_trace,
                   "float_same_weights": y_keras}
    return Result(write_outputs(report, predictions, work), work, messages)
