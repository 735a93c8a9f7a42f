"""Stage: latency and resources of the HLS project. The analytical estimate always; the vendor tool's reports when
asked for (and found in the project). Which figures are primary is decided once, by flow.report.forms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cost:
    estimate: dict  # flow.estimate.estimate(): latency, resources, expected_error (source: estimate)
    vendor: dict | None = None  # parsed vendor reports
    vendor_error: str | None = None  # the vendor run failed (the project and the estimate are kept)


def run_vendor_tool(project: Path, backend: str, cosim: bool, vsynth: bool) -> str | None:
    """Run C synthesis (+ cosim / vsynth) with the vendor tool; returns an error message instead of raising."""
    from trigformer.flow.vendor import VendorBuildFailed, run_vendor

    try:
        run_vendor(project, backend, synth=True, cosim=cosim, vsynth=vsynth)
    except VendorBuildFailed as e:
        return str(e)
    return None


def cost(layers: list[dict], project: Path, backend: str, clock_ns: float, part: str,
         vendor_error: str | None = None, traced: list | None = None, multipliers: str = "auto",
         cutoff: float | None = None) -> Cost:
    """`traced`: hls.form trace's units (sim/rtl/hls.py): the estimate is then the traces' own figures."""
    from trigformer.flow.estimate import estimate
    from trigformer.flow.vendor import parse_vendor_reports

    if traced:
        from trigformer.sim.rtl.hls import estimate as traced_estimate

        est = traced_estimate(traced, layers[0]["name"], clock_ns, part, multipliers, cutoff)
    else:
        est = estimate(layers, clock_ns, part)
    vendor = parse_vendor_reports(project, backend)
    return Cost(est, vendor, vendor_error)
