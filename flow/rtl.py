"""Stage (`synth --rtl`): the network as pipelined Verilog, co-simulated and synthesized with open tools.

1. Generate (sim.rtl): every unit's trace of the emulator's arithmetic, pipelined (alkaid), and the network top.
2. Check the chain emulator == trace == RTL, with no gap:
   - the trace's own interpreter (alkaid's Python interpreter: exact) against the emulator, unit by unit, on the first
     `rtl.interpreter_events` events;
   - Verilator: the whole top on every tb_data event, every unit's output compared with the emulator's raw integers
     (and the emulator equals the C-simulation: flow/verify.py).
3. Yosys (sim.rtl.yosys): LUT, FF, DSP, CARRY per unit, in parallel, cached.

The result is report.json["rtl"]; with --rtl the report's primary latency and resources are these (labelled
`rtl` / `yosys`), and the estimate stays beside them.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigformer.flow.progress import stage


def timing_section(syn: dict, design) -> dict:
    """report.json["rtl"]["timing"]: the longest path Yosys finds in every mapped stage (LUT levels, carry and MUXF
    cells, DSP48E2), its delay under the proxy (sim/rtl/timing.py), per unit and for the worst stage, and the stages
    deeper than the clock allows."""
    from trigformer.sim.rtl import timing as T

    per_unit, deep, worst = [], [], None
    for u in syn["units"]:
        t = u["timing"]
        w = t["worst"]
        per_unit.append({"name": u["name"], "stages": len(t["stages"]), "worst_stage": w,
                         "too_deep": t["too_deep"]})
        deep += [{"unit": u["name"], **r} for r in t["stages"] if r["stage"] in t["too_deep"]]
        if w and (worst is None or w["path_ns"] > worst["path_ns"]):
            worst = {"unit": u["name"], **w}
    return {"label": T.LABEL, "source": "yosys ltp -noff after synth_xilinx (one job per stage)",
            "clock_ns": design.clock_ns, "worst_stage": worst, "per_unit": per_unit, "too_deep": deep,
            "model": {"ns_per_lut_level": round(T.T_LUT_LEVEL, 3), "ns_per_carry4": T.T_CARRY4,
                      "ns_per_muxf": T.T_MUXF, "ns_dsp48e2": T.T_DSP_COMB,
                      "calibration": "JEDI-linear post-route periods (README: timing proxy)"}}


def timing_model(design) -> str:
    from trigformer.sim.rtl.timing import model_description

    return model_description(design.clock_ns, design.cutoff, design.cutoff_derived, design.multipliers)


@dataclass
class RTLResult:
    section: dict
    messages: list[str] = field(default_factory=list)

    @property
    def cosim_failed(self) -> bool:
        c = self.section.get("cosim") or {}
        ch = self.section.get("trace_vs_emulator") or {}
        return bool(c.get("mismatched_values") or c.get("failed") or ch.get("mismatched_values"))


def cosim_messages(cosim: dict, against: str) -> list[str]:
    """The messages of a co-simulation section (report.json["rtl"]["cosim"]): why it failed, or how far the RTL
    and `against` (the emulator, HGQ2 Keras) disagree; none when they agree. Shared by --rtl and the HGQ2 flow."""
    if cosim.get("failed"):
        return [f"RTL co-simulation failed: {cosim['failed']}"]
    if cosim.get("mismatched_values"):
        return [f"RTL co-simulation and {against} disagree: {cosim['mismatched_values']} values; first mismatch "
                f"{cosim['first_mismatch']}"]
    return []


def check_tools(rcfg) -> None:
    """Raise sim.rtl.verilator.ToolMissing (exit 2) when a tool --rtl needs is missing, sim.cache.CacheError when
    the Yosys result cache has nowhere to go."""
    from trigformer.sim.rtl.verilator import verilator_env
    from trigformer.sim.rtl.yosys import yosys_command

    try:
        import alkaid  # noqa: F401
    except ImportError:
        from trigformer.sim.rtl.verilator import ToolMissing

        raise ToolMissing("alkaid is not installed (PyPI `alkaid`; `make setup` installs it)") from None
    if rcfg.cosim:
        verilator_env()
    if rcfg.yosys != "none":
        yosys_command(rcfg.yosys)
        from trigformer.sim.cache import check_location

        check_location()  # sim.cache.CacheError (exit 2) for an unusable TRIGFORMER_CACHE, before any work


def _interpreter_check(design, emulator, vals: dict, n: int) -> dict:
    """Every unit's trace, run by alkaid's Python interpreter (exact), against the emulator's raws."""
    from trigformer.sim.rtl import trace_unit, units

    nodes = emulator.nodes
    types = {m.name: m.out_t for m in nodes}
    sizes = {m.name: m.size for m in nodes}
    rows, bad_total, first = [], 0, None
    for members in units(nodes):
        comb, external = trace_unit(members, types, sizes)
        last = members[-1]
        bad = 0
        for e in range(n):
            xin = np.concatenate([types[i].to_float(vals[i][e]) for i in external])
            y = np.asarray(comb(xin), dtype=np.float64)
            raw = np.round(y * 2.0**last.out_t.frac).astype(np.int64)
            wrong = np.flatnonzero(raw != vals[last.name][e])
            bad += len(wrong)
            if len(wrong) and first is None:
                first = {"unit": last.name, "event": e, "element": int(wrong[0]), "trace": int(raw[wrong[0]]),
                         "emulator": int(vals[last.name][e][wrong[0]])}
        bad_total += bad
        rows.append({"unit": last.name, "members": [m.name for m in members], "mismatched_values": bad})
    return {"n_events": n, "mismatched_values": bad_total, "first_mismatch": first, "per_unit": rows,
            "interpreter": "alkaid CombLogic (Python, exact)"}


def _compare(design, out: np.ndarray, traces: dict, y_emu: np.ndarray, vals: dict) -> dict:
    n = len(out)
    bad_events = np.any(out != y_emu, axis=1)
    mism = int(np.count_nonzero(out != y_emu))
    first = None
    per_unit = []
    for unit in design.layers:
        tr = traces.get(unit.name)
        if tr is None:
            continue
        wrong = tr != vals[unit.name]
        bad_events |= wrong.any(axis=1)
        k = int(np.count_nonzero(wrong))
        mism += k
        per_unit.append({"unit": unit.name, "members": unit.members, "mismatched_values": k})
        if k and first is None:
            e, j = (int(v) for v in np.argwhere(wrong)[0])
            first = {"unit": unit.name, "layer": unit.name, "event": e, "element": j, "rtl": int(tr[e, j]),
                     "emulator": int(vals[unit.name][e, j])}
    if first is None and mism:
        e, j = (int(v) for v in np.argwhere(out != y_emu)[0])
        first = {"output": True, "event": e, "element": j, "rtl": int(out[e, j]), "emulator": int(y_emu[e, j])}
    return {"n_events": n, "bit_exact_fraction": float(1 - bad_events.mean()), "mismatched_values": mism,
            "first_mismatch": first, "per_unit": per_unit,
            "compared": "raw integers of the outputs and of every unit's output (the top's trace port)"}


def run(cfg, emulator, x_events: np.ndarray, folder: Path, part: str) -> RTLResult:
    """Generate, check and measure the RTL form of `emulator` on `x_events` (float inputs, as tb_data)."""
    from trigformer.sim import rtl
    from trigformer.sim.emulator import usable_cores

    rcfg = cfg.rtl
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with stage("trace + Verilog (alkaid)", unit="units") as st:
        design = rtl.generate(emulator, folder, cfg.name, cfg.hls.clock_period_ns, rcfg.latency_cutoff,
                              multipliers=cfg.hls.multipliers,
                              on_unit=lambda done, total, name: st.update(done, total, note=f"last: {name}"))
    from trigformer.sim.rtl.vivado import write_script

    write_script(design, part)  # for users with Vivado; `synth report DIR` reads its reports back
    timings["generate_s"] = round(time.perf_counter() - t0, 1)
    timings.update(design.seconds)
    y_emu, vals = emulator.run(x_events, trace=True)
    sec: dict = {"folder": folder.name, "units": design.manifest()["units"], "timings": timings,
                 "latency": {"source": "rtl", "cycles": design.latency, "ns": round(design.latency *
                                                                                    cfg.hls.clock_period_ns, 3),
                             "ii": 1, "clock_ns": cfg.hls.clock_period_ns, "latency_cutoff": design.cutoff,
                             "latency_cutoff_derived": design.cutoff_derived, "multipliers": design.multipliers,
                             "timing_model": timing_model(design),
                             "convention": "input register to output register",
                             "per_layer": [{"name": u.name, "cycles": design.cycles(u),
                                            "ns": round(design.cycles(u) * cfg.hls.clock_period_ns, 3), "ii": 1}
                                           for u in design.layers]}}
    messages: list[str] = []
    t0 = time.perf_counter()
    n_check = min(rcfg.interpreter_events, len(x_events))
    with stage("trace check (alkaid interpreter vs emulator)", note=f"{n_check} events"):
        sec["trace_vs_emulator"] = _interpreter_check(design, emulator, vals, n_check)
    timings["interpreter_s"] = round(time.perf_counter() - t0, 1)
    if sec["trace_vs_emulator"]["mismatched_values"]:
        messages.append(f"RTL trace and emulator disagree: {sec['trace_vs_emulator']['first_mismatch']}")
    jobs = rcfg.jobs or usable_cores()
    if rcfg.cosim:
        from trigformer.sim.rtl import verilator as V

        simdir = folder / "sim"
        try:
            t0 = time.perf_counter()
            with stage("Verilator build", note=f"{len(design.layers)} units, {jobs} jobs"):
                exe, build_s = V.build(design, simdir, jobs=jobs, log=folder / "verilator_build.log")
            timings["verilator_build_s"] = round(build_s, 1)
            with stage("Verilator simulation", note=f"{len(x_events)} events, every unit's output traced"):
                out, traces, rate, measured = V.run(exe, design, vals[emulator.nodes[0].name], simdir)
            timings["cosim_events_per_s"] = round(rate)
            sec["cosim"] = _compare(design, out, traces, y_emu, vals)
            sec["cosim"]["measured_latency_cycles"] = measured  # in_valid -> out_valid, aligning the data compared
            if measured != design.latency:
                sec["cosim"]["failed"] = (f"the testbench measured {measured} cycles from in_valid to out_valid; "
                                          f"the design says {design.latency}")
        except (RuntimeError, OSError) as e:
            sec["cosim"] = {"failed": str(e)[:500], "n_events": int(len(x_events))}
        finally:
            import shutil

            shutil.rmtree(simdir / "obj", ignore_errors=True)  # the build products (hundreds of MB); the log stays
            for f in simdir.glob("*.bin"):
                f.unlink()
        messages += cosim_messages(sec["cosim"], "emulator")
    else:
        sec["cosim"] = {"skipped": "rtl.cosim: false"}
    if rcfg.yosys != "none":
        from trigformer.flow.parts import fractions
        from trigformer.sim.rtl import yosys as Y

        t0 = time.perf_counter()
        try:
            with stage("yosys", unit="jobs", note=f"{jobs} in parallel") as st:
                syn = Y.synthesize(design, jobs=jobs, which=rcfg.yosys,
                                   on_job=lambda done, total, cached: st.update(
                                       done, total, note=f"{jobs} in parallel, {cached} from the cache"))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:  # a failing job never takes synth down
            sec["resources"] = {"failed": str(e)[:500]}
            messages.append(f"Yosys failed: {str(e)[:300]}")
            return RTLResult(sec, messages)
        timings["yosys_s"] = round(time.perf_counter() - t0, 1)
        tot = syn["total"]
        sec["resources"] = {"source": "yosys", **{k: tot[k] for k in ("LUT", "FF", "DSP", "BRAM_18K")},
                            "CARRY4": tot["CARRY4"], "MUXF": tot["MUXF"], "SRL": tot["SRL"], "URAM": tot["URAM"],
                            "fraction": fractions(tot, part), "part": part,
                            "ff_source": "pipeline register bits of every unit (what Yosys counts with the stage "
                                         "hierarchy kept; no pruning across stages: an upper bound), plus the "
                                         "delivered top's registers (residual delay lines, valid pipeline)",
                            "top_register_bits": design.top_register_bits,
                            "per_layer": [{k: u[k] for k in ("name", "members", "LUT", "FF", "DSP", "CARRY4",
                                                               "BRAM_18K")} for u in syn["units"]],
                            "yosys": syn["yosys"], "jobs": syn["jobs"], "cached_jobs": syn["cached"],
                            "cpu_seconds": syn["cpu_seconds"],
                            "method": "Yosys synth_xilinx -family xcup, one job per pipeline stage (tables as logic), "
                                      "summed per unit"}
        sec["timing"] = timing_section(syn, design)
        deep, worst = sec["timing"]["too_deep"], sec["timing"]["worst_stage"]
        if deep:
            messages.append(f"{sec['timing']['label']}: {len(deep)} stage(s) deeper than the {design.clock_ns:g} ns "
                            f"clock allows; worst {worst['unit']} {worst['stage']} ~{worst['path_ns']:g} ns")
    else:
        sec["resources"] = {"skipped": "rtl.yosys: none"}
    return RTLResult(sec, messages)


def vivado_section(rtl_dir: Path, name: str, part: str, clock_ns: float) -> dict | None:
    """The delivered top's post-route utilization and timing, when rtl/vivado_impl.tcl has been run (sim.rtl.vivado),
    read with alkaid's Vivado report parsers; None when the reports are not there."""
    from alkaid._cli.report import parse_timing_summary_vivado, parse_utilization_vivado

    from trigformer.flow.parts import fractions
    from trigformer.sim.rtl.vivado import report_paths

    util_path, timing_path = report_paths(rtl_dir, name)
    if not util_path.is_file():
        return None
    u = parse_utilization_vivado(util_path.read_text(errors="replace"))
    # a Block RAM Tile is one RAMB36 or two RAMB18 (Vivado counts a RAMB18 as half a tile)
    res = {"source": "vivado", "LUT": u["LUT"], "FF": u["FF"], "DSP": u["DSP"],
           "BRAM_18K": round(2 * u["Block RAM Tile"]), "URAM": u["URAM"], "CARRY8": u["CARRY8"],
           "LUT_as_memory": u["LUT as Memory"], "part": part, "report": util_path.name}
    res["fraction"] = fractions(res, part)
    sec = {"resources": res, "method": "Vivado out-of-context synthesis, place and route of the delivered top "
                                      "(rtl/vivado_impl.tcl); reports read with alkaid's parsers"}
    if timing_path.is_file():
        t = parse_timing_summary_vivado(timing_path.read_text(errors="replace"))
        wns = float(t["WNS(ns)"])
        sec["timing"] = {"source": "vivado", "clock_ns": clock_ns, "wns_ns": wns, "whs_ns": float(t["WHS(ns)"]),
                         "met": wns >= 0 and float(t["WHS(ns)"]) >= 0, "achieved_period_ns": round(clock_ns - wns, 3),
                         "report": timing_path.name}
    return sec
