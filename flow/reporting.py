"""Latency/resource figures (vendor reports when they exist, else the labelled estimate), the budget verdict,
report.json / report.html, and the terminal summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

EXIT_OK, EXIT_FAIL = 0, 1


def complete(report: dict, work: Path, cfg, opts=None) -> None:
    """Add latency, resources and the budget verdict to `report`; run the vendor tool if asked; write report.html."""
    from flow.vendor import VendorBuildFailed, run_vendor

    if opts is not None and (opts.vendor_synth or opts.cosim or opts.vsynth):
        try:
            run_vendor(work, cfg.hls.backend, synth=True, cosim=opts.cosim, vsynth=opts.vsynth)
        except VendorBuildFailed as e:  # keep the project and the estimate; the failure is in the report
            report["vendor_error"] = str(e)
    _figures(report, work, cfg.hls.clock_period_ns, {"latency_ns": cfg.budget.latency_ns, "ii": cfg.budget.ii})
    _write_html(report, work)


def _figures(report: dict, work: Path, clock_ns: float, budget: dict) -> None:
    from flow.estimate import estimate
    from flow.report import judge_budget
    from flow.vendor import parse_vendor_reports

    est = estimate(report["layers"], clock_ns, report["part"])
    report["estimate"] = est
    vendor = parse_vendor_reports(work, report.get("backend", "Vitis"))
    report["latency"] = (vendor or {}).get("latency") or est["latency"]
    report["resources"] = (vendor or {}).get("resources") or est["resources"]
    if vendor:
        report["vendor"] = vendor
    report["budget"] = judge_budget(report, budget)


def _write_html(report: dict, work: Path) -> None:
    from flow.report import write_html

    extra = None
    pred = work / "predictions.npz"
    if pred.exists():
        with np.load(pred) as z:
            extra = {"y_true": z["y_true"], "scores_float": z["float"], "scores_firmware": z["firmware"],
                     "class_names": report.get("config", {}).get("model", {}).get("classes")}
    write_html(report, work / "report.html", extra)


def exit_code(report: dict) -> int:
    if report.get("vendor_error"):
        return EXIT_FAIL
    ver = report.get("verification", {}).get("csim_vs_emulator", {})
    if ver.get("mismatched_values") or ver.get("first_mismatching_layer"):
        return EXIT_FAIL
    if not report.get("budget", {}).get("met", True):
        return EXIT_FAIL
    return EXIT_OK


def write_json(report: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)


def finish(result) -> int:
    """After `synth`: terminal summary and the exit code."""
    from flow.report import render_terminal

    render_terminal(result.report)
    for m in result.messages:
        print(f"synth: {m}")
    if result.report.get("vendor_error"):
        print(f"synth: vendor tool failed: {result.report['vendor_error']} (figures above are the estimate)")
    print(f"synth: wrote {result.out_dir} (report.json, report.html, HLS project)")
    return exit_code(result.report)


def rerender(out_dir: Path) -> int:
    """`synth report DIR`: re-parse vendor reports in the project, recompute the verdict, rewrite the reports."""
    from flow.config import ConfigError
    from flow.report import render_terminal

    path = Path(out_dir) / "report.json"
    if not path.is_file():
        raise ConfigError(f"{out_dir}: no report.json (not an output folder written by synth)")
    report = json.loads(path.read_text())
    cfg = report["config"]
    _figures(report, Path(out_dir), cfg["hls"]["clock_period_ns"], cfg["budget"])
    write_json(report, path)
    _write_html(report, Path(out_dir))
    render_terminal(report)
    return exit_code(report)
