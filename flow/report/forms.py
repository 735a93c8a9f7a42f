"""The firmware forms a run produced and the figures of each: decided here, once.

A run produces the HLS project (form `hls`: figures from the vendor tool's reports when they exist -- `csynth`,
`cosim`, `vsynth` -- else the analytical `estimate`) and, with --rtl, the RTL form (`rtl`: the RTL pipeline's depth,
Yosys's counts). report.json["forms"] has one entry per form produced; the budget judges every one of them
(flow.report.verdict). With Vivado's post-route reports of the delivered top (rtl/vivado_impl.tcl, read back by
`synth report DIR`), the RTL form's resources and timing are Vivado's (`vivado`) instead of Yosys's. The report's
top-level `latency` and `resources` (the primary figures: per-layer tables,
plots, older readers) are one form's, chosen by one rule: a vendor report of the HLS project, else the RTL form,
else the estimate. Fractions of the part come from flow.parts.fractions, the one place they are computed.
"""

from __future__ import annotations

from trigformer.flow.parts import RESOURCES, fractions

DESIGNS = {"hls": "the HLS project (hls4ml kernels, firmware/): what Vitis/Vivado HLS takes",
           "rtl": "rtl/<name>_top.v: alkaid's pipelined Verilog, II = 1"}
# hls.form trace: the HLS project is the RTL units' traces as C++ (sim/rtl/hls.py), the same operations and bindings
TRACE_DESIGN = ("the HLS project (firmware/), traced form: one function per unit from the alkaid trace the Verilog "
                "is written from (same operations, same multiplier bindings), II = 1: what Vitis/Vivado HLS takes")


def design(report: dict, name: str) -> str:
    """What a form is: the RTL section's own description when the run wrote one (an HGQ2 model's RTL is alkaid's
    whole model, flow/hgq2.py), else the flow's."""
    if name == "rtl" and (report.get("rtl") or {}).get("design"):
        return report["rtl"]["design"]
    return TRACE_DESIGN if name == "hls" and report.get("hls_form") == "trace" else DESIGNS[name]


def _sections(report: dict) -> dict[str, tuple[dict | None, dict | None]]:
    """Per form produced: its full latency and resource sections (with their per-layer rows), or None each."""
    est, ven = report.get("estimate") or {}, report.get("vendor") or {}
    out: dict[str, tuple[dict | None, dict | None]] = {}
    if "estimate" in report or ven:
        lat, res = ven.get("latency") or est.get("latency"), ven.get("resources") or est.get("resources")
    else:  # a report built without its sections (a hand-made one): its figures are the HLS project's
        lat, res = report.get("latency"), report.get("resources")
    if lat or res:
        out["hls"] = (lat or None, res or None)
    rtl = report.get("rtl") or {}
    if rtl and not rtl.get("failed"):
        lat = rtl.get("latency") if (rtl.get("latency") or {}).get("cycles") is not None else None
        res = rtl.get("resources") if (rtl.get("resources") or {}).get("source") else None  # not failed / skipped
        res = (rtl.get("vivado") or {}).get("resources") or res  # post-route, when the user ran the script
        if lat or res:
            out["rtl"] = (lat, res)
    return out


def forms_of(report: dict) -> dict[str, dict]:
    """report.json["forms"]: {form: {design, source, latency {source, cycles, ns, ii}, resources {source, LUT, FF,
    DSP, BRAM_18K, fraction, part}, variable_products {dsp, lut}}}; a figure the form does not have is None (never
    filled in; variable_products is left out)."""
    part = report.get("part")
    out = {}
    for name, (lat, res) in _sections(report).items():
        resources = None
        if res and any(k in res for k in RESOURCES):
            p = res.get("part") or part
            resources = {"source": res.get("source"), **{k: res[k] for k in RESOURCES if k in res},
                         "fraction": fractions(res, p) if p else dict(res.get("fraction") or {}), "part": p}
        latency = {k: lat[k] for k in ("source", "cycles", "ns", "ii") if k in lat} if lat else None
        out[name] = {"design": design(report, name), "source": (resources or latency or {}).get("source"),
                     "latency": latency, "resources": resources}
        products = _products(report, name)
        if products is not None:
            out[name]["variable_products"] = products
        timing = ((report.get("rtl") or {}).get("vivado") or {}).get("timing") if name == "rtl" else None
        if timing:
            out[name]["timing"] = timing
    return out


def _products(report: dict, name: str) -> dict | None:
    """The form's variable x variable products by binding ({"dsp": n, "lut": n}): the estimate's count for the HLS
    project, the traced units' for the RTL form (its manifest); None where the report has none."""
    if name == "hls":
        m = ((report.get("estimate") or {}).get("resources") or {}).get("multipliers")
        return {"dsp": int(m["dsp"]), "lut": int(m["lut"])} if m else None
    units = (report.get("rtl") or {}).get("units")
    if not units or any("var_mults" not in u for u in units):
        return None
    dsp = sum(int(u.get("dsp_mults", 0)) for u in units)
    return {"dsp": dsp, "lut": sum(int(u["var_mults"]) for u in units) - dsp}


SOURCE_FORM = {"estimate": "hls", "csynth": "hls", "cosim": "hls", "vsynth": "hls", "rtl": "rtl", "yosys": "rtl",
               "vivado": "rtl"}


def label(name: str, section: dict | None) -> str:
    """How a figure names its form and source: `hls (estimate)`, `rtl (yosys)`; the RTL form's latency (source
    `rtl`: its pipeline schedule, which Verilator measures) is `rtl (pipeline)`."""
    src = (section or {}).get("source")
    if src == "rtl":
        src = "pipeline"
    return f"{name} ({src})" if src else name


def primary(report: dict) -> tuple[dict | None, dict | None]:
    """The primary latency and resource sections: a vendor report of the HLS project, else the RTL form, else the
    estimate (each figure from the first form that has it)."""
    sec = _sections(report)
    hls, rtl = sec.get("hls", (None, None)), sec.get("rtl", (None, None))
    vendor = (hls[1] or hls[0] or {}).get("source") not in (None, "estimate")
    order = (hls, rtl) if vendor else (rtl, hls)
    lat = order[0][0] or order[1][0]
    res = order[0][1] or order[1][1]
    if res is not None:
        p = res.get("part") or report.get("part")
        res = {**res, "fraction": fractions(res, p)} if p else res
    return lat, res


def apply(report: dict) -> dict:
    """Set report["forms"] and the primary `latency` / `resources` from the report's sections (in place)."""
    report["forms"] = forms_of(report)
    lat, res = primary(report)
    if lat is not None:
        report["latency"] = lat
    if res is not None:
        report["resources"] = res
    return report
