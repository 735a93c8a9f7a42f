"""report.html: one self-contained page (PNG plots inlined as base64), written atomically."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from trigformer.flow.report.model import write_text_atomic
from trigformer.flow.parts import RESOURCES
from trigformer.flow.report.forms import forms_of, label
from trigformer.flow.report.text import (CRITICAL_PATH_COLS, critical_path, estimate_vs_rtl_rows,
                                         expected_error, fmt_pair, form_tag, per_layer_rows,
                                         rtl_verification_rows, verification_rows)
from trigformer.flow.report.timing import timing_lines
from trigformer.flow.report.verdict import fractions, verdict_line


def roc_curve(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One-vs-rest ROC of a binary target: (false-positive rate, true-positive rate, AUC)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each distinct threshold
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    tpr = np.r_[0.0, tp / max(1, y.sum())]
    fpr = np.r_[0.0, fp / max(1, (~y).sum())]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoid area


def png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(report: dict, extra: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    lat, res = report.get("latency") or {}, report.get("resources") or {}
    lrows = [r for r in lat.get("per_layer") or [] if r.get("cycles") is not None]
    if lrows:
        fig, ax = plt.subplots(figsize=(8, 0.3 * len(lrows) + 1.5))
        ax.barh([r["name"] for r in lrows][::-1], [r["cycles"] for r in lrows][::-1], color="tab:blue")
        ax.set_xlabel("clock cycles")
        ax.set_title(f"Per-layer latency {form_tag(lat)}")
        out.append((f"Per-layer latency {form_tag(lat)}", png_base64(fig)))
    rrows = res.get("per_layer") or []
    keys = [k for k in RESOURCES if any(r.get(k) for r in rrows)]
    if rrows and keys:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 0.3 * len(rrows) + 1.5), sharey=True)
        for ax, k in zip(np.atleast_1d(axes), keys):
            ax.barh([r["name"] for r in rrows][::-1], [r.get(k) or 0 for r in rrows][::-1], color="tab:orange")
            ax.set_xlabel(k)
        fig.suptitle(f"Per-layer resources {form_tag(res)}")
        out.append((f"Per-layer resources {form_tag(res)}", png_base64(fig)))
    fr = fractions(report) if res else {}
    if fr:
        ks = [k for k in RESOURCES if k in fr]
        fig, ax = plt.subplots(figsize=(6, 2.8))
        vals = [100 * fr[k] for k in ks]
        ax.bar(ks, vals, color=["tab:red" if v > 100 else "tab:green" for v in vals])
        ax.axhline(100, color="k", ls="--", lw=1, label="100 % of the part")
        ax.set_ylabel("% of part")
        ax.legend()
        ax.set_title(f"Resource use on {res.get('part') or report.get('part', '?')} {form_tag(res)}")
        out.append((f"Resource use against the part {form_tag(res)}", png_base64(fig)))
    fit = report.get("fit") or {}
    if fit.get("points_tried"):
        pts = fit["points_tried"]
        bud = report.get("budget") or {}
        lut_limit = (bud.get("max_fraction") or {}).get("LUT")
        fig, ax = plt.subplots(figsize=(6, 4))
        for ok, style in ((False, dict(marker="x", color="0.55", label="points tried")),
                          (True, dict(marker="o", color="tab:green", label="meets the budget"))):
            sel = [p for p in pts if p["feasible"] == ok]
            if sel:
                ax.scatter([p["latency_ns"] for p in sel], [100 * p["LUT"] for p in sel], **style)
        ch = fit["chosen"]
        ax.scatter([ch["latency_ns"]], [100 * ch["fraction"]["LUT"]], s=160, facecolors="none", edgecolors="k",
                   label="chosen")
        if bud.get("latency_ns"):
            ax.axvline(bud["latency_ns"], color="tab:red", ls="--", lw=1, label="latency budget")
        if lut_limit:
            ax.axhline(100 * lut_limit, color="tab:orange", ls="--", lw=1, label="LUT limit")
        ax.set_xlabel("latency (ns, estimate)")
        ax.set_ylabel("LUT (% of part, estimate)")
        ax.set_title("synth --fit: latency against LUT of the points tried")
        ax.legend(fontsize=8)
        out.append(("Fit: latency against LUT (estimate), with the budget lines", png_base64(fig)))
    if all(k in extra for k in ("y_true", "scores_float", "scores_firmware")):
        y = np.asarray(extra["y_true"]).astype(int)
        sf, sw = np.asarray(extra["scores_float"], float), np.asarray(extra["scores_firmware"], float)
        names = list(extra.get("classes") or extra.get("class_names") or [str(c) for c in range(sf.shape[1])])
        fig, ax = plt.subplots(figsize=(6, 5))
        for c in range(sf.shape[1]):
            fpr, tpr, auc = roc_curve(y == c, sf[:, c])
            line, = ax.plot(tpr, fpr, label=f"{names[c]} float (AUC {auc:.3f})")
            fpr, tpr, auc = roc_curve(y == c, sw[:, c])
            ax.plot(tpr, fpr, ls="--", color=line.get_color(), label=f"{names[c]} firmware (AUC {auc:.3f})")
        ax.set_yscale("log")
        ax.set_xlabel("signal efficiency (true-positive rate)")
        ax.set_ylabel("background efficiency (false-positive rate)")
        ax.set_title("ROC one-vs-rest: float (solid) vs firmware (dashed)")
        ax.legend(fontsize=7)
        out.append(("ROC curves, float vs firmware", png_base64(fig)))
        fig, ax = plt.subplots(figsize=(6, 3))
        diff = (sf - sw).ravel()
        ax.hist(diff, bins=60, color="tab:purple")
        ax.set_yscale("log")
        ax.set_xlabel("float - firmware output")
        ax.set_title(f"Output differences (mean {diff.mean():.2e}, max |d| {np.abs(diff).max():.2e})")
        out.append(("Float - firmware output differences", png_base64(fig)))
    return out


def _summary_html(report: dict) -> str:
    e = html.escape
    lat, res = report.get("latency") or {}, report.get("resources") or {}
    acc = report.get("accuracy") or {}
    rows = []
    for k in ("float", "fixed", "firmware"):
        if acc.get(k) is not None:
            rows.append((f"accuracy ({k})", f"{acc[k]:.4f}"))
    ver = report.get("verification") or {}
    rows += [(what, text) for what, text, _ in
             verification_rows(ver) + rtl_verification_rows(report.get("rtl") or {}, shown=ver)]
    forms = report.get("forms")
    if forms is None:
        forms = forms_of(report)
    for name, f in forms.items():  # every figure names its form and source
        fl, fr = f.get("latency"), f.get("resources")
        if fl:
            rows.append((f"latency, {label(name, fl)}", f"{fl['cycles']} cycles = {fl['ns']:g} ns, II {fl['ii']}"))
        for k in RESOURCES:
            if fr and k in fr:
                pct = f" ({fr['fraction'][k]:.1%} of part)" if k in (fr.get("fraction") or {}) else ""
                rows.append((f"{k}, {label(name, fr)}", f"{fr[k]:,}{pct}"))
        tm = f.get("timing")
        if tm:
            rows.append((f"timing, {label(name, tm)}", f"WNS {tm['wns_ns']:g} ns at the {tm['clock_ns']:g} ns clock: "
                                                         f"{'met' if tm.get('met') else 'NOT met'} (post-route)"))
    sources = [(f.get(k) or {}).get("source") for f in forms.values() for k in ("latency", "resources")]
    if expected_error(report) and "estimate" in sources:
        rows.append(("estimate error", expected_error(report)))
    for sec, what in ((lat, "latency method"), (res, "resource method")):
        if sec.get("method"):
            rows.append((f"{what}, {form_tag(sec)}", sec["method"]))
    bud = report.get("budget")
    if bud:
        rows.append(("budget", verdict_line(bud)))
        rows += [("violation", v) for v in bud.get("violations", [])]
        rows += [("not checked", u) for u in bud.get("unchecked", [])]
    body = "".join(f"<tr><th>{e(a)}</th><td class='{'bad' if a == 'violation' else ''}'>{e(str(b))}</td></tr>"
                   for a, b in rows)
    return f"<table>{body}</table>" if body else "<p>No results yet.</p>"


def _layer_tables(report: dict) -> str:
    """Per-layer figures (the primary source) and, with --rtl, the estimate beside the RTL per unit."""
    e = html.escape
    out = ""
    rows = per_layer_rows(report)
    if rows:
        cols = [c for c in ("cycles", "ns", "ii", "DSP", "LUT", "FF", "BRAM_18K") if any(c in r for r in rows)]
        lat, res = report.get("latency") or {}, report.get("resources") or {}
        body = "".join("<tr><td>" + e(r["name"]) + "</td>" + "".join(
            f"<td>{'' if r.get(c) is None else f'{r[c]:,}' if isinstance(r[c], int) else f'{r[c]:g}'}</td>"
            for c in cols) + "</tr>" for r in rows)
        tags = " / ".join(dict.fromkeys(x for x in (form_tag(lat), form_tag(res)) if x))
        out += (f"<h2>Per layer: {e(tags)}</h2><table><tr><th>layer</th>"
                + "".join(f"<th>{c}</th>" for c in cols) + f"</tr>{body}</table>")
    title, path = critical_path(report)
    if path:
        body = "".join("<tr><td>" + e(r["name"]) + "</td>" + "".join(f"<td>{r[c]:g}</td>" for c in CRITICAL_PATH_COLS)
                       + "</tr>" for r in path)
        out += (f"<h2>{e(title)}</h2><table><tr><th>layer</th>" + "".join(f"<th>{c}</th>" for c in CRITICAL_PATH_COLS)
                + f"</tr>{body}</table>")
    cmp_rows = estimate_vs_rtl_rows(report)
    if cmp_rows:
        head = "".join(f"<th>{c} estimate</th><th>{c} RTL</th><th>ratio</th>" for c in ("cycles", "LUT", "DSP", "FF"))
        body = "".join("<tr><td>" + e(r["unit"]) + "</td>" + "".join(
            "".join(f"<td>{v}</td>" for v in fmt_pair(r[c])) for c in ("cycles", "LUT", "DSP", "FF")) + "</tr>"
                       for r in cmp_rows)
        out += ("<h2>Estimate vs RTL per unit</h2><p>The estimate models the HLS kernels; the RTL figures are alkaid's "
                "pipeline (cycles) and Yosys on its netlist (LUT, DSP, FF). Different micro-architectures and "
                "synthesizers: the ratio estimate / RTL is a comparison, not an error of either.</p>"
                f"<table><tr><th>unit</th>{head}</tr>{body}</table>")
    lines = timing_lines(report)
    if lines:
        out += "<h2>RTL timing estimate (logic depth), not closure</h2><ul>" + "".join(
            f"<li class='{'bad' if deep else ''}'>{e(line)}</li>" for line, deep in lines) + "</ul>"
    return out


def _auc_table(extra: dict) -> str:
    if not all(k in extra for k in ("y_true", "scores_float", "scores_firmware")):
        return ""
    y = np.asarray(extra["y_true"]).astype(int)
    sf, sw = np.asarray(extra["scores_float"], float), np.asarray(extra["scores_firmware"], float)
    names = list(extra.get("classes") or extra.get("class_names") or [str(c) for c in range(sf.shape[1])])
    rows = ""
    for c in range(sf.shape[1]):
        a, b = roc_curve(y == c, sf[:, c])[2], roc_curve(y == c, sw[:, c])[2]
        rows += f"<tr><td>{html.escape(str(names[c]))}</td><td>{a:.4f}</td><td>{b:.4f}</td><td>{b - a:+.4f}</td></tr>"
    return ("<h2>AUC one-vs-rest</h2><table><tr><th>class</th><th>float</th><th>firmware</th>"
            f"<th>firmware - float</th></tr>{rows}</table>")


def render_html(report: dict, extra: dict | None = None) -> str:
    """The page: summary, AUC table and plots. `extra`: y_true, scores_float, scores_firmware, class_names."""
    title = f"trigformer report: {report.get('name', '?')}"
    sub = " ".join(str(report[k]) for k in ("part", "backend") if report.get(k))
    figs = "".join(f"<h2>{html.escape(cap)}</h2><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                   for cap, b64 in _plots(report, extra or {}))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:1000px;margin:auto}th{text-align:left;padding-right:1em}"
            ".bad{color:#b00;font-weight:bold}img{max-width:100%}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(sub)}</p>{_summary_html(report)}{_layer_tables(report)}{_auc_table(extra or {})}"
            f"{figs}</body></html>")


def write_html(report: dict, out_path, extra: dict | None = None) -> Path:
    """Write one self-contained report.html (PNG plots inlined as base64), atomically."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_path, render_html(report, extra))
    return out_path
