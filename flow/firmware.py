"""Stage: the trained quantized model -> hls4ml project on disk (+ its emulator and tb_data), and its C-simulation.

The project is written once, with layer tracing on (hls4ml writes the per-layer trace calls inside
`#ifndef __SYNTHESIS__`, so synthesis does not see them), and C-simulated by `trigformer.sim.csim` in child processes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from trigformer.flow.convert import convert, layer_descriptions
from trigformer.flow.progress import stage
from trigformer.sim.csim import CsimResult
from trigformer.sim.emulator import Emulator, EmulatorSettings, as_inputs

TB_SRC = ".tb_src"  # testbench sources hls4ml reads on every write(); removed by `finalize`
CSIM_LOG = "csim.log"


@dataclass
class Firmware:
    hls_model: object  # hls4ml ModelGraph
    emulator: Emulator
    layers: list[dict]  # per-layer descriptions for the cost model
    project_dir: Path
    traced: list | None = None  # hls.form trace: the units the C++ was written from (sim/rtl/hls.py TracedUnit)


def deterministic_stamp(cfg) -> str:
    """hls4ml names the csim library with a random stamp; derive it from the config for reproducible projects."""
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:8]


def write_project(cfg, fixed, part_full: str, work: Path, x_tb,
                  settings: EmulatorSettings = EmulatorSettings.tuned(), overrides: dict | None = None):
    """Convert and write the hls4ml project into `work`, with tb_data from `x_tb` and the emulator's outputs.
    `overrides`: per-layer reuse factor and strategy (`synth --fit`). Returns (hls_model, emulator)."""
    hls_model = convert(fixed, cfg, work, part_full, overrides=overrides)
    hls_model.config.trace_output = True
    emu = Emulator.from_hls_model(hls_model, fixed, settings)
    src = work / TB_SRC
    src.mkdir(parents=True, exist_ok=True)
    # a multi-input model's testbench reads each event's inputs from one line, concatenated in argument order
    x_line = np.concatenate([a.reshape(len(a), -1) for a in as_inputs(x_tb, len(emu.input_names))], axis=1)
    for name, arr in (("tb_input_features", x_line.astype(np.float32)), ("tb_output_predictions", emu.predict(x_tb))):
        np.save(src / f"{name}.npy", arr.reshape(len(arr), -1))
    hls_model.config.config["InputData"] = str(src / "tb_input_features.npy")
    hls_model.config.config["OutputPredictions"] = str(src / "tb_output_predictions.npy")
    if cfg.hls.form == "trace":  # the C++ from the RTL units' traces (sim/rtl/hls.py)
        from trigformer.sim.rtl.hls import apply

        apply(hls_model, emu, cfg.hls.multipliers)
    hls_model.write()
    keep_stamp(hls_model, work, deterministic_stamp(cfg))
    return hls_model, emu


def keep_stamp(hls_model, work: Path, stamp: str) -> None:
    """hls4ml's writer gives every write a random stamp (its make_stamp pass), which lands in build_lib.sh and
    hls4ml_config.yml: put the deterministic one back, so the same config writes the same project."""
    written = hls_model.config.get_config_value("Stamp")
    if written == stamp:
        return
    # YAML quotes a stamp that would read as a number (all digits, or e.g. 1e234567): match either form, and write
    # the new one as YAML writes it
    yml_new = yaml.safe_dump({"Stamp": stamp}, width=1000)
    for name, pattern, new in (("build_lib.sh", rf"^LIB_STAMP={written}\n", f"LIB_STAMP={stamp}\n"),
                               ("hls4ml_config.yml", rf"^Stamp: (['\"]?){written}\1\n", yml_new)):
        path = work / name
        text, n = re.subn(pattern, lambda _m: new, path.read_text(), count=1, flags=re.M)
        if n != 1:
            raise RuntimeError(f"{name}: hls4ml's stamp {written} is not where trigformer expects it")
        path.write_text(text)
    hls_model.config.config["Stamp"] = stamp


def build(cfg, fixed, part_full: str, work: Path, x_tb: np.ndarray, overrides: dict | None = None) -> Firmware:
    hls_model, emu = write_project(cfg, fixed, part_full, work, x_tb, overrides=overrides)
    emu.save(work / "emulator")
    from trigformer.sim.rtl.hls import TRACE_UNITS_ATTR

    return Firmware(hls_model, emu, layer_descriptions(hls_model, cfg), work, getattr(hls_model, TRACE_UNITS_ATTR, None))


def csim(hls_model, x) -> CsimResult:
    """C-simulate the written project on `x` (an array, or one per model input) with every traced layer (isolated:
    see sim.csim)."""
    from trigformer.sim import csim as runner

    cfg = hls_model.config
    traced = {layer.name: int(layer.get_output_variable().size()) for layer in hls_model.get_layers()
              if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False)}
    n_out = int(hls_model.get_output_variables()[0].size())
    project = Path(cfg.get_output_dir())
    n_events = len(x[0] if isinstance(x, (list, tuple)) else x)
    with stage("C-simulation build (g++)") as st:
        return runner.run(project, cfg.get_project_name(), cfg.get_config_value("Stamp"), x, traced, n_out,
                          log=project / CSIM_LOG,
                          on_run=lambda: st.next("C-simulation run", note=f"{n_events} events, every layer traced"))


def finalize(work: Path, final: Path) -> None:
    """After hls4ml's last write: drop the testbench sources (tb_data/ holds them) and make the paths that
    hls4ml_config.yml records point at the project's final place instead of the temporary build folder."""
    shutil.rmtree(work / TB_SRC, ignore_errors=True)
    cfg_file = work / "hls4ml_config.yml"
    text = cfg_file.read_text()
    for name in ("tb_input_features", "tb_output_predictions"):
        text = text.replace(f"{work / TB_SRC / name}.npy", f"{final / 'tb_data' / name}.dat")
    cfg_file.write_text(text.replace(str(work), str(final)))
