"""Formatting shared by the terminal and HTML renderers (labels, source tags, per-layer merging)."""

from __future__ import annotations


def tag(section: dict | None) -> str:
    src = (section or {}).get("source")
    return "(estimate)" if src == "estimate" else f"({src})" if src else ""


def form_tag(section: dict | None) -> str:
    """`hls (estimate)`, `rtl (yosys)`: the form a section's figures describe, and their source."""
    from trigformer.flow.report.forms import SOURCE_FORM, label

    src = (section or {}).get("source")
    return label(SOURCE_FORM[src], section) if src in SOURCE_FORM else (f"({src})" if src else "")


def verification_rows(ver: dict) -> list[tuple[str, str, bool | None]]:
    """(label, text, ok) per bit-exactness comparison; ok is None for skipped ones."""
    out = []
    n = ver.get("n_events")
    if n and ver.get("bit_exact") is not None:
        out.append((f"bit-exact {tag(ver)}".strip(), f"{ver['bit_exact']}/{n} ({ver['bit_exact'] / n:.1%})",
                    ver["bit_exact"] == n))
    for key, sub in ver.items():
        if not isinstance(sub, dict):
            continue
        label = key.replace("_vs_", " vs ").replace("_", " ")
        if sub.get("bit_exact_fraction") is not None:
            f = sub["bit_exact_fraction"]
            m = sub.get("n_events", n)  # a check's own event count (HGQ2: the data plus out-of-range events)
            of = f" of {m} events" if m else ""
            out.append((label, f"{f:.1%}{of} bit-exact", f == 1.0))
        elif sub.get("failed"):
            out.append((label, f"FAILED: {sub['failed']}", False))
        elif sub.get("skipped"):
            out.append((label, f"skipped ({sub['skipped']})", None))
    return out


RTL_CHECKS = {  # report.json["rtl"] keys of the RTL comparisons (flow/rtl.py; *_keras: the HGQ2 flow, flow/hgq2.py)
    "trace_vs_emulator": "alkaid trace vs emulator",
    "trace_vs_keras": "alkaid trace vs HGQ2 Keras",
    "hls_vs_keras": "HLS C++ (csim) vs HGQ2 Keras",
    "cosim": "RTL (Verilator) vs {ref}",
}


def rtl_verification_rows(rtl: dict, shown: dict | None = None) -> list[tuple[str, str, bool | None]]:
    """(label, text, ok) per comparison of the RTL form, as verification_rows: events compared, values that differ,
    the latency Verilator measured. A check `shown` already holds (the verification section) is not repeated."""
    out = []
    ref = "HGQ2 Keras" if "trace_vs_keras" in rtl else "emulator"
    for key, label in RTL_CHECKS.items():
        sub = rtl.get(key)
        if not isinstance(sub, dict) or (shown or {}).get(key) == sub:
            continue
        label = label.format(ref=ref)
        if sub.get("failed"):
            out.append((label, f"FAILED: {sub['failed']}", False))
        elif sub.get("skipped"):
            out.append((label, f"skipped ({sub['skipped']})", None))
        elif sub.get("mismatched_values") is not None:
            bad = sub["mismatched_values"]
            text = f"{sub.get('n_events', '?')} events, " + ("every value equal" if not bad else f"{bad} values differ")
            if sub.get("measured_latency_cycles") is not None:
                text += f"; latency measured {sub['measured_latency_cycles']} cycles"
            out.append((label, text, bad == 0))
    return out


def expected_error(report: dict) -> str | None:
    return report.get("expected_error") or (report.get("estimate") or {}).get("expected_error")


def per_layer_rows(report: dict) -> list[dict]:
    """Latency and resource per-layer rows merged by name, in order of first appearance."""
    rows: dict[str, dict] = {}
    for sec in ("latency", "resources"):
        for r in (report.get(sec) or {}).get("per_layer") or []:
            rows.setdefault(r["name"], {"name": r["name"]}).update({k: v for k, v in r.items() if k != "name"})
    return list(rows.values())


CRITICAL_PATH_COLS = ("arrival", "at_output", "cycles")


def critical_path(report: dict) -> tuple[str, list[dict]]:
    """An HGQ2 design's critical path per layer (flow/hgq2.py: estimate from alkaid's arrival times): (title, rows),
    or ("", []) when the report has none."""
    cp = ((report.get("rtl") or {}).get("latency") or {}).get("critical_path") or {}
    rows = cp.get("rows") or []
    if not rows:
        return "", []
    title = (f"Critical path per layer ({cp.get('source', 'estimate')}: alkaid's arrival times at the cutoff; "
             f"cycles sum to {cp.get('sum_cycles')}, the pipeline has {cp.get('pipeline_cycles')})")
    return title, rows


def estimate_vs_rtl_rows(report: dict) -> list[dict]:
    """Per RTL unit (a layer and the elementwise layers folded into it): the estimate summed over its members beside
    the RTL figures (cycles from the RTL pipeline, LUT/DSP/FF from Yosys) and their ratio estimate / RTL. Two
    different micro-architectures (the HLS kernels vs the alkaid netlist) and two different synthesizers: the ratio
    says how far the estimate is from the one measured form we have, not an error of either. A total row ends it."""
    rtl = report.get("rtl") or {}
    est = report.get("estimate") or {}
    el = {r["name"]: r for r in (est.get("latency") or {}).get("per_layer") or []}
    er = {r["name"]: r for r in (est.get("resources") or {}).get("per_layer") or []}
    rl = {r["name"]: r for r in (rtl.get("latency") or {}).get("per_layer") or []}
    rr = {r["name"]: r for r in (rtl.get("resources") or {}).get("per_layer") or []}
    rows = []
    for unit in rtl.get("units") or []:
        name, members = unit["name"], unit.get("members") or [unit["name"]]
        row = {"unit": name, "members": members}
        for key, e_src, r_src in (("cycles", el, rl), ("LUT", er, rr), ("DSP", er, rr), ("FF", er, rr)):
            vals = [e_src[m].get(key) for m in members if m in e_src]
            e_val = sum(v for v in vals if v is not None) if vals and any(v is not None for v in vals) else None
            r_val = (r_src.get(name) or {}).get(key)
            row[key] = {"estimate": e_val, "rtl": r_val,
                        "ratio": (e_val / r_val) if e_val is not None and r_val else None}
        rows.append(row)
    if rows:
        tot = {"unit": "total", "members": []}
        for key, e_sec, r_sec in (("cycles", est.get("latency"), rtl.get("latency")),
                                  ("LUT", est.get("resources"), rtl.get("resources")),
                                  ("DSP", est.get("resources"), rtl.get("resources")),
                                  ("FF", est.get("resources"), rtl.get("resources"))):
            e_val, r_val = (e_sec or {}).get(key), (r_sec or {}).get(key)
            tot[key] = {"estimate": e_val, "rtl": r_val,
                        "ratio": (e_val / r_val) if e_val is not None and r_val else None}
        rows.append(tot)
    return rows


def fmt_pair(cell: dict) -> tuple[str, str, str]:
    """(estimate, rtl, ratio) as text; missing values stay blank."""
    def f(v):
        return "" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.0f}"

    r = cell.get("ratio")
    return f(cell.get("estimate")), f(cell.get("rtl")), "" if r is None else f"{r:.2f}"
