"""`synth`: the command line. Thin: parses arguments, calls flow.pipeline / flow.report, maps errors to exit codes.

Exit codes: 0 success; 1 wrong or failed: the C-simulation or RTL co-simulation failed or disagrees with the
emulator, or a tool (vendor HLS, Verilator, Yosys) failed (everything is still written); 4 the budget is not met by
some form, everything verified (all written); 2 bad input (nothing written); 3 an internal error (a bug: the
traceback is printed); 130 / 143 interrupted by SIGINT / SIGTERM (nothing written).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from trigformer.flow.options import report_parser, synth_parser

class _Terminated(BaseException):
    """SIGTERM (what `timeout` and CI cancellation send), raised like KeyboardInterrupt so cleanup runs."""


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
    out = Path(result.out_dir)
    parts = ["report.json", "report.html"] + [what for sub, what in (("firmware", "HLS project"), ("rtl", "rtl/"),
                                                                     ("keras", "keras/")) if (out / sub).is_dir()]
    print(f"synth: wrote {out} ({', '.join(parts)})")
    code = exit_code(result.report)
    from trigformer.flow.report.summary import result_line

    print(result_line(result.report, result.out_dir, code), flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from trigformer.flow.config import ConfigError
    from trigformer.flow.outdir import OutputError
    from trigformer.flow.pipeline import UsageError
    from trigformer.flow.run import ToolFailure
    from trigformer.flow.report.rerender import ReportError
    from trigformer.flow.train import WeightsError

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        if argv and argv[0] == "sweep":
            from trigformer.flow.sweep import main as sweep_main

            return sweep_main(argv[1:])
        if argv and argv[0] == "report":
            args = report_parser().parse_args(argv[1:])
            from trigformer.flow.report.rerender import rerender

            return rerender(args.dir)
        args = synth_parser().parse_args(argv)
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
    except ToolFailure as e:
        print(f"synth: {e}; nothing was written", file=sys.stderr)
        return 1
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
