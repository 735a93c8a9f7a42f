"""A Vivado script for the delivered top, for users who have the tool: out-of-context synthesis, optimization,
placement and routing at the configured clock, then the utilization and timing-summary reports `synth report DIR`
reads back (flow.report.rerender, with alkaid's report parsers: nothing hand-written).

    cd DIR/rtl && vivado -mode batch -source vivado_impl.tcl

writes DIR/rtl/vivado/reports/<name>_top_post_route_util.rpt and <name>_top_post_route_timing.rpt (the names and
steps follow da4ml's build_vivado_prj.tcl, which alkaid keeps). The clock constraint is <name>_top.xdc.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = "vivado_impl.tcl"
REPORTS = "vivado/reports"


def report_paths(rtl_dir: Path, name: str) -> tuple[Path, Path]:
    """(utilization, timing summary) report paths the script writes."""
    base = Path(rtl_dir) / REPORTS / f"{name}_top_post_route"
    return base.with_name(base.name + "_util.rpt"), base.with_name(base.name + "_timing.rpt")


def write_script(design, part: str) -> Path:
    """rtl/vivado_impl.tcl and rtl/<name>_top.xdc for the delivered top of `design` (sim.rtl.RTLDesign)."""
    from trigformer.sim.rtl.verilator import sources

    folder = design.folder
    rel = [p.relative_to(folder).as_posix() for p in sources(design, design.top_file)]
    top = design.top_file.stem
    xdc = folder / f"{top}.xdc"
    xdc.write_text(f"create_clock -period {design.clock_ns:.3f} -name clk [get_ports clk]\n")
    util, timing = (p.relative_to(folder).as_posix() for p in report_paths(folder, design.name))
    lines = [
        f"# {top}: Vivado out-of-context implementation of the delivered top (written by trigformer, sim/rtl/vivado.py).",
        f"# Run in this folder: vivado -mode batch -source {SCRIPT}",
        f"# Clock {design.clock_ns:g} ns ({xdc.name}); latency {design.latency} cycles, input register to output register.",
        "set here [file normalize [file dirname [info script]]]",
        "cd $here",
        f"set top {top}",
        f"set part {part}",
        f"file mkdir {REPORTS}",
        "create_project -in_memory -part $part",
        "read_verilog [list " + " ".join(rel) + "]",
        f"read_xdc -mode out_of_context {xdc.name}",
        "synth_design -top $top -part $part -mode out_of_context -flatten_hierarchy full",
        "opt_design",
        "place_design",
        "phys_opt_design",
        "route_design",
        f"report_utilization -file {util}",
        f"report_timing_summary -file {timing}",
        "puts \"trigformer: reports in $here/" + REPORTS + "\"",
        ""]
    path = folder / SCRIPT
    path.write_text("\n".join(lines))
    return path
