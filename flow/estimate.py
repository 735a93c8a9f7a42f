"""Analytical latency / resource estimate of a trigformer HLS project, for when no vendor report exists yet.

Every figure this module returns is labelled ``"source": "estimate"``. It is a model of how Vivado/Vitis HLS
schedules and binds the io_parallel, fully pipelined layers (``#pragma HLS PIPELINE II=reuse_factor``) that
trigformer emits; it is *not* a synthesis result. Replace it with ``flow.vendor.parse_vendor_reports`` as soon as
a csynth report exists.

Latency (critical path, chained operations)
    Usable period ``t = clock_ns * (1 - 12.5 %)`` (hls4ml's default clock uncertainty). Each layer is a chain of
    operations with assumed UltraScale+ (-2) delays (model constants, not vendor characterisation data):
    adder ``0.45 + 0.025*w`` ns for ``w`` bits, comparator+mux = adder + 0.4 ns, DSP48E2 product 2.4 ns,
    LUT product ``0.5 + 0.06*(wa+wb)`` ns (so at or below the DSP threshold a LUT product is never slower than a
    DSP one), ROM address mux 0.4 ns. Reductions over ``n`` values are balanced trees of depth ``ceil(log2 n)``. Operations are packed greedily into clock cycles, the way
    the HLS scheduler chains them: a new cycle starts when the next operation no longer fits, so a 200 MHz clock
    fits fewer chained adders per cycle than 100 MHz. A block-RAM table read is registered (it ends a cycle and
    its data arrive 1.0 ns into the next). Layers with weights or tables (dense, mha, layernorm, softmax, pool)
    end on a register; activations and residual adds chain into the next layer. With reuse factor ``R`` each of
    those layers takes ``R - 1`` more cycles (the shared multipliers run ``R`` times) and its II is ``R``; the
    network II is the largest layer II. Latency in ns = cycles * clock_ns.

Multipliers (DSP or LUT, as HLS binds them by operand width)
    var x var: both operands <= 10 bits -> LUTs (``ceil(wa*wb/2) + wa + wb`` LUTs), otherwise DSP48E2 27x18
    (``ceil(wa/27)*ceil(wb/18)`` DSPs, wider operand on the 27-bit port).
    const x var (weights in latency strategy, reuse 1): weight <= 10 bits -> shift-and-add in LUTs
    (``ceil(wb/3) - 1`` adders of ``wa + wb/2`` bits: a wb-bit constant has ~wb/3 nonzero canonical-signed
    digits); wider weights -> DSP for a fraction ``CONST_DSP_FRACTION = 0.75`` of the products, the rest become one
    ``wa+wb``-bit adder (HLS turns "simple" constants into shifts). That fraction is *fitted* to the two hls4ml
    reports in tests/test_estimate.py (65 % and 91 % there). Crossing the 10-bit threshold moves products from
    LUTs to DSPs, so LUT use drops there (as it does in HLS); DSP, FF and BRAM never decrease with width.
    With reuse > 1 a multiplier serves several weights, so weights become a multiplexed variable and the product
    is var x var; the number of multipliers is ``ceil(products / R)``. Zero weights cost nothing (uses
    ``n_nonzero_weights``). Sharing adds a ``R:1`` operand multiplexer (``(wa+wb) * ceil(log2 R) / 2`` LUTs).

Other LUT / FF / BRAM
    Adders: 1 LUT per bit (carry chain); an n-input dot product with bias is n adders of ``accum_bits``.
    ReLU / cast: ``0.875 * (in_bits + out_bits)`` LUTs per value (fitted to the same hls4ml report).
    Flip-flops: each register boundary inside a layer holds the stage's operands and partial results
    (``2 * live_bits / R``: a shared datapath is R times narrower), plus the layer's output register
    (``values * out_bits``).
    Tables (softmax exp / 1/sum, LayerNorm 1/sqrt): each lookup in one II needs a read port. A table copy of at
    most ``LUTROM_MAX_BITS = 1024`` bits is a distributed ROM (per port ``bits * (k + k//4)`` LUTs, ``k =
    ceil(entries/64)``); larger ones are dual-port BRAM_18K ROMs (``ceil(lookups/2)`` copies, each the cheapest
    of the 16Kx1 ... 512x36 aspect ratios). The threshold is a model assumption (HLS picks per array).
    Resource strategy with ``R >= 2`` stores weights in BRAM_18K (depth ``R``, width ``ceil(n_weights/R) *
    weight_bits``), or LUT-ROM under the same threshold; latency strategy keeps weights as constants in logic.

Distributed arithmetic (``strategy: distributed_arithmetic``, models/ops/da.py)
    A layer's constant-weight products are alkaid shift-and-add kernels, one per token: no DSP; LUT = alkaid's own
    cost of the solved graph (the adder bits it counts) times the kernel's instances; on the critical path the
    kernel's adder depth (in adders) at the accumulator width's adder delay. These are computed
    figures of the solved graph, neither fitted nor validated against HLS synthesis; `--rtl` synthesizes the same
    graphs with Yosys.

Input conventions (flow.convert.layer_descriptions): ``table_entries`` is the total over a layer's tables (softmax
and mha: exp and 1/sum of equal size; layernorm: 1/sqrt); ``n_weights`` may or may not include biases (both are
recognised from the shapes); a pool layer reduces ``n_tokens_in`` tokens (default: the previous layer's
``n_tokens``) and is a max pool when ``"pool": "max"`` (else mean). Layer internals not in the graph export are
taken from the trigformer templates: q/k/v/context are ``qkv_bits`` wide and probabilities ``prob_bits`` (the spec's
qkv_t / prob_t, which flow.convert records; a description without them: ``out_bits``), the fixed constants
(1/sqrt(d), 1/n, 1/dim) 18 bits, except 1/dim of a power-of-two dim (one bit: a shift, no multiplier), LayerNorm's
x - mean ``in_bits + 1``, a missing ``accum_bits`` 24.

Validation (tests/test_estimate.py, data: estimate_data/published_hls4ml.json). 34 published hls4ml csynth
reports of dense networks (io_parallel), each read from the file at the commit its source URL names, split by
family: the two fitted constants (``const_dsp_fraction``, ``ff_live_factor``) are fitted on the 15 points of one
family (``fit``); the error band every estimate carries (``expected_error``) is measured only on the 19 others
(pruned, quantized, reuse-factor sweeps, other shapes): |estimate/csynth - 1| cycles median 13 % (max 50 %), DSP
5 % (98 %), LUT 58 % (133 %), FF 92 % (5589 %). Transformer layers (mha, layernorm, table softmax) have no
published per-layer synthesis figures: their estimates extrapolate the same operator model; ``synth --rtl``
compares them with Yosys on the RTL form (report.json["rtl"]["vs_estimate"]).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path as FilePath

from trigformer.flow.parts import fractions, resolve_part
from trigformer.models.ops import BY_COST_KIND
from trigformer.models.ops.costmodel import (AUTO_LUT_BITS, CLOCK_UNCERTAINTY, DSP_NARROW_BITS, FITTED, LUTROM_MAX_BITS, Fitted,
                                  Path, Res)

DA_METHOD = ("distributed_arithmetic layers: DSP 0; LUT = alkaid's cost of each solved shift-and-add graph (its adder "
             "bits) x the kernel's instances per inference, a computed figure of the graph, not synthesis; latency = "
             "the graph's adder depth, each adder at the accumulator width's delay, chained into the clock")
PUBLISHED = FilePath(__file__).parent / "estimate_data" / "published_hls4ml.json"
METRICS = ("cycles", "DSP", "LUT", "FF")


def _layer(layer: dict, path: Path, k: Fitted = FITTED) -> tuple[Res, int, bool, int]:
    """Add one layer's ops to `path`; return (resources, reuse factor, ends on a register, live bits)."""
    op = BY_COST_KIND.get(layer["kind"])
    if op is None:
        raise ValueError(f"layer {layer.get('name')!r}: unknown kind {layer['kind']!r}")
    r = Res(k)
    reuse, ends, live = op.cost(layer, path, r)
    return r, reuse, ends, live


def estimate(layers: list[dict], clock_ns: float, part: str, fitted: Fitted = FITTED, band: bool = True) -> dict:
    """Estimate latency and resources of `layers` (dataflow order) at `clock_ns` on `part`. See module doc.
    `band`: include the expected error measured on held-out published reports (the validation itself leaves it
    out)."""
    if clock_ns <= 0:
        raise ValueError("clock_ns must be positive")
    full_name, _ = resolve_part(part)
    path = Path(clock_ns * (1 - CLOCK_UNCERTAINTY))
    lat_rows, res_rows = [], []
    tot = {"DSP": 0, "LUT": 0, "FF": 0, "BRAM_18K": 0}
    mults = {"dsp": 0, "lut": 0}
    da_lut = 0
    ii_net = 1
    prev = None
    for layer in layers:
        op = BY_COST_KIND.get(layer["kind"])
        layer, prev = (op.after(layer, prev) if op else layer), layer
        before = path.cycles
        r, reuse, ends, live = _layer(layer, path, fitted)
        ii = reuse
        if ends:
            path.reg()
            path.cycles += reuse - 1  # the shared multipliers run `reuse` times
        cycles = path.cycles - before
        n_vals = int(layer.get("n_tokens", 1)) * int(layer.get("n_out", 0))
        inner = max(0, cycles - (reuse - 1) - 1)  # register boundaries inside the layer's datapath
        ff = fitted.ff_live_factor * live * inner / reuse + (n_vals * int(layer.get("out_bits", 16)) if ends else 0)
        row = {"name": layer["name"], "DSP": math.ceil(r.dsp), "LUT": math.ceil(r.lut), "FF": math.ceil(ff),
               "BRAM_18K": int(r.bram), "mult_dsp": r.n_dsp_mult, "mult_lut": r.n_lut_mult}
        if r.da_lut:
            row["LUT_da"] = math.ceil(r.da_lut)  # of LUT: alkaid's cost of the layer's DA kernels
            da_lut += row["LUT_da"]
        res_rows.append(row)
        for k in tot:
            tot[k] += row[k]
        mults["dsp"] += r.n_dsp_mult
        mults["lut"] += r.n_lut_mult
        ii_net = max(ii_net, ii)
        lat_rows.append({"name": layer["name"], "cycles": cycles, "ns": round(cycles * clock_ns, 3), "ii": ii})
    path.reg()
    cycles = path.cycles
    return {
        "latency": {
            "source": "estimate",
            "method": (f"critical path chained into {clock_ns:g} ns cycles ({1 - CLOCK_UNCERTAINTY:.1%} usable), "
                       "UltraScale+ operator delays, adder trees log2(n), BRAM reads registered, +R-1 cycles and "
                       "II=R per reuse factor R"),
            "cycles": int(cycles), "ns": round(cycles * clock_ns, 3), "ii": int(ii_net), "per_layer": lat_rows,
        },
        "resources": {
            "source": "estimate",
            "method": ("variable x variable products bound by hls.multipliers (auto: LUT when both operands <= "
                       f"{AUTO_LUT_BITS} bits), other multipliers by operand width (both <= {DSP_NARROW_BITS} bits or "
                       "narrow constants -> LUT, else DSP48E2 27x18), ceil(products/R) instances, adders 1 LUT/bit, FF at register "
                       f"boundaries, tables > {LUTROM_MAX_BITS} bits and resource-strategy weights -> BRAM_18K"),
            **tot,
            "fraction": fractions(tot, full_name),
            "part": full_name,
            "multipliers": mults,
            **({"da_lut": da_lut, "da_lut_method": DA_METHOD} if da_lut else {}),
            "per_layer": res_rows,
        },
        "expected_error": expected_error() if band else None,
    }


# ----------------------------------------------------------------------------------------------------------------
# Validation against published hls4ml csynth reports: fit on one split, measure the error band on the other
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def published_points() -> tuple[dict, ...]:
    return tuple(json.loads(PUBLISHED.read_text())["points"])


def describe_published(p: dict) -> list[dict]:
    """The cost model's layer descriptions of a published dense network."""
    first = p["layers"][0]
    out = [{"name": "input", "kind": "input", "n_tokens": 1, "n_in": first["n_in"], "n_out": first["n_in"]}]
    for l in p["layers"]:
        d = {"name": l["name"], "n_tokens": 1, "n_in": l["n_in"], "n_out": l["n_out"], "in_bits": l["in_bits"],
             "out_bits": l["out_bits"], "strategy": p["strategy"], "reuse_factor": p["reuse_factor"]}
        if l["kind"] == "dense":
            n = l["n_in"] * l["n_out"] + l["n_out"]
            d.update(kind="dense", weight_bits=l["weight_bits"], accum_bits=l["accum_bits"], n_weights=n,
                     n_nonzero_weights=round(n * (1 - l["sparsity"])))
        elif l.get("activation") == "softmax":
            d.update(kind="softmax", table_entries=l["table_entries"], table_bits=l["table_bits"])
        else:
            d.update(kind="activation", activation=l["activation"])
        out.append(d)
    return out


def relative_errors(points, k: Fitted = FITTED) -> list[dict]:
    """Per point: estimate / csynth - 1 for latency cycles, DSP, LUT and FF (None where csynth reports 0)."""
    rows = []
    for p in points:
        e = estimate(describe_published(p), p["clock_ns"], p["part"], k, band=False)
        got = {"cycles": e["latency"]["cycles"], **{m: e["resources"][m] for m in ("DSP", "LUT", "FF")}}
        rows.append({"id": p["id"], "split": p["split"],
                     **{m: (got[m] / p["csynth"][m] - 1) if p["csynth"][m] else None for m in METRICS}})
    return rows


def _loss(rows: list[dict]) -> float:
    return sum(math.log(1 + r[m]) ** 2 for r in rows for m in ("DSP", "LUT", "FF") if r[m] is not None)


FIT_GRID = {"const_dsp_fraction": [x / 20 for x in range(4, 21)], "ff_live_factor": [x / 4 for x in range(1, 33)]}


def fit() -> Fitted:
    """The constants minimising the squared log error of DSP, LUT and FF over the `fit` split (coordinate-wise
    grid search from the current values, until nothing moves; deterministic)."""
    pts = [p for p in published_points() if p["split"] == "fit"]
    best = FITTED
    for _ in range(5):
        moved = False
        for name, grid in FIT_GRID.items():
            cands = [Fitted(**{**best.__dict__, name: v}) for v in grid]
            new = min(cands, key=lambda c: (_loss(relative_errors(pts, c)), abs(getattr(c, name) - getattr(best, name))))
            moved |= new != best
            best = new
        if not moved:
            break
    return best


def error_band(split: str = "holdout", k: Fitted = FITTED) -> dict:
    """{metric: {"median": ..., "max": ..., "n": ...}} of |estimate / csynth - 1| over a split's points."""
    rows = [r for r in relative_errors([p for p in published_points() if p["split"] == split], k)]
    band = {}
    for m in METRICS:
        v = sorted(abs(r[m]) for r in rows if r[m] is not None)
        if v:
            band[m] = {"median": round(v[len(v) // 2], 2), "max": round(v[-1], 2), "n": len(v)}
    return band


@lru_cache(maxsize=1)
def expected_error() -> str:
    """The error band every estimate carries: measured on held-out published reports, never on the fit points."""
    b = error_band("holdout")
    n = len([p for p in published_points() if p["split"] == "holdout"])
    parts = ", ".join(f"{m} median {b[m]['median']:.0%} (max {b[m]['max']:.0%})" for m in METRICS if m in b)
    return (f"dense networks, {n} held-out published hls4ml csynth reports (other families than the "
            f"{len(published_points()) - n} fitted on): |estimate/csynth - 1| {parts}; attention, softmax and norm "
            "layers are compared with Yosys on the RTL form instead (different micro-architecture and synthesizer)")
