"""synth's command-line options: one parser, read by the CLI (flow.cli) and by the sweep, which checks its points'
flags against it before anything runs (flow.sweep.spec)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """Turn a model.yaml into a trained, quantized Transformer and a verified hls4ml HLS project.

  synth model.yaml --part xcvu9p          train, convert, C-simulate, emulate, estimate, report
  synth model.keras --part xcvu9p         a trained Keras-2/QKeras model (.keras, .h5, SavedModel) with defaults
  synth report firmware/jet_tagger        re-render the report of an existing output folder
  synth sweep sweep.yaml [--out DIR]      many model.yaml variants on Dask, results + Pareto plots (README)

exit codes: 0 ok: verified and within budget; 1 wrong or failed: csim or RTL co-simulation failed or != emulator,
            a vendor/RTL tool run failed (all outputs written); 4 budget not met by a form (hls, rtl), everything
            verified (all written); 2 bad input or a missing tool (nothing written); 3 internal error;
            130/143 interrupted (nothing written)
"""



def synth_parser() -> argparse.ArgumentParser:
    """`synth CONFIG [flags]`: also checks the flags of a sweep's points (flow.sweep.spec)."""
    p = argparse.ArgumentParser(prog="synth", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config", type=Path, help="model.yaml (see README for every key), or a trained model file "
                                             "(.keras, .h5, a SavedModel folder) to run with the defaults")
    p.add_argument("--part", help="FPGA part, short (xcvu9p, xcvu13p, xcku115, xczu9eg, ...) or full; overrides hls.part")
    p.add_argument("--out", type=Path, help="output folder (default: firmware/<name>/)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder written by synth")
    p.add_argument("--weights", type=Path,
                   help="skip training: a previous output folder (keras/*.weights.h5) or a weights file of the "
                        "quantized model")
    p.add_argument("--epochs", type=int, help="override training.epochs (0: a model file, quantized as trained)")
    p.add_argument("--no-csim", dest="csim", action="store_false", help="skip the g++ C-simulation (emulator only)")
    p.add_argument("--backend", choices=["Vitis", "Vivado"], help="override hls.backend")
    p.add_argument("--clock", type=float, metavar="NS",
                   help="override hls.clock_period_ns (with --rtl it also sets the pipeline's stages per clock unless "
                        "rtl.latency_cutoff is set)")
    p.add_argument("--synth", dest="vendor_synth", action="store_true",
                   help="run C synthesis with vitis-run or vitis_hls (Vitis) / vivado_hls (Vivado); must be on PATH")
    p.add_argument("--cosim", action="store_true", help="add RTL co-simulation with tb_data (needs the vendor tool)")
    p.add_argument("--vsynth", action="store_true", help="add Vivado logic synthesis (needs the vendor tool)")
    p.add_argument("--fit", action="store_true",
                   help="choose each layer's reuse factor and strategy to meet the budget (on the estimate; no "
                        "retraining); report.json['fit'] has the settings and the points tried")
    p.add_argument("--rtl", action="store_true",
                   help="also write the network as pipelined Verilog (rtl/), co-simulate it with Verilator against "
                        "the emulator and count its resources with Yosys (settings: the rtl: section)")
    p.add_argument("--no-size-check", dest="size_check", action="store_false",
                   help="go on when the estimate, made before training from the config, is more than 5x the part's "
                        "LUT or DSP (default: exit 2 before training)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no stage lines or progress bars (the report and the RESULT line are still printed)")
    return p


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synth report",
                                description="Re-render report.json / report.html of an output folder; parses vendor "
                                            "reports found in the project (e.g. after running Vitis HLS elsewhere).")
    p.add_argument("dir", type=Path, help="an output folder written by `synth`")
    return p
