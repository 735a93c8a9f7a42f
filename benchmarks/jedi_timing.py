"""Re-derive the RTL delay model's ns per da4ml unit (sim/rtl/timing.py NS_PER_UNIT) from the JEDI-linear post-route
reports (flow/estimate_data/jedi_linear_timing.json) and print its error on the held-out designs.

    python -m benchmarks.jedi_timing

Fit: the median of achieved period / latency cutoff over the fit designs. The prediction of a design's achieved
period is latency_cutoff x NS_PER_UNIT; the error is (predicted - achieved) / achieved. A second, size-aware variant
(ns per unit = a + b log10 LUT, least squares on the fit designs) is printed for comparison only: the pipelining has
to choose its cut before any LUT count exists."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "flow" / "estimate_data" / "jedi_linear_timing.json"


def split(data: dict) -> tuple[list[dict], list[dict]]:
    pts = data["points"]
    return ([p for p in pts if p["particles"] in data["fit_particles"]],
            [p for p in pts if p["particles"] in data["validate_particles"]])


def fit_ns_per_unit(points: list[dict]) -> float:
    return statistics.median(p["achieved_period_ns"] / p["latency_cutoff_units"] for p in points)


def errors(points: list[dict], predict) -> list[float]:
    return [(predict(p) - p["achieved_period_ns"]) / p["achieved_period_ns"] for p in points]


def summary(errs: list[float]) -> str:
    a = [abs(e) for e in errs]
    return (f"median |error| {statistics.median(a):.1%}, max |error| {max(a):.1%}, "
            f"under-predicted {sum(e < 0 for e in errs)}/{len(errs)}")


def main() -> None:
    data = json.loads(DATA.read_text())
    fit, val = split(data)
    k = fit_ns_per_unit(fit)
    print(f"ns per da4ml unit (median of {len(fit)} fit designs): {k:.3f}")
    for name, pts in (("fit", fit), ("validation", val)):
        print(f"  constant model, {name} ({len(pts)}): {summary(errors(pts, lambda p: p['latency_cutoff_units'] * k))}")
    x = np.array([[1.0, math.log10(p["LUT"])] for p in fit])
    y = np.array([p["achieved_period_ns"] / p["latency_cutoff_units"] for p in fit])
    a, b = np.linalg.lstsq(x, y, rcond=None)[0]
    print(f"size-aware (comparison only): ns per unit = {a:.3f} + {b:.3f} log10(LUT)")
    for name, pts in (("fit", fit), ("validation", val)):
        e = errors(pts, lambda p: p["latency_cutoff_units"] * (a + b * math.log10(p["LUT"])))
        print(f"  size-aware model, {name} ({len(pts)}): {summary(e)}")


if __name__ == "__main__":
    main()
