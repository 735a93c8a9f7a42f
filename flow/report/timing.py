"""The RTL timing proxy as text (report.json["rtl"]["timing"], flow/rtl.py): the same lines for the terminal and
report.html, each labelled an estimate of timing, not closure."""

from __future__ import annotations


def timing_lines(report: dict) -> list[tuple[str, bool]]:
    """(line, too deep) pairs; empty without a timing section."""
    t = (report.get("rtl") or {}).get("timing")
    if not t or not t.get("worst_stage"):
        return []
    w = t["worst_stage"]
    lines = [(f"{t['label']} [yosys ltp]: worst stage {w['unit']} {w['stage']}: {w['lut_levels']} LUT levels, "
              f"{w['carry4']} CARRY4, {w['muxf']} MUXF, {w['dsp']} DSP48E2 on its longest path ~ {w['path_ns']:g} ns "
              f"at a {t['clock_ns']:g} ns clock", w["path_ns"] > t["clock_ns"])]
    n = len(t["too_deep"])
    lines.append((f"{n} stage(s) deeper than the clock allows under the proxy" if n else
                   "no stage deeper than the clock allows under the proxy", bool(n)))
    lines += [(f"  too deep: {d['unit']} {d['stage']} ~ {d['path_ns']:g} ns ({d['lut_levels']} LUT levels, "
               f"{d['carry4']} CARRY4)", True) for d in t["too_deep"][:10]]
    return lines
