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

Input conventions (flow.convert.layer_descriptions): ``table_entries`` is the total over a layer's tables (softmax
and mha: exp and 1/sum of equal size; layernorm: 1/sqrt); ``n_weights`` may or may not include biases (both are
recognised from the shapes); a pool layer reduces ``n_tokens_in`` tokens (default: the previous layer's
``n_tokens``) and is a max pool when ``"pool": "max"`` (else mean). Layer internals not in the graph export are
taken from the trigformer templates: q/k/v/context/probabilities are ``out_bits`` wide, the fixed constants
(1/sqrt(d), 1/n, 1/dim) 18 bits, LayerNorm's x - mean ``in_bits + 1``, a missing ``accum_bits`` 24.

Validation (tests/test_estimate.py), two real hls4ml csynth reports of small dense networks:
hls4ml-tutorial jet tagger 16-64-32-32-5, ap_fixed<16,6>, reuse 1, xcu250, 5 ns, Vivado HLS 2019.1 (10 cycles,
2774 DSP, 109157 LUT, 13339 FF, 4 BRAM_18K): estimate +30 % cycles, +15 % DSP, -3 % LUT, -40 % FF, BRAM exact.
hls4ml's test fixture Dense(16->5)+ReLU on xc7z020 (73 DSP, 2532 LUT; io_stream, so latency and FF are not
compared): -18 % DSP, -19 % LUT. Per layer the errors reach 2x. Transformer layers (mha, layernorm, table softmax)
have no published per-layer synthesis figures we could verify: their estimates extrapolate the same operator
model and are not validated numbers.
"""

from __future__ import annotations

import math

from flow.parts import resolve_part

CLOCK_UNCERTAINTY = 0.125  # hls4ml's default ClockUncertainty (12.5 %)
DSP_NARROW_BITS = 10  # both operands at or below this -> LUT multiplier
CONST_DSP_FRACTION = 0.75  # fitted: share of wide-constant products HLS puts on a DSP
LUTROM_MAX_BITS = 1024  # a table copy at or below this many bits is distributed ROM
SCALE_BITS = 18  # width of the fixed constants in the templates (1/sqrt(d), 1/n, 1/dim)
T_DSP = 2.4  # ns, DSP48E2 multiply without internal pipeline registers
T_MUX = 0.4  # ns, one LUT level (ReLU select, ROM address saturation)
T_BRAM_CO = 1.0  # ns, BRAM clock-to-out before the data can be used
_BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))

EXPECTED_ERROR = ("network totals vs 2 hls4ml csynth reports: latency +-35 %, DSP +-25 %, LUT +-25 %, FF +-45 % "
                  "(1-2 points each; CONST_DSP_FRACTION and the ReLU LUT factor were fitted on them); "
                  "per-layer figures off by up to 2x; mha / layernorm / table softmax not validated")


def t_add(w: float) -> float:
    return 0.45 + 0.025 * w


def t_mul(wa: int, wb: int, dsp: bool) -> float:
    return T_DSP if dsp else 0.5 + 0.06 * (wa + wb)


def _depth(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def _bram18(depth: int, width: int) -> int:
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM18_SHAPES)


class _Res:
    """Resource tally of one layer."""

    def __init__(self) -> None:
        self.dsp = 0.0
        self.lut = 0.0
        self.bram = 0
        self.n_dsp_mult = 0
        self.n_lut_mult = 0

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
            frac = CONST_DSP_FRACTION if weights else 1.0
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
        self.bram += math.ceil(ports / 2) * _bram18(entries, bits)
        return True

    def weights_store(self, n_weights: int, bits: int, reuse: int, strategy: str) -> None:
        if strategy != "resource" or reuse < 2 or n_weights <= 0:
            return  # latency strategy: weights are constants folded into the multipliers
        depth, width = reuse, math.ceil(n_weights / reuse) * bits
        if depth * width <= LUTROM_MAX_BITS:
            self.lut += width * math.ceil(depth / 64)
        else:
            self.bram += _bram18(depth, width)


class _Path:
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


def _mult_weights(layer: dict, n_mult: int, n_bias: int) -> int:
    """Nonzero multiplicative weights; an export whose n_weights also counts the biases is scaled down."""
    n_w = int(layer.get("n_weights", n_mult))
    nz = int(layer.get("n_nonzero_weights", n_w))
    if n_bias and n_w == n_mult + n_bias:
        nz = round(nz * n_mult / n_w)
    return min(nz, n_mult)


def _layer(layer: dict, path: _Path) -> tuple[_Res, int, bool, int]:
    """Add one layer's ops to `path`; return (resources, reuse factor, ends on a register, live bits)."""
    kind = layer["kind"]
    n_tok = int(layer.get("n_tokens", 1))
    n_in, n_out = int(layer.get("n_in", 0)), int(layer.get("n_out", 0))
    wi, wo = int(layer.get("in_bits", 16)), int(layer.get("out_bits", 16))
    ww, wacc = int(layer.get("weight_bits", 8)), int(layer.get("accum_bits", 24))
    tab_w = int(layer.get("table_bits", 0))
    tab_n = int(layer.get("table_entries", 0)) // (2 if kind in ("mha", "softmax") else 1)  # exp and 1/sum tables
    strategy = layer.get("strategy", "latency")
    R = max(1, int(layer.get("reuse_factor", 1)))
    r = _Res()
    live = 0  # bits held at a register boundary inside the layer

    if kind == "input":
        return r, 1, False, 0

    if kind == "activation":
        if layer.get("activation") == "relu":
            path.op(T_MUX)
            r.lut += n_tok * n_out * 0.875 * (wi + wo)
        elif wi != wo:
            r.lut += n_tok * n_out * 0.875 * (wi + wo) / 2  # cast only
        return r, 1, False, 0

    if kind == "add":
        path.op(t_add(wo + 1))
        r.adders(n_tok * n_out, wo + 1)
        return r, 1, False, 0

    if kind == "dense":
        nw = _mult_weights(layer, n_in * n_out, n_out)
        dsp = r.mult(n_tok * nw, wi, ww, R, const=True, weights=True)
        r.adders(n_tok * n_out * n_in, wacc, R)
        r.weights_store(int(layer.get("n_weights", 0)), ww, R, strategy)
        path.op(t_mul(wi, ww, dsp))
        path.op(t_add(wacc), _depth(n_in + 1))
        live = n_tok * n_out * wacc

    elif kind == "mha":
        H, K = int(layer.get("num_heads", 1)), int(layer.get("key_dim", n_in))
        HK, N = H * K, n_tok
        wq = wo  # q, k, v, context and probabilities are out_bits wide (template qkv_t / prob_t)
        nw = _mult_weights(layer, 3 * n_in * HK + HK * n_out, 3 * HK + n_out)
        n_proj_in = 3 * n_in * HK
        share_in = n_proj_in / (n_proj_in + HK * n_out)  # Q/K/V weights vs output-projection weights
        dsp_in = r.mult(N * round(nw * share_in), wi, ww, R, const=True, weights=True)
        dsp_out = r.mult(N * round(nw * (1 - share_in)), wq, ww, R, const=True, weights=True)
        dsp_qk = r.mult(H * N * N * K, wq, wq, R)
        dsp_sc = r.mult(H * N * N, wacc, SCALE_BITS, R, const=True)
        dsp_pn = r.mult(H * N * N, tab_w, tab_w, R)
        dsp_pv = r.mult(H * N * N * K, wq, wq, R)
        r.adders(N * 3 * HK * n_in + H * N * N * K + H * N * N * 2 + H * N * K * N + N * n_out * HK, wacc, R)
        bram = r.table(H * N * N, tab_n, tab_w, R) | r.table(H * N, tab_n, tab_w, R)
        r.weights_store(int(layer.get("n_weights", 0)), ww, R, strategy)
        path.op(t_mul(wi, ww, dsp_in))  # Q, K, V projections
        path.op(t_add(wacc), _depth(n_in + 1))
        path.op(t_mul(wq, wq, dsp_qk))  # Q K^T
        path.op(t_add(wacc), _depth(K))
        path.op(t_mul(wacc, SCALE_BITS, dsp_sc))  # * 1/sqrt(d)
        _softmax_path(path, N, wacc, tab_w, bram, dsp_pn)
        path.op(t_mul(wq, wq, dsp_pv))  # P V
        path.op(t_add(wacc), _depth(N))
        path.op(t_mul(wq, ww, dsp_out))  # output projection
        path.op(t_add(wacc), _depth(HK + 1))
        live = H * N * N * wacc

    elif kind == "softmax":
        n = n_in
        dsp = r.mult(n_tok * n, tab_w, tab_w, R)
        r.adders(n_tok * (2 * (n - 1) + n), max(wi, tab_w) + _depth(n), R)  # max tree, subtract, sum tree
        bram = r.table(n_tok * n, tab_n, tab_w, R) | r.table(n_tok, tab_n, tab_w, R)
        _softmax_path(path, n, wi, tab_w, bram, dsp)
        live = n_tok * n * tab_w

    elif kind == "layernorm":
        n, wd = n_in, wi + 1  # x - mean is exact: one more bit
        nw = _mult_weights(layer, n_in, n_in)  # gamma (beta is an add)
        dsp_mean = r.mult(n_tok * 2, wacc, SCALE_BITS, R, const=True)  # mean and variance * 1/dim
        dsp_sq = r.mult(n_tok * n, wd, wd, R)
        dsp_rs = r.mult(n_tok * n, wd, tab_w, R)
        dsp_g = r.mult(n_tok * nw, wd, ww, R, const=True, weights=True)
        r.adders(n_tok * (4 * n), wacc, R)  # sum, subtract, square-sum, beta
        r.lut += n_tok * (wacc * _depth(wacc) + n * wacc * 2)  # leading-one detector + barrel shifts
        bram = r.table(n_tok, tab_n, tab_w, R)
        path.op(t_add(wacc), _depth(n))
        path.op(t_mul(wacc, SCALE_BITS, dsp_mean))
        path.op(t_add(wd))
        path.op(t_mul(wd, wd, dsp_sq))
        path.op(t_add(wacc), _depth(n))
        path.op(t_mul(wacc, SCALE_BITS, dsp_mean))
        path.op(T_MUX, _depth(wacc))  # leading-one detector
        _lookup(path, bram)
        path.op(t_mul(wd, tab_w, dsp_rs))
        path.op(T_MUX, _depth(wacc))  # shift by 2^-e/2
        path.op(t_mul(wd, ww, dsp_g))
        path.op(t_add(wacc))
        live = n_tok * n * wacc

    elif kind == "pool":
        nt = int(layer.get("n_tokens_in", n_tok))  # tokens reduced (n_tokens is the output's: 1)
        if layer.get("pool", layer.get("activation")) == "max":
            r.adders(nt * n_out, wi + 1, R)
            path.op(t_add(wi) + T_MUX, _depth(nt))
        else:
            ws = wi + _depth(nt)
            r.adders(nt * n_out, ws, R)
            path.op(t_add(ws), _depth(nt))
            if nt & (nt - 1):  # 1/n is a shift when n is a power of two
                dsp = r.mult(n_out, ws, SCALE_BITS, R, const=True)
                path.op(t_mul(ws, SCALE_BITS, dsp))
        live = n_out * (wi + _depth(nt))

    else:
        raise ValueError(f"layer {layer.get('name')!r}: unknown kind {kind!r}")

    return r, R, True, live


def _lookup(path: _Path, bram: bool) -> None:
    if bram:
        path.bram_read()
    else:
        path.op(T_MUX * 2)  # distributed ROM: two LUT levels


def _softmax_path(path: _Path, n: int, w_in: int, tab_w: int, bram: bool, dsp: bool) -> None:
    path.op(t_add(w_in) + T_MUX, _depth(n))  # max tree
    path.op(t_add(w_in))  # x - max
    _lookup(path, bram)  # exp table
    path.op(t_add(tab_w + _depth(n)), _depth(n))  # sum tree
    _lookup(path, bram)  # 1/sum table
    path.op(t_mul(tab_w, tab_w, dsp))


def estimate(layers: list[dict], clock_ns: float, part: str) -> dict:
    """Estimate latency and resources of `layers` (dataflow order) at `clock_ns` on `part`. See module doc."""
    if clock_ns <= 0:
        raise ValueError("clock_ns must be positive")
    full_name, cap = resolve_part(part)
    path = _Path(clock_ns * (1 - CLOCK_UNCERTAINTY))
    lat_rows, res_rows = [], []
    tot = {"DSP": 0, "LUT": 0, "FF": 0, "BRAM_18K": 0}
    mults = {"dsp": 0, "lut": 0}
    ii_net = 1
    prev_tokens = 1
    for layer in layers:
        if layer["kind"] == "pool" and "n_tokens_in" not in layer:  # its input is the previous layer's output
            layer = {**layer, "n_tokens_in": prev_tokens}
        prev_tokens = int(layer.get("n_tokens", 1))
        before = path.cycles
        r, reuse, ends, live = _layer(layer, path)
        ii = reuse
        if ends:
            path.reg()
            path.cycles += reuse - 1  # the shared multipliers run `reuse` times
        cycles = path.cycles - before
        n_vals = int(layer.get("n_tokens", 1)) * int(layer.get("n_out", 0))
        inner = max(0, cycles - (reuse - 1) - 1)  # register boundaries inside the layer's datapath
        ff = 2 * live * inner / reuse + (n_vals * int(layer.get("out_bits", 16)) if ends else 0)
        row = {"name": layer["name"], "DSP": math.ceil(r.dsp), "LUT": math.ceil(r.lut), "FF": math.ceil(ff),
               "BRAM_18K": int(r.bram), "mult_dsp": r.n_dsp_mult, "mult_lut": r.n_lut_mult}
        res_rows.append(row)
        for k in tot:
            tot[k] += row[k]
        mults["dsp"] += r.n_dsp_mult
        mults["lut"] += r.n_lut_mult
        ii_net = max(ii_net, ii)
        lat_rows.append({"name": layer["name"], "cycles": cycles, "ns": round(cycles * clock_ns, 3), "ii": ii})
    path.reg()
    cycles = path.cycles
    avail = {"DSP": cap.DSP, "LUT": cap.LUT, "FF": cap.FF, "BRAM_18K": cap.BRAM_18K}
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
            "method": (f"multipliers by operand width (both <= {DSP_NARROW_BITS} bits or narrow constants -> LUT, "
                       "else DSP48E2 27x18), ceil(products/R) instances, adders 1 LUT/bit, FF at register "
                       f"boundaries, tables > {LUTROM_MAX_BITS} bits and resource-strategy weights -> BRAM_18K"),
            **tot,
            "fraction": {k: tot[k] / avail[k] if avail[k] else float("inf") for k in tot},
            "part": full_name,
            "multipliers": mults,
            "per_layer": res_rows,
        },
        "expected_error": EXPECTED_ERROR,
    }
