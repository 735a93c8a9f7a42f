"""Summaries of a synthesis run: rich terminal tables, a self-contained report.html, and the budget verdict.

The report dict (every section optional except ``name``)::

    {"name": str, "part": str, "backend": str, "clock_ns": float,
     "accuracy": {"float": f, "fixed": f, "firmware": f},
     "verification": {"n_events": int,                # flow.verify: one sub-dict per comparison, e.g.
                      "csim_vs_emulator": {"bit_exact_fraction": f, ...} | {"skipped": why}, ...}
                      # (a flat {"n_events", "bit_exact"} count is accepted too)
     "latency":   {"source": "estimate" | "csynth" | "cosim", "cycles", "ns", "ii", "method"?, "per_layer": [...]},
     "resources": {"source": "estimate" | "csynth" | "vsynth", "DSP", "LUT", "FF", "BRAM_18K",
                   "fraction": {...}, "part"?, "method"?, "per_layer": [...]},
     "expected_error": str,                       # or report["estimate"]["expected_error"] (flow.estimate)
     "budget": judge_budget(...)}

Figures are printed only when present; an estimated one always carries "(estimate)".
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path

import numpy as np

RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K")


# ----------------------------------------------------------------------------------------------- budget


def _fractions(report: dict) -> dict:
    res = report.get("resources") or {}
    if res.get("fraction"):
        return res["fraction"]
    part = res.get("part") or report.get("part")
    if not part:
        return {}
    from flow.parts import resolve_part

    _, cap = resolve_part(part)
    return {k: res[k] / getattr(cap, k) for k in RESOURCES if k in res and getattr(cap, k)}


def judge_budget(report: dict, budget: dict, part_fraction_limit: float = 1.0) -> dict:
    """Compare latency / II / resource fractions with the budget; messages name figure, value, limit, source."""
    lat = report.get("latency") or {}
    res = report.get("resources") or {}
    violations, unchecked = [], []
    src = f"({lat.get('source', '?')})"
    if budget.get("latency_ns") is not None:
        if lat.get("ns") is None:
            unchecked.append("latency: no estimate or report")
        elif lat["ns"] > budget["latency_ns"]:
            violations.append(f"latency {lat['ns']:g} ns {src} > budget {budget['latency_ns']:g} ns")
    if budget.get("ii") is not None:
        if lat.get("ii") is None:
            unchecked.append("II: no estimate or report")
        elif lat["ii"] > budget["ii"]:
            violations.append(f"II {lat['ii']} {src} > budget {budget['ii']}")
    fr = _fractions(report)
    if not fr:
        unchecked.append("resources: no estimate or report")
    part = res.get("part") or report.get("part") or "the part"
    for k in RESOURCES:
        if k in fr and fr[k] > part_fraction_limit:
            what = "does not fit" if fr[k] > 1.0 else f"> limit {part_fraction_limit:.0%}"
            violations.append(f"{k} {res.get(k, '?'):,} = {fr[k]:.1%} of {part} ({res.get('source', '?')}) {what}")
    return {"latency_ns": budget.get("latency_ns"), "ii": budget.get("ii"), "fraction_limit": part_fraction_limit,
            "met": not violations and not unchecked, "violations": violations, "unchecked": unchecked}


# ----------------------------------------------------------------------------------------------- terminal


def _tag(section: dict | None) -> str:
    src = (section or {}).get("source")
    return "(estimate)" if src == "estimate" else f"({src})" if src else ""


def _verification(ver: dict) -> list[tuple[str, str, bool | None]]:
    """(label, text, ok) per bit-exactness comparison; ok is None for skipped ones."""
    out = []
    n = ver.get("n_events")
    if n and ver.get("bit_exact") is not None:
        out.append((f"bit-exact {_tag(ver)}".strip(), f"{ver['bit_exact']}/{n} ({ver['bit_exact'] / n:.1%})",
                    ver["bit_exact"] == n))
    for key, sub in ver.items():
        if not isinstance(sub, dict):
            continue
        label = key.replace("_vs_", " vs ").replace("_", " ")
        if sub.get("bit_exact_fraction") is not None:
            f = sub["bit_exact_fraction"]
            of = f" of {n} events" if n else ""
            out.append((label, f"{f:.1%}{of} bit-exact", f == 1.0))
        elif sub.get("skipped"):
            out.append((label, f"skipped ({sub['skipped']})", None))
    return out


def _expected_error(report: dict) -> str | None:
    return report.get("expected_error") or (report.get("estimate") or {}).get("expected_error")


def _per_layer_rows(report: dict) -> list[dict]:
    """Latency and resource per-layer rows merged by name, in order of first appearance."""
    rows: dict[str, dict] = {}
    for sec in ("latency", "resources"):
        for r in (report.get(sec) or {}).get("per_layer") or []:
            rows.setdefault(r["name"], {"name": r["name"]}).update({k: v for k, v in r.items() if k != "name"})
    return list(rows.values())


def render_terminal(report: dict, console=None) -> None:
    """Print a rich summary; sections that are missing are said to be missing, never filled in."""
    from rich.console import Console
    from rich.table import Table

    con = console or Console()
    head = f"[bold]{report.get('name', '?')}[/bold]"
    for key, fmt in (("part", "{}"), ("backend", "{}"), ("clock_ns", "{:g} ns clock")):
        if report.get(key) is not None:
            head += "  " + fmt.format(report[key])
    con.print(head)

    acc = report.get("accuracy") or {}
    t = Table(title="Accuracy")
    for k in ("float", "fixed", "firmware"):
        t.add_column(k)
    t.add_row(*[f"{acc[k]:.4f}" if acc.get(k) is not None else "[dim]not run[/dim]"
                for k in ("float", "fixed", "firmware")])
    con.print(t)
    checks = _verification(report.get("verification") or {})
    if checks:
        t = Table(title="Verification (bit-exact)")
        t.add_column("comparison")
        t.add_column("result")
        for label, text, ok in checks:
            style = "dim" if ok is None else "green" if ok else "red"
            t.add_row(label, f"[{style}]{text}[/{style}]")
        con.print(t)
    else:
        con.print("Verification: [dim]no verification yet[/dim]")

    lat = report.get("latency") or {}
    if lat.get("cycles") is not None:
        con.print(f"Latency {lat['cycles']} cycles = {lat['ns']:g} ns, II {lat['ii']} {_tag(lat)}")
        if lat.get("method"):
            con.print(f"  [dim]method: {lat['method']}[/dim]")
    else:
        con.print("Latency: [dim]no estimate or report[/dim]")

    res = report.get("resources") or {}
    fr = _fractions(report) if res else {}
    if any(k in res for k in RESOURCES):
        t = Table(title=f"Resources {_tag(res)} on {res.get('part') or report.get('part', '?')}")
        for col in ("resource", "used", "of part"):
            t.add_column(col, justify="right" if col != "resource" else "left")
        for k in RESOURCES:
            if k in res:
                f = fr.get(k)
                pct = "" if f is None else f"[red]{f:.1%}[/red]" if f > 1 else f"{f:.1%}"
                t.add_row(k, f"{res[k]:,}", pct)
        con.print(t)
    else:
        con.print("Resources: [dim]no estimate or report[/dim]")
    if _expected_error(report) and "estimate" in (lat.get("source"), res.get("source")):
        con.print(f"  [dim]estimate error: {_expected_error(report)}[/dim]")

    bud = report.get("budget")
    if bud:
        if bud.get("met"):
            con.print("[green]Budget met[/green]")
        for v in bud.get("violations", []):
            con.print(f"[bold red]VIOLATION[/bold red] [red]{v}[/red]")
        for u in bud.get("unchecked", []):
            con.print(f"[yellow]not checked[/yellow] {u}")

    rows = _per_layer_rows(report)
    if rows:
        cols = [c for c in ("cycles", "ns", "ii", "DSP", "LUT", "FF", "BRAM_18K") if any(c in r for r in rows)]
        t = Table(title=f"Per layer {_tag(lat) or _tag(res)}")
        t.add_column("layer", overflow="fold")
        for c in cols:
            t.add_column(c, justify="right")
        for r in rows:
            t.add_row(r["name"], *["" if r.get(c) is None else f"{r[c]:,}" if isinstance(r[c], int) else f"{r[c]:g}"
                                   for c in cols])
        con.print(t)


# ----------------------------------------------------------------------------------------------- html


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


def _png(fig) -> str:
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
        ax.set_title(f"Per-layer latency {_tag(lat)}")
        out.append((f"Per-layer latency {_tag(lat)}", _png(fig)))
    rrows = res.get("per_layer") or []
    keys = [k for k in RESOURCES if any(r.get(k) for r in rrows)]
    if rrows and keys:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 0.3 * len(rrows) + 1.5), sharey=True)
        for ax, k in zip(np.atleast_1d(axes), keys):
            ax.barh([r["name"] for r in rrows][::-1], [r.get(k) or 0 for r in rrows][::-1], color="tab:orange")
            ax.set_xlabel(k)
        fig.suptitle(f"Per-layer resources {_tag(res)}")
        out.append((f"Per-layer resources {_tag(res)}", _png(fig)))
    fr = _fractions(report) if res else {}
    if fr:
        ks = [k for k in RESOURCES if k in fr]
        fig, ax = plt.subplots(figsize=(6, 2.8))
        vals = [100 * fr[k] for k in ks]
        ax.bar(ks, vals, color=["tab:red" if v > 100 else "tab:green" for v in vals])
        ax.axhline(100, color="k", ls="--", lw=1, label="100 % of the part")
        ax.set_ylabel("% of part")
        ax.legend()
        ax.set_title(f"Resource use on {res.get('part') or report.get('part', '?')} {_tag(res)}")
        out.append((f"Resource use against the part {_tag(res)}", _png(fig)))
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
        out.append(("ROC curves, float vs firmware", _png(fig)))
        fig, ax = plt.subplots(figsize=(6, 3))
        diff = (sf - sw).ravel()
        ax.hist(diff, bins=60, color="tab:purple")
        ax.set_yscale("log")
        ax.set_xlabel("float - firmware output")
        ax.set_title(f"Output differences (mean {diff.mean():.2e}, max |d| {np.abs(diff).max():.2e})")
        out.append(("Float - firmware output differences", _png(fig)))
    return out


def _summary_html(report: dict) -> str:
    e = html.escape
    lat, res = report.get("latency") or {}, report.get("resources") or {}
    acc = report.get("accuracy") or {}
    rows = []
    for k in ("float", "fixed", "firmware"):
        if acc.get(k) is not None:
            rows.append((f"accuracy ({k})", f"{acc[k]:.4f}"))
    rows += [(label, text) for label, text, _ in _verification(report.get("verification") or {})]
    if lat.get("cycles") is not None:
        rows.append(("latency", f"{lat['cycles']} cycles = {lat['ns']:g} ns {_tag(lat)}"))
        rows.append(("II", f"{lat['ii']} {_tag(lat)}"))
    fr = _fractions(report) if res else {}
    for k in RESOURCES:
        if k in res:
            pct = f" ({fr[k]:.1%} of part)" if k in fr else ""
            rows.append((k, f"{res[k]:,}{pct} {_tag(res)}"))
    if _expected_error(report) and "estimate" in (lat.get("source"), res.get("source")):
        rows.append(("estimate error", _expected_error(report)))
    for sec, label in ((lat, "latency method"), (res, "resource method")):
        if sec.get("method"):
            rows.append((label, sec["method"]))
    bud = report.get("budget")
    if bud:
        verdict = "met" if bud.get("met") else "NOT met"
        rows.append(("budget", verdict))
        rows += [("violation", v) for v in bud.get("violations", [])]
        rows += [("not checked", u) for u in bud.get("unchecked", [])]
    body = "".join(f"<tr><th>{e(a)}</th><td class='{'bad' if a == 'violation' else ''}'>{e(str(b))}</td></tr>"
                   for a, b in rows)
    return f"<table>{body}</table>" if body else "<p>No results yet.</p>"


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


def write_html(report: dict, out_path, extra: dict | None = None) -> Path:
    """Write one self-contained report.html (PNG plots inlined as base64), atomically."""
    out_path = Path(out_path)
    title = f"trigformer report: {report.get('name', '?')}"
    sub = " ".join(str(report[k]) for k in ("part", "backend") if report.get(k))
    figs = "".join(f"<h2>{html.escape(cap)}</h2><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                   for cap, b64 in _plots(report, extra or {}))
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
           "body{font-family:sans-serif;max-width:1000px;margin:auto}th{text-align:left;padding-right:1em}"
           "td.bad{color:#b00;font-weight:bold}img{max-width:100%}</style></head><body>"
           f"<h1>{html.escape(title)}</h1><p>{html.escape(sub)}</p>{_summary_html(report)}{_auc_table(extra or {})}"
           f"{figs}</body></html>")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=".report-", suffix=".html.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path
