"""The firmware's names of a user's layers: safe, unique C++ (and Verilog) identifiers."""

from __future__ import annotations

import re
import unicodedata

# Verilog-2005 / SystemVerilog words a layer name must not be: the --rtl form names modules and signals after units.
_HDL_RESERVED = set("""always and assign automatic begin buf case casex casez cell config deassign default defparam
design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive endspecify endtable
endtask event for force forever fork function generate genvar if ifnone initial inout input instance integer join
large liblist library localparam macromodule medium module nand negedge nmos nor not notif0 notif1 or output
parameter pmos posedge primitive pull0 pull1 pulldown pullup rcmos real realtime reg release repeat rnmos rpmos
rtran rtranif0 rtranif1 scalared signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use vectored wait wand weak0 weak1 while wire wor xnor xor
logic bit byte int shortint longint string type typedef enum struct union always_ff always_comb always_latch
interface endinterface package endpackage import export class endclass""".split())
C_NAME_MAX = 40  # leaves room for the suffixes the flow and hls4ml append (_relu_table_t, _q2, ...) under C's 63


def c_name_problem(name: str, project: str | None = None) -> str | None:
    """Why a layer name cannot name C++ (types <name>_*_t, an input's variable and its bridge copy <name>_ap) and
    Verilog in the generated project; None if it can."""
    from trigformer.flow.config import _generated_clash

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or len(name) > C_NAME_MAX:
        return "not a C identifier"
    if name in _HDL_RESERVED:
        return "a Verilog keyword"
    if project is not None and project in (name, f"{name}_ap"):
        return "the project's top function"
    # the project name may not be "particles" because it names the input variable: as a layer name it is that input
    return None if name == "particles" else _generated_clash(name)


def c_names(names: list[str], project: str | None = None) -> dict[str, str]:
    """A safe, unique C++/Verilog identifier for every layer name, deterministic: a name that is already safe keeps
    it; any other becomes its ASCII letters, digits and _ (my-dense -> my_dense, head.1 -> head_1), with _l, _l2, ...
    appended until it is safe and unique (class -> class_l; a-b -> a_b_l when a_b is taken)."""
    out = {n: n for n in names if c_name_problem(n, project) is None}
    taken = set(out.values())
    for n in names:
        if n in out:
            continue
        ascii_n = unicodedata.normalize("NFKD", n).encode("ascii", "ignore").decode()
        base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]+", "_", ascii_n)).strip("_")[:C_NAME_MAX - 6] or "layer"
        if not base[0].isalpha():
            base = "l_" + base
        cand, i = base, 1
        while cand in taken or c_name_problem(cand, project) is not None:
            cand = f"{base}_l" if i == 1 else f"{base}_l{i}"
            i += 1
        out[n] = cand
        taken.add(cand)
    return out
