"""Caches that cannot lie, a cache location checked before any work, and tool jobs that die with the run.

A planted `yosys` (a shell script first on PATH) stands in for the real one: it counts its runs and writes a stat
block of known cells, so a test sees whether a result came from the cache or from a job, in well under a second.
The hang tests plant tools that start a `sleep` in the background (what verilator_bin / a long Yosys job would be)
and check that SIGTERM / SIGINT to the run leaves no process behind and does not wait for the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from trigformer.sim import cache
from trigformer.sim.rtl import yosys as Y

REPO = Path(__file__).resolve().parents[1]
CELLS = {"FDRE": 9, "LUT2": 8, "CARRY4": 2}
FAKE_YOSYS = """#!/bin/sh
if [ "$1" = "-V" ]; then echo "Yosys 0.99 (planted for tests)"; exit 0; fi
echo run >> "$FAKE_YOSYS_RUNS"
{HANG}
cat > job.log <<'EOF'
Printing statistics.

=== top ===

     FDRE   9
     LUT2   8
     CARRY4   2
EOF
"""
HANG = 'sleep 600 &\necho $! >> "$FAKE_YOSYS_RUNS.pids"\nwait\n'


def plant(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text(text)
    exe.chmod(0o755)
    return folder


@pytest.fixture
def fake_yosys(tmp_path, monkeypatch):
    """A planted yosys on PATH and a fresh TRIGFORMER_CACHE; returns a function giving the number of jobs run."""
    bin_dir = plant(tmp_path / "bin", "yosys", FAKE_YOSYS.replace("{HANG}", ""))
    runs = tmp_path / "runs"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_YOSYS_RUNS", str(runs))
    monkeypatch.setenv("TRIGFORMER_CACHE", str(tmp_path / "cache"))
    Y.version.cache_clear()
    yield lambda: len(runs.read_text().splitlines()) if runs.exists() else 0
    Y.version.cache_clear()


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "top.v"
    src.write_text("module top(input a, output b); assign b = a; endmodule\n")
    return src


def _entry(tmp_path: Path) -> Path:
    (entry,) = (tmp_path / "cache" / "yosys").glob("*.json")
    return entry


def _rewrite(entry: Path, **changes) -> None:
    """A well-formed envelope with `changes` applied and its digest recomputed (a forged or foreign entry)."""
    e = json.loads(entry.read_text())
    payload = changes.pop("payload", e["payload"])
    e.update(payload=payload, digest=cache.digest(payload), **changes)
    entry.write_text(json.dumps(e))


def _edit_lut(entry: Path) -> None:  # the case: still valid JSON, LUT count off by a million
    e = json.loads(entry.read_text())
    e["payload"]["cells"]["LUT2"] += 1_000_000
    entry.write_text(json.dumps(e))


def _garble(entry: Path) -> None:  # ten bytes overwritten in the middle
    data = bytearray(entry.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 10] = b"\xff\xfe\x00garbled"[:10]
    entry.write_bytes(bytes(data))


# (case, corruption, the reason the warning gives)
BAD_ENTRIES = [
    ("edited LUT count", _edit_lut, "does not match its digest"),
    ("edited job seconds", lambda p: p.write_text(p.read_text().replace('"seconds": ', '"seconds": 1')),
     "does not match its digest"),
    ("ten garbled bytes", _garble, "not JSON"),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:40]), "not JSON"),
    ("empty file", lambda p: p.write_bytes(b""), "not JSON"),
    ("Latin-1 bytes", lambda p: p.write_bytes(p.read_bytes().replace(b'"top"', b'"t\xf6p"')), "not JSON"),
    ("a JSON list", lambda p: p.write_text("[1, 2, 3]"), "not a cache entry"),
    ("the old bare format", lambda p: p.write_text(json.dumps({"module": "top", "cells": CELLS, "seconds": 1})),
     "not a cache entry"),
    ("another tool version", lambda p: _rewrite(p, tool="Yosys 0.9"), "written by 'Yosys 0.9'"),
    ("another entry's key", lambda p: _rewrite(p, key="0" * 64), "another key"),
    ("forged negative count", lambda p: _rewrite(p, payload={"module": "top", "cells": {"LUT2": -5}, "seconds": 0}),
     "not the content"),
    ("forged float count", lambda p: _rewrite(p, payload={"module": "top", "cells": {"LUT2": 8.5}, "seconds": 0}),
     "not the content"),
    ("forged extra field", lambda p: _rewrite(p, payload={"module": "top", "cells": CELLS, "seconds": 0, "x": 1}),
     "not the content"),
]


@pytest.mark.parametrize("case, corrupt, why", BAD_ENTRIES, ids=[c[0] for c in BAD_ENTRIES])
def test_a_bad_cache_entry_is_a_miss_recomputed_and_rewritten_with_one_warning(fake_yosys, tmp_path, capfd, case,
                                                                                corrupt, why):
    src = _source(tmp_path)
    first = Y.run_yosys([src], "top", "system")
    assert first["cells"] == CELLS and first["cached"] is False and fake_yosys() == 1
    assert Y.run_yosys([src], "top", "system")["cached"] is True and fake_yosys() == 1  # a good entry is used
    entry = _entry(tmp_path)
    corrupt(entry)
    capfd.readouterr()
    again = Y.run_yosys([src], "top", "system")
    assert again["cells"] == CELLS and again["cached"] is False and fake_yosys() == 2  # recomputed, not trusted
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith(f"trigformer: warning: cache entry {entry}: ") and why in err[0], err
    assert Y.run_yosys([src], "top", "system")["cached"] is True and fake_yosys() == 2  # rewritten: a hit again
    assert capfd.readouterr().err == ""
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]  # no temporary file left


def test_cache_entries_carry_the_digest_and_the_tool_version(fake_yosys, tmp_path):
    """Hand-checked envelope: the digest is the sha256 of the payload's canonical JSON, the tool is `yosys -V`."""
    import hashlib

    Y.run_yosys([_source(tmp_path)], "top", "system")
    entry = _entry(tmp_path)
    e = json.loads(entry.read_text())
    assert e["tool"] == "Yosys 0.99 (planted for tests)" and e["key"] == entry.stem and e["format"] == 1
    canonical = json.dumps(e["payload"], sort_keys=True, separators=(",", ":")).encode()
    assert e["digest"] == hashlib.sha256(canonical).hexdigest() and e["payload"]["cells"] == CELLS


# (case, TRIGFORMER_CACHE relative to tmp_path or absolute, the reason given)
BAD_LOCATIONS = [
    ("a file", "afile", "is a file, not a folder"),
    ("/dev/null", "/dev/null", "is a file, not a folder"),
    ("below a file", "afile/cache", "cannot be written"),
    ("under /proc", "/proc/trigformer-cache", "cannot be written"),
]


@pytest.mark.parametrize("case, where, why", BAD_LOCATIONS, ids=[c[0] for c in BAD_LOCATIONS])
def test_an_unusable_trigformer_cache_is_refused_before_any_work(tmp_path, monkeypatch, capsys, case, where, why):
    """`synth --rtl` with TRIGFORMER_CACHE at a file or an unwritable place: exit 2 naming TRIGFORMER_CACHE before
    training (the run would otherwise end in "Yosys failed"), nothing written."""
    from trigformer.flow.cli import main

    (tmp_path / "afile").write_text("not a folder\n")
    value = where if where.startswith("/") else str(tmp_path / where)
    monkeypatch.setenv("TRIGFORMER_CACHE", value)
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "out"
    code = main([str(REPO / "tests" / "configs" / "tiny.yaml"), "--rtl", "--no-csim", "--out", str(out), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"synth: error: --rtl: TRIGFORMER_CACHE={value}: ") and why in err[0], err
    assert sorted(os.listdir(tmp_path)) == before and (tmp_path / "afile").read_text() == "not a folder\n"


def test_an_unusable_default_cache_falls_back_to_a_temporary_folder(tmp_path, monkeypatch, capsys):
    """TRIGFORMER_CACHE unset and HOME read-only or unset: the documented fallback (a fresh temporary folder for the
    run, said once), not an error."""
    monkeypatch.delenv("TRIGFORMER_CACHE", raising=False)
    home = tmp_path / "home"
    home.write_text("HOME is a file here, so ~/.cache cannot be made\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(cache, "_fallback", None)
    first, second = cache.check_location(), cache.check_location()
    err = capsys.readouterr().err.strip().splitlines()
    assert first == second and first.is_dir() and not str(first).startswith(str(home))
    assert len(err) == 1 and "using" in err[0] and "TRIGFORMER_CACHE" in err[0], err
    first.rmdir()


# ------------------------------------------------------------------------------------ interrupts kill tool jobs


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


def _wait(what: str, predicate, proc: subprocess.Popen, limit_s: float = 120):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{what} never happened")


CHILD_PRELUDE = """import signal, sys
from pathlib import Path
from types import SimpleNamespace
def _term(signum, frame):
    raise SystemExit(143)
signal.signal(signal.SIGTERM, _term)
tmp = Path(sys.argv[1])
"""

YOSYS_CHILD = CHILD_PRELUDE + """from trigformer.sim.rtl import yosys as Y
src = tmp / "u" / "src"
(src / "static").mkdir(parents=True)
for i in range(3):
    (src / f"m_stage{i}.v").write_text(f"module m_stage{i}(); endmodule\\n")
unit = SimpleNamespace(name="u", folder=tmp / "u", module="m", members=["u"], kind="dense", reg_bits=0)
Y.synthesize(SimpleNamespace(layers=[unit], balance_bits=0), jobs=2, which="system")
print("finished", flush=True)
"""

VERILATOR_CHILD = CHILD_PRELUDE + """import os
from trigformer.sim.rtl import verilator as V
V.verilator_env = lambda: dict(os.environ)  # the planted verilator first on PATH
(tmp / "d" / "tb").mkdir(parents=True)
(tmp / "d" / "tb" / "x_trace_top.v").write_text("module x_trace_top(); endmodule\\n")
design = SimpleNamespace(layers=[], folder=tmp / "d", name="x", in_bits=1, out_bits=1, trace_bits=0,
                         trace_top_file=tmp / "d" / "tb" / "x_trace_top.v")
V.build(design, tmp / "work")
print("finished", flush=True)
"""
# what verilator --build does: verilator_bin and make/g++ below it, for minutes on a large design
FAKE_VERILATOR = '#!/bin/sh\nsleep 600 &\necho $! >> "$FAKE_YOSYS_RUNS.pids"\nwait\n'


@pytest.mark.parametrize("tool, sig", [("yosys", signal.SIGTERM), ("yosys", signal.SIGINT),
                                       ("verilator", signal.SIGTERM), ("verilator", signal.SIGINT)])
def test_an_interrupt_kills_running_tool_jobs_at_once(tmp_path, tool, sig):
    """SIGTERM / SIGINT while planted tool jobs hang (each starts a `sleep 600` child, as verilator starts
    verilator_bin): the run ends with its interrupt exit without waiting for the jobs (timeout 3,600 s), and no job
    process is left running (none reparented to PID 1)."""
    bin_dir = tmp_path / "bin"
    if tool == "yosys":
        plant(bin_dir, "yosys", FAKE_YOSYS.replace("{HANG}", HANG))
    else:
        plant(bin_dir, "verilator", FAKE_VERILATOR)
    runs = tmp_path / "runs"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_YOSYS_RUNS": str(runs),
           "TRIGFORMER_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    code = YOSYS_CHILD if tool == "yosys" else VERILATOR_CHILD
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    jobs = 2 if tool == "yosys" else 1  # two Yosys jobs in parallel (of three), one Verilator build
    try:
        _wait(f"{jobs} {tool} job(s) running", lambda: len(_pids(Path(f"{runs}.pids"))) >= jobs, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)  # a bound far below the jobs' 3,600 s timeout, not a measurement
    finally:
        proc.kill()
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGINT), (proc.returncode, err)  # SIGINT: Python re-raises it
    assert "finished" not in out and (sig == signal.SIGTERM or "KeyboardInterrupt" in err), err
    left = [p for p in _pids(Path(f"{runs}.pids")) if _alive(p)]
    assert left == [], f"{tool} job processes {left} left running"
    if tool == "yosys":
        assert len(_pids(Path(f"{runs}.pids"))) == 2  # the third job was never started


# ------------------------------------------------------------------ the test suite's g++ cache (tests/gxx.py)

PROGRAM = '#include <cstdio>\nint main() { std::printf("%d\\n", 6 * 7); return 0; }\n'


def _garble_binary(exe: Path) -> None:
    data = bytearray(exe.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 10] = bytes(b ^ 0xFF for b in data[mid:mid + 10])  # ten bytes flipped: surely different
    exe.write_bytes(bytes(data))


# (case, corruption of the cached binary or its record, warned?)
BAD_BINARIES = [
    ("ten flipped bytes", _garble_binary, True),
    ("truncated", lambda exe: exe.write_bytes(exe.read_bytes()[:100]), True),
    ("replaced by a script", lambda exe: exe.write_text("#!/bin/sh\necho 41\n"), True),
    ("record edited", lambda exe: (lambda r: r.write_text(r.read_text().replace('"sha256": "', '"sha256": "0')))(
        exe.with_name(exe.name + ".json")), True),
    ("record missing (an older cache)", lambda exe: exe.with_name(exe.name + ".json").unlink(), False),
]


@pytest.mark.parametrize("case, corrupt, warned", BAD_BINARIES, ids=[c[0] for c in BAD_BINARIES])
def test_a_bad_cached_binary_is_compiled_again(tmp_path, monkeypatch, capfd, case, corrupt, warned):
    """tests/gxx.py caches g++ binaries under TRIGFORMER_CACHE: a binary that does not match its verified record is
    compiled again (and the program prints 42, computed by g++'s binary, not the planted 41)."""
    import gxx

    monkeypatch.setenv("TRIGFORMER_CACHE", str(tmp_path / "cache"))
    exe = gxx.compile_program(PROGRAM, "answer")
    assert gxx.compile_program(PROGRAM, "answer") == exe  # a good binary is reused
    before = exe.stat().st_mtime_ns
    corrupt(exe)
    capfd.readouterr()
    again = gxx.compile_program(PROGRAM, "answer")
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert again == exe and subprocess.run([str(exe)], capture_output=True, text=True).stdout == "42\n"
    assert exe.stat().st_mtime_ns != before or case.startswith("record")
    if warned:
        assert len(err) == 1 and err[0].startswith("trigformer: warning: cache entry ") and exe.name in err[0], err
    else:
        assert err == []
    gxx.compile_program(PROGRAM, "answer")
    assert capfd.readouterr().err == ""  # rewritten: trusted again
