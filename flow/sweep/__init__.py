"""`synth sweep sweep.yaml`: many model.yaml variants, each a normal `synth` run in its own folder, on a Dask
LocalCluster, an existing scheduler or an HTCondor/Slurm cluster (dask-jobqueue); results.csv/json and sweep.html.

    DIR/points/<key>/     one folder per point (see flow.sweep.runner); <key> hashes the validated config + flags
    DIR/results.csv, DIR/results.json, DIR/sweep.html

Exit codes: 0 every point ok; 1 some point failed or missed its budget (all results written); 2 bad sweep.yaml
(nothing run), more points than --max-points, a bad or unreachable --scheduler (nothing written); 130 interrupted
(finished points are kept; interrupted points are rerun by the same command).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from trigformer.flow.sweep.spec import MAX_POINTS, Point, Sweep, SweepError, load_sweep

__all__ = ["main", "run_sweep", "load_sweep", "Sweep", "Point", "SweepError", "Summary"]


# Statuses of a point that ran to the end and verified: within budget, or over it (a result, not an error).
DONE = ("ok", "over_budget")


@dataclass
class Summary:
    out: Path
    rows: list[dict]
    ran: int = 0
    skipped: int = 0
    interrupted: bool = False
    cluster: str | None = None
    counts: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if all(r["status"] in DONE for r in self.rows) else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synth sweep", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="sweep.yaml (base, grid, random, synth_args, cluster; see README)")
    p.add_argument("--out", type=Path, help="sweep folder (default: firmware/sweep_<sweep file name>/); rerunning "
                                            "into the same folder skips finished points")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--max-points", type=int, metavar="N", default=MAX_POINTS,
                   help=f"refuse a sweep of more than N points before expanding it (default {MAX_POINTS:,})")
    p.add_argument("--workers", type=int, help="local workers (default: cluster.workers, else the usable cores); "
                                               "for htcondor/slurm: scale to N workers instead of cluster.scale")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.workers is not None and args.workers < 1:
        print(f"synth sweep: error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    if args.max_points < 1:
        print(f"synth sweep: error: --max-points must be >= 1, got {args.max_points}", file=sys.stderr)
        return 2
    try:
        if args.scheduler is not None:
            check_scheduler(args.scheduler)
        sweep = load_sweep(args.sweep, args.max_points)
    except SweepError as e:
        print(f"synth sweep: error: {e}", file=sys.stderr)
        return 2
    out = args.out or Path("firmware") / f"sweep_{args.sweep.stem}"
    import signal

    def _term(signum, frame):  # a batch system or `kill` stopping the sweep: end it like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        summary = run_sweep(sweep, out, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
    except SweepError as e:
        print(f"synth sweep: error: {e}", file=sys.stderr)
        return 2
    return summary.exit_code


def check_scheduler(address: str) -> None:
    """A Dask scheduler address (tcp://host:port, tls://, ws://, wss:// or host:port), else SweepError naming
    --scheduler: checked before anything is read or written."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address, strict=False)
        host, port = get_address_host_port(address, strict=False)
        if scheme not in ("tcp", "tls", "ws", "wss") or not host or any(c.isspace() for c in address) \
                or not 0 < int(port) < 65536:
            raise ValueError
    except (ValueError, TypeError):
        raise SweepError(f"--scheduler {address!r}: not a Dask scheduler address (e.g. tcp://host:8786)") from None


def run_sweep(sweep: Sweep, out: Path, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> Summary:
    """Run every unfinished point of `sweep` under `out`, then write results.csv/json and sweep.html."""
    from trigformer.flow.report.terminal import output_console
    from trigformer.flow.sweep.results import make_row, write_html, write_results
    from trigformer.flow.sweep.runner import read_record, write_atomic

    console = output_console(highlight=False)  # in a log: wide lines, not wrapped at 80 columns
    out = Path(out)
    records: dict[str, dict] = {}
    pending: list[Point] = []
    for p in sweep.points:
        rec = read_record(out / "points" / p.key)
        if rec is not None:
            records[p.key] = rec
        else:
            pending.append(p)
    summary = Summary(out, [], skipped=len(sweep.points) - len(pending))
    dup = f" ({sweep.duplicates} duplicate{'s' * (sweep.duplicates != 1)} merged)" if sweep.duplicates else ""
    console.print(f"synth sweep: {len(sweep.points)} points{dup}: {len(pending)} to run, {summary.skipped} "
                  f"skipped (finished before) -> {out}")

    ran: set[str] = set()
    rows_cache: dict[str, dict] = {}

    def rows() -> list[dict]:  # a row is read once per state of its point (a sweep may have thousands)
        for p in sweep.points:
            if p.key not in rows_cache:
                rows_cache[p.key] = make_row(p, records.get(p.key), out / "points" / p.key, p.key in ran)
        return [rows_cache[p.key] for p in sweep.points]

    def write_configs():  # the client writes every point's config; workers read it (shared filesystem)
        import yaml

        for p in pending:
            d = out / "points" / p.key
            d.mkdir(parents=True, exist_ok=True)
            varied = ", ".join(f"{k}={v}" for k, v in p.varied.items()) or "the base config"
            write_atomic(d / "model.yaml", f"# sweep point {p.key} of {sweep.path}: {varied}\n"
                                           + yaml.safe_dump(p.config, sort_keys=False))

    if pending:
        summary.interrupted = _run_pending(sweep, pending, out, scheduler, workers, progress, console, records,
                                           ran, rows_cache, summary, lambda: write_results(out, rows(), sweep),
                                           write_configs)
        summary.ran = len(ran)
    out.mkdir(parents=True, exist_ok=True)  # interrupted before any point was written: the results still are
    summary.rows = rows()
    write_results(out, summary.rows, sweep)
    write_html(out, summary.rows, sweep, sweep.points)
    for r in summary.rows:
        summary.counts[r["status"]] = summary.counts.get(r["status"], 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    console.print(f"synth sweep: {counts}; ran {summary.ran}, skipped {summary.skipped}. Wrote {out}/results.csv, "
                  "results.json, sweep.html")
    for r in summary.rows:
        if r["status"] not in DONE and r.get("error"):
            first = str(r["error"]).strip().splitlines()[-1]
            console.print(f"  {r['key']} {r['status']} (exit {r['exit_code']}): {first}", markup=False)
    if summary.interrupted:
        left = sum(1 for p in sweep.points if not (records.get(p.key) or {}).get("finished"))
        console.print(f"synth sweep: interrupted; finished points are kept, {left} point{'s' * (left != 1)} not "
                      "finished (interrupted or not started) have no record. Rerun the same command to run them.")
    return summary


def _run_pending(sweep, pending, out, scheduler, workers, progress, console, records, ran, rows_cache, summary,
                 flush, write_configs) -> bool:
    """Connect, write the points' configs, submit them and collect their records; True when interrupted by Ctrl-C.
    An unreachable --scheduler is a SweepError raised before anything is written."""
    from trigformer.flow.progress import reporting, stage
    from trigformer.flow.sweep.runner import dashboard_link, run_point, start_client

    client = cluster = None
    futures = {}
    try:
        if sweep.cluster.type == "local" and not scheduler:
            workers = min(workers or sweep.cluster.workers or _cores(), len(pending))
        try:
            client, cluster, summary.cluster = start_client(sweep.cluster, scheduler, workers)
        except (OSError, TimeoutError) as e:
            if not scheduler:
                raise
            raise SweepError(f"--scheduler {scheduler}: cannot connect ({str(e).splitlines()[0][:200]}); nothing "
                             "was written") from None
        link = dashboard_link(client)
        if link and not scheduler:  # the scheduler runs in this process: its dashboard needs bokeh here
            import importlib.util

            if importlib.util.find_spec("bokeh") is None:
                link += " (its plots need `pip install 'bokeh>=3.1'`)"
        console.print(f"synth sweep: {summary.cluster}" + (f"; dashboard {link}" if link else ""), markup=False)
        from distributed import as_completed

        write_configs()
        for p in pending:
            fut = client.submit(run_point, str((out / "points" / p.key).resolve()), p.synth_args,
                                sweep.point_timeout_s, key=f"point-{p.key}", pure=False)
            futures[fut] = p
        counts = {"ok": 0, "over budget": 0, "failed": 0}
        with reporting(progress), stage("sweep points", total=len(pending), unit="points") as bar:
            last_flush = time.monotonic()
            for fut in as_completed(list(futures)):
                p = futures[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # the task could not run (worker lost, ...): not recorded, a rerun retries
                    rec = {"key": p.key, "finished": False, "status": "error", "exit_code": None,
                           "error": f"dask task failed: {type(e).__name__}: {e}"}
                records[p.key] = rec
                ran.add(p.key)
                rows_cache.pop(p.key, None)
                st = rec.get("status")
                counts["ok" if st == "ok" else "over budget" if st == "over_budget" else "failed"] += 1
                bar.advance(1, note=", ".join(f"{n} {k}" for k, n in counts.items()))
                if time.monotonic() - last_flush > 20:  # live results for long sweeps
                    flush()
                    last_flush = time.monotonic()
        return False
    except KeyboardInterrupt:
        console.print("synth sweep: interrupted (Ctrl-C or SIGTERM): stopping the workers; finished points are kept")
        return True
    finally:
        for closer in ((lambda: client.cancel(list(futures))) if client and futures else None,
                       client.close if client else None, cluster.close if cluster else None):
            if closer is not None:
                try:
                    closer()
                except Exception:
                    pass


def _cores() -> int:
    from trigformer.flow.sweep.runner import usable_cores

    return usable_cores()
