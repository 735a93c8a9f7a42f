"""Run the vendor HLS tool on a written hls4ml project and read its reports back.

The command lines copy hls4ml 1.3.0's own ``build()`` (hls4ml/backends/vivado/vivado_backend.py and
hls4ml/backends/vitis/vitis_backend.py):

* Vivado: ``vivado_hls -f build_prj.tcl "reset=False csim=False synth=True cosim=False validation=False
  export=False vsynth=False fifo_opt=False"`` in the project folder (the tcl parses ``key=value`` from argv).
* Vitis: hls4ml writes the options to ``build_opt.tcl`` (``array set opt {...}``) and runs
  ``vitis-run --tcl build_prj.tcl --mode hls``; its build_prj.tcl sources build_opt.tcl and ignores argv. Vitis HLS
  releases without ``vitis-run`` (before 2023.2) run the same script as ``vitis_hls -f build_prj.tcl``.

Reports are read with hls4ml's ``parse_vivado_report`` (csynth XML, cosim rpt, vivado_synth.rpt); it finds the top
function from ``project.tcl`` (``set project_name``), so a project not called "myproject" works. hls4ml has no
per-layer parser, so the per-instance tables of ``<top>_csynth.rpt`` are read here.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

_TOOLS = {"vivado": ("vivado_hls",), "vitis": ("vitis-run", "vitis_hls")}


class VendorToolMissing(RuntimeError):
    """The vendor executable is not on PATH; the message names it and the PATH searched."""


class VendorBuildFailed(RuntimeError):
    """The vendor tool ran and returned a non-zero exit code."""


def _key(backend: str) -> str:
    key = backend.strip().lower()
    if key not in _TOOLS:
        raise ValueError(f"unknown backend {backend!r}; expected 'Vitis' or 'Vivado'")
    return key


def find_tool(backend: str) -> str | None:
    """Path of the HLS executable for `backend` ("Vitis": vitis-run, else vitis_hls; "Vivado": vivado_hls)."""
    for exe in _TOOLS[_key(backend)]:
        path = shutil.which(exe)
        if path:
            return path
    return None


def missing_tool_message(backend: str, vsynth: bool = False) -> str | None:
    """Why a vendor run for `backend` cannot start here, or None when the tools are on PATH."""
    if find_tool(backend) is None:
        return str(_missing(_TOOLS[_key(backend)], f"needed to run {backend} HLS"))
    if vsynth and shutil.which("vivado") is None:
        return str(_missing(("vivado",), "needed for the Vivado logic synthesis step (vsynth)"))
    return None


def _missing(names: tuple[str, ...], why: str) -> VendorToolMissing:
    return VendorToolMissing(
        f"{' / '.join(names)} not found on PATH ({os.environ.get('PATH', '')}); {why}. Source the AMD/Xilinx "
        "settings64.sh of your Vivado HLS / Vitis installation, or use the estimate (no vendor numbers without it).")


def build_command(project_dir: str | os.PathLike, backend: str, tool: str, *, reset: bool = False,
                  csim: bool = False, synth: bool = True, cosim: bool = False, validation: bool = False,
                  export: bool = False, vsynth: bool = False, fifo_opt: bool = False) -> list[str]:
    """argv for `tool`; for Vitis also (re)writes build_opt.tcl exactly as hls4ml's VitisBackend.build() does."""
    if _key(backend) == "vivado":
        return [tool, "-f", "build_prj.tcl",
                f"reset={reset} csim={csim} synth={synth} cosim={cosim} validation={validation} "
                f"export={export} vsynth={vsynth} fifo_opt={fifo_opt}"]
    opts = dict(reset=reset, csim=csim, synth=synth, cosim=cosim, validation=validation, export=export,
                vsynth=vsynth, fifo_opt=fifo_opt)
    text = "array set opt {\n" + "".join(f"    {k:<10} {int(v)}\n" for k, v in opts.items()) + "}\n"
    (Path(project_dir) / "build_opt.tcl").write_text(text)
    if Path(tool).name == "vitis_hls":
        return [tool, "-f", "build_prj.tcl"]
    return [tool, "--tcl", "build_prj.tcl", "--mode", "hls"]


def run_vendor(project_dir: str | os.PathLike, backend: str, csim: bool = False, synth: bool = True,
               cosim: bool = False, vsynth: bool = False, *, reset: bool = False, validation: bool = False,
               export: bool = False) -> None:
    """Run the project's build_prj.tcl with the vendor tool (output goes to the terminal)."""
    project_dir = Path(project_dir)
    if not (project_dir / "build_prj.tcl").is_file():
        raise FileNotFoundError(f"{project_dir / 'build_prj.tcl'} not found: write the hls4ml project first")
    tool = find_tool(backend)
    if tool is None:
        raise _missing(_TOOLS[_key(backend)], f"needed to run {backend} HLS on {project_dir}")
    if vsynth and shutil.which("vivado") is None:  # build_prj.tcl execs `vivado -mode batch` for vsynth
        raise _missing(("vivado",), "needed for the Vivado logic synthesis step (vsynth)")
    cmd = build_command(project_dir, backend, tool, reset=reset, csim=csim, synth=synth, cosim=cosim,
                        validation=validation, export=export, vsynth=vsynth)
    rc = subprocess.run(cmd, cwd=project_dir, check=False).returncode
    if rc != 0:
        raise VendorBuildFailed(f"{' '.join(cmd)} exited with code {rc} in {project_dir}")


def _top_name(project_dir: Path) -> str | None:
    tcl = project_dir / "project.tcl"
    if not tcl.is_file():
        return None
    m = re.search(r'set project_name "([^"]+)"', tcl.read_text())
    return m.group(1) if m else None


def _num(x) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _int(x) -> int | None:
    v = _num(x)
    return None if v is None else int(v)


def _table_rows(lines: list[str], start: int) -> tuple[list[list[str]], list[list[str]]]:
    """Header rows and data rows of the '+---' framed table whose first line is at/after `start`."""
    i = start
    while i < len(lines) and not lines[i].strip().startswith("+-"):
        i += 1
    header, rows, sep = [], [], 0
    while i < len(lines) and lines[i].strip()[:1] in ("+", "|"):
        s = lines[i].strip()
        if s.startswith("+"):
            sep += 1
        else:
            cells = [c.strip() for c in s.strip("|").split("|")]
            (header if sep < 2 else rows).append(cells)
        i += 1
    return header, [r for r in rows if r and r[0] not in ("", "Total")]


def _instances(rpt: Path) -> list[dict]:
    """Per-instance latency and resources from the Detail/Instance tables of a csynth .rpt (Vivado or Vitis)."""
    lines = rpt.read_text(errors="replace").splitlines()
    lat_at = res_at = None
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("== "):
            section = line
        if line.strip().startswith("* Instance:"):
            if "Performance" in section and lat_at is None:
                lat_at = i
            elif "Utilization" in section and res_at is None:
                res_at = i
    out: dict[str, dict] = {}
    if lat_at is not None:
        _, rows = _table_rows(lines, lat_at)
        for r in rows:
            nums = r[2:-1]  # latency min/max, [absolute min/max,] interval min/max; last cell is the pipeline type
            if len(nums) >= 4:
                out.setdefault(r[0], {"name": r[0], "module": r[1]}).update(
                    cycles=_int(nums[1]), ii=_int(nums[-1]))
    if res_at is not None:
        header, rows = _table_rows(lines, res_at)
        names = [c.replace("DSP48E", "DSP") for c in header[-1]] if header else []
        for r in rows:
            d = out.setdefault(r[0], {"name": r[0], "module": r[1] if len(r) > 1 else ""})
            for col, val in zip(names[2:], r[2:]):
                if col in ("BRAM_18K", "DSP", "FF", "LUT", "URAM"):
                    d[col] = _int(val)
    return list(out.values())


def parse_vendor_reports(project_dir: str | os.PathLike, backend: str) -> dict | None:
    """Latency and resources from the csynth (and cosim / Vivado synth) reports, or None when no csynth report."""
    from hls4ml.report import parse_vivado_report

    _key(backend)
    project_dir = Path(project_dir)
    top = _top_name(project_dir)
    if top is None:
        return None
    sol_dirs = sorted((project_dir / f"{top}_prj").glob(f"solution*/syn/report/{top}_csynth.xml"))
    if not sol_dirs:
        return None
    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints a line per missing report
        rep = parse_vivado_report(str(project_dir))
    if not rep or "CSynthesisReport" not in rep:
        raise RuntimeError(f"{sol_dirs[0]} exists but hls4ml could not read it (is {top}_prj/vivado_hls.app or "
                           "hls.app there?)")
    cs = rep["CSynthesisReport"]
    clock = float(cs["TargetClockPeriod"])
    latency = {"source": "csynth", "cycles": int(cs["WorstLatency"]), "best_cycles": int(cs["BestLatency"]),
               "ii": int(cs["IntervalMax"]), "clock_ns": clock, "estimated_clock_ns": _num(cs["EstimatedClockPeriod"])}
    cosim = rep.get("CosimReport") or {}
    if _num(cosim.get("LatencyMax")) is not None:
        latency.update(source="cosim", cycles=int(float(cosim["LatencyMax"])), status=cosim.get("Status"),
                       best_cycles=int(float(cosim["LatencyMin"])))
        if _num(cosim.get("IntervalMax")) is not None:  # "NA" when the testbench ran a single transaction
            latency["ii"] = int(float(cosim["IntervalMax"]))
    latency["ns"] = round(latency["cycles"] * clock, 3)
    rpt = sol_dirs[0].with_suffix(".rpt")
    inst = _instances(rpt) if rpt.is_file() else []
    if inst:
        latency["per_layer"] = [{"name": d["name"], "module": d["module"], "cycles": d.get("cycles"),
                                 "ns": None if d.get("cycles") is None else round(d["cycles"] * clock, 3),
                                 "ii": d.get("ii")} for d in inst]

    keys = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")
    avail = {k: _num(cs.get("Available" + k)) for k in keys}
    res = {"source": "csynth", **{k: int(cs[k]) for k in keys if _num(cs.get(k)) is not None}}
    vs = rep.get("VivadoSynthReport") or {}
    if vs:
        res = {"source": "vsynth", "csynth": {k: v for k, v in res.items() if k != "source"}}
        for k, src in (("LUT", "LUT"), ("FF", "FF"), ("DSP", "DSP48E"), ("URAM", "URAM")):
            if _num(vs.get(src)) is not None:
                res[k] = int(float(vs[src]))
        if _num(vs.get("BRAM_18K")) is not None:  # hls4ml's "BRAM_18K" is the 36 Kb "Block RAM Tile" count
            res["BRAM_18K"] = int(round(2 * float(vs["BRAM_18K"])))
    res["available"] = {k: int(v) for k, v in avail.items() if v}
    res["fraction"] = {k: res[k] / avail[k] for k in keys if k in res and avail[k]}
    if inst:
        res["per_layer"] = [{"name": d["name"], "module": d["module"],
                             **{k: int(d[k]) for k in keys if d.get(k) is not None}} for d in inst]
    return {"latency": latency, "resources": res}
