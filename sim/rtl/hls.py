"""The HLS project's traced form (`hls.form: trace`): every RTL unit's C++ written from the unit's own alkaid trace.

The units and their traces are the RTL form's (sim/rtl `units`, `trace_unit`: the same CombLogic the Verilog is
written from). alkaid's HLS code generator (`ssa_gen`, `output_gen`, flavor vitis: one ap_fixed statement per traced
operation, tables as static const arrays) writes each unit as one function `tf_unit_<k>` into nnet_code_gen.h (the
layer's `Source` code attribute, as the distributed-arithmetic pass does), with its inputs read from the hls4ml
variables of the unit's external inputs and its result written to the unit's last layer's variable. Every variable
product (alkaid opcode 7) gets `#pragma HLS BIND_OP ... impl=fabric|dsp` by the one multiplier rule
(sim/rtl/timing.py on_dsp on the operands' widths, as bind_products and bind_verilog). The unit's last layer calls it;
the other members' calls are dropped (their variables stay declared, unused), so C-simulation traces one output per
unit, which the verification compares with the emulator like any other layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FUNC_PREFIX = "tf_unit_"
TRACE_UNITS_ATTR = "trigformer_traced_units"  # where `apply` leaves the traced units on the ModelGraph
_INPUT = re.compile(r"model_inp\[(\d+)\]")
_DEF = re.compile(r"^\S+ v(\d+) = ")


@dataclass
class TracedUnit:
    name: str  # the unit's last layer (the layer whose variable its function writes)
    members: list[str]
    external: list[str]  # the unit's inputs, in the function's argument order
    comb: object  # the alkaid CombLogic, the RTL form's (sim/rtl trace_unit)
    function: str | None  # None: the unit has no C++ of its own (a renaming), its layers' are kept


# g++ at -O3 spends minutes and gigabytes on one statement per traced operation (README: the two HLS forms); the
# C-simulation compiles the traced functions at -O0 instead (the same arithmetic: ap_fixed is exact at any level).
# HLS synthesis defines __SYNTHESIS__ and sees no attribute.
CSIM_OPT = """#ifndef TF_TRACED_CSIM_OPT
#if defined(__SYNTHESIS__) || !defined(__GNUC__) || defined(__clang__)
#define TF_TRACED_CSIM_OPT
#else
#define TF_TRACED_CSIM_OPT __attribute__((optimize("O0")))
#endif
#endif
"""


def function_name(k: int) -> str:
    return f"{FUNC_PREFIX}{k}"


def unit_code(comb, fn: str, in_sizes: list[int], multipliers: str) -> str:
    """C++ of one traced unit: `template <in0_T, ..., res_T> void fn(in0_T in0[n0], ..., res_T res[n])`, the
    unit's external inputs in order (flattened like the trace's inputs), alkaid's statements with a BIND_OP on every
    variable product."""
    from alkaid.codegen.hls.hls_codegen import kif_to_vitis_type, output_gen, ssa_gen

    offsets, pos = [], 0
    for n in in_sizes:
        offsets.append(pos)
        pos += n

    def arg(m) -> str:  # the k-th flat input -> the element of its own argument
        k = int(m[1])
        j = max(i for i, o in enumerate(offsets) if o <= k)
        return f"in{j}[{k - offsets[j]}]"

    body = []
    for line in ssa_gen(comb, print_latency=False, typestr_fn=kif_to_vitis_type):
        body.append(_INPUT.sub(arg, line))
        d = _DEF.match(line)
        if d and comb.ops[int(d[1])].opcode == 7:
            impl = "dsp" if _on_dsp(comb, comb.ops[int(d[1])], multipliers) else "fabric"
            body.append(f"#pragma HLS BIND_OP variable=v{d[1]} op=mul impl={impl}")
    body += [line.replace("model_out[", "res[") for line in output_gen(comb, kif_to_vitis_type)]
    n_out = len(comb.out_idxs)
    tparams = ", ".join([f"class in{j}_T" for j in range(len(in_sizes))] + ["class res_T"])
    params = ", ".join([f"in{j}_T in{j}[{n}]" for j, n in enumerate(in_sizes)] + [f"res_T res[{n_out}]"])
    ind = "\n    "
    return (f"// trigformer: traced unit {fn} (alkaid trace, the RTL form's), {len(comb.ops)} operations\n"
            + CSIM_OPT + f"template <{tparams}> TF_TRACED_CSIM_OPT void {fn}({params}) {{\n    #pragma HLS INLINE{ind}"
            + ind.join(body) + "\n}\n")


def apply(hls_model, emulator, multipliers: str) -> list[TracedUnit]:
    """Make the written project's C++ the traced form: per unit, the function (nnet_code_gen.h) and its call in
    place of the unit's layers' calls. Returns the traced units (the estimate's input: `estimate`)."""
    from hls4ml.model.types import Source

    from trigformer.models.ops import BY_KIND
    from trigformer.sim.rtl import trace_unit, units

    nodes = emulator.nodes
    if sum(BY_KIND[n.kind].graph_input for n in nodes) != 1:
        raise ValueError("hls.form trace: the traced form takes models with one input")
    types = {n.name: n.out_t for n in nodes}
    sizes = {n.name: n.size for n in nodes}
    layers = {layer.name: layer for layer in hls_model.get_layers()}
    out = []
    for k, members in enumerate(units(nodes), start=1):
        comb, external = trace_unit(members, types, sizes)
        last = layers[members[-1].name]
        if not any(layers[m.name].get_attr("function_cpp", None) for m in members):
            # a renaming only (hls4ml's io_parallel Reshape): no C++ to replace; the RTL's unit, in its figures
            out.append(TracedUnit(last.name, [m.name for m in members], external, comb, None))
            continue
        fn = function_name(k)
        last.set_attr("traced_unit_codegen", Source(unit_code(comb, fn, [sizes[i] for i in external], multipliers)))
        args = [hls_model.get_layer_output_variable(i).name for i in external]
        last.set_attr("function_cpp", f"nnet::{fn}({', '.join(args + [last.get_output_variable().name])});")
        for m in members[:-1]:
            layers[m.name].set_attr("function_cpp", None)
        out.append(TracedUnit(last.name, [m.name for m in members], external, comb, fn))
    setattr(hls_model, TRACE_UNITS_ATTR, out)
    return out


def _on_dsp(comb, op, multipliers: str) -> bool:
    """A variable product bound to a DSP48E2: the one rule (sim/rtl/timing.py on_dsp) on its operands' widths."""
    from trigformer.sim.rtl.timing import _width, on_dsp

    return op.opcode == 7 and on_dsp(_width(comb.ops[op.addr[0]].qint), _width(comb.ops[op.addr[1]].qint), multipliers)


METHOD = ("the traced units' own figures (the RTL form's trace): latency = the RTL form's pipeline of each unit at the "
          "clock with the RTL's delay model and multiplier binding (sim/rtl/timing.py), the units' cycles summed as "
          "the RTL form counts them; LUT = alkaid's cost of every operation but the DSP-bound products (adder bits, "
          "tables, LUT products); DSP = one DSP48E2 per product bound to DSP by hls.multipliers; FF = the pipeline's "
          "register bits. Not HLS synthesis: Vitis HLS schedules the same operations itself")


def estimate(traced: list[TracedUnit], input_name: str, clock_ns: float, part: str, multipliers: str,
             cutoff: float | None = None) -> dict:
    """The estimate of the traced form, in flow.estimate's layout (source `estimate`): per unit and in total, from
    the very CombLogic the C++ is written from. `cutoff`: rtl.latency_cutoff (None: from the clock, as the RTL)."""
    import math

    from trigformer.flow.parts import fractions, resolve_part
    from trigformer.sim.rtl import levels_of, pipeline, reg_bits_of
    from trigformer.sim.rtl.timing import cutoff_for

    full_name, _ = resolve_part(part)
    cutoff = cutoff_for(clock_ns) if cutoff is None else cutoff
    arrival = {input_name: -1}
    lat_rows, res_rows = [], []
    tot = {"DSP": 0, "LUT": 0, "FF": 0, "BRAM_18K": 0}
    mults = {"dsp": 0, "lut": 0}
    for u in traced:
        pipe, bound = pipeline(u.comb, cutoff, clock_ns, multipliers, reg_inp=input_name in u.external)
        start = max(arrival[i] for i in u.external)
        arrival[u.name] = start + levels_of(pipe)  # only the input's unit has an input register (sim/rtl module doc)
        cycles = arrival[u.name] - max(0, start)
        lut = sum(op.cost for op in u.comb.ops if not _on_dsp(u.comb, op, multipliers))
        row = {"name": u.name, "DSP": bound["dsp"], "LUT": math.ceil(lut), "FF": reg_bits_of(pipe), "BRAM_18K": 0,
               "mult_dsp": bound["dsp"], "mult_lut": bound["lut"], "function": u.function, "ops": len(u.comb.ops)}
        res_rows.append(row)
        for k in tot:
            tot[k] += row[k]
        mults["dsp"] += bound["dsp"]
        mults["lut"] += bound["lut"]
        lat_rows.append({"name": u.name, "cycles": cycles, "ns": round(cycles * clock_ns, 3), "ii": 1})
    cycles = arrival[traced[-1].name]
    return {"latency": {"source": "estimate", "method": METHOD, "cycles": int(cycles),
                        "ns": round(cycles * clock_ns, 3), "ii": 1, "per_layer": lat_rows},
            "resources": {"source": "estimate", "method": METHOD, **tot, "fraction": fractions(tot, full_name),
                          "part": full_name, "multipliers": mults, "per_layer": res_rows},
            "form": "trace", "expected_error": None}
