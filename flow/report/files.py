"""report.json, report.html and predictions.npz of a run, rendered in memory before the first file is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def html_extra(report: dict, predictions: dict) -> dict:
    return {"y_true": predictions["y_true"], "scores_float": predictions["float"],
            "scores_firmware": predictions["firmware"],
            "class_names": (report.get("config") or {}).get("model", {}).get("classes")}


def render_outputs(report: dict, predictions: dict | None) -> tuple[dict, str, str]:
    """report.json's text and report.html's page, in memory: (the report as validated by the Report model, json
    text, html page). Raises on a report that cannot be rendered, before anything is written."""
    from trigformer.flow.report import Report
    from trigformer.flow.report.html import render_html
    from trigformer.flow.report.model import dumps

    report = Report.model_validate(report).to_dict()
    text = dumps(report)
    page = render_html(report, html_extra(report, predictions) if predictions else None)
    return report, text, page


def write_outputs(report: dict, predictions: dict | None, folder: Path) -> dict:
    """report.json (validated through the Report model first), report.html (plots from `predictions`, in memory)
    and predictions.npz. Everything is rendered before the first file is written. Returns the report as written."""
    from trigformer.flow.report.model import write_text_atomic

    report, text, page = render_outputs(report, predictions)
    if predictions is not None:
        np.savez_compressed(folder / "predictions.npz", **predictions)
    write_text_atomic(folder / "report.json", text)
    write_text_atomic(folder / "report.html", page)
    return report
