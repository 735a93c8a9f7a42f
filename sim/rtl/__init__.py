"""The RTL form of a network: pipelined Verilog generated from an alkaid trace of the emulator's own arithmetic.

Each layer of the emulator plan (sim/emulator.py nodes: the same specs, tables and integer weights the HLS project
uses) is traced by its op (models/ops/*/trace.py). Element-wise layers (casts, ReLU, residual adds) join the layer
that produces their input: a *unit* is one layer with the element-wise layers after it, traced from fresh inputs of
its declared input types, cut into pipeline stages (sim/rtl/timing.py: a latency cutoff per stage in the calibrated
delay unit, then alkaid's `to_pipeline`) and written as its own Verilog module by alkaid's RTLModel
(`layers/<unit>/`; its stage modules renamed <module>_stage<i>, its lookup tables `case` modules <module>_table_*).
A unit is what Yosys synthesizes on its own. trigformer then writes the network top, the delivered one
(`<name>_top.v`): the model's ports and a valid signal (`in_valid` -> `out_valid`, a shift register as long as the
data's path); it converts every element between the layers' packed ports (alkaid packs each element at its own
minimal width) and the declared fixed-point types and delays the earlier inputs of a multi-input layer (the residual
adds) so that both arrive in the same cycle. The co-simulation top
(`tb/<name>_trace_top.v`) is the same network plus a `trace_out` port bringing every layer's output out, delayed to
the network's latency; it is never delivered.

Latency, one convention everywhere (the integrator's: input register to output register): cycle 0 is the clock
edge at which the first unit's input register captures `model_inp` (and `in_valid`); the latency L is the edge at
which the last unit's output register holds the result (and `out_valid` rises). Only the unit the network's input
feeds has an input register: every later unit's first stage reads the previous units' output registers (through
the top's wiring and, for a residual input, its delay line), so no cycle is spent moving a value from one register
to the next. A unit of N pipeline stages therefore has N register levels from its input port to its output register
(N + 1 counting the first unit's input register) and adds N cycles to the path. The per-unit cycles along the path
sum to L by definition, and the
Verilator testbench measures L from `in_valid` to `out_valid` on data that must then match the emulator. The
pipelining uses da4ml 0.5.2's delay unit (models/ops/trace_common.py unit_delays); timing closure is not verified
without vendor place-and-route.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigformer.models.fixed import FixedType

TOP_SUFFIX = "_top"
MULTIPLIER_LUT = Path(__file__).with_name("multiplier_lut.v")  # the LUT-bound product (bind_verilog)
TRACE_SUFFIX = "_trace_top"  # the co-simulation top (rtl/tb/), with the trace port


@dataclass
class Port:
    """One element of a packed port: bit offset, width, signedness and fraction bits (value = raw * 2**-frac)."""

    lsb: int
    width: int
    signed: bool
    frac: int


@dataclass
class LayerRTL:
    name: str  # the unit's output layer (its last member)
    kind: str  # the unit's main layer kind
    members: list[str]
    module: str
    folder: Path
    inputs: list[str]
    stages: int  # pipeline stages (module doc)
    reg_bits: int
    ops: int
    cost: float
    in_ports: list[Port]
    out_ports: list[Port]
    in_bits: int
    out_bits: int
    var_mults: int = 0  # variable x variable products (alkaid opcode 7)
    lut_cost: float = 0.0  # alkaid's cost of everything else (adders, tables, muxes): its LUT estimate
    dsp_mults: int = 0  # of the var_mults, those bound to DSP48E2 by hls.multipliers (sim/rtl/timing.py on_dsp)
    reg_inp: bool = True  # the module registers its input (only the unit the network's input feeds: module doc)

    @property
    def levels(self) -> int:
        """Register levels from the module's input port to its output register: its stages, plus its input register
        if it has one."""
        return self.stages + self.reg_inp


@dataclass
class RTLDesign:
    name: str
    folder: Path
    layers: list[LayerRTL]
    input_t: FixedType
    n_inputs: int
    output_t: FixedType
    types: dict[str, FixedType]  # every layer's declared output type
    sizes: dict[str, int]  # every layer's output elements
    latency: int  # cycles, input register to output register (module doc; II = 1)
    arrival: dict[str, int]  # cycle at which each layer's output is in its output register (the input: -1)
    balance_bits: int  # delay-line register bits the delivered top adds for the residual paths
    clock_ns: float
    cutoff: float
    multipliers: str = "auto"  # hls.multipliers: the binding of every variable product
    cutoff_derived: bool = True  # the cutoff follows the clock (sim/rtl/timing.py cutoff_for)
    trace_layers: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # trace, pipelining and Verilog writing (all units)

    @property
    def in_bits(self) -> int:
        return self.input_t.width * self.n_inputs

    @property
    def out_bits(self) -> int:
        return self.output_t.width * self.sizes[self.layers[-1].name]

    @property
    def trace_bits(self) -> int:
        return sum(self.types[n].width * self.sizes[n] for n in self.trace_layers)

    @property
    def valid_bits(self) -> int:
        """The valid pipeline: in_valid captured with the input, out_valid out of the output register's level."""
        return self.latency + 1

    @property
    def top_register_bits(self) -> int:
        """Every register the delivered top adds to the units': residual delay lines and the valid pipeline."""
        return self.balance_bits + self.valid_bits

    def cycles(self, unit: LayerRTL) -> int:
        """What `unit` adds to the path (module doc): its stages."""
        return self.arrival[unit.name] - max(0, max(self.arrival[i] for i in unit.inputs))

    @property
    def top_file(self) -> Path:
        return self.folder / f"{self.name}{TOP_SUFFIX}.v"

    @property
    def trace_top_file(self) -> Path:
        return self.folder / "tb" / f"{self.name}{TRACE_SUFFIX}.v"

    def manifest(self) -> dict:
        return {"name": self.name, "latency_cycles": self.latency,
                "latency_convention": "input register to output register (sim/rtl module doc)",
                "clock_ns": self.clock_ns, "top": self.top_file.name, "cosim_top": f"tb/{self.trace_top_file.name}",
                "latency_cutoff": self.cutoff, "latency_cutoff_derived": self.cutoff_derived,
                "multipliers": self.multipliers, "input_type": self.input_t.ap_type, "n_inputs": self.n_inputs,
                "output_type": self.output_t.ap_type, "balance_register_bits": self.balance_bits,
                "valid_register_bits": self.valid_bits,
                "units": [{"name": l.name, "kind": l.kind, "members": l.members, "module": l.module, "stages": l.stages,
                            "latency": self.cycles(l), "register_levels": l.levels, "arrival": self.arrival[l.name],
                            "register_bits": l.reg_bits,
                            "ops": l.ops, "alkaid_cost": l.cost, "var_mults": l.var_mults, "dsp_mults": l.dsp_mults,
                            "alkaid_lut_cost": round(l.lut_cost, 1)} for l in self.layers],
                "trace_layers": self.trace_layers}


def _ports(precisions) -> tuple[list[Port], int]:
    """The packed layout of a unit's port: alkaid's elements in order, each at its own (sign, integer, fraction)."""
    out, pos = [], 0
    for p in precisions:
        k, i, f = int(p[0]), int(p[1]), int(p[2])
        w = max(k + i + f, 0)
        out.append(Port(pos, w, bool(k), f))
        pos += w
    return out, pos


def units(nodes) -> list[list]:
    """Group the plan's layers (after the input) into units: a layer and the element-wise layers that follow it and
    consume nothing from outside the unit but what earlier units produced. Only a unit's last layer may be used
    outside it."""
    from trigformer.models.ops import BY_KIND

    groups: list[list] = []
    for node in nodes[1:]:
        if groups and BY_KIND[node.kind].elementwise and groups[-1][-1].name in node.inputs:
            groups[-1].append(node)
        else:
            groups.append([node])
    used_outside = {i for g in groups for n in g for i in n.inputs if i not in {m.name for m in g}}
    for g in groups:
        for n in g[:-1]:
            if n.name in used_outside:
                raise RuntimeError(f"RTL units: {n.name} is used outside its unit")
    return groups


def trace_unit(members, types: dict[str, FixedType], sizes: dict[str, int]):
    """(CombLogic, external input names) of a unit, traced from fresh inputs of its declared input types."""
    from alkaid.trace import trace

    from trigformer.models.ops import BY_KIND
    from trigformer.models.ops.trace_common import new_inputs

    names = {m.name for m in members}
    external = list(dict.fromkeys(i for m in members for i in m.inputs if i not in names))
    arrays = {i: new_inputs(types[i], sizes[i]) for i in external}
    vals = {i: np.asarray(a, dtype=object).ravel() for i, a in arrays.items()}
    for m in members:
        vals[m.name] = np.ravel(BY_KIND[m.kind].trace(m, [vals[i] for i in m.inputs], [types[i] for i in m.inputs]))
    flat_in = [v for i in external for v in np.asarray(arrays[i], dtype=object).ravel()]
    return trace(flat_in, list(vals[members[-1].name])), external


def generate(emulator, folder: Path, name: str, clock_ns: float, cutoff: float | None = None, trace: bool = True,
             multipliers: str = "auto", on_unit=None) -> RTLDesign:
    """Write `folder`/layers/<unit>/ (alkaid) and `folder`/<name>_top.v; return the design's description. `cutoff`
    None: derived from the clock (sim/rtl/timing.py); `multipliers`: hls.multipliers. `on_unit(done, total, name)`:
    called after each unit is written (progress lines)."""
    from alkaid.codegen import RTLModel

    from trigformer.sim.rtl import timing

    derived = cutoff is None
    cutoff = timing.cutoff_for(clock_ns) if derived else cutoff
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "layers").mkdir(parents=True)
    nodes = emulator.nodes
    types = {n.name: n.out_t for n in nodes}
    sizes = {n.name: n.size for n in nodes}
    layers: list[LayerRTL] = []
    seconds = {"trace_s": 0.0, "pipeline_s": 0.0, "verilog_s": 0.0}
    groups = units(nodes)
    for members in groups:
        t0 = time.perf_counter()
        comb, external = trace_unit(members, types, sizes)
        t1 = time.perf_counter()
        reg_inp = nodes[0].name in external  # only the input's unit registers its input
        pipe, bound = pipeline(comb, cutoff, clock_ns, multipliers, reg_inp)
        t2 = time.perf_counter()
        last = members[-1].name
        module = f"U{len(layers) + 1}_{members[0].name}"[:60]
        lf = folder / "layers" / last
        # ternary_fuse off: two-input adders, as the delay unit counts them (alkaid would fuse a + b + c into one
        # ternary adder inside a stage, which Yosys maps as two carry chains deeper than the stage was cut for)
        model = RTLModel(pipe, lf, prj_name=module, flavor="verilog", print_latency=False, clock_period=clock_ns,
                         ternary_fuse=False)
        model.write()
        _own_names(lf / "src", module)
        bind_verilog(lf / "src", module, multipliers)
        for k, dt in (("trace_s", t1 - t0), ("pipeline_s", t2 - t1), ("verilog_s", time.perf_counter() - t2)):
            seconds[k] += dt
        in_ports, in_bits = _ports(pipe.inp_signals[0].precisions)
        out_ports, out_bits = _ports(pipe.out_signals[0].precisions)
        layers.append(LayerRTL(last, members[0].kind, [m.name for m in members], module, lf, external,
                               levels_of(pipe) - reg_inp, reg_bits_of(pipe), len(comb.ops), float(comb.cost), in_ports,
                               out_ports, in_bits, out_bits, sum(op.opcode == 7 for op in comb.ops),
                               float(sum(op.cost for op in comb.ops if op.opcode != 7)), bound["dsp"], reg_inp))
        if on_unit is not None:
            on_unit(len(layers), len(groups), last)
    first = nodes[0]
    arrival = {first.name: -1}  # on the ports before edge 0, when the first input register captures it
    for l in layers:
        arrival[l.name] = max(arrival[i] for i in l.inputs) + l.levels
    design = RTLDesign(name, folder, layers, first.out_t, sizes[first.name], nodes[-1].out_t, types, sizes,
                       arrival[layers[-1].name], arrival, 0, clock_ns, cutoff, multipliers, derived,
                       [l.name for l in layers] if trace else [], {k: round(v, 1) for k, v in seconds.items()})
    design.top_file.write_text(_top_verilog(design, trace=False))
    if design.trace_layers:
        design.trace_top_file.parent.mkdir()
        design.trace_top_file.write_text(_top_verilog(design, trace=True))
    (folder / "manifest.json").write_text(json.dumps(design.manifest(), indent=1))
    return design


def pipeline(comb, cutoff: float, clock_ns: float, multipliers: str, reg_inp: bool = True):
    """The pipeline of a unit (an alkaid FSM: an input register if `reg_inp`, stages, output register) with its
    variable products bound and registered: sim/rtl/timing.py bind_products dates every operation with its stage
    number, alkaid's to_pipeline cuts there (one unit of its latency per stage). Returns (FSM, {"dsp": n, "lut": n})."""
    from alkaid.trace import to_pipeline

    from trigformer.sim.rtl.timing import bind_products

    staged, bound = bind_products(comb, cutoff, clock_ns, multipliers)
    return to_pipeline(staged, latency_cutoff=1.0, verbose=False, reg_inp=reg_inp), bound


def levels_of(fsm) -> int:
    """Register levels of a unit's FSM from its input port to its output register (its output's schedule)."""
    return int(fsm.out_signals[0].schedule.bias)


def reg_bits_of(fsm) -> int:
    """Register bits of a unit's FSM: its input register (if any), the registers between stages, its output register."""
    return int(sum(sig.width for sig in fsm.signals.values() if sig.reg))


_STAGE = re.compile(r"\blogic(\d+)\b")
_TABLE = re.compile(r"\btable_([0-9a-f_]{36})\b")


def _own_names(src: Path, module: str) -> None:
    """alkaid names every unit's stage modules logic<i> and its tables table_<content hash>: one network holds many
    units, so each unit's are renamed <module>_stage<i> and <module>_table_<hash> (files too)."""
    for f in sorted(src.glob("*.v")):
        v = f.read_text()
        w = _TABLE.sub(lambda m: f"{module}_table_{m[1]}", _STAGE.sub(lambda m: f"{module}_stage{m[1]}", v))
        if w != v:
            f.write_text(w)
        m = re.fullmatch(r"logic(\d+)\.v", f.name)
        if m:
            f.rename(src / f"{module}_stage{m[1]}.v")


_MULT = re.compile(r"\bmultiplier #\((\d+),\s*(\d+),")


def bind_verilog(src: Path, module: str, multipliers: str, stages: str | None = None) -> None:
    """The binding in the Verilog, for Vivado and Yosys alike: DSP-bound products instantiate alkaid's `multiplier`
    (marked use_dsp "yes"), LUT-bound ones our `multiplier_lut` (sim/rtl/multiplier_lut.v: alkaid's ports, parameters
    and result as Booth rows and an adder tree, which Yosys maps to fewer LUTs than alkaid's `a * b`; use_dsp "no",
    and the Yosys job keeps any `*` in it off the DSP48E2s: sim/rtl/yosys.py). The rule is timing.on_dsp on the
    operands' widths, as in bind_products. `stages`:
    the stage files' glob (default: the unit's renamed `<module>_stage*.v`; alkaid's own `logic*.v` for a whole
    model written by alkaid, models/hgq2/rtl.py)."""
    from trigformer.sim.rtl.timing import on_dsp

    static = src / "static" / "multiplier.v"
    if not static.exists():
        return
    text = static.read_text()
    if "use_dsp" not in text:
        static.write_text(text.replace("module multiplier #", '(* use_dsp = "yes" *)\nmodule multiplier #', 1))
        shutil.copy(MULTIPLIER_LUT, src / "static" / "multiplier_lut.v")
    for f in sorted(src.glob(stages or f"{module}_stage*.v")):
        v = f.read_text()
        w = _MULT.sub(lambda m: m[0] if on_dsp(int(m[1]), int(m[2]), multipliers) else
                      f"multiplier_lut #({m[1]},{m[2]},", v)
        if w != v:
            f.write_text(w)


def _convert(src: str, src_port: Port, dst_width: int, shift: int) -> str:
    """A `dst_width`-bit Verilog expression of the value `src` (src_port.width bits) scaled by 2**shift (shift >= 0:
    append zeros), sign- or zero-extended, truncated to the destination."""
    w = src_port.width
    if w == 0 or dst_width <= 0:
        return f"{dst_width}'d0"
    if shift < 0:
        raise ValueError("an element would lose fraction bits between layers")
    ext = dst_width - shift  # bits left for the source once shifted
    parts = []
    if ext <= 0:
        return f"{dst_width}'d0"
    if ext <= w:
        parts.append(f"{src}[{ext - 1}:0]")
    else:
        sign = f"{src}[{w - 1}]" if src_port.signed else "1'b0"
        parts.append(f"{{{ext - w}{{{sign}}}}}")
        parts.append(src)
    if shift:
        parts.append(f"{shift}'d0")
    return "{" + ", ".join(parts) + "}" if len(parts) > 1 else parts[0]


def _top_verilog(d: RTLDesign, trace: bool) -> str:
    """The network top: packed declared-type words in and out, a valid pipeline, one module per layer, converters,
    delay lines; with `trace`, the co-simulation top: the same plus every layer's output on `trace_out`."""
    what = ("co-simulation top (not delivered: rtl/<name>_top.v is the production top)" if trace else
            "network top")
    lines = [f"// {d.name}: {what} generated by trigformer (sim/rtl).",
             f"// Latency {d.latency} cycles, input register to output register (II = 1): in_valid is captured with",
             "// model_inp; out_valid rises with model_out.",
             "`timescale 1 ns / 1 ps", f"module {d.name}{TRACE_SUFFIX if trace else TOP_SUFFIX} (", "    input clk,",
             "    input in_valid,", f"    input [{d.in_bits - 1}:0] model_inp,", "    output out_valid,",
             f"    output [{d.out_bits - 1}:0] model_out"
             + (f",\n    output [{d.trace_bits - 1}:0] trace_out" if trace else ""), ");"]
    body: list[str] = []
    nv = d.valid_bits  # the valid bit follows the data through as many register levels
    body.append(f"    reg [{nv - 1}:0] valid_sr = {nv}'d0;")
    body.append("    always @(posedge clk) valid_sr <= "
                + (f"{{valid_sr[{nv - 2}:0], in_valid}};" if nv > 1 else "in_valid;"))
    body.append(f"    assign out_valid = valid_sr[{nv - 1}];")
    # every layer's output as declared-type elements: <layer>_e<j>
    first = d.layers[0].inputs[0]
    w_in = d.input_t.width
    for j in range(d.n_inputs):
        body.append(f"    wire [{w_in - 1}:0] {_v(first)}_e{j} = model_inp[{(j + 1) * w_in - 1}:{j * w_in}];")
    balance = 0
    for l in d.layers:
        start = max(d.arrival[i] for i in l.inputs)
        # the layer's packed input: its declared inputs, each delayed to `start`
        srcs = []
        for i in l.inputs:
            delay = start - d.arrival[i]
            t, n = d.types[i], d.sizes[i]
            src = _v(i)
            if delay:
                balance += delay * t.width * n
                src = _delayed(body, i, t.width, n, delay, tag=l.name)
            srcs += [(src, j, t) for j in range(n)]
        body.append(f"    wire [{max(l.in_bits, 1) - 1}:0] {_v(l.name)}_in;")
        body.append(f"    wire [{max(l.out_bits, 1) - 1}:0] {_v(l.name)}_out;")
        for (src, j, t), p in zip(srcs, l.in_ports):
            if p.width:
                expr = _convert(f"{src}_e{j}", Port(0, t.width, t.signed, t.frac), p.width, p.frac - t.frac)
                body.append(f"    assign {_v(l.name)}_in[{p.lsb + p.width - 1}:{p.lsb}] = {expr};")
        if l.in_bits == 0:
            body.append(f"    assign {_v(l.name)}_in = 1'b0;")
        body.append(f"    {l.module} u_{_v(l.name)} (.clk(clk), .model_inp({_v(l.name)}_in), "
                    f".model_out({_v(l.name)}_out));")
        t = d.types[l.name]
        for j, p in enumerate(l.out_ports):
            src = f"{_v(l.name)}_out[{p.lsb + p.width - 1}:{p.lsb}]" if p.width else "1'b0"
            if p.width:
                body.append(f"    wire [{p.width - 1}:0] {_v(l.name)}_o{j} = {src};")
            expr = _convert(f"{_v(l.name)}_o{j}", p, t.width, t.frac - p.frac) if p.width else f"{t.width}'d0"
            body.append(f"    wire [{t.width - 1}:0] {_v(l.name)}_e{j} = {expr};")
    last = d.layers[-1].name
    n_out = d.sizes[last]
    body.append(f"    assign model_out = {{{', '.join(f'{_v(last)}_e{j}' for j in reversed(range(n_out)))}}};")
    if trace:
        parts = []
        for name in d.trace_layers:
            delay = d.arrival[last] - d.arrival[name]
            t, n = d.types[name], d.sizes[name]
            src = _delayed(body, name, t.width, n, delay, tag="trace") if delay else _v(name)
            parts += [f"{src}_e{j}" for j in range(n)]
        body.append(f"    assign trace_out = {{{', '.join(reversed(parts))}}};")
    if not trace:
        d.balance_bits = balance
    return "\n".join(lines + body + ["endmodule", ""])


def _v(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _delayed(body: list[str], name: str, width: int, n: int, delay: int, tag: str) -> str:
    """Registers delaying every element of a layer's output by `delay` cycles; returns the delayed name prefix."""
    pre = f"{_v(name)}_d{delay}_{_v(tag)}"
    for j in range(n):
        body.append(f"    reg [{width - 1}:0] {pre}_e{j}_r [0:{delay - 1}];")
        body.append(f"    wire [{width - 1}:0] {pre}_e{j} = {pre}_e{j}_r[{delay - 1}];")
    body.append("    integer " + f"{pre}_k;")
    body.append("    always @(posedge clk) begin")
    for j in range(n):
        body.append(f"        {pre}_e{j}_r[0] <= {_v(name)}_e{j};")
    body.append(f"        for ({pre}_k = 1; {pre}_k < {delay}; {pre}_k = {pre}_k + 1) begin")
    for j in range(n):
        body.append(f"            {pre}_e{j}_r[{pre}_k] <= {pre}_e{j}_r[{pre}_k - 1];")
    body.append("        end")
    body.append("    end")
    return pre
