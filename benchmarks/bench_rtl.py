"""`synth --rtl` on the default example, cold: time and peak memory of every RTL step. Prints; asserts nothing.

    .venv/bin/python benchmarks/bench_rtl.py [--config models/jet_tagger.yaml] [--weights DIR] [--keep DIR]

Runs `synth CONFIG --rtl --no-csim` in a subprocess with an empty Yosys cache (a cold run: every stage synthesized),
samples the resident memory of the whole process tree (synth, Verilator's compilers, the Yosys jobs) every 0.2 s,
and prints from the run's report.json: trace, pipelining and Verilog generation, the trace-interpreter check, the
Verilator build, the simulation throughput (events/s), Yosys (wall and CPU seconds, jobs), the total, and the peak
memory of the tree. `--weights DIR` reuses a previous synth output's trained weights (no training in the figure).
Targets (issue 11): the whole `synth --rtl` of the default example <= 30 min and <= 16 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants (from /proc)."""
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "models" / "jet_tagger.yaml"))
    ap.add_argument("--weights", type=Path, help="a previous synth output folder (skip training)")
    ap.add_argument("--keep", type=Path, help="write the synth output here (default: a temporary folder)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rtl-") as tmp:
        out = args.keep or Path(tmp) / "out"
        env = {**os.environ, "TRIGFORMER_CACHE": str(Path(tmp) / "cache")}  # cold: no cached Yosys job
        cmd = [str(Path(sys.executable).parent / "synth"), args.config, "--rtl", "--no-csim", "--out", str(out),
               "--force", "-q"]
        if args.weights:
            cmd += ["--weights", str(args.weights)]
        peak = [0]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def sample():
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_rss_bytes(proc.pid))
                time.sleep(0.2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, err = proc.communicate()
        th.join()
        wall = time.perf_counter() - t0
        rep = out / "report.json"
        if not rep.exists():
            print(f"synth exited {proc.returncode} without a report:\n{err[-2000:]}")
            sys.exit(1)
        r = json.loads(rep.read_text())
    rtl = r.get("rtl") or {}
    t = rtl.get("timings") or {}
    res = rtl.get("resources") or {}
    lat = rtl.get("latency") or {}
    print(f"config            {args.config}  (exit {proc.returncode})")
    print(f"design            {len(rtl.get('units', []))} units, {lat.get('cycles')} cycles = {lat.get('ns')} ns, "
          f"II {lat.get('ii')}")
    for key, label in (("trace_s", "trace"), ("pipeline_s", "pipelining"), ("verilog_s", "Verilog generation"),
                       ("interpreter_s", "trace interpreter check"), ("verilator_build_s", "Verilator build")):
        print(f"{label:<18}{t.get(key, 'n/a')} s")
    c = rtl.get("cosim") or {}
    print(f"simulation        {t.get('cosim_events_per_s', 'n/a')} events/s over {c.get('n_events')} events, "
          f"bit-exact fraction {c.get('bit_exact_fraction')}")
    print(f"Yosys             {t.get('yosys_s', 'n/a')} s wall, {res.get('cpu_seconds', 'n/a')} s CPU, "
          f"{res.get('jobs', 'n/a')} jobs ({res.get('yosys', '?')})")
    print(f"total synth --rtl {r.get('timings', {}).get('rtl_s', 'n/a')} s of {wall:.0f} s wall for the whole synth")
    print(f"peak memory       {peak[0] / 2**30:.2f} GB (resident, whole process tree, sampled every 0.2 s)")
    if res.get("source") == "yosys":
        print(f"Yosys counts      LUT {res['LUT']:,}  FF {res['FF']:,}  DSP {res['DSP']:,}  on {res.get('part')}")


if __name__ == "__main__":
    main()
