"""C-simulation of a written hls4ml project, isolated from the calling process.

hls4ml's own `compile()` / `trace()` build the project with its build_lib.sh and then run the shared library inside
the Python process, so an assert, a segfault or an endless loop in the generated C++ takes the caller down. Here
the library is built with the same script in a subprocess, and run in a child Python process (NumPy and ctypes
only) that calls the project's C bridge exactly as hls4ml's `trace()` does: `allocate_trace_storage`, the top
function `<name>_double` per event, `collect_trace_output`, `free_trace_storage`. Doubles, not floats, carry the
values, so every fixed-point value up to 53 bits comes back exact. A failure of either step becomes a `CsimResult`
with a one-line error and the full log, never an exception or a dead process.

    python -m trigformer.sim.csim REQUEST.json      (the child; REQUEST names the library, the inputs and the outputs)
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Read when a C-simulation starts (tests lower them; a run may pass its own).
COMPILE_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 1800


@dataclass
class CsimResult:
    status: str  # ok | compile_failed | crashed | timeout
    outputs: np.ndarray | None = None  # [events, n_out] float64
    trace: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> [events, size] float64
    error: str | None = None  # one line, for the terminal and report.json
    log: Path | None = None  # compiler and runtime output

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def library_path(project_dir: Path, name: str, stamp: str) -> Path:
    return Path(project_dir) / "firmware" / f"{name}-{stamp}.so"


def run(project_dir: Path, name: str, stamp: str, x, traced: dict[str, int], n_out: int,
        log: Path, compile_timeout: float | None = None, run_timeout: float | None = None,
        on_run=None) -> CsimResult:
    """Build the written project (build_lib.sh, g++) and run `x` through it with layer tracing.

    x: [events, ...] for a single-input model, or a list of such arrays, one per top-function input in order.

    traced: {layer name: values per event} of the layers whose outputs the bridge saves (hls4ml `Trace: true`).
    The log (build output, then the child's stderr) is written to `log`; the library, the build's object files and
    the scratch files are removed afterwards, whatever happened. Timeouts: COMPILE_TIMEOUT_S / RUN_TIMEOUT_S unless
    given. `on_run`: called once the build succeeded, before the events run (progress lines)."""
    compile_timeout = COMPILE_TIMEOUT_S if compile_timeout is None else compile_timeout
    run_timeout = RUN_TIMEOUT_S if run_timeout is None else run_timeout
    project_dir = Path(project_dir).resolve()  # absolute: the child changes its folder before writing outputs
    lib = library_path(project_dir, name, stamp)
    scratch = project_dir / ".csim"
    parts: list[str] = []
    try:
        code, out, err = _run_group(["bash", "build_lib.sh"], compile_timeout, cwd=project_dir)
        parts.append(out + err)
        if code is None:
            return CsimResult("timeout", error=f"the C++ build took longer than {compile_timeout:g} s", log=log)
        if code != 0 or not lib.is_file():
            return CsimResult("compile_failed", error="g++ failed to build the project: " + _first_error(out + err),
                              log=log)
        scratch.mkdir(exist_ok=True)
        inputs = []
        for i, a in enumerate(x if isinstance(x, (list, tuple)) else [x]):
            inputs.append(str(scratch / f"x{i}.npy"))
            np.save(inputs[-1], np.ascontiguousarray(a, dtype=np.float64).reshape(len(a), -1))
        request = {"library": str(lib), "top": f"{name}_double", "inputs": inputs,
                   "outputs": str(scratch / "y.npz"), "n_out": int(n_out), "traced": traced,
                   "cwd": str(project_dir / "firmware")}
        (scratch / "request.json").write_text(json.dumps(request))
        if on_run is not None:
            on_run()
        code, _, err = _run_group([sys.executable, "-m", "trigformer.sim.csim", str(scratch / "request.json")], run_timeout,
                                  env=_child_env())
        parts.append(err)
        if code is None:
            return CsimResult("timeout", error=f"the C-simulation ran longer than {run_timeout:g} s", log=log)
        if code != 0:
            return CsimResult("crashed", error=_crash_message(code, err), log=log)
        with np.load(scratch / "y.npz") as z:
            outputs = z["__outputs__"]
            trace = {k: z[k] for k in z.files if k != "__outputs__"}
        return CsimResult("ok", outputs, trace, log=log)
    finally:
        log.write_text("".join(p if p.endswith("\n") or not p else p + "\n" for p in parts))
        lib.unlink(missing_ok=True)
        for obj in (f"{name}.o", f"{name}_bridge.o"):  # build_lib.sh removes them only when it succeeds
            (project_dir / obj).unlink(missing_ok=True)
        if scratch.exists():
            for f in scratch.iterdir():
                f.unlink()
            scratch.rmdir()


def _run_group(cmd: list[str], timeout: float, started=None, **kw) -> tuple[int | None, str, str]:
    """Run `cmd` in a process group of its own: (exit code or None on timeout, stdout, stderr). On a timeout, and
    when the caller is interrupted (Ctrl-C, SIGTERM), the whole group is killed and gone before this returns: the
    g++ processes build_lib.sh starts included, which would otherwise go on writing into the project folder.
    `started(proc)`: called once the process runs (sim.rtl.yosys keeps its parallel jobs to kill them at once)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True, **kw)
    try:
        if started is not None:
            started(proc)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return None, out or "", err or ""
    except BaseException:
        _kill_group(proc)
        for f in (proc.stdout, proc.stderr):
            f.close()
        raise


def _kill_group(proc: subprocess.Popen, wait_s: float = 10.0) -> None:
    """SIGKILL the group of `proc` and wait (at most `wait_s`) until none of its members runs any more."""
    import time

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + wait_s  # the other members die asynchronously
    while group_running(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def group_running(pgid: int) -> bool:
    """Does a process of group `pgid` still run (zombies, killed and waiting to be reaped, do not count)?"""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if "error" in line.lower():
            return line.strip()[:300]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def _crash_message(code: int, stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    assertion = next((ln for ln in lines if "Assertion" in ln or "assert" in ln.lower()), None)
    if code < 0:
        try:
            what = signal.Signals(-code).name
        except ValueError:
            what = f"signal {-code}"
        head = f"the C-simulation died with {what}"
    else:
        head = f"the C-simulation exited with code {code}"
    detail = assertion or (lines[-1] if lines else "")
    return f"{head}: {detail[:300]}" if detail else head


def _child_env() -> dict:
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[1])  # the child imports sim.csim from this checkout
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# ---------------------------------------------------------------------------------------------------------------
# the child
# ---------------------------------------------------------------------------------------------------------------
class _TraceData(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]


def _child(request_path: str) -> None:
    req = json.loads(Path(request_path).read_text())
    xs = [np.load(f) for f in req["inputs"]]  # one array per input of the top function, in its order
    lib = ctypes.cdll.LoadLibrary(req["library"])
    top = getattr(lib, req["top"])
    ptr = np.ctypeslib.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")
    top.restype, top.argtypes = None, [ptr] * (len(xs) + 1)
    traced: dict[str, int] = req["traced"]
    lib.collect_trace_output.argtypes = [ctypes.POINTER(_TraceData)]
    lib.collect_trace_output.restype = None
    lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
    lib.allocate_trace_storage.restype = None
    lib.free_trace_storage.restype = None
    slots = (_TraceData * len(traced))()
    n_events = len(xs[0])
    outputs = np.zeros((n_events, req["n_out"]), np.float64)
    trace = {k: np.zeros((n_events, n), np.float64) for k, n in traced.items()}
    os.chdir(req["cwd"])
    lib.allocate_trace_storage(ctypes.sizeof(ctypes.c_double))
    for i in range(n_events):
        y = np.zeros(req["n_out"], np.float64)
        top(*(np.ascontiguousarray(x[i]) for x in xs), y)
        outputs[i] = y
        if traced:
            lib.collect_trace_output(slots)
            for s in slots:
                name = s.name.decode()
                data = ctypes.cast(s.data, ctypes.POINTER(ctypes.c_double))
                trace[name][i] = np.ctypeslib.as_array(data, shape=(traced[name],))
    lib.free_trace_storage()
    np.savez(req["outputs"], __outputs__=outputs, **trace)


if __name__ == "__main__":
    _child(sys.argv[1])
