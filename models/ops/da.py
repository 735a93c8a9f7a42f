"""Distributed arithmetic (`hls.strategy: distributed_arithmetic`): every constant-weight product as alkaid's
shift-and-add graph, written as straight-line HLS C++ the way hls4ml 1.3.0's own DA strategy writes a Dense
(alkaid's `hls_logic_and_bridge_gen`, flavor vitis, `#pragma HLS INLINE`, into `nnet_code_gen.h`).

The graph is the product's one trace, `models.ops.trace_common.Product.kernel`: one token of x @ W + b from inputs
of the layer's declared input type, solved by alkaid's CMVM solver with hls4ml's DA settings. The RTL form
(`synth --rtl`) replays that same graph on every token, so the HLS DA form and the RTL compute with the same adders.
The exact sums leave the kernel and are cast to the layer's result type by assignment (as hls4ml's DA Dense does),
which is the cast the emulator and the other strategies make.

Ops with constant-weight products list them (`OpDef.products`, `OpDef.da_products`); `hls_templates/extension.py`
registers the pass that calls `generate` for every layer whose strategy is distributed_arithmetic. Needs alkaid
(da4ml's successor; `make setup` installs it).
"""

from __future__ import annotations

from trigformer.models.ops.trace_common import Product

STRATEGY = "distributed_arithmetic"


def function_name(index: int, suffix: str = "") -> str:
    """dense_da_<index>: the name hls4ml's DA Dense template calls (its DALatencyDenseTemplate)."""
    return f"dense_da_{index}{suffix}"


def figures(kernel) -> dict:
    """alkaid's own figures of a solved kernel: cost (its LUT estimate), adder depth (the longest chain of adders
    from an input to an output: trace_common.unit_delays), and the operation counts (a sum of n terms, alkaid opcode
    11, is n - 1 adders)."""
    from trigformer.models.ops.trace_common import unit_delays

    used = kernel.ref_count > 0
    ops = [op for op, u in zip(kernel.ops, used) if u and op.opcode != -1]
    n_in, n_out = kernel.shape
    t = unit_delays(kernel)
    depth = max((t[i] for i in kernel.out_idxs if i >= 0), default=0.0)
    return {"n_in": int(n_in), "n_out": int(n_out), "cost": float(kernel.cost), "depth": float(depth),
            "adders": sum(1 if op.opcode in (0, 1) else len(op.addr) - 1 for op in ops if op.opcode in (0, 1, 11)),
            "const_adds": sum(op.opcode == 4 for op in ops), "ops": len(ops),
            "var_mults": sum(op.opcode == 7 for op in ops)}


def generate(products: list[Product], index: int) -> tuple[str, list[dict]]:
    """The C++ of a layer's kernels (one function template per product) and their figures."""
    from alkaid.codegen.hls import hls_logic_and_bridge_gen

    code, figs = [], []
    for p in products:
        kernel = p.kernel()
        fn = function_name(index, p.suffix)
        text, _ = hls_logic_and_bridge_gen(kernel, fn, "vitis", pragmas=["#pragma HLS INLINE"], print_latency=True)
        code.append(f"// trigformer: distributed arithmetic of layer {index}{p.suffix} (alkaid), {p.instances} "
                    f"instance(s) per inference\n{text}")
        figs.append({"name": fn, "product": p.suffix.lstrip("_"), "instances": p.instances, **figures(kernel)})
    return "\n".join(code), figs


def kernels_of(layer: dict) -> list[dict]:
    """A layer description's DA kernel figures (`figures` + name and instances), written by the conversion."""
    kernels = layer.get("da") or []
    if not kernels:
        raise ValueError(f"layer {layer.get('name')!r}: strategy {STRATEGY} without alkaid figures (the layer "
                         "description must come from a conversion with that strategy)")
    return kernels


def add_luts(r, kernels: list[dict]) -> None:
    """The estimate's LUTs of DA kernels: alkaid's cost of each solved graph (its adder bits) times its instances. A
    computed figure of the graph, not synthesis; no DSP."""
    lut = sum(k["cost"] * k["instances"] for k in kernels)
    r.lut += lut
    r.da_lut += lut


def describe(layer) -> dict:
    """The `da` entry of an hls4ml layer's description: its kernels' figures, once the DA pass has solved them."""
    figs = layer.get_attr("da_figures")
    return {"da": figs} if figs else {}


def dense_cost(layer: dict, d, path, r) -> tuple[int, bool, int]:
    """Cost of a Dense whose one product is a DA kernel per token (`d`: its costmodel.Dims): the kernels' LUTs and
    adder depth, II 1, ending on a register; returns what an op's `cost` returns."""
    kernels = kernels_of(layer)
    add_luts(r, kernels)
    add_path(path, kernels, d.wacc)
    return 1, True, d.n_tok * d.n_out * d.wacc


def add_path(path, kernels: list[dict], accum_bits: int) -> None:
    """The kernels (computed side by side) on the critical path: the deepest one's adder depth, each adder at the
    accumulator width's delay (the cost model's adder)."""
    from trigformer.models.ops.costmodel import t_add

    path.op(t_add(accum_bits), max(int(round(k["depth"])) for k in kernels))
