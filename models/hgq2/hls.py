"""The traced HLS form of an HGQ2 model: alkaid's HLS code generation of the same trace the Verilog comes from
(`<name>.hh`/`.cc` with ap_fixed, `#pragma HLS PIPELINE II=1`), compiled with g++ by alkaid's bridge (its bundled
ap_types headers) and run on the same events as the RTL, compared with HGQ2's Keras inference as integers. No HLS
tool has scheduled it here: it has no latency or resource figure of its own (not a form in report["forms"])."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_and_compile(comb, folder: Path, name: str, clock_ns: float, part: str):
    from alkaid.codegen import HLSModel

    model = HLSModel(comb, folder, name, flavor="vitis", part_name=part, clock_period=clock_ns, print_latency=False)
    model.compile(openmp=False)
    return model


def simulate(model, x: np.ndarray) -> np.ndarray:
    y = model.predict(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float64), n_threads=-1)
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def clean(folder: Path) -> None:
    """The compiled bridge (loaded already) goes; the sources stay."""
    for f in (folder / "sim").glob("*.so"):
        f.unlink()
