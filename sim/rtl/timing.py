"""The RTL form's delay model: how many delay units fit in a clock period, where the variable products go
(LUT or DSP48E2, `hls.multipliers`), and the timing proxy read from Yosys's logic depth. An estimate of timing, not
closure: only vendor place-and-route says whether a stage meets the clock.

The delay unit is da4ml 0.5.2's (trace/fixed_variable.py, traced with HWConfig(1, -1, -1)), the unit NS_PER_UNIT is
fitted in, computed on alkaid's traces by models/ops/trace_common.py unit_delays: one adder of any width (its carry
chain counts as one unit), a table lookup of b input bits max(b - 6, 1) units, a variable product of wa x wb bits
max(wa, wb) units (a shift-and-add array). `bind_products` closes a stage every `cutoff` units; alkaid's
to_pipeline writes the cut. (alkaid's own surrogate delays are in another unit, not the one calibrated here.)

Calibration (flow/estimate_data/jedi_linear_timing.json, `benchmarks/jedi_timing.py` re-derives it): the 20
JEDI-linear designs (calad0i/JEDI-linear, da4ml, xcvu13p) were pipelined at 2 units per stage and routed by Vivado at a
2 ns target; their achieved periods are 2.59 to 4.92 ns. NS_PER_UNIT is the median achieved period / 2 of the 12
designs with 8, 32 and 128 particles; the 8 designs with 16 and 64 particles validate it (README: timing proxy).
"""

from __future__ import annotations

import math
import re

from trigformer.models.ops.costmodel import T_DSP as T_DSP_COMB  # ns, DSP48E2 multiply without internal registers
from trigformer.models.ops.costmodel import var_on_dsp as on_dsp  # the one multiplier rule
from trigformer.models.ops.trace_common import _width, unit_delay

NS_PER_UNIT = 1.657  # fitted: achieved post-route ns per delay unit (median of the JEDI-linear fit designs)
MIN_CUTOFF = 1.0  # one adder is the smallest thing a stage can hold
# The timing proxy's path delays. T_LUT_LEVEL is calibrated: a da4ml unit (one adder) is one LUT level plus its carry
# chain, measured as the median full stage Yosys maps (tiny test models at 3.018 units per stage: 3 LUT levels and 5
# CARRY4 on the longest path); the carry, MUXF and DSP figures are model assumptions (UltraScale+ -2).
T_CARRY4 = 0.05  # ns per CARRY4 on the path (assumption: a CARRY8 propagates 8 bits in ~0.1 ns)
CARRY4_PER_UNIT = 5 / 3  # measured (above)
T_LUT_LEVEL = round(NS_PER_UNIT - CARRY4_PER_UNIT * T_CARRY4, 3)  # ns per LUT level, routing included
T_MUXF = 0.1  # ns per MUXF7/8/9 on the path (assumption)
T_DSP_ROUTE = 0.6  # ns, routing into the DSP48E2 and setup (assumption)
DSP_MAX_STAGES = 3  # the DSP48E2's own multiply registers: AREG/BREG, MREG, PREG
LABEL = "timing estimate (logic depth), not closure"


def cutoff_for(clock_ns: float) -> float:
    """The stage limit in delay units at a clock period: the units that fit in one period at NS_PER_UNIT."""
    return max(MIN_CUTOFF, round(clock_ns / NS_PER_UNIT, 3))


def dsp_stages(clock_ns: float) -> int:
    """Register levels a DSP48E2 product needs at this clock: its multiply and routing delay in whole periods (at
    most the DSP48E2's three multiply registers)."""
    return min(DSP_MAX_STAGES, max(1, math.ceil((T_DSP_COMB + T_DSP_ROUTE) / clock_ns)))


def bind_products(comb, cutoff: float, clock_ns: float, policy: str):
    """`comb` with every operation dated by its pipeline stage (1, 2, ...: alkaid's to_pipeline at one unit per stage
    cuts there). Arrival times in the calibrated unit (models/ops/trace_common.py unit_delays); an operation whose
    delay would cross a stage boundary starts on it (da4ml's tracer rule under a latency cutoff), so no stage holds
    more than `cutoff` units. (da4ml 0.5.2's to_pipeline without retiming, which stop 24 used for units with DSP48E2
    products, cut at floor(arrival / cutoff) instead: its attention unit had a 4-unit stage at 3.018, one cycle
    shorter.) A DSP48E2 product starts on a stage boundary and
    takes dsp_stages(clock) whole stages (its operands registered, its result registered; Vivado's DSP inference
    absorbs those registers as AREG/BREG, MREG, PREG); a LUT product keeps max(wa, wb) units. Returns
    (comb, {"dsp": n, "lut": n})."""
    ops = comb.ops
    t: list[float] = []
    n = {"dsp": 0, "lut": 0}
    k = dsp_stages(clock_ns)
    eps = 1e-9
    for op in ops:
        base = max((t[a] for a in op.addr), default=0.0)
        d = unit_delay(op, ops)
        if op.opcode == 7 and on_dsp(_width(ops[op.addr[0]].qint), _width(ops[op.addr[1]].qint), policy):
            n["dsp"] += 1
            first = math.floor(base / (cutoff + eps)) + 1  # the stage after the operands' stage
            t.append((first + k) * cutoff)  # stage first + k: its result registered
            continue
        if op.opcode == 7:
            n["lut"] += 1
        end = base + d
        if d and math.ceil(end / cutoff - eps) > math.ceil(base / cutoff - eps):
            end = math.ceil(base / cutoff - eps) * cutoff + d  # starts on the boundary it would cross
        t.append(end)
    staged = [op._replace(latency=float(max(1, math.ceil(x / cutoff - eps)))) for op, x in zip(ops, t)]
    return comb._replace(ops=staged), n


# ---- the timing proxy: the longest path Yosys finds in a mapped stage module (`ltp -noff` after synth_xilinx)

MARKS = ("carry", "muxf", "dsp", "table")
LTP_SCRIPT = ["ltp -noff",
              "log @@carry", "select -list t:CARRY4 t:CARRY8",
              "log @@muxf", "select -list t:MUXF7 t:MUXF8 t:MUXF9",
              "log @@dsp", "select -list t:DSP48E2",
              "log @@table", "select -list t:*_table_*",
              "log @@end"]
_LTP_HEAD = re.compile(r"^Longest topological path in (\S+) \(length=(\d+)\):")
_VIA = re.compile(r"\(via (.+)\)\s*$")


def parse_ltp(log: str, top: str) -> dict:
    """{"lut_levels", "carry4", "muxf", "dsp", "tables", "length"} of the longest path of `top` in a Yosys log of
    LTP_SCRIPT. A lookup-table instance on the path counts as the deepest table module's own path length in LUT
    levels."""
    lines = log.splitlines()
    paths: dict[str, list[str]] = {}
    lengths: dict[str, int] = {}
    typed = {m: set() for m in MARKS}
    cur, mark = None, None
    for line in lines:
        m = _LTP_HEAD.match(line.strip())
        if m:
            cur = m[1].lstrip("\\")
            lengths[cur] = int(m[2])
            paths[cur] = []
            continue
        s = line.strip()
        if s.startswith("@@"):
            mark = s[2:] if s[2:] in MARKS else None
            cur = None
            continue
        if cur is not None:
            v = _VIA.search(s)
            if v:
                paths[cur].append(v[1])
            elif not re.match(r"^\d+:", s):
                cur = None
        elif mark and "/" in s and " " not in s.partition("/")[0] and not s.startswith(("select ", "log ")):
            # a `module/cell` line of `select -list` (not a command echo: a module may well be named logic<k>)
            mod, _, cell = s.partition("/")
            typed[mark].add(cell)
    path = paths.get(top, [])
    table_depth = max([n for mod, n in lengths.items() if "_table_" in mod], default=1)
    out = {"length": lengths.get(top, 0), "lut_levels": 0, "carry4": 0, "muxf": 0, "dsp": 0, "tables": 0}
    for cell in path:
        if cell in typed["carry"]:
            out["carry4"] += 1
        elif cell in typed["muxf"]:
            out["muxf"] += 1
        elif cell in typed["dsp"]:
            out["dsp"] += 1
        elif cell in typed["table"]:
            out["tables"] += 1
            out["lut_levels"] += max(1, table_depth)
        else:
            out["lut_levels"] += 1
    return out


def path_ns(depth: dict) -> float:
    """The proxy's delay of one stage's longest path (register to register)."""
    return round(depth["lut_levels"] * T_LUT_LEVEL + depth["carry4"] * T_CARRY4 + depth["muxf"] * T_MUXF
                 + depth["dsp"] * T_DSP_COMB, 3)


def judge(stages: list[dict], clock_ns: float) -> dict:
    """The proxy's verdict on a unit's stages ([{"stage", **depth}]): each stage's path_ns, the worst stage and the
    stages deeper than the clock allows."""
    rows = [{**s, "path_ns": path_ns(s)} for s in stages]
    worst = max(rows, key=lambda r: r["path_ns"], default=None)
    return {"stages": rows, "worst": worst, "too_deep": [r["stage"] for r in rows if r["path_ns"] > clock_ns]}


def model_description(clock_ns: float, cutoff: float, derived: bool, policy: str) -> str:
    src = (f"derived from the clock: {clock_ns} ns / {NS_PER_UNIT} ns per unit" if derived
           else "set by rtl.latency_cutoff")
    return (f"pipelining at {cutoff} delay units per stage ({src}; one unit = one adder, a table lookup of b "
            f"input bits max(b - 6, 1), a LUT product of wa x wb bits max(wa, wb)); variable products bound by "
            f"hls.multipliers: {policy} (a DSP48E2 product takes {dsp_stages(clock_ns)} registered stage(s) at this "
            f"clock). Cycles from the input register to the output register: a unit of N stages adds N (only the "
            f"network's input is registered on its way in; a later unit reads the previous unit's output register); "
            f"the per-unit cycles sum to the total. II = 1. "
            f"{LABEL}: NS_PER_UNIT is fitted on published Vivado post-route periods (JEDI-linear); timing closure "
            f"needs vendor place-and-route.")
