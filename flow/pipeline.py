"""`synth`: model.yaml -> data -> trained QKeras Transformer -> HLS project -> csim + emulator -> cost -> report.

Stages, each returning a typed result (upstream first):
    config (flow.config) -> data (flow.data) -> models (flow.train) -> firmware (flow.firmware: convert, write,
    emulator; C-simulation) -> verification (flow.verify: comparisons only) -> cost (flow.cost: estimate, vendor)
    -> report (flow.report: one Report, the budget verdict and the exit code).
Everything is built in a temporary sibling folder and moved into place at the end (flow.outdir).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flow.config import Config, ConfigError, load_config


class UsageError(Exception):
    """Bad request (exit 2, nothing written)."""


@dataclass
class Options:
    config: Path
    part: str | None = None
    out: Path | None = None
    force: bool = False
    weights: Path | None = None
    epochs: int | None = None
    csim: bool = True
    backend: str | None = None
    clock: float | None = None
    vendor_synth: bool = False
    cosim: bool = False
    vsynth: bool = False
    fit: bool = False
    rtl: bool = False
    progress: bool = True
    extra_overrides: dict = field(default_factory=dict)


@dataclass
class Result:
    report: dict
    out_dir: Path
    messages: list[str] = field(default_factory=list)


def load(opts: Options) -> Config:
    overrides = dict(opts.extra_overrides)
    for key, val in (("hls.part", opts.part), ("hls.backend", opts.backend), ("hls.clock_period_ns", opts.clock),
                     ("training.epochs", opts.epochs)):
        if val is not None:
            overrides[key] = val
    return load_config(opts.config, overrides)


def output_dir(cfg: Config, opts: Options) -> Path:
    return Path(opts.out) if opts.out else Path("firmware") / cfg.name


def synth(opts: Options) -> Result:
    """The whole flow. Raises ConfigError / UsageError / OutputError (exit 2) before writing anything."""
    from flow.outdir import Output

    from flow.convert import check_plan

    cfg = load(opts)
    out = output_dir(cfg, opts)
    check_plan(cfg)
    if opts.rtl:
        from flow.rtl import check_tools
        from sim.rtl.verilator import ToolMissing

        try:
            check_tools(cfg.rtl)
        except ToolMissing as e:
            raise UsageError(f"--rtl: {e}") from None
    if opts.weights is not None and not Path(opts.weights).exists():
        raise UsageError(f"--weights {opts.weights}: no such file or folder")
    if opts.vendor_synth or opts.cosim or opts.vsynth:
        from flow.vendor import missing_tool_message

        why = missing_tool_message(cfg.hls.backend, opts.vsynth)
        if why:
            raise UsageError(f"--synth/--cosim/--vsynth: {why} Without them synth still C-simulates, emulates and "
                             "reports the labelled estimate.")
    with Output(out, opts.force) as o:
        result = _run(cfg, opts, o.work, out)
        o.commit()
    result.out_dir = out
    return result


def _run(cfg: Config, opts: Options, work: Path, final: Path) -> Result:
    from flow import cost as cost_stage
    from flow import data as data_stage
    from flow import firmware
    from flow import train as train_stage
    from flow.parts import resolve_part
    from flow.convert import layer_settings
    from flow.report import judge_budget
    from flow.verify import verify

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = data_stage.prepare(cfg, Path(opts.config), opts.progress)
    ds = data.ds
    timings["data_s"] = round(time.perf_counter() - t0, 1)
    part_full, _ = resolve_part(cfg.hls.part)

    trained = train_stage.train_models(cfg, ds, Path(opts.weights) if opts.weights else None, opts.progress)
    train_stage.save_models(trained, work / "keras")

    fit_result = None
    if opts.fit:
        t0 = time.perf_counter()
        fit_result = fit_settings(cfg, trained.fixed, part_full, work)
        timings["fit_s"] = round(time.perf_counter() - t0, 1)
    overrides = fit_result.settings if fit_result else None

    n = min(cfg.verify.n_events, len(ds.x_test))
    t0 = time.perf_counter()
    fw = firmware.build(cfg, trained.fixed, part_full, work, ds.x_test[:n], overrides)
    timings["convert_write_s"] = round(time.perf_counter() - t0, 1)
    csim = None
    if opts.csim:
        t0 = time.perf_counter()
        csim = firmware.csim(fw.hls_model, ds.x_test[:n])
        timings["csim_compile_and_run_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    ver = verify(fw.emulator, ds.x_test, ds.y_test, trained.logits, cfg.verify.n_events, csim, "--no-csim")
    timings["emulator_and_compare_s"] = round(time.perf_counter() - t0, 2)

    rtl_result = None
    if opts.rtl:
        from flow.rtl import run as run_rtl

        t0 = time.perf_counter()
        rtl_result = run_rtl(cfg, fw.emulator, ds.x_test[:n], work / "rtl", part_full)
        timings["rtl_s"] = round(time.perf_counter() - t0, 1)
        ver.messages.extend(rtl_result.messages)

    vendor_error = None
    if opts.vendor_synth or opts.cosim or opts.vsynth:
        vendor_error = cost_stage.run_vendor_tool(work, cfg.hls.backend, opts.cosim, opts.vsynth)
    c = cost_stage.cost(fw.layers, work, cfg.hls.backend, cfg.hls.clock_period_ns, part_full, vendor_error)

    report = {"name": cfg.name, "part": part_full, "backend": cfg.hls.backend, "seed": cfg.seed,
              "config": json.loads(cfg.model_dump_json()), "input_scaling": data.scaling,
              "training": trained.summary,
              "model": {"parameters": int(trained.fixed.count_params()), "layers": [l.name for l in trained.fixed.layers]},
              "accuracy": {**trained.accuracy, "firmware": float(np.mean(np.argmax(ver.firmware_logits, -1) == ds.y_test))},
              "verification": ver.section, "layers": fw.layers, "estimate": c.estimate, "latency": c.latency,
              "resources": c.resources, "vendor": c.vendor, "vendor_error": c.vendor_error, "timings": timings,
              "implementation": layer_settings(trained.fixed, cfg, overrides)}
    if rtl_result is not None:
        sec = rtl_result.section
        report["rtl"] = sec
        if not c.vendor:  # the measured RTL figures are the primary ones; the estimate stays in report["estimate"]
            report["latency"] = sec["latency"]
            if sec["resources"].get("source") == "yosys":
                report["resources"] = sec["resources"]
    if fit_result is not None:
        report["fit"] = fit_result.section()
        if not fit_result.feasible:
            ver.messages.append(f"--fit: no setting meets the budget; {fit_result.advice}")
    report["budget"] = judge_budget(report, cfg.budget_dict())
    predictions = {"y_true": ds.y_test, "float": trained.logits["float"], "fixed": trained.logits["fixed"],
                   "firmware": ver.firmware_logits, "float_same_weights": trained.logits["float_same_weights"]}
    firmware.finalize(work, final)
    return Result(write_outputs(report, predictions, work), work, ver.messages)


def fit_settings(cfg: Config, fixed, part_full: str, work: Path):
    """`--fit`: describe the layers (an unwritten conversion) and search the per-layer settings (flow.fit)."""
    import shutil

    from flow.convert import convert, layer_descriptions
    from flow.fit import fit

    probe_dir = work / ".fit-probe"
    try:
        layers = layer_descriptions(convert(fixed, cfg, probe_dir, part_full, trace=False), cfg)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    return fit(layers, cfg.hls.clock_period_ns, part_full, cfg.budget_dict(), cfg.hls.strategy)


def html_extra(report: dict, predictions: dict) -> dict:
    return {"y_true": predictions["y_true"], "scores_float": predictions["float"],
            "scores_firmware": predictions["firmware"],
            "class_names": (report.get("config") or {}).get("model", {}).get("classes")}


def write_outputs(report: dict, predictions: dict | None, folder: Path, save_predictions: bool = True) -> dict:
    """report.json (validated through the Report model first), report.html (plots from `predictions`, in memory)
    and predictions.npz. Everything is rendered before the first file is written. Returns the report as written."""
    from flow.report import Report
    from flow.report.html import render_html
    from flow.report.model import dumps, write_text_atomic

    report = Report.model_validate(report).to_dict()
    text = dumps(report)
    page = render_html(report, html_extra(report, predictions) if predictions else None)
    if predictions is not None and save_predictions:
        np.savez_compressed(folder / "predictions.npz", **predictions)
    write_text_atomic(folder / "report.json", text)
    write_text_atomic(folder / "report.html", page)
    return report


__all__ = ["Options", "Result", "synth", "ConfigError", "UsageError"]
