"""`synth report DIR`: re-read an output folder, parse vendor reports found in its project, recompute the figures
and the budget verdict, and rewrite report.json and report.html. Everything is read and checked before anything is
written: a corrupt report.json or predictions.npz is refused (exit 2) and both files stay as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PREDICTION_KEYS = ("y_true", "float", "fixed", "firmware")


class ReportError(ValueError):
    """The folder's report cannot be re-rendered (exit 2, nothing rewritten); `str()` is one line."""

    def __init__(self, msg: str):
        super().__init__(" ".join(str(msg).split())[:600])


def _predictions(path: Path, n_classes: int) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            pred = {k: np.asarray(z[k]) for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError, OSError, EOFError...
        raise ReportError(f"{path}: not a readable predictions file ({type(e).__name__}: {e})") from None
    missing = [k for k in PREDICTION_KEYS if k not in pred]
    if missing:
        raise ReportError(f"{path}: missing {', '.join(missing)}")
    n = len(pred["y_true"])
    for k in PREDICTION_KEYS[1:]:
        if pred[k].shape != (n, n_classes) or not np.all(np.isfinite(pred[k])):
            raise ReportError(f"{path}: {k} should be {n} x {n_classes} finite scores, got shape {pred[k].shape}")
    return pred


def rerender(out_dir: Path) -> int:
    from trigformer.flow.config import Config
    from trigformer.flow.cost import cost
    from trigformer.flow.pipeline import render_outputs
    from trigformer.flow.report import Report, exit_code, judge_budget, render_terminal
    from trigformer.flow.report.forms import apply as apply_forms
    from trigformer.flow.rtl import vivado_section
    from trigformer.flow.report.model import write_text_atomic

    out_dir = Path(out_dir)
    path = out_dir / "report.json"
    if not path.is_file():
        raise ReportError(f"{out_dir}: no report.json (not an output folder written by synth)")
    try:
        rep = Report.read(path).to_dict()
    except ValueError as e:  # its message names the file and the first problem
        raise ReportError(str(e)) from None
    try:
        cfg = Config.model_validate(rep["config"])
    except Exception as e:
        raise ReportError(f"{path}: config section is not a valid model.yaml ({type(e).__name__})") from None
    pred = _predictions(out_dir / "predictions.npz", len(cfg.model.classes))
    if (rep.get("model") or {}).get("framework") != "hgq2":  # an HGQ2 run has no estimate: its figures are the RTL's
        try:
            c = cost(rep["layers"], out_dir, rep["backend"], cfg.hls.clock_period_ns, rep["part"],
                     rep.get("vendor_error"))
        except Exception as e:  # a layer row or vendor report the figures cannot be computed from
            raise ReportError(f"{path}: cannot recompute the figures ({type(e).__name__}: {e})") from None
        rep.update(estimate=c.estimate, vendor=c.vendor)
    if rep.get("rtl") and (out_dir / "rtl").is_dir():
        try:  # Vivado's post-route reports of the delivered top (rtl/vivado_impl.tcl), when the user ran it
            viv = vivado_section(out_dir / "rtl", rep["name"], rep["part"], cfg.hls.clock_period_ns)
        except Exception as e:  # a truncated or foreign report: refused, nothing rewritten
            raise ReportError(f"{out_dir / 'rtl' / 'vivado'}: unreadable Vivado report ({type(e).__name__}: {e})") from None
        if viv is not None:
            rep["rtl"]["vivado"] = viv
    try:
        apply_forms(rep)  # old reports (no "forms") get them from their sections, like new ones
        rep["budget"] = judge_budget(rep, cfg.budget_dict())
        rep, text, page = render_outputs(rep, pred)  # everything in memory before the first write
    except Exception as e:
        raise ReportError(f"{path}: cannot be re-rendered ({type(e).__name__}: {e})") from None
    write_text_atomic(out_dir / "report.json", text)  # the predictions file is left as it is
    write_text_atomic(out_dir / "report.html", page)
    render_terminal(rep)
    from trigformer.flow.report.summary import result_line

    code = exit_code(rep)
    print(result_line(rep, out_dir, code), flush=True)
    return code
