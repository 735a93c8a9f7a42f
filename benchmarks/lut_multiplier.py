"""Yosys's mapping of one LUT-bound variable product: alkaid's `multiplier` body (`a * b`, as the flow had it) vs
our sim/rtl/multiplier_lut.v as used (`ours`: Booth rows added one by one to a running sum) and in two of its other
forms (its FORCE switch: `array`, plain rows in a balanced adder tree; `tree`, the Booth rows in that tree), on
the flow's own Yosys script (sim/rtl/yosys.py: synth_xilinx -family xcup, the product kept off the DSP48E2s,
`ltp -noff`). Prints LUT, CARRY4, MUXF cells and the longest path (`depth`: LUT
levels L, MUXF7/8/9 M and CARRY4 C on it, sim/rtl/timing.py parse_ltp) per width. Asserts nothing.

    PYTHONPATH=. /work/venv3/bin/python benchmarks/lut_multiplier.py [--yosys system|yowasp] [--widths 8x8,7x3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from trigformer.sim.rtl import MULTIPLIER_LUT
from trigformer.sim.rtl.yosys import run_yosys, summarize, version

ALKAID = Path(__import__("alkaid").__file__).parent / "codegen/rtl/verilog/source/multiplier.v"
WIDTHS = [(n, n) for n in range(2, 11)] + [(7, 3), (10, 4), (3, 7), (12, 6), (12, 12), (16, 8)]


def top(w0: int, w1: int, signed: int) -> str:
    return (f"module mtop(input [{w0 - 1}:0] a, input [{w1 - 1}:0] b, output [{w0 + w1 - 1}:0] y);\n"
            f"  multiplier_lut #({w0}, {w1}, {signed}, {signed}, {w0 + w1}) m(.in0(a), .in1(b), .out(y));\nendmodule\n")


def measure(module_text: str, w0: int, w1: int, signed: int, which: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "multiplier_lut.v").write_text(module_text)
        (d / "mtop.v").write_text(top(w0, w1, signed))
        r = run_yosys([d / "multiplier_lut.v", d / "mtop.v"], "mtop", which, depth=True)
    s = summarize(r["cells"])
    return {"LUT": s["LUT"], "CARRY4": s["CARRY4"] + 2 * s["CARRY8"], "MUXF": s["MUXF"],
            "levels": r["depth"]["lut_levels"], "carry_path": r["depth"]["carry4"], "muxf_path": r["depth"]["muxf"]}


def alkaid_lut_text() -> str:
    """The flow's former multiplier_lut: alkaid's module renamed (sim.rtl.bind_verilog before this module)."""
    return ALKAID.read_text().replace("module multiplier #", '(* use_dsp = "no" *)\nmodule multiplier_lut #', 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yosys", default="auto")
    ap.add_argument("--widths", default="")
    ap.add_argument("--signed", type=int, default=1)
    args = ap.parse_args()
    widths = [tuple(int(x) for x in w.split("x")) for w in args.widths.split(",")] if args.widths else WIDTHS
    ours = MULTIPLIER_LUT.read_text()
    assert "localparam FORCE = 0;" in ours
    designs = {"a*b": alkaid_lut_text(), "array": ours.replace("localparam FORCE = 0;", "localparam FORCE = 1;"),
               "tree": ours.replace("localparam FORCE = 0;", "localparam FORCE = 2;"), "ours": ours}
    print(f"{version(args.yosys)}; {'signed' if args.signed else 'unsigned'} x {'signed' if args.signed else 'unsigned'}"
          f", full-width output; source: yosys (synth_xilinx -family xcup, ltp -noff)")
    head = "  ".join(f"{n + ' ' + k:>13}" for n in designs for k in ("LUT", "CARRY4", "MUXF", "depth"))
    print(f"{'width':>6}  {head}")
    for w0, w1 in widths:
        cells = []
        for text in designs.values():
            m = measure(text, w0, w1, args.signed, args.yosys)
            cells += [m["LUT"], m["CARRY4"], m["MUXF"], f"{m['levels']}L+{m['muxf_path']}M+{m['carry_path']}C"]
        print(f"{f'{w0}x{w1}':>6}  " + "  ".join(f"{c:>13}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
