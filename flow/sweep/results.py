"""Sweep results: one row per point from its record and report.json (read defensively), results.csv/json, and
sweep.html with the Pareto plots."""

from __future__ import annotations

import csv
import html
import io
import json
import time
from pathlib import Path

from trigformer.flow.sweep.runner import OUT, write_atomic

RESOURCES = ("LUT", "FF", "DSP", "BRAM_18K")
ACC = ("float", "fixed", "firmware")


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _sec(d, *path):
    for p in path:
        d = d.get(p) if isinstance(d, dict) else None
    return d if isinstance(d, dict) else {}


def make_row(point, record: dict | None, point_dir: Path, ran: bool) -> dict:
    """The results row of one point. Figures missing from report.json are left empty, never filled in."""
    rec = record or {}
    row: dict = {"key": point.key, **point.varied,
                 "status": rec.get("status", "pending"), "exit_code": rec.get("exit_code"),
                 "wall_s": rec.get("wall_s"), "this_run": "ran" if ran else ("skipped" if record else "not run")}
    try:
        rep = json.loads((point_dir / OUT / "report.json").read_text())
        rep = rep if isinstance(rep, dict) else {}
    except (OSError, ValueError):
        rep = {}
    acc = _sec(rep, "accuracy")
    for k in ACC:
        row[f"acc_{k}"] = _num(acc.get(k))
    csim = _sec(rep, "verification", "csim_vs_emulator")
    row["csim_bit_exact"] = _num(csim.get("bit_exact_fraction"))
    if csim.get("skipped"):
        row["csim_bit_exact"] = "skipped"
    lat = _sec(rep, "latency")
    row.update(latency_ns=_num(lat.get("ns")), latency_cycles=_num(lat.get("cycles")), ii=_num(lat.get("ii")),
               latency_source=lat.get("source"))
    res = _sec(rep, "resources")
    row.update({k: _num(res.get(k)) for k in RESOURCES}, resources_source=res.get("source"))
    rtl = _sec(rep, "rtl", "resources")
    if rtl:  # later versions: yosys resources of the generated RTL
        row.update({f"rtl_{k}": _num(rtl.get(k)) for k in RESOURCES}, rtl_source=rtl.get("source", "yosys"))
    row["alkaid_LUT"] = _num(_sec(rep, "rtl", "alkaid_cost").get("written"))  # HGQ2 designs: alkaid's estimate
    row["ebops"] = _num(_sec(rep, "training", "fixed").get("ebops"))
    met = _sec(rep, "budget").get("met")
    row["budget_met"] = met if isinstance(met, bool) else None
    row["error"] = rec.get("error")
    row["dir"] = f"points/{point.key}"
    return row


def columns(rows: list[dict], varied: list[str]) -> list[str]:
    cols = ["key", *varied, "status", "exit_code", "wall_s", "this_run", *(f"acc_{k}" for k in ACC), "csim_bit_exact",
            "latency_ns", "latency_cycles", "ii", "latency_source", *RESOURCES, "resources_source"]
    if any("rtl_source" in r for r in rows):
        cols += [*(f"rtl_{k}" for k in RESOURCES), "rtl_source"]
    if any(r.get("alkaid_LUT") is not None for r in rows):
        cols += ["alkaid_LUT", "ebops"]
    return cols + ["budget_met", "error", "dir"]


def write_results(out: Path, rows: list[dict], sweep) -> None:
    """results.csv and results.json, each replaced atomically (an interrupt leaves the previous complete file)."""
    cols = columns(rows, sweep.varied_keys)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})
    write_atomic(out / "results.csv", buf.getvalue())
    doc = {"sweep": str(sweep.path.resolve()), "base": str(sweep.base.resolve()),
           "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "varied_keys": sweep.varied_keys, "columns": cols,
           "budget": sweep.budget, "points": [{c: r.get(c) for c in cols} for r in rows]}
    write_atomic(out / "results.json", json.dumps(doc, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------------- Pareto


def pareto_front(pts: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated when minimizing x and maximizing y (ties on x: the best y only)."""
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0], -pts[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if pts[i][1] > best:
            front.append(i)
            best = pts[i][1]
    return front


def accuracy_of(row: dict) -> float | None:
    return row.get("acc_firmware") if row.get("acc_firmware") is not None else row.get("acc_fixed")


CAPTIONS = ("Accuracy vs LUT", "Accuracy vs latency")


def _axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.5))


def _finish(fig, ax, xs: list[float], xlabel: str, lines: list[tuple[float, str]], title: str, legend: bool) -> str:
    """The budget lines, a log x axis when the figures span more than 30x, labels and legend; the PNG (base64)."""
    from trigformer.flow.report.html import png_base64

    for x, label in lines:
        ax.axvline(x, color="k", ls="--", lw=1, label=label)
    xs = xs + [x for x, _ in lines]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 30:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (firmware)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend or lines:
        ax.legend(fontsize=8, loc="best")
    return png_base64(fig)


def _plot(rows, xkey: str, xlabel: str, lines: list[tuple[float, str]], title: str):
    data = [(r[xkey], accuracy_of(r), bool(r.get("budget_met"))) for r in rows
            if r.get(xkey) is not None and accuracy_of(r) is not None]
    fig, ax = _axes()
    bad = [(x, y) for x, y, ok in data if not ok]
    good = [(x, y) for x, y, ok in data if ok]
    if bad:
        ax.scatter(*zip(*bad), marker="x", color="0.55", label=f"budget not met ({len(bad)})")
    if good:
        ax.scatter(*zip(*good), color="tab:green", label=f"feasible: budget met ({len(good)})")
        front = sorted((good[i] for i in pareto_front(good)))
        ax.step(*zip(*front), where="post", color="tab:red", lw=1.2)
        ax.scatter(*zip(*front), s=120, facecolors="none", edgecolors="tab:red", lw=1.8,
                   label=f"Pareto front of feasible points ({len(front)})")
    return _finish(fig, ax, [x for x, _, _ in data], xlabel, lines, title, bool(data))


ALKAID_CAPTION = "Accuracy vs alkaid cost"
GROUP_KEY = "data.n_particles"  # one front per particle count when the sweep varies it


def fronts_by_group(rows: list[dict], xkey: str, group: str | None) -> dict:
    """{group value: the rows on that group's Pareto front (min xkey, max accuracy), by increasing xkey}, over every
    row with both figures (not gated on the budget: an estimate alone does not judge one)."""
    out: dict = {}
    for r in rows:
        if r.get(xkey) is not None and accuracy_of(r) is not None:
            out.setdefault(r.get(group) if group else None, []).append(r)
    return {g: sorted((rs[i] for i in pareto_front([(r[xkey], accuracy_of(r)) for r in rs])), key=lambda r: r[xkey])
            for g, rs in sorted(out.items(), key=lambda kv: (kv[0] is None, kv[0]))}


def _plot_groups(rows, xkey: str, xlabel: str, group: str | None, lines: list[tuple[float, str]], title: str):
    """Every point, coloured by `group`, with each group's Pareto front joined."""
    fig, ax = _axes()
    fronts = fronts_by_group(rows, xkey, group)
    for i, (g, front) in enumerate(fronts.items()):
        colour = f"C{i % 10}"
        pts = [(r[xkey], accuracy_of(r)) for r in rows if r.get(xkey) is not None and accuracy_of(r) is not None
               and (r.get(group) if group else None) == g]
        name = f"{group.rsplit('.', 1)[-1]} = {g}" if group else "all points"
        ax.scatter(*zip(*pts), color=colour, label=f"{name} ({len(pts)})")
        ax.step([r[xkey] for r in front], [accuracy_of(r) for r in front], where="post", color=colour, lw=1.2)
        ax.scatter([r[xkey] for r in front], [accuracy_of(r) for r in front], s=120, facecolors="none",
                   edgecolors=colour, lw=1.8)
    xs = [r[xkey] for r in rows if r.get(xkey) is not None and accuracy_of(r) is not None]
    return _finish(fig, ax, xs, xlabel, lines, title, bool(fronts))


def write_html(out: Path, rows: list[dict], sweep, points: list) -> Path:
    """sweep.html: accuracy vs LUT and vs latency with the budget lines, feasible points and their Pareto front
    marked, then the Pareto table and every row. Self-contained (PNG inlined)."""
    from trigformer.flow.parts import resolve_part

    e = html.escape
    parts = sorted({p.config["hls"]["part"] for p in points})
    lut_lines = []
    for part in parts:
        try:
            lut_lines.append((resolve_part(part)[1].LUT, f"LUT of {part}"))
        except KeyError:
            pass
    lat_lines = [(v, f"budget {v:g} ns") for v in sorted({p.config["budget"]["latency_ns"] for p in points})]
    srcs = lambda k: "/".join(sorted({str(r.get(k)) for r in rows if r.get(k)})) or "no data"  # noqa: E731
    figs = [(f"{CAPTIONS[0]} ({srcs('resources_source')}); dashed: the part's LUT capacity (the resource budget)",
             _plot(rows, "LUT", "LUT", lut_lines, CAPTIONS[0])),
            (f"{CAPTIONS[1]} ({srcs('latency_source')}); dashed: the latency budget",
             _plot(rows, "latency_ns", "latency (ns)", lat_lines, CAPTIONS[1]))]
    group = GROUP_KEY if GROUP_KEY in sweep.varied_keys else None
    alkaid_fronts = fronts_by_group(rows, "alkaid_LUT", group)
    if alkaid_fronts:  # HGQ2 designs: alkaid's LUT estimate of the written logic, whether or not Yosys counted it
        figs.append((f"{ALKAID_CAPTION} (estimate: alkaid's LUT cost of the written logic, not a Yosys or vendor "
                     f"count){'; one Pareto front per ' + group if group else ''}, every point with an accuracy "
                     "(an estimate alone does not judge the budget)",
                     _plot_groups(rows, "alkaid_LUT", "LUT (alkaid cost, estimate)", group, lut_lines,
                                  ALKAID_CAPTION)))
    cols = columns(rows, sweep.varied_keys)
    feas = [r for r in rows if r.get("budget_met") and accuracy_of(r) is not None]
    on_front = set()
    for xkey in ("LUT", "latency_ns"):
        sub = [r for r in feas if r.get(xkey) is not None]
        on_front |= {sub[i]["key"] for i in pareto_front([(r[xkey], accuracy_of(r)) for r in sub])}
    pcols = ["key", *sweep.varied_keys, "acc_firmware", "LUT", "DSP", "latency_ns", "ii"]

    def table(rs, cs):
        head = "".join(f"<th>{e(c)}</th>" for c in cs)
        body = "".join("<tr>" + "".join(f"<td>{e(_fmt(r.get(c)))}</td>" for c in cs) + "</tr>" for r in rs)
        return f"<table><tr>{head}</tr>{body}</table>"

    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    budget = sweep.budget
    doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>trigformer sweep</title><style>"
           "body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;font-size:12px}"
           "td,th{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left}img{max-width:100%}</style></head>"
           f"<body><h1>trigformer sweep: {e(sweep.path.name)}</h1>"
           f"<p>base {e(str(sweep.base))}; {len(rows)} points: {e(summary)}. Budget of the base config: latency "
           f"{budget.get('latency_ns'):g} ns, II {budget.get('ii')}, resources within {e(str(budget.get('part')))}. "
           "Feasible = the point's report says the budget is met.</p>"
           + "".join(f"<h2>{e(cap)}</h2><img alt='{e(cap)}' src='data:image/png;base64,{b64}'>" for cap, b64 in figs)
           + f"<h2>Pareto-optimal feasible points ({len(on_front)})</h2>"
           + table(sorted((r for r in feas if r["key"] in on_front), key=lambda r: -accuracy_of(r)), pcols)
           + (f"<h2>Pareto fronts by alkaid cost{' per ' + e(group) if group else ''}</h2>"
              + table([r for front in alkaid_fronts.values() for r in front],
                      ["key", *sweep.varied_keys, "acc_float", "acc_firmware", "alkaid_LUT", "ebops", "latency_ns"])
              if alkaid_fronts else "")
           + "<h2>All points</h2>" + table(rows, cols) + "</body></html>")
    write_atomic(out / "sweep.html", doc)
    return out / "sweep.html"


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
