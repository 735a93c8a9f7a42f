"""`synth`: the command line. Thin: parses arguments, calls flow.pipeline / flow.report, maps errors to exit codes.

Exit codes: 0 success; 1 wrong or failed: the C-simulation or RTL co-simulation failed or disagrees with the
emulator, or a tool (vendor HLS, Verilator, Yosys) failed (everything is still written); 4 the budget is not met by
some form, everything verified (all written); 2 bad input (nothing written); 3 an internal error (a bug: the
traceback is printed); 130 / 143 interrupted by SIGINT / SIGTERM (nothing written).
"""

from __future__ import annotations

import argparse
import signal
import sys
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


class _Terminated(BaseException):
    """SIGTERM (what `timeout` and CI cancellation send), raised like KeyboardInterrupt so cleanup runs."""


def _main_parser() -> argparse.ArgumentParser:
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


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synth report",
                                description="Re-render report.json / report.html of an output folder; parses vendor "
                                            "reports found in the project (e.g. after running Vitis HLS elsewhere).")
    p.add_argument("dir", type=Path, help="an output folder written by `synth`")
    return p


def _on_sigterm(signum, frame):
    raise _Terminated()


def finish(result) -> int:
    """After `synth`: terminal summary, messages and the exit code."""
    from trigformer.flow.report import exit_code, render_terminal

    render_terminal(result.report)
    for m in result.messages:
        print(f"synth: {m}")
    if result.report.get("vendor_error"):
        print(f"synth: vendor tool failed: {result.report['vendor_error']} (figures above are the estimate)")
    print(f"synth: wrote {result.out_dir} (report.json, report.html, HLS project)")
    code = exit_code(result.report)
    from trigformer.flow.report.summary import result_line

    print(result_line(result.report, result.out_dir, code), flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from trigformer.flow.config import ConfigError
    from trigformer.flow.outdir import OutputError
    from trigformer.flow.pipeline import UsageError
    from trigformer.flow.report.rerender import ReportError
    from trigformer.flow.train import WeightsError

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        if argv and argv[0] == "sweep":
            from trigformer.flow.sweep import main as sweep_main

            return sweep_main(argv[1:])
        if argv and argv[0] == "report":
            args = _report_parser().parse_args(argv[1:])
            from trigformer.flow.report.rerender import rerender

            return rerender(args.dir)
        args = _main_parser().parse_args(argv)
        if args.epochs is not None and args.epochs < 0:
            raise UsageError(f"--epochs must be >= 0, got {args.epochs}")
        import trigformer

        return finish(trigformer.synth(args.config, part=args.part, out=args.out, force=args.force,
                                       weights=args.weights, epochs=args.epochs, csim=args.csim, backend=args.backend,
                                       clock=args.clock, vendor_synth=args.vendor_synth, cosim=args.cosim,
                                       vsynth=args.vsynth, fit=args.fit, rtl=args.rtl, progress=not args.quiet,
                                       size_check=args.size_check))
    except (ConfigError, UsageError, OutputError, ReportError, WeightsError) as e:
        print(f"synth: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # read-only filesystem, full disk, a path that is a file...
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"synth: error: {where}{e.strerror or e} (nothing was written)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synth: interrupted (SIGINT); nothing was written", file=sys.stderr)
        return 130
    except _Terminated:
        print("synth: terminated (SIGTERM); nothing was written", file=sys.stderr)
        return 143
    except Exception:
        import traceback

        traceback.print_exc()
        print("synth: internal error (a bug in trigformer; the traceback is above)", file=sys.stderr)
        return 3
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
