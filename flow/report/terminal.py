"""The terminal summary of a report (rich): sections that are missing are said to be missing, never filled in."""

from __future__ import annotations

from flow.report.text import estimate_vs_rtl_rows, expected_error, fmt_pair, per_layer_rows, tag, verification_rows
from flow.report.timing import timing_lines
from flow.report.verdict import RESOURCES, fractions


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
    checks = verification_rows(report.get("verification") or {})
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
        con.print(f"Latency {lat['cycles']} cycles = {lat['ns']:g} ns, II {lat['ii']} {tag(lat)}")
        if lat.get("method"):
            con.print(f"  [dim]method: {lat['method']}[/dim]")
    else:
        con.print("Latency: [dim]no estimate or report[/dim]")

    res = report.get("resources") or {}
    fr = fractions(report) if res else {}
    if any(k in res for k in RESOURCES):
        t = Table(title=f"Resources {tag(res)} on {res.get('part') or report.get('part', '?')}")
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
    if expected_error(report) and "estimate" in (lat.get("source"), res.get("source")):
        con.print(f"  [dim]estimate error: {expected_error(report)}[/dim]")

    bud = report.get("budget")
    if bud:
        if bud.get("met"):
            con.print("[green]Budget met[/green]")
        for v in bud.get("violations", []):
            con.print(f"[bold red]VIOLATION[/bold red] [red]{v}[/red]")
        for u in bud.get("unchecked", []):
            con.print(f"[yellow]not checked[/yellow] {u}")

    rows = per_layer_rows(report)
    if rows:
        cols = [c for c in ("cycles", "ns", "ii", "DSP", "LUT", "FF", "BRAM_18K") if any(c in r for r in rows)]
        t = Table(title=f"Per layer {tag(lat) or tag(res)}")
        t.add_column("layer", overflow="fold")
        for c in cols:
            t.add_column(c, justify="right")
        for r in rows:
            t.add_row(r["name"], *["" if r.get(c) is None else f"{r[c]:,}" if isinstance(r[c], int) else f"{r[c]:g}"
                                   for c in cols])
        con.print(t)
    cmp_rows = estimate_vs_rtl_rows(report)
    if cmp_rows:
        t = Table(title="Estimate / RTL (ratio) per unit: HLS kernels by the estimate vs da4ml netlist by Yosys")
        t.add_column("unit", overflow="fold")
        for c in ("cycles", "LUT", "DSP", "FF"):
            t.add_column(c, justify="right")
        for r in cmp_rows:
            cells = []
            for c in ("cycles", "LUT", "DSP", "FF"):
                e, m, q = fmt_pair(r[c])
                cells.append(f"{e} / {m}" + (f" ({q})" if q else "") if (e or m) else "")
            t.add_row(r["unit"], *cells)
        con.print(t)
    for line, deep in timing_lines(report):
        con.print(line, style="yellow" if deep else None, highlight=False, markup=False)
