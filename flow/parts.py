"""FPGA part capacities (one table) and short-name resolution.

Capacities are from AMD/Xilinx product selection guides (UltraScale+ DS890 / product tables; UltraScale DS890;
Zynq UltraScale+ DS891; 7-series DS180). BRAM is counted in 18 Kb halves, as HLS reports do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    short: str
    full: str  # default package / speed grade used when only the short name is given
    LUT: int
    FF: int
    DSP: int
    BRAM_18K: int
    URAM: int = 0
    family: str = ""


PARTS: dict[str, Part] = {p.short: p for p in (
    Part("xcvu9p", "xcvu9p-flga2104-2L-e", 1_182_240, 2_364_480, 6_840, 4_320, 960, "Virtex UltraScale+"),
    Part("xcvu13p", "xcvu13p-flga2577-2-e", 1_728_000, 3_456_000, 12_288, 5_376, 1_280, "Virtex UltraScale+"),
    Part("xcvu11p", "xcvu11p-flga2577-1-e", 1_296_000, 2_592_000, 9_216, 4_032, 960, "Virtex UltraScale+"),
    Part("xcku115", "xcku115-flvb2104-2-e", 663_360, 1_326_720, 5_520, 4_320, 0, "Kintex UltraScale"),
    Part("xcku15p", "xcku15p-ffva1760-2-e", 522_720, 1_045_440, 1_968, 1_968, 128, "Kintex UltraScale+"),
    Part("xczu9eg", "xczu9eg-ffvb1156-2-e", 274_080, 548_160, 2_520, 1_824, 0, "Zynq UltraScale+"),
    Part("xczu7ev", "xczu7ev-ffvc1156-2-e", 230_400, 460_800, 1_728, 624, 96, "Zynq UltraScale+"),
    Part("xczu3eg", "xczu3eg-sbva484-1-e", 70_560, 141_120, 360, 432, 0, "Zynq UltraScale+"),
    Part("xc7vx690t", "xc7vx690tffg1927-2", 433_200, 866_400, 3_600, 2_940, 0, "Virtex-7"),
    # Alveo U250 die (same fabric as xcvu13p) and Zynq-7020: capacities as printed in Vivado HLS csynth reports
    Part("xcu250", "xcu250-figd2104-2L-e", 1_728_000, 3_456_000, 12_288, 5_376, 1_280, "Alveo (Virtex UltraScale+)"),
    Part("xc7z020", "xc7z020clg400-1", 53_200, 106_400, 220, 280, 0, "Zynq-7000"),
    Part("xc7z007s", "xc7z007sclg225-1", 14_400, 28_800, 66, 100, 0, "Zynq-7000"),
)}


def resolve_part(name: str) -> tuple[str, Part]:
    """Return (full part name to give the tools, capacity record). KeyError for an unknown device."""
    key = name.strip().lower()
    if key in PARTS:
        return PARTS[key].full, PARTS[key]
    for short, part in PARTS.items():  # a full name: device, then package and speed grade ("-..." or "ffg...")
        rest = key[len(short):]
        if key.startswith(short) and (rest[:1] == "-" or rest[:1].isalpha()):
            return name.strip(), part
    raise KeyError(name)


RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K")


def fractions(counts: dict, part: str) -> dict[str, float]:
    """Each resource of `counts` as a fraction of `part` (this table's capacities): the one place a fraction of the
    part is computed (estimate, vendor reports, Yosys, the budget verdict)."""
    _, cap = resolve_part(part)
    out = {}
    for k in RESOURCES:
        if isinstance(counts.get(k), (int, float)):
            avail = getattr(cap, k)
            out[k] = counts[k] / avail if avail else (float("inf") if counts[k] else 0.0)
    return out
