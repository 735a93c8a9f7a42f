"""One point = one `synth` subprocess in its own folder, run inside a Dask task; and the clusters that run them.

Point folder `DIR/points/<key>/`:
    model.yaml          the resolved config (written by the client before the point is submitted)
    firmware/           synth's output folder (synth builds it atomically)
    stdout.log, stderr.log
    result.json         the record, written atomically once the point has ended: status, exit code, wall time

A point is *finished* when result.json parses, carries `finished: true` and this folder's key, is not an
interruption (exit 130 / 143 as recorded by earlier versions), and (for exit codes 0, 1 and 4, which promise
"everything written") firmware/report.json exists. Anything else is rerun.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RECORD = "result.json"
OUT = "firmware"

# One thread per point: TensorFlow, OpenMP and BLAS each size their pools to the machine otherwise. TensorFlow's
# intra-op pool is the exception: trigformer fixes it (models/__init__.py TRAIN_THREADS), because its size changes the
# trained weights, and a point must give what `synth` gives for the same YAML.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TF_NUM_INTEROP_THREADS": "1"}

# The child asks Linux to SIGTERM it when the thread that started it goes away (a worker killed at Ctrl-C or by the
# batch system), so no orphaned synth keeps writing into a point folder; then it runs the CLI module like `-m`.
_LAUNCHER = """import os, runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # local workers ignore Ctrl-C; the point does not
try:
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
except Exception:
    pass
if os.getppid() != int(os.environ.pop("TRIGFORMER_SWEEP_PARENT", os.getppid())):
    sys.exit(143)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""

# Exits by these signals are interruptions (Ctrl-C, batch eviction, kill): not recorded, so a rerun retries them.
# So are the exit codes 128 + N a program gives when it handles one of them and exits (synth: 130 SIGINT, 143
# SIGTERM): Ctrl-C to the process group reaches the point's synth, which ends cleanly with 130.
_INTERRUPT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL}
_INTERRUPT_EXITS = {128 + int(s) for s in _INTERRUPT_SIGNALS}


def read_record(point_dir: Path) -> dict | None:
    """The point's result record if the point is finished (see the module docstring), else None."""
    try:
        rec = json.loads((point_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("finished") is not True or rec.get("key") != point_dir.name:
        return None
    if rec.get("exit_code") in _INTERRUPT_EXITS or rec.get("status") == "interrupted":  # recorded by an older sweep
        return None
    if rec.get("exit_code") in (0, 1, 4) and rec.get("status") in ("ok", "failed", "over_budget", "not_met") and \
            not (point_dir / OUT / "report.json").is_file():
        return None
    return rec


def run_point(point_dir: str, synth_args: list[str], timeout_s: float | None = None,
              module: str = "trigformer.flow.cli") -> dict:
    """Run `python -m trigformer.flow.cli model.yaml --out firmware --force -q ARGS` in `point_dir` (inside a Dask task).

    Returns the record. Finished points (any exit code, a crash, a timeout) are written to result.json atomically;
    interrupted ones (killed by SIGINT/SIGTERM/SIGHUP/SIGKILL, or exit 128 + one of them, e.g. synth's 130 and 143)
    are returned with `finished: false` and not written."""
    d = Path(point_dir)
    done = read_record(d)
    if done is not None:  # another sweep on the same folder finished it meanwhile
        return {**done, "skipped": True}
    for stale in list(d.glob(f".{OUT}.tmp-*")) + list(d.glob(f".{OUT}.old-*")):  # a killed synth's leftovers
        _rmtree(stale)
    args = [str(d / "model.yaml"), "--out", str(d / OUT), "--force", "-q", *synth_args]
    cmd = [sys.executable, "-c", _LAUNCHER, module, *args]
    env = {**os.environ, **THREAD_ENV, "TRIGFORMER_SWEEP_PARENT": str(os.getpid()),
           "PYTHONPATH": os.pathsep.join(p for p in (_code_root(), os.environ.get("PYTHONPATH")) if p)}
    started = time.time()
    t0 = time.perf_counter()
    status, error = None, None
    with open(d / "stdout.log", "wb") as out, open(d / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=d, env=env)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            status, error = "timeout", f"killed after point_timeout_s = {timeout_s:g} s"
        except BaseException:  # the task itself is torn down: take the child with it, record nothing
            proc.kill()
            proc.wait()
            raise
    wall = time.perf_counter() - t0
    sig = _signame(code)
    rec = {"key": d.name, "finished": True, "exit_code": code, "signal": sig, "wall_s": round(wall, 1),
           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)), "host": socket.gethostname(),
           "command": [sys.executable, "-m", module, *args]}
    report = _read_report(d)
    if status is None:
        status, error = _classify(code, report, d)
    rec.update(status=status, error=error)
    if status == "interrupted":
        rec["finished"] = False
        return rec
    write_atomic(d / RECORD, json.dumps(rec, indent=1) + "\n")
    return rec


def _classify(code: int, report: dict | None, d: Path) -> tuple[str, str | None]:
    if code == 0:
        return "ok", None
    if code < 0 and -code in {int(s) for s in _INTERRUPT_SIGNALS}:
        return "interrupted", f"killed by {_signame(code)}"
    if code in _INTERRUPT_EXITS:
        return "interrupted", f"exit {code} ({signal.Signals(code - 128).name})"
    if code == 4 and report is not None:  # synth's budget code: verified, all written, over the budget
        return "over_budget", "; ".join((report.get("budget") or {}).get("violations") or []) or "budget not met"
    if code == 1 and report is not None:  # synth's documented exit 1: wrong or a tool failed, all written
        from trigformer.flow.report.verdict import failures

        return "failed", "; ".join(failures(report)) or "synth exited 1"
    tail = stderr_tail(d)
    if code < 0:
        return "crashed", f"killed by {_signame(code)}" + (f": {tail}" if tail else "")
    return ("bad_input" if code == 2 else "error"), tail or f"exit code {code}"


def _signame(code: int) -> str | None:
    """SIGSEGV for a return code of -11; None for a normal exit."""
    if code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def stderr_tail(d: Path, n: int = 8) -> str:
    """The last `n` meaningful lines of the point's stderr (TensorFlow's start-up chatter skipped)."""
    try:
        text = (d / "stderr.log").read_text(errors="replace")
    except OSError:
        return ""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip() and "cuda" not in ln.lower()]
    return "\n".join(lines[-n:])


def _read_report(d: Path) -> dict | None:
    try:
        rep = json.loads((d / OUT / "report.json").read_text())
        return rep if isinstance(rep, dict) else None
    except (OSError, ValueError):
        return None


def _code_root() -> str:
    """The folder holding the `trigformer` package this worker imported: the point runs the same code."""
    import trigformer

    return str(Path(trigformer.__file__).resolve().parent.parent)


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary sibling, fsync, rename: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- clusters


def jobqueue_cluster(spec):
    """An HTCondorCluster / SLURMCluster from the validated `cluster:` section. No job is submitted until it is
    scaled (see `start_client`)."""
    if spec.type == "htcondor":
        from dask_jobqueue import HTCondorCluster as cls
    else:
        from dask_jobqueue import SLURMCluster as cls
    return cls(**spec.cluster_kwargs())


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def start_client(spec, scheduler: str | None, workers: int | None):
    """(client, cluster or None, description). `--scheduler` wins over the cluster section."""
    import logging

    from distributed import Client

    if scheduler:
        return Client(scheduler), None, f"existing scheduler {scheduler}"
    if spec.type == "local":
        from distributed import LocalCluster

        n = workers or spec.workers or usable_cores()
        # Worker processes inherit an ignored SIGINT: Ctrl-C reaches the client (which closes the cluster) and the
        # point subprocesses (the launcher restores it), not the workers, which would each print a traceback.
        try:
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            old = None
        try:
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                                   dashboard_address=":0")
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return Client(cluster), cluster, f"local cluster, {n} worker{'s' * (n != 1)}"
    cluster = jobqueue_cluster(spec)
    if workers:
        cluster.scale(n=workers)
        what = f"{workers} workers"
    elif spec.scale.jobs:
        cluster.scale(jobs=spec.scale.jobs)
        what = f"{spec.scale.jobs} jobs"
    else:
        cluster.adapt(minimum_jobs=spec.scale.adapt.minimum_jobs, maximum_jobs=spec.scale.adapt.maximum_jobs)
        what = f"adaptive, {spec.scale.adapt.minimum_jobs}-{spec.scale.adapt.maximum_jobs} jobs"
    return Client(cluster), cluster, f"{spec.type} cluster ({what})"


def dashboard_link(client) -> str | None:
    """The dashboard URL when the scheduler serves one (it needs bokeh installed)."""
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return client.dashboard_link
    except Exception:
        return None
