"""Operator-level cost model shared by every op's `cost` (see flow/estimate.py for the method and its validation).

Delays are assumed UltraScale+ (-2) figures (model constants, not vendor characterisation data); resources are
counted per operator by operand width. `Path` packs chained operator delays into clock cycles the way the HLS
scheduler chains them; `Res` tallies one layer's DSP, LUT and BRAM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CLOCK_UNCERTAINTY = 0.125  # hls4ml's default ClockUncertainty (12.5 %)
DSP_NARROW_BITS = 10  # a shared constant-weight product (reuse > 1), both operands at or below this -> LUT multiplier
MULTIPLIERS = ("auto", "lut", "dsp")  # hls.multipliers: the binding of every variable x variable product
AUTO_LUT_BITS = 4  # auto: a variable product goes to LUTs when both operands have <= 4 bits (Yosys's LUT array of a
# 4 x 4 product is a few LUTs; wider ones are cheaper on a DSP48E2)
DSP_MIN_BITS = 2  # a product with a 1-bit operand is an AND gate: never a DSP48E2 (Yosys mul2dsp's minimum too)
LUTROM_MAX_BITS = 1024  # a table copy at or below this many bits is distributed ROM
SCALE_BITS = 18  # width of the fixed constants in the templates (1/sqrt(d), 1/n, 1/dim)
T_DSP = 2.4  # ns, DSP48E2 multiply without internal pipeline registers
T_MUX = 0.4  # ns, one LUT level (ReLU select, ROM address saturation)
T_BRAM_CO = 1.0  # ns, BRAM clock-to-out before the data can be used
_BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


@dataclass(frozen=True)
class Fitted:
    """The cost model's fitted constants. Their values are those `flow.estimate.fit()` finds on the `fit` split of
    published hls4ml reports (flow/estimate_data/published_hls4ml.json); tests/test_estimate.py re-runs the fit."""

    const_dsp_fraction: float = 0.8  # fitted: share of wide-constant products HLS puts on a DSP
    relu_lut_per_bit: float = 0.875  # model assumption (not fitted): LUTs per (input + output) bit of a ReLU/cast
    ff_live_factor: float = 8.0  # fitted: flip-flops per live bit at a register boundary inside a layer


FITTED = Fitted()


def var_on_dsp(wa: int, wb: int, policy: str = "auto") -> bool:
    """The one multiplier rule (hls.multipliers) for a variable x variable product of wa x wb bits, used by the RTL
    (sim/rtl/timing.py), the HLS C++ (models/ops/hls_common.py mul_impl), the estimate and --fit: lut -> never a
    DSP48E2; dsp -> whenever both operands have >= 2 bits; auto -> when either operand has more than 4 bits."""
    if policy not in MULTIPLIERS:
        raise ValueError(f"hls.multipliers must be one of {', '.join(MULTIPLIERS)}, got {policy!r}")
    if min(wa, wb) < DSP_MIN_BITS or policy == "lut":
        return False
    return policy == "dsp" or max(wa, wb) > AUTO_LUT_BITS


def t_add(w: float) -> float:
    return 0.45 + 0.025 * w


def t_mul(wa: int, wb: int, dsp: bool) -> float:
    return T_DSP if dsp else 0.5 + 0.06 * (wa + wb)


def depth(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def bram18(depth_: int, width: int) -> int:
    return min(math.ceil(depth_ / d) * math.ceil(width / w) for d, w in _BRAM18_SHAPES)


@dataclass(frozen=True)
class Dims:
    """The sizes and widths of a layer description, with the cost model's defaults for missing ones."""

    n_tok: int
    n_in: int
    n_out: int
    wi: int  # input bits
    wo: int  # output bits
    ww: int  # weight bits
    wacc: int  # accumulator bits
    tab_w: int  # table entry bits
    tab_entries: int  # entries over all the layer's tables
    strategy: str
    reuse: int

    @classmethod
    def of(cls, layer: dict) -> Dims:
        return cls(int(layer.get("n_tokens", 1)), int(layer.get("n_in", 0)), int(layer.get("n_out", 0)),
                   int(layer.get("in_bits", 16)), int(layer.get("out_bits", 16)), int(layer.get("weight_bits", 8)),
                   int(layer.get("accum_bits", 24)), int(layer.get("table_bits", 0)),
                   int(layer.get("table_entries", 0)), layer.get("strategy", "latency"),
                   max(1, int(layer.get("reuse_factor", 1))))


class Res:
    """Resource tally of one layer (`k`: the fitted constants)."""

    def __init__(self, k: Fitted = FITTED) -> None:
        self.k = k
        self.dsp = 0.0
        self.lut = 0.0
        self.bram = 0
        self.n_dsp_mult = 0
        self.n_lut_mult = 0
        self.da_lut = 0.0  # part of `lut` that is alkaid's cost of distributed-arithmetic kernels (models/ops/da.py)

    def mult(self, count: int, wa: int, wb: int, reuse: int, const: bool = False, weights: bool = False) -> bool:
        """`count` products of wa x wb bits per inference (wb is the constant when const). Returns True if DSP."""
        if count <= 0:
            return False
        inst = math.ceil(count / reuse)
        const = const and reuse == 1  # a shared multiplier sees a multiplexed (variable) weight
        if reuse > 1:
            self.lut += inst * (wa + wb) * math.ceil(math.log2(reuse)) / 2
        if const:
            if wb <= DSP_NARROW_BITS:  # canonical-signed-digit shift-and-add: ~wb/3 nonzero digits
                self.lut += inst * max(0, math.ceil(wb / 3) - 1) * (wa + math.ceil(wb / 2))
                self.n_lut_mult += inst
                return False
            frac = self.k.const_dsp_fraction if weights else 1.0
            on_dsp = math.ceil(inst * frac)
            self.dsp += on_dsp * math.ceil(max(wa, wb) / 27) * math.ceil(min(wa, wb) / 18)
            self.lut += (inst - on_dsp) * (wa + wb)
            self.n_dsp_mult += on_dsp
            self.n_lut_mult += inst - on_dsp
            return True
        if max(wa, wb) <= DSP_NARROW_BITS:
            self.lut += inst * (math.ceil(wa * wb / 2) + wa + wb)
            self.n_lut_mult += inst
            return False
        self.dsp += inst * math.ceil(max(wa, wb) / 27) * math.ceil(min(wa, wb) / 18)
        self.n_dsp_mult += inst
        return True

    def var_mult(self, count: int, wa: int, wb: int, layer: dict) -> bool:
        """`count` variable x variable products of wa x wb bits, each its own multiplier, bound by the layer's
        hls.multipliers (var_on_dsp, as in the RTL and the C++). Returns True if DSP."""
        if count <= 0:
            return False
        if not var_on_dsp(wa, wb, layer.get("multipliers", "auto")):
            self.lut += count * (math.ceil(wa * wb / 2) + wa + wb)
            self.n_lut_mult += count
            return False
        self.dsp += count * math.ceil(max(wa, wb) / 27) * math.ceil(min(wa, wb) / 18)
        self.n_dsp_mult += count
        return True

    def adders(self, count: int, width: int, reuse: int = 1) -> None:
        self.lut += math.ceil(count / reuse) * width

    def table(self, lookups: int, entries: int, bits: int, reuse: int) -> bool:
        """`lookups` reads per inference of an entries x bits ROM. Returns True if it lands in BRAM."""
        if lookups <= 0 or entries <= 0 or bits <= 0:
            return False
        ports = math.ceil(lookups / reuse)
        if entries * bits <= LUTROM_MAX_BITS:
            k = math.ceil(entries / 64)
            self.lut += ports * bits * (k + (k // 4 if k > 4 else 0))
            return False
        self.bram += math.ceil(ports / 2) * bram18(entries, bits)
        return True

    def weights_store(self, n_weights: int, bits: int, reuse: int, strategy: str) -> None:
        if strategy != "resource" or reuse < 2 or n_weights <= 0:
            return  # latency strategy: weights are constants folded into the multipliers
        depth_, width = reuse, math.ceil(n_weights / reuse) * bits
        if depth_ * width <= LUTROM_MAX_BITS:
            self.lut += width * math.ceil(depth_ / 64)
        else:
            self.bram += bram18(depth_, width)


class Path:
    """Greedy chaining of operation delays into clock cycles, as the HLS scheduler does."""

    def __init__(self, t_eff: float) -> None:
        self.t_eff = t_eff
        self.t = 0.0  # time already used in the open cycle
        self.cycles = 0

    def op(self, delay: float, times: int = 1) -> None:
        for _ in range(times):
            if delay > self.t_eff:  # multi-cycle operation: HLS pipelines it
                self.reg()
                self.cycles += math.ceil(delay / self.t_eff)
            elif self.t + delay > self.t_eff:
                self.cycles += 1
                self.t = delay
            else:
                self.t += delay

    def reg(self) -> None:
        if self.t > 0:
            self.cycles += 1
            self.t = 0.0

    def bram_read(self) -> None:
        self.op(T_MUX)  # address saturation
        self.reg()
        self.t = T_BRAM_CO

    def lookup(self, bram: bool) -> None:
        if bram:
            self.bram_read()
        else:
            self.op(T_MUX * 2)  # distributed ROM: two LUT levels


def mult_weights(layer: dict, n_mult: int, n_bias: int) -> int:
    """Nonzero multiplicative weights; an export whose n_weights also counts the biases is scaled down."""
    n_w = int(layer.get("n_weights", n_mult))
    nz = int(layer.get("n_nonzero_weights", n_w))
    if n_bias and n_w == n_mult + n_bias:
        nz = round(nz * n_mult / n_w)
    return min(nz, n_mult)


def inv_dim_product(r: Res, path: Path, count: int, n: int, wa: int) -> None:
    """`count` products x * 1/n (the norms' mean / mean square): a shift when n is a power of two (models.ops.common
    inv_const_t makes 1/n one bit, the C++ and the trace shift: wiring, no cost), else a constant multiply by 1/n in
    SCALE_BITS significant bits."""
    if n & (n - 1) == 0:
        return
    path.op(t_mul(wa, SCALE_BITS, r.mult(count, wa, SCALE_BITS, 1, const=True)))


def units(layer: dict, n_units: int, par_key: str) -> tuple[int, int]:
    """(parallel units, iterations) of a trigformer layer: from its description when flow.convert recorded them,
    else from its reuse factor (models.ops.common.split_units, as the configs are generated)."""
    from trigformer.models.ops.common import split_units

    if par_key in layer and "iterations" in layer:
        return int(layer[par_key]), int(layer["iterations"])
    return split_units(n_units, max(1, int(layer.get("reuse_factor", 1))))


def share_mux(res: Res, bits: int, ways: int) -> None:
    """Input multiplexers of a unit shared over `ways` iterations: ~1 LUT per 2 bits per doubling (LUT6 = 4:1)."""
    if ways > 1:
        res.lut += bits * math.ceil(math.log2(ways)) / 2
