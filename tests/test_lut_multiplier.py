"""The LUT-bound variable product `multiplier_lut` (sim/rtl/multiplier_lut.v, written by sim.rtl.bind_verilog for
hls.multipliers lut / auto): bit-exact against Python integer products on every input pair (Verilator), and smaller
than Yosys's own mapping of `a * b` (alkaid's `multiplier` body) by Yosys's count on the same script.

References: Python's integers (the product of the operands read as signed or unsigned, reduced mod 2**BW_OUT and
read back at the output's width, as alkaid's module defines it), and Yosys's LUT count of alkaid's module."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from trigformer.sim.rtl import MULTIPLIER_LUT
from trigformer.sim.rtl.verilator import verilator_env

# (BW_INPUT0, BW_INPUT1, SIGNED0, SIGNED1, BW_OUT): 1-bit operands, unsigned, mixed signedness, outputs narrower
# and wider than the full product, both operand orders (the module recodes the narrower one), up to 10 x 10
CASES = [(1, 1, 0, 0, 2), (1, 1, 1, 1, 2), (1, 1, 1, 1, 3), (1, 4, 1, 0, 5), (4, 1, 0, 1, 5), (1, 6, 1, 1, 7),
         (2, 2, 1, 1, 4), (2, 3, 0, 1, 5), (3, 2, 1, 0, 5), (3, 3, 0, 0, 6), (4, 4, 1, 1, 8), (4, 4, 1, 1, 3),
         (5, 3, 1, 1, 8), (5, 5, 0, 1, 10), (6, 6, 1, 1, 12), (6, 6, 0, 0, 12), (7, 3, 1, 1, 10), (3, 7, 1, 0, 10),
         (7, 7, 1, 1, 14), (7, 7, 1, 1, 16), (8, 8, 1, 1, 16), (8, 8, 0, 0, 16), (8, 8, 1, 0, 16), (8, 8, 0, 1, 9),
         (8, 8, 1, 1, 5), (8, 8, 1, 1, 20), (8, 8, 0, 0, 19), (9, 5, 1, 1, 14), (10, 4, 1, 1, 14),
         (4, 10, 0, 1, 14), (10, 4, 0, 0, 7), (10, 10, 1, 1, 20), (10, 10, 0, 1, 20), (9, 9, 0, 0, 18)]


def _verilog(cases) -> str:
    ports, insts = [], []
    for k, (w0, w1, s0, s1, wo) in enumerate(cases):
        ports += [f"input [{w0 - 1}:0] a{k}", f"input [{w1 - 1}:0] b{k}", f"output [{wo - 1}:0] y{k}"]
        insts.append(f"  multiplier_lut #({w0}, {w1}, {s0}, {s1}, {wo}) m{k} (.in0(a{k}), .in1(b{k}), .out(y{k}));")
    return "module mtest(\n  " + ",\n  ".join(ports) + ");\n" + "\n".join(insts) + "\nendmodule\n"


def _testbench(cases) -> str:
    """Every instance sees every pair of its own operands once (pair n: in0 = n's low bits, in1 = the next ones)
    and writes its outputs in pair order as uint64."""
    body = []
    n_max = max(w0 + w1 for w0, w1, *_ in cases)
    for k, (w0, w1, *_) in enumerate(cases):
        body.append(f"    if (n < (1ull << {w0 + w1})) {{ t->a{k} = n & ((1ull << {w0}) - 1); "
                    f"t->b{k} = (n >> {w0}) & ((1ull << {w1}) - 1); }}")
    body.append("    t->eval();")
    for k, (w0, w1, *_) in enumerate(cases):
        body.append(f"    if (n < (1ull << {w0 + w1})) {{ uint64_t v = t->y{k}; fwrite(&v, 8, 1, f[{k}]); }}")
    opens = "\n".join(f'  f[{k}] = fopen("out{k}.bin", "wb");' for k in range(len(cases)))
    return ("#include <cstdio>\n#include <cstdint>\n#include \"Vmtest.h\"\n#include \"verilated.h\"\n"
            f"int main(int argc, char** argv) {{\n  Verilated::commandArgs(argc, argv);\n  Vmtest* t = new Vmtest;\n"
            f"  FILE* f[{len(cases)}];\n{opens}\n  for (uint64_t n = 0; n < (1ull << {n_max}); ++n) {{\n"
            + "\n".join(body) + f"\n  }}\n  for (int k = 0; k < {len(cases)}; ++k) fclose(f[k]);\n"
            "  delete t;\n  return 0;\n}\n")


def _reference(w0: int, w1: int, s0: int, s1: int, wo: int) -> np.ndarray:
    n = np.arange(1 << (w0 + w1), dtype=np.int64)
    a, b = n & ((1 << w0) - 1), n >> w0
    if s0:
        a = np.where(a >= 1 << (w0 - 1), a - (1 << w0), a)
    if s1:
        b = np.where(b >= 1 << (w1 - 1), b - (1 << w1), b)
    return (a * b) & ((1 << wo) - 1)  # exact: |a * b| < 2**20; the output's raw bits (two's complement)


@pytest.mark.parametrize("form", ["used", "array", "booth", "chain_std", "chain_q"])
def test_multiplier_lut_bit_exact(form, tmp_path):
    """Exhaustive: every input pair of every case, Verilator's output == the Python product's low BW_OUT bits; the
    module as used (its rule picks the rows per width) and each of its four forms on every case (its FORCE switch,
    which benchmarks/lut_multiplier.py uses: array and Booth rows in a tree, standard and b0 + 2Q Booth rows in a
    chain)."""
    env = verilator_env()
    (tmp_path / "mtest.v").write_text(_verilog(CASES))
    (tmp_path / "tb.cpp").write_text(_testbench(CASES))
    text = MULTIPLIER_LUT.read_text()
    assert text.count("localparam FORCE = 0;") == 1
    force = {"used": 0, "array": 1, "booth": 2, "chain_std": 3, "chain_q": 4}[form]
    (tmp_path / "multiplier_lut.v").write_text(text.replace("localparam FORCE = 0;", f"localparam FORCE = {force};"))
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "--top-module", "mtest", "-Wall", "-Wno-fatal",
           "-Wno-DECLFILENAME", "--Mdir", "obj", "-CFLAGS", "-O1", "-o", "Vtb", "tb.cpp", "mtest.v", "multiplier_lut.v"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    r = subprocess.run([str(tmp_path / "obj" / "Vtb")], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    bad = []
    for k, case in enumerate(CASES):
        got = np.fromfile(tmp_path / f"out{k}.bin", dtype="<u8").astype(np.int64)
        want = _reference(*case)
        if got.shape != want.shape or not np.array_equal(got, want):
            wrong = np.flatnonzero(got != want) if got.shape == want.shape else [0]
            bad.append((case, int(wrong[0]), len(wrong)))
    assert not bad, f"(case, first wrong pair, count): {bad}"


def test_multiplier_lut_lints_clean_as_alkaids_binder_builds_it(tmp_path):
    """alkaid's Verilator binder (the HGQ2 flow's co-simulation) builds with -Wall and warnings fatal: the module at
    every case's widths, as written into a project, must pass that lint (an N = 16 model's build failed on 113
    width warnings before the module switched them off)."""
    (tmp_path / "mtest.v").write_text("`timescale 1ns / 1ps\n/* verilator lint_off DECLFILENAME */\n" + _verilog(CASES))
    (tmp_path / "multiplier_lut.v").write_text(MULTIPLIER_LUT.read_text())
    cmd = ["verilator", "--lint-only", "-Wall", "-Wno-UNUSEDSIGNAL", "-Wno-ALWNEVER", "--top-module", "mtest",
           "mtest.v", "multiplier_lut.v"]
    r = subprocess.run(cmd, cwd=tmp_path, env=verilator_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def _yosys_luts(module_text: str, tmp: Path, w0: int = 8, w1: int = 8) -> int:
    """LUTs of a w0 x w1 signed product by Yosys on the flow's own stage script (uncached)."""
    from trigformer.sim.rtl import yosys as Y

    tmp.mkdir()
    (tmp / "multiplier_lut.v").write_text(module_text)
    (tmp / "mtop.v").write_text(f"module mtop(input [{w0 - 1}:0] a, input [{w1 - 1}:0] b, output [{w0 + w1 - 1}:0] y);\n"
                                f"  multiplier_lut #({w0}, {w1}, 1, 1, {w0 + w1}) m(.in0(a), .in1(b), .out(y));\n"
                                "endmodule\n")
    (tmp / "job.ys").write_text(Y.script(["multiplier_lut.v", "mtop.v"], "mtop", depth=True))
    r = subprocess.run(Y.yosys_command() + ["-q", "-l", "job.log", "job.ys"], cwd=tmp, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-1000:]
    cells = Y.parse_stat((tmp / "job.log").read_text())
    assert not cells.get("DSP48E2")
    return Y.summarize(cells)["LUT"]


def test_multiplier_lut_smaller_than_yosys_mul(tmp_path):
    """8 x 8 signed: our module maps to fewer LUTs than alkaid's `a * b` body (the flow's former multiplier_lut),
    both counted by Yosys in this test."""
    from trigformer.sim.rtl.verilator import ToolMissing

    alkaid = Path(pytest.importorskip("alkaid").__file__).parent / "codegen/rtl/verilog/source/multiplier.v"
    try:
        theirs = _yosys_luts(alkaid.read_text().replace("module multiplier #", "module multiplier_lut #", 1),
                             tmp_path / "mul")
    except ToolMissing as e:
        pytest.skip(str(e))
    ours = _yosys_luts(MULTIPLIER_LUT.read_text(), tmp_path / "ours")
    assert 0 < ours < theirs, (ours, theirs)


@pytest.mark.parametrize("w0,w1", [(6, 6), (7, 7), (7, 6)])
def test_multiplier_lut_chain_smaller_than_tree(w0, w1, tmp_path):
    """The module as used (rows added one by one to a running sum) against its balanced adder tree of the same Booth
    rows (FORCE = 2), at the widths the N = 8 / 16 HGQ2 models have most of: fewer LUTs by Yosys's count."""
    from trigformer.sim.rtl.verilator import ToolMissing

    text = MULTIPLIER_LUT.read_text()
    try:
        used = _yosys_luts(text, tmp_path / "used", w0, w1)
    except ToolMissing as e:
        pytest.skip(str(e))
    tree = _yosys_luts(text.replace("localparam FORCE = 0;", "localparam FORCE = 2;"), tmp_path / "tree", w0, w1)
    assert 0 < used < tree, (used, tree)
