"""The budget verdict and the exit code, in one place.

judge_budget judges every firmware form the run produced (flow.report.forms: the HLS project and, with --rtl, the
RTL form) on latency, II and each resource's fraction of the part; the budget is met only if every judged form
meets it. exit_code turns a report into synth's exit code:
    1 (EXIT_FAIL)   wrong or failed: the C-simulation or the RTL co-simulation failed or disagrees with the emulator,
                    or a tool (vendor HLS, Verilator, Yosys) failed;
    4 (EXIT_BUDGET) everything ran and is verified, but the budget is not met;
    0               verified and within budget.
(2, bad input, never gets this far.)
"""

from __future__ import annotations

from trigformer.flow.parts import RESOURCES
from trigformer.flow.report.forms import forms_of, label

EXIT_OK, EXIT_FAIL, EXIT_BUDGET = 0, 1, 4


def fractions(report: dict) -> dict:
    """The primary resources' fractions of the part (flow.report.forms sets them)."""
    return dict((report.get("resources") or {}).get("fraction") or {})


def _judge_form(name: str, form: dict, budget: dict, limits: dict) -> dict:
    lat, res = form.get("latency"), form.get("resources")
    violations, unchecked = [], []
    lat_l, res_l = label(name, lat), label(name, res)
    if lat is None:
        unchecked.append(f"{name}: no latency")
    else:
        if budget.get("latency_ns") is not None and lat["ns"] > budget["latency_ns"]:
            violations.append(f"{lat_l} latency {lat['ns']:g} ns > budget {budget['latency_ns']:g} ns")
        if budget.get("ii") is not None and lat["ii"] > budget["ii"]:
            violations.append(f"{lat_l} II {lat['ii']} > budget {budget['ii']}")
    timing = form.get("timing")
    if timing and not timing.get("met"):
        violations.append(f"{label(name, timing)} timing not met at the {timing['clock_ns']:g} ns clock: WNS "
                          f"{timing['wns_ns']:g} ns, WHS {timing['whs_ns']:g} ns (post-route)")
    if res is None:
        unchecked.append(f"{name}: no resource counts")
    else:
        fr, part = res.get("fraction") or {}, res.get("part") or "the part"
        for k in RESOURCES:
            if k in fr and fr[k] > limits[k]:
                what = "does not fit" if fr[k] > 1.0 else f"> limit {limits[k]:.0%}"
                violations.append(f"{res_l} {k} {res.get(k, '?'):,} = {fr[k]:.1%} of {part} {what}")
    return {"met": not violations, "violations": violations, "unchecked": unchecked}


def judge_budget(report: dict, budget: dict, part_fraction_limit: float = 1.0) -> dict:
    """budget: latency_ns, ii and optionally max_fraction {resource: limit} (else part_fraction_limit for all).
    Judges every form of report["forms"] (derived from the report's sections when absent) and writes each form's
    verdict into it as form["budget"]; returns report.json["budget"]: met, judged, violations, unchecked."""
    forms = report.get("forms")
    if forms is None:
        forms = forms_of(report)
    limits = {k: (budget.get("max_fraction") or {}).get(k, part_fraction_limit) for k in RESOURCES}
    violations, unchecked, judged = [], [], []
    for name, form in forms.items():
        form["budget"] = _judge_form(name, form, budget, limits)
        judged.append(name)
        violations += form["budget"]["violations"]
    if budget.get("latency_ns") is not None and not any(f.get("latency") for f in forms.values()):
        unchecked.append("latency: no estimate or report")
    if budget.get("ii") is not None and not any(f.get("latency") for f in forms.values()):
        unchecked.append("II: no estimate or report")
    if not any(f.get("resources") for f in forms.values()):
        unchecked.append("resources: no estimate or report")
    fit = report.get("fit") or {}
    if fit.get("feasible") is False:  # --fit found nothing within the margin: over budget whatever the forms say
        violations.append(f"--fit: no setting meets the budget with the fit margin; {fit.get('advice') or ''}".strip())
    met = not violations and not unchecked  # a figure no form has is not met; one form lacking it is only noted
    unchecked += [u for f in forms.values() for u in f["budget"]["unchecked"]]
    out = {"latency_ns": budget.get("latency_ns"), "ii": budget.get("ii"), "fraction_limit": part_fraction_limit,
           "met": met, "judged": judged, "violations": violations, "unchecked": unchecked,
           "forms": {name: {"source": f.get("source"), **f["budget"]} for name, f in forms.items()}}
    if budget.get("max_fraction"):
        out["max_fraction"] = limits
    if budget.get("ii_from"):
        out["ii_from"] = budget["ii_from"]
    return out


def verdict_line(bud: dict) -> str:
    """One line naming every judged form: 'Budget NOT met: hls (estimate) LUT ... > limit 70%; rtl (yosys) met'."""
    forms = bud.get("forms") or {}
    parts = []
    for name, f in forms.items():
        tag = label(name, f)
        parts.append(f"{tag} met" if f.get("met") else "; ".join(f.get("violations") or [f"{tag} not met"]))
    parts += [v for v in bud.get("violations") or [] if v.startswith("--fit")]
    head = "Budget met" if bud.get("met") else "Budget NOT met"
    if not forms:
        return head + (": " + "; ".join(bud.get("unchecked") or []) if bud.get("unchecked") else "")
    if bud.get("met"):
        return f"{head}: " + ", ".join(label(n, f) for n, f in forms.items())
    if all(f.get("met") for f in forms.values()) and not bud.get("violations"):  # nothing over: a figure is missing
        return f"{head}: not checked: " + "; ".join(bud.get("unchecked") or [])
    return f"{head}: " + "; ".join(parts)


def failures(report: dict) -> list[str]:
    """Why a report is wrong or failed (exit 1): empty when every comparison is bit-exact and every tool ran."""
    why = []
    if report.get("vendor_error"):
        why.append(f"vendor tool: {report['vendor_error']}")
    ver = (report.get("verification") or {}).get("csim_vs_emulator") or {}
    if ver.get("failed") or ver.get("mismatched_values") or ver.get("first_mismatching_layer"):
        why.append(f"csim != emulator: {ver.get('failed') or 'from layer ' + str(ver.get('first_mismatching_layer'))}")
    rtl = report.get("rtl") or {}
    if rtl.get("failed") or (rtl.get("resources") or {}).get("failed"):
        why.append(f"RTL: {rtl.get('failed') or rtl['resources']['failed']}")
    for key in ("cosim", "trace_vs_emulator", "trace_vs_keras", "hls_vs_keras"):  # *_vs_keras: HGQ2 (flow/hgq2.py)
        check = rtl.get(key) or {}
        if check.get("failed") or check.get("mismatched_values"):
            why.append(f"RTL {key}: {check.get('failed') or str(check['mismatched_values']) + ' values differ'}")
    return why


def exit_code(report: dict) -> int:
    if failures(report):
        return EXIT_FAIL
    if not (report.get("budget") or {}).get("met", True):
        return EXIT_BUDGET
    return EXIT_OK
