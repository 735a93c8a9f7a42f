"""The budget verdict and the exit code, in one place.

judge_budget compares latency, II and each resource's fraction of the part with the budget; exit_code turns a
report into synth's exit code: 1 when the C-simulation or the RTL co-simulation failed or disagrees with the
emulator, the vendor tool failed, or the budget is not met; else 0. (2, bad input, never gets this far.)
"""

from __future__ import annotations

RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K")
EXIT_OK, EXIT_FAIL = 0, 1


def fractions(report: dict) -> dict:
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
    """budget: latency_ns, ii and optionally max_fraction {resource: limit} (else part_fraction_limit for all)."""
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
    fr = fractions(report)
    if not fr:
        unchecked.append("resources: no estimate or report")
    part = res.get("part") or report.get("part") or "the part"
    limits = {k: (budget.get("max_fraction") or {}).get(k, part_fraction_limit) for k in RESOURCES}
    for k in RESOURCES:
        if k in fr and fr[k] > limits[k]:
            what = "does not fit" if fr[k] > 1.0 else f"> limit {limits[k]:.0%}"
            violations.append(f"{k} {res.get(k, '?'):,} = {fr[k]:.1%} of {part} ({res.get('source', '?')}) {what}")
    out = {"latency_ns": budget.get("latency_ns"), "ii": budget.get("ii"), "fraction_limit": part_fraction_limit,
           "met": not violations and not unchecked, "violations": violations, "unchecked": unchecked}
    if budget.get("max_fraction"):
        out["max_fraction"] = limits
    if budget.get("ii_from"):
        out["ii_from"] = budget["ii_from"]
    return out


def exit_code(report: dict) -> int:
    if report.get("vendor_error"):
        return EXIT_FAIL
    ver = (report.get("verification") or {}).get("csim_vs_emulator") or {}
    if ver.get("failed") or ver.get("mismatched_values") or ver.get("first_mismatching_layer"):
        return EXIT_FAIL
    rtl = report.get("rtl") or {}
    if rtl.get("failed") or (rtl.get("resources") or {}).get("failed"):
        return EXIT_FAIL
    for check in (rtl.get("cosim") or {}, rtl.get("trace_vs_emulator") or {}):
        if check.get("failed") or check.get("mismatched_values"):
            return EXIT_FAIL
    if not (report.get("budget") or {}).get("met", True):
        return EXIT_FAIL
    return EXIT_OK
