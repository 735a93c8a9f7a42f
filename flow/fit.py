"""`synth --fit`: choose the implementation settings that meet the budget without retraining.

The knobs are per layer: the reuse factor R (how many iterations its units share hardware over: its II) and the
strategy (latency: constant weights in logic; resource: weights in ROM, shared multipliers; distributed_arithmetic:
alkaid shift-and-add kernels, R = 1 only, considered when `hls.strategy` is distributed_arithmetic, whose conversion
solves the kernels the estimate needs). Table copies follow
from R (one ROM copy per two reads of an iteration). The search runs on the analytical estimate: it starts from the
fastest point (every layer at R = 1, the configured strategy) and, while a resource is over its limit, applies the
single change that removes the most over-use per nanosecond of latency it adds, never letting a layer's II exceed
the budget's. Every point tried is recorded (the report's trade-off curve). The first feasible point is the one
with the lowest latency the greedy path reaches.

The search keeps a margin (`budget.fit_margin`): it aims at limit / (1 + m) for every resource and at
latency_ns / (1 + m_cycles), where m is by default the estimate's own held-out error band (the median |estimate /
csynth - 1| per metric: LUT 58 %, FF 92 %, DSP 5 %, cycles 13 %), so a point it calls feasible is within the budget
by the estimate's typical error. A number sets one margin for everything (0: none).

If no point meets the budget, the closest point is reported with what would have to change: the II (and so the
time-multiplexing period) at which the same search would fit, or by how much the model has to shrink; synth then
exits with the budget code (4), with or without --rtl.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from trigformer.flow.estimate import estimate
from trigformer.models.ops import BY_COST_KIND
from trigformer.models.ops.common import PARALLEL_KEYS
from trigformer.flow.report.verdict import RESOURCES

DA = "distributed_arithmetic"
DERIVED_KEYS = PARALLEL_KEYS + ("iterations",)  # what a layer's reuse factor sets: re-derived after a change


@dataclass
class FitResult:
    feasible: bool
    settings: dict[str, dict]  # layer -> {"reuse_factor": R, "strategy": s}
    estimate: dict
    tried: list[dict] = field(default_factory=list)  # {"latency_ns", "ii", LUT, DSP, FF, BRAM_18K fractions, feasible}
    advice: str | None = None
    margin: dict = field(default_factory=dict)  # {"margin": {metric: m}, "from": ..., "targets": {...}}

    def section(self) -> dict:
        lat, res = self.estimate["latency"], self.estimate["resources"]
        return {"feasible": self.feasible, "source": "estimate", "layers": self.settings, **self.margin,
                "chosen": {"latency_ns": lat["ns"], "cycles": lat["cycles"], "ii": lat["ii"],
                           **{k: res[k] for k in RESOURCES}, "fraction": res["fraction"]},
                "points_tried": self.tried, "advice": self.advice,
                "method": "greedy on the estimate from every layer at reuse 1: the change removing the most resource "
                          "over-use per ns of added latency, II never above the budget's"}


def _op(layer: dict):
    """The op of a layer description (None for the input)."""
    return BY_COST_KIND.get(layer["kind"])


def _tunable(layer: dict) -> bool:
    return bool(_op(layer) and _op(layer).tunable)


def _weighted(layer: dict) -> bool:
    return bool(_op(layer) and _op(layer).weighted)


def _apply(layers: list[dict], settings: dict[str, dict]) -> list[dict]:
    out = []
    for layer in layers:
        s = settings.get(layer["name"])
        if s is not None:
            layer = {k: v for k, v in layer.items() if k not in DERIVED_KEYS}  # re-derived from R
            layer.update(reuse_factor=s["reuse_factor"], strategy=s["strategy"])
        out.append(layer)
    return out


def _strategies(layer: dict) -> list[str]:
    """The strategies a weighted layer can take: DA where its description has alkaid's figures (a conversion with
    strategy distributed_arithmetic solved its kernels)."""
    return ["latency", "resource"] + ([DA] if layer.get("da") else [])


def _over(est: dict, limits: dict) -> float:
    fr = est["resources"]["fraction"]
    return sum(max(0.0, fr[k] - limits[k]) for k in RESOURCES)


def _point(est: dict, limits: dict, budget: dict) -> dict:
    lat, fr = est["latency"], est["resources"]["fraction"]
    ok = _over(est, limits) == 0 and lat["ii"] <= budget["ii"] and lat["ns"] <= budget["latency_ns"]
    return {"latency_ns": lat["ns"], "ii": lat["ii"], **{k: round(fr[k], 4) for k in RESOURCES}, "feasible": ok}


def _greedy(layers, clock_ns, part, budget, limits, start, max_ii, tried):
    settings = copy.deepcopy(start)
    est = estimate(_apply(layers, settings), clock_ns, part, band=False)
    tried.append(_point(est, limits, budget))
    while _over(est, limits) > 0:
        best = None
        for name, s in settings.items():
            layer = next(l for l in layers if l["name"] == name)
            shared = "latency" if s["strategy"] == DA else s["strategy"]  # DA is II = 1 only
            moves = [{**s, "reuse_factor": r, "strategy": shared}
                     for r in range(s["reuse_factor"] + 1, max_ii + 1)][:4]
            if _weighted(layer):
                moves += [{**s, "strategy": st} for st in _strategies(layer)
                          if st != s["strategy"] and (st != DA or s["reuse_factor"] == 1)]
            for m in moves:
                trial = {**settings, name: m}
                e = estimate(_apply(layers, trial), clock_ns, part, band=False)
                if e["latency"]["ii"] > max_ii:
                    continue
                gain = _over(est, limits) - _over(e, limits)
                if gain <= 1e-12:
                    continue
                cost = max(e["latency"]["ns"] - est["latency"]["ns"], 0.0) + 1e-3
                score = gain / cost
                if best is None or score > best[0]:
                    best = (score, trial, e)
        if best is None:
            break
        _, settings, est = best
        tried.append(_point(est, limits, budget))
    return settings, est


def margins(budget: dict) -> tuple[dict[str, float], str]:
    """Relative margin per metric (LUT, FF, DSP, BRAM_18K, cycles) from budget["fit_margin"] (absent: none)."""
    m = budget.get("fit_margin", 0.0)
    if m == "band":
        from trigformer.flow.estimate import error_band

        band = error_band("holdout")
        return ({k: band[k]["median"] if k in band else 0.0 for k in (*RESOURCES, "cycles")},
                "the estimate's held-out error band (median |estimate/csynth - 1| per metric; BRAM_18K has none)")
    return {k: float(m) for k in (*RESOURCES, "cycles")}, "budget.fit_margin"


def fit(layers: list[dict], clock_ns: float, part: str, budget: dict, strategy: str = "latency") -> FitResult:
    """`layers`: flow.convert.layer_descriptions of the model; `budget`: Config.budget_dict() (its fit_margin: the
    search aims below every limit by that margin; see the module doc)."""
    margin, why = margins(budget)
    limits = {k: budget["max_fraction"][k] / (1 + margin[k]) for k in RESOURCES}
    budget = {**budget, "latency_ns": budget["latency_ns"] / (1 + margin["cycles"])}
    start = {l["name"]: {"reuse_factor": 1, "strategy": strategy if _weighted(l) else "latency"}
             for l in layers if _tunable(l)}
    tried: list[dict] = []
    settings, est = _greedy(layers, clock_ns, part, budget, limits, start, budget["ii"], tried)
    ok = _point(est, limits, budget)["feasible"]
    advice = None
    if not ok:
        advice = _advice(layers, clock_ns, part, budget, limits, est, start)
    targets = {"latency_ns": round(budget["latency_ns"], 3), **{k: round(limits[k], 4) for k in RESOURCES}}
    return FitResult(ok, settings, est, tried, advice, {"margin": margin, "margin_from": why, "targets": targets})


def _advice(layers, clock_ns, part, budget, limits, est, start) -> str:
    """What would have to change: a larger II (time-multiplexing), or a smaller model."""
    fr = est["resources"]["fraction"]
    worst = max(RESOURCES, key=lambda k: fr[k] - limits[k])
    lat = est["latency"]
    msgs = []
    if _over(est, limits) > 0:
        msgs.append(f"at II {budget['ii']} the closest point still needs {fr[worst]:.0%} of the part's {worst} "
                    f"(target {limits[worst]:.0%}: the limit less the fit margin)")
        most = max(_op(l).units(l) for l in layers if _tunable(l))  # beyond this, a larger II shares nothing
        for ii in sorted({min(most, budget["ii"] * f) for f in (2, 4, 8, 16)} - {budget["ii"]}):
            if ii <= budget["ii"]:
                continue
            s, e = _greedy(layers, clock_ns, part, budget, limits, start, ii, [])
            if _over(e, limits) == 0:
                tm = -(-ii * clock_ns // budget.get("bunch_crossing_ns", 25.0))
                msgs.append(f"it would fit at II {ii} ({e['latency']['ns']:g} ns latency; e.g. budget.time_multiplexing"
                            f" {int(tm)} at this clock)")
                break
        else:
            msgs.append(f"no II fits (at II {most} every unit of the largest layer is already shared): shrink the model "
                        f"(fewer tokens, heads or blocks, narrower types) by about {fr[worst] / limits[worst]:.1f}x in "
                        f"{worst}, or use a larger part")
    if lat["ns"] > budget["latency_ns"]:
        msgs.append(f"latency {lat['ns']:g} ns exceeds the target {budget['latency_ns']:g} ns (the budget less the fit "
                    "margin): a shallower model or a faster clock")
    return "; ".join(msgs)
