"""The terminal summary of a report (rich): sections that are missing are said to be missing, never filled in."""

from __future__ import annotations

from trigformer.flow.report.text import (CRITICAL_PATH_COLS, critical_path, estimate_vs_rtl_rows,
                                         expected_error, fmt_pair, form_tag, per_layer_rows,
                                         rtl_verification_rows, verification_rows)
from trigformer.flow.parts import RESOURCES
from trigformer.flow.report.forms import forms_of, label
from trigformer.flow.report.timing import timing_lines
from trigformer.flow.report.verdict import verdict_line


LOG_WIDTH = 200  # a log is read in an editor or a CI page: wide enough that no table cell wraps


def output_console(file=None, **kw):
    """rich's Console for stdout: the terminal's width on a terminal; in a log (a pipe, a file) LOG_WIDTH, so
    tables are laid out whole instead of wrapping numbers at 80 columns. `kw`: more Console settings."""
    from rich.console import Console

    con = Console(file=file, **kw)
    return con if con.is_terminal else Console(file=file, width=LOG_WIDTH, **kw)


def render_terminal(report: dict, console=None) -> None:
    """Print a rich summary; sections that are missing are said to be missing, never filled in."""
    from rich.table import Table

    con = console or output_console()
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
    ver = report.get("verification") or {}
    checks = verification_rows(ver) + rtl_verification_rows(report.get("rtl") or {}, shown=ver)
    if checks:
        t = Table(title="Verification (bit-exact)")
        t.add_column("comparison")
        t.add_column("result")
        for what, text, ok in checks:
            style = "dim" if ok is None else "green" if ok else "red"
            t.add_row(what, f"[{style}]{text}[/{style}]")
        con.print(t)
    else:
        con.print("Verification: [dim]no verification yet[/dim]")

    lat, res = report.get("latency") or {}, report.get("resources") or {}
    forms = report.get("forms")
    if forms is None:
        forms = forms_of(report)
    for name, f in forms.items():  # every figure names its form and source
        fl = f.get("latency")
        if fl:
            con.print(f"Latency {label(name, fl)}: {fl['cycles']} cycles = {fl['ns']:g} ns, II {fl['ii']}")
    for name, f in forms.items():
        tm = f.get("timing")
        if tm:
            verdict = "met" if tm.get("met") else "[red]NOT met[/red]"
            con.print(f"Timing {label(name, tm)}: WNS {tm['wns_ns']:g} ns at the {tm['clock_ns']:g} ns clock, {verdict} "
                      f"(post-route)")
    if not any(f.get("latency") for f in forms.values()):
        con.print("Latency: [dim]no estimate or report[/dim]")
    elif lat.get("method"):
        con.print(f"  [dim]{label('latency', lat)} method: {lat['method']}[/dim]")
    with_res = {n: f["resources"] for n, f in forms.items() if f.get("resources")}
    if with_res:
        parts = sorted({r.get("part") or report.get("part", "?") for r in with_res.values()})
        t = Table(title=f"Resources on {', '.join(parts)}")
        t.add_column("resource")
        for name, r in with_res.items():
            t.add_column(label(name, r), justify="right")
            t.add_column("of part", justify="right")
        for k in RESOURCES:
            if any(k in r for r in with_res.values()):
                cells = []
                for r in with_res.values():
                    f = (r.get("fraction") or {}).get(k)
                    cells += ["" if r.get(k) is None else f"{r[k]:,}",
                              "" if f is None else f"[red]{f:.1%}[/red]" if f > 1 else f"{f:.1%}"]
                t.add_row(k, *cells)
        con.print(t)
    else:
        con.print("Resources: [dim]no estimate or report[/dim]")
    prod = (report.get("rtl") or {}).get("products")
    if prod:  # an HGQ2 model's variable products, by operand widths (the widest first)
        widths = ", ".join(f"{w}: {e['lut'] + e['dsp']:,}" for w, e in list(prod["by_width"].items())[:4])
        con.print(f"Variable products (rtl): {prod['total']:,} ({prod['on_lut']:,} in LUTs, {prod['on_dsp']:,} on "
                  f"DSP48E2, hls.multipliers: {prod['policy']}){'; widest ' + widths if widths else ''}")
    if expected_error(report) and "estimate" in [(f.get("latency") or {}).get("source") for f in forms.values()] + \
            [(f.get("resources") or {}).get("source") for f in forms.values()]:
        con.print(f"  [dim]estimate error: {expected_error(report)}[/dim]")

    bud = report.get("budget")
    if bud:
        line = verdict_line(bud)
        con.print(f"[green]{line}[/green]" if bud.get("met") else f"[bold red]{line}[/bold red]")
        for v in bud.get("violations", []):
            con.print(f"[bold red]VIOLATION[/bold red] [red]{v}[/red]")
        for u in bud.get("unchecked", []):
            con.print(f"[yellow]not checked[/yellow] {u}")

    rows = per_layer_rows(report)
    if rows:
        cols = [c for c in ("cycles", "ns", "ii", "DSP", "LUT", "FF", "BRAM_18K") if any(c in r for r in rows)]
        tags = " / ".join(dict.fromkeys(x for x in (form_tag(lat), form_tag(res)) if x))
        t = Table(title=f"Per layer: {tags}")
        t.add_column("layer", overflow="fold")
        for c in cols:
            t.add_column(c, justify="right")
        for r in rows:
            t.add_row(r["name"], *["" if r.get(c) is None else f"{r[c]:,}" if isinstance(r[c], int) else f"{r[c]:g}"
                                   for c in cols])
        con.print(t)
    title, path = critical_path(report)
    if path:
        t = Table(title=title)
        t.add_column("layer", overflow="fold")
        for c in CRITICAL_PATH_COLS:
            t.add_column(c, justify="right")
        for r in path:
            t.add_row(r["name"], *[f"{r[c]:g}" for c in CRITICAL_PATH_COLS])
        con.print(t)
    cmp_rows = estimate_vs_rtl_rows(report)
    if cmp_rows:
        hls = "traced units by alkaid's cost" if report.get("hls_form") == "trace" else "HLS kernels by the estimate"
        t = Table(title=f"Estimate / RTL (ratio) per unit: {hls} vs alkaid netlist by Yosys")
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
