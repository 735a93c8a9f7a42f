"""Reliability (issue 9): the output folder never loses anything, a C++ failure never takes `synth` down, and
`synth report` never rewrites a folder it cannot read.

References:
- the file system: what is at `--out` and beside it (bytes, mtimes, modes, names) before and after each run;
- the exit codes and messages the README and `flow/cli.py` document (0/1 ok/not met, 2 bad input, 143 SIGTERM);
- faults planted in the generated C++ (an `#error`, a failing `assert`, a write through a null pointer, an endless
  loop) and the outcome each must give: a compile error, SIGABRT, SIGSEGV, a timeout;
- the process table (/proc): no process of a killed build is left running.

The runs reuse the weights of one module-scoped tiny run (`--weights`), so nothing but that run trains.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from trigformer.flow.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
LEFTOVER = re.compile(r"^\..+\.(tmp|old)-\d+$|^\..+\.lock$")
WAIT_S = 300  # a guard against a hung test, never an assertion about speed


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A trained tiny run (no C-simulation), written with umask 077: every output file should be 0600."""
    out = tmp_path_factory.mktemp("base") / "tiny"
    old = os.umask(0o077)
    try:
        code = main([str(TINY), "--out", str(out), "--no-csim", "-q"])
    finally:
        os.umask(old)
    assert code in (0, 4) and (out / "report.json").is_file()
    return out


def quick(out: Path, base: Path, *extra: str) -> list[str]:
    """synth arguments for a run on `out` that skips training (and the C-simulation, unless --csim is asked)."""
    csim = "--csim" in extra
    return [str(TINY), "--out", str(out), "--weights", str(base), "-q", *(() if csim else ("--no-csim",)),
            *(e for e in extra if e != "--csim")]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("synth: error: "), err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if LEFTOVER.match(p.name))


def snapshot(folder: Path) -> dict:
    """Every file under `folder`: (bytes, mtime_ns, mode)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def wait_for(what, predicate, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"synth ended ({proc.returncode}) before {what}: {output(proc)[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def synth_process(args: list[str], patch: str = "") -> subprocess.Popen:
    """`synth ARGS` in its own process; `patch`: Python run before the command line (to hold a stage). Its output
    goes to an anonymous file (a pipe nobody reads could fill up and stall it): `output(proc)`."""
    code = f"import sys\n{patch}\nfrom trigformer.flow.cli import main\nsys.exit(main({args!r}))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=REPO)
    proc.log = log
    return proc


def output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read()


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


def processes_in(folder: Path) -> list[int]:
    """Pids of running processes whose working directory is `folder` (or was, before it was deleted)."""
    target = str(folder.resolve())
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cwd = os.readlink(d / "cwd")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd.removesuffix(" (deleted)") == target and state not in "ZX":
            found.append(int(d.name))
    return found


# ------------------------------------------------------------------------------------------------ output folder
@pytest.mark.parametrize("force", [False, True], ids=["no-force", "force"])
def test_a_folder_created_at_out_during_the_run_is_kept(base, tmp_path, monkeypatch, capsys, force):
    """Someone creates --out while synth works (here: while the report is assembled). Without --force it must not be
    replaced (exit 2, this run's output kept beside it under the name the message gives); with --force neither,
    since it is not a folder synth wrote."""
    from trigformer.flow import firmware

    dest = tmp_path / "out"
    real = firmware.finalize

    def finalize_and_race(work, final):
        final.mkdir()
        (final / "notes.txt").write_text("the user's own notes\n")
        real(work, final)

    monkeypatch.setattr(firmware, "finalize", finalize_and_race)
    code = main(quick(dest, base, *(["--force"] if force else [])))
    line = error_line(capsys)
    assert code == 2 and str(dest) in line
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]
    assert (dest / "notes.txt").read_text() == "the user's own notes\n"
    assert leftovers(tmp_path) == []
    kept = [p for p in tmp_path.iterdir() if p.name not in ("out",)]
    if force:
        assert kept == [], kept  # refused at the swap: this run's output is dropped, the user's folder stays
    else:
        (new,) = kept
        assert str(new) in line and (new / "report.json").is_file() and (new / "firmware").is_dir()


def test_two_runs_on_one_out_do_not_both_succeed(base, tmp_path, capsys):
    """Run A holds --out (it waits at the report stage until the test lets it go); run B on the same --out, with
    or without --force, is refused (exit 2) and changes nothing; A then finishes and its output is the one there."""
    dest = tmp_path / "out"
    gate = tmp_path / "gate"
    hold = (f"import time, pathlib, flow.firmware as fw\nreal = fw.finalize\n"
            f"def held(work, final):\n    while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)\n"
            f"    real(work, final)\nfw.finalize = held")
    a = synth_process(quick(dest, base), hold)
    try:
        wait_for("run A's temporary folder", lambda: list(tmp_path.glob(f".out.tmp-{a.pid}")), a)
        for extra in ([], ["--force"]):
            assert main(quick(dest, base, *extra)) == 2
            assert "another synth run is writing" in error_line(capsys)
            assert not dest.exists()
        gate.touch()
        a.wait(timeout=WAIT_S)
    finally:
        a.kill()
    assert a.returncode in (0, 4), output(a)
    report = json.loads((dest / "report.json").read_text())
    assert report["name"] == "tiny" and (dest / "hls4ml_config.yml").is_file()
    assert leftovers(tmp_path) == []


def test_stale_temporaries_of_dead_runs_are_removed_and_live_ones_kept(base, tmp_path, capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "600"])
    try:
        names = {f".out.tmp-{dead.pid}": False, f".out.old-{dead.pid}": False, f".other.tmp-{dead.pid}": False,
                 f".out.tmp-{live.pid}": True, f"out.tmp-{dead.pid}": True}  # name -> should survive
        for name in names:
            (tmp_path / name).mkdir()
            (tmp_path / name / "half_written.h").write_text("// killed here\n")
        assert main(quick(tmp_path / "out", base)) in (0, 4)
        for name, survives in names.items():
            assert (tmp_path / name).exists() == survives, name
        assert (tmp_path / f".out.tmp-{live.pid}" / "half_written.h").is_file()
    finally:
        live.kill()
        live.wait()


def test_sigterm_during_the_c_build_leaves_nothing_and_exits_143(base, tmp_path):
    """SIGTERM (what `timeout` and CI cancellation send) while g++ compiles the project: exit 143, no output, no
    temporary folder or lock, and no compiler left running in the deleted folder."""
    dest = tmp_path / "out"
    proc = synth_process(quick(dest, base, "--csim"))
    try:
        work = tmp_path / f".out.tmp-{proc.pid}"
        builders = wait_for("the C++ build", lambda: processes_in(work), proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=WAIT_S)
    finally:
        proc.kill()
    err = output(proc)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert not dest.exists() and sorted(os.listdir(tmp_path)) == []
    assert processes_in(work) == [], f"build processes {builders} left running"


def test_force_over_a_file_leaves_no_old_copy(base, tmp_path, capsys):
    dest = tmp_path / "out"
    dest.write_text("not a folder\n")
    assert main(quick(dest, base)) == 2
    assert "--force" in error_line(capsys) and dest.read_text() == "not a folder\n"
    assert main(quick(dest, base, "--force")) in (0, 4)
    assert (dest / "report.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_interrupted_swap_puts_the_previous_output_back(base, tmp_path, monkeypatch, capsys):
    """--force over an earlier output, interrupted (Ctrl-C) between moving the old output aside and moving the new
    one in: the earlier output must be back at --out, not left in a hidden folder a later run would delete."""
    dest = tmp_path / "out"
    shutil.copytree(base, dest)
    before = snapshot(dest)
    real_replace = os.replace

    def interrupted(src, dst, *a, **k):
        if Path(src).name.startswith(".out.tmp-") and Path(dst) == dest:
            raise KeyboardInterrupt
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", interrupted)
    assert main(quick(dest, base, "--force")) == 130
    monkeypatch.undo()
    assert snapshot(dest) == before
    assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize("where", ["cwd", "parent_is_a_file", "home", "not_written_by_synth"])
def test_unusable_out_is_one_line_exit_2(base, tmp_path, monkeypatch, capsys, where):
    """Even with --force: the current folder, a path under a file, the home folder, or a folder synth did not write
    (here one holding a user's file) is refused before anything is written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("\\documentclass{article}\n")
    out = {"cwd": ".", "parent_is_a_file": str(tmp_path / "afile" / "sub" / "out"), "home": str(Path.home()),
           "not_written_by_synth": "mine"}[where]
    expect = {"cwd": "refusing", "parent_is_a_file": "afile is a file", "home": "refusing",
              "not_written_by_synth": "not a synth output folder"}[where]
    before = snapshot(tmp_path)
    args = [str(TINY), "--out", out, "--weights", str(base), "--no-csim", "-q", "--force"]
    assert main(args) == 2
    assert expect in error_line(capsys)
    assert snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["afile", "mine"]


# ------------------------------------------------------------------------------------------------ file modes
def test_report_html_has_the_mode_of_every_other_output(base, tmp_path, monkeypatch):
    """Outputs follow the umask (077 for the base run: 0600), report.html as well; `synth report` writes it again
    with the same mode when it had another one (here 0644)."""
    modes = {p.name: p.stat().st_mode & 0o777 for p in base.iterdir() if p.is_file()}
    assert modes["report.html"] == modes["report.json"] == modes["emulator.json"] == modes["predictions.npz"] == 0o600
    copy = tmp_path / "copy"
    shutil.copytree(base, copy)
    (copy / "report.html").chmod(0o644)
    old = os.umask(0o077)
    try:
        assert main(["report", str(copy)]) in (0, 4)
    finally:
        os.umask(old)
    assert (copy / "report.html").stat().st_mode & 0o777 == 0o600
    assert (copy / "report.json").stat().st_mode & 0o777 == 0o600
    assert leftovers(copy) == []


# ------------------------------------------------------------------------------------------------ synth report
def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _edit_json(change):
    def edit(folder: Path) -> None:
        r = json.loads((folder / "report.json").read_text())
        change(r)
        (folder / "report.json").write_text(json.dumps(r))
    return edit


def _rewrite_npz(change):
    def edit(folder: Path) -> None:
        with np.load(folder / "predictions.npz") as z:
            arrays = {k: z[k] for k in z.files}
        change(arrays)
        np.savez(folder / "predictions.npz", **arrays)
    return edit


REPORT_CASES = {
    "json_truncated": ("report.json", lambda f: _truncate(f / "report.json")),
    "json_empty": ("report.json", lambda f: (f / "report.json").write_text("")),
    "json_binary": ("report.json", lambda f: (f / "report.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff" * 10)),
    "json_a_list": ("report.json", lambda f: (f / "report.json").write_text("[1, 2, 3]\n")),
    "json_partial_keys": ("report.json", _edit_json(lambda r: [r.pop(k) for k in ("latency", "layers")])),
    "json_wrong_type": ("report.json", _edit_json(lambda r: r.update(accuracy="high"))),
    "json_bad_layer_row": ("report.json", _edit_json(lambda r: r["layers"][1].update(n_out="many"))),
    "json_nan": ("report.json", lambda f: (f / "report.json").write_text(
        (f / "report.json").read_text().replace('"seed": 7', '"seed": 7, "extra": NaN'))),
    "json_bad_config": ("report.json", _edit_json(lambda r: r["config"]["model"].update(embed_dim=-3))),
    "npz_truncated": ("predictions.npz", lambda f: _truncate(f / "predictions.npz")),
    "npz_garbage": ("predictions.npz", lambda f: (f / "predictions.npz").write_bytes(os.urandom(2048))),
    "npz_missing_array": ("predictions.npz", _rewrite_npz(lambda a: a.pop("firmware"))),
    "npz_wrong_shape": ("predictions.npz", _rewrite_npz(lambda a: a.update(float=a["float"][:, :2]))),
    "npz_nan": ("predictions.npz", _rewrite_npz(lambda a: a["fixed"].__setitem__((0, 0), np.nan))),
}


@pytest.mark.parametrize("case", sorted(REPORT_CASES))
def test_report_on_a_corrupt_folder_rewrites_nothing(base, tmp_path, capsys, case):
    name, corrupt = REPORT_CASES[case]
    folder = tmp_path / "f"
    shutil.copytree(base, folder)
    corrupt(folder)
    before = snapshot(folder)
    time.sleep(0.01)  # a rewrite within the same clock tick would keep the mtime
    assert main(["report", str(folder)]) == 2
    line = error_line(capsys)
    assert name in line, line
    assert snapshot(folder) == before


# ------------------------------------------------------------------------------------------------ C++ failures
FAULTS = {  # fault -> (status, words of the one-line error)
    "compile_error": ("compile_failed", ("g++", "planted fault")),
    "assert": ("crashed", ("SIGABRT", "planted fault")),
    "segfault": ("crashed", ("SIGSEGV",)),
    "hang": ("timeout", ("longer than",)),
}
# Planted at the start of the top function (before it loads its weights). The runtime faults are chosen by an environment variable, so the three
# runs share one build: the first compiles it, the others' build_lib.sh copies that library (same project, same
# stamp) instead of compiling again.
RUNTIME_FAULTS = """{
        const char *fault = std::getenv("TRIGFORMER_PLANTED_FAULT");
        if (fault && !std::strcmp(fault, "assert")) assert(false && "planted fault");
        if (fault && !std::strcmp(fault, "segfault")) { int *volatile p = nullptr; *p = 1; }
        if (fault && !std::strcmp(fault, "hang")) for (volatile unsigned spin = 1; spin; ) {}
    }"""


def plant(project: Path, name: str, code: str, library_cache: Path | None = None) -> None:
    top = project / "firmware" / f"{name}.cpp"
    text = top.read_text()
    marker = "// hls-fpga-machine-learning insert load weights"  # first thing in the top function
    assert marker in text
    top.write_text("#include <cassert>\n#include <cstdlib>\n#include <cstring>\n"
                   + text.replace(marker, f"{marker}\n    {code}\n", 1))
    if library_cache is not None:
        build = project / "build_lib.sh"
        lib = re.search(r"^LIB_STAMP=(\w+)$", build.read_text(), re.M)[1]
        so, cached = f"firmware/{name}-{lib}.so", library_cache / f"{name}-{lib}.so"
        build.write_text(f'if [ -f "{cached}" ]; then cp "{cached}" {so}; exit 0; fi\n' + build.read_text()
                         + f'\ncp {so} "{cached}"\n')


@pytest.fixture(scope="module")
def library_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("libcache")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_cpp_failure_is_exit_1_with_report_and_log(base, tmp_path, monkeypatch, capsys, library_cache, fault):
    from trigformer.flow import firmware
    from trigformer.sim import csim

    status, words = FAULTS[fault]
    real = firmware.write_project

    def write_with_fault(cfg, *a, **k):
        hls_model, emu = real(cfg, *a, **k)
        project = Path(hls_model.config.get_output_dir())
        if fault == "compile_error":
            plant(project, cfg.name, '#error "planted fault"')
        else:
            plant(project, cfg.name, RUNTIME_FAULTS, library_cache)
        return hls_model, emu

    monkeypatch.setattr(firmware, "write_project", write_with_fault)
    monkeypatch.setattr(csim, "RUN_TIMEOUT_S", 3)
    monkeypatch.setenv("TRIGFORMER_PLANTED_FAULT", fault)
    dest = tmp_path / "out"
    assert main(quick(dest, base, "--csim")) == 1
    out = capsys.readouterr().out
    v = json.loads((dest / "report.json").read_text())["verification"]["csim_vs_emulator"]
    assert v["status"] == status and v["log"] == "csim.log", v
    assert all(w in v["failed"] for w in words), v["failed"]
    assert f"C-simulation failed ({status})" in out and "\n" not in v["failed"]
    log = (dest / "csim.log").read_text()  # the compiler's output, then the crashed child's stderr
    if fault in ("compile_error", "assert"):
        assert "planted fault" in log
    assert (dest / "report.html").is_file() and (dest / "firmware" / "tiny.cpp").is_file()
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary folder, no lock
    assert not list(dest.rglob("*.so")) and not list(dest.rglob("*.o")) and not (dest / ".csim").exists()


# A wrong result rather than a crash: the last layer's first output loses its lowest bit's value (flipped), chosen at
# run time so that the budget run below shares the build.
MISMATCH = """{
        const char *fault = std::getenv("TRIGFORMER_PLANTED_FAULT");
        if (fault && !std::strcmp(fault, "mismatch")) OUT[0].range(0, 0) = ~OUT[0].range(0, 0);
    }"""


def test_wrong_is_exit_1_and_over_budget_is_exit_4(base, tmp_path, monkeypatch, library_cache):
    """Trigger CI tells "wrong" from "does not fit": a tight latency budget with a bit-exact C-simulation exits 4; the
    same run with a planted csim mismatch (one output bit flipped in the C++) exits 1, whatever the budget."""
    from trigformer.flow import firmware

    tight = tmp_path / "tight.yaml"
    tight.write_text(TINY.read_text() + "budget:\n  latency_ns: 1\n")
    real = firmware.write_project

    def write_with_fault(cfg, *a, **k):
        hls_model, emu = real(cfg, *a, **k)
        project = Path(hls_model.config.get_output_dir())
        text = (project / "firmware" / f"{cfg.name}.cpp").read_text()
        out = re.findall(r"save_layer_output<\w+>\((\w+),", text)[-1]  # the last layer's output array
        top = project / "firmware" / f"{cfg.name}.cpp"
        top.write_text("#include <cstdlib>\n#include <cstring>\n" + text[:text.rindex("}")]
                       + MISMATCH.replace("OUT", out) + "\n}\n")
        plant(project, cfg.name, "", library_cache / "mismatch")
        return hls_model, emu

    (library_cache / "mismatch").mkdir(exist_ok=True)
    monkeypatch.setattr(firmware, "write_project", write_with_fault)
    args = [str(tight), "--weights", str(base), "-q"]
    monkeypatch.delenv("TRIGFORMER_PLANTED_FAULT", raising=False)
    assert main([*args, "--out", str(tmp_path / "over")]) == 4
    r = json.loads((tmp_path / "over" / "report.json").read_text())
    assert r["verification"]["csim_vs_emulator"]["mismatched_values"] == 0 and not r["budget"]["met"]
    assert r["budget"]["violations"][0].startswith("hls (estimate) latency")
    monkeypatch.setenv("TRIGFORMER_PLANTED_FAULT", "mismatch")  # same --out: the same build folder, library reused
    assert main([*args, "--out", str(tmp_path / "over"), "--force"]) == 1
    v = json.loads((tmp_path / "over" / "report.json").read_text())["verification"]["csim_vs_emulator"]
    assert v.get("mismatched_values", 0) >= 1 and v["bit_exact_fraction"] < 1.0, v


def fake_project(folder: Path, build: str) -> Path:
    """A project sim.csim can build: build_lib.sh is `build`, the library a C file with the bridge's functions."""
    (folder / "firmware").mkdir(parents=True)
    (folder / "lib.c").write_text(
        "#include <stddef.h>\nstruct trace { const char *name; void *data; };\n"
        "void allocate_trace_storage(size_t n) {}\nvoid free_trace_storage(void) {}\n"
        "void collect_trace_output(struct trace *t) {}\n"
        "void fake_double(double *x, double *y) { y[0] = 2 * x[0]; }\n")
    (folder / "build_lib.sh").write_text(build)
    return folder


def test_a_build_that_hangs_is_killed_with_every_process_it_started(tmp_path, monkeypatch):
    """build_lib.sh starts g++ processes; on a timeout (or an interrupt) all of them must be gone before the run
    goes on to delete or move the folder they write into. Here the build starts a background child that would
    outlive a kill of the script alone."""
    from trigformer.sim import csim

    project = fake_project(tmp_path / "p", "sleep 600 &\necho $! > child.pid\nwait\n")
    monkeypatch.setattr(csim, "COMPILE_TIMEOUT_S", 2)
    res = csim.run(project, "fake", "s", np.zeros((3, 1)), {}, 1, log=project / "csim.log")
    assert res.status == "timeout" and "build took longer than 2 s" in res.error
    child = int((project / "child.pid").read_text())
    assert not running(child) and processes_in(project) == []


def test_a_working_fake_project_runs(tmp_path):
    """The same harness with a good build: the C bridge is called per event (y = 2x), so the failures above are the
    planted ones, not the harness."""
    from trigformer.sim import csim

    project = fake_project(tmp_path / "p", "gcc -shared -fPIC lib.c -o firmware/fake-s.so\n")
    x = np.arange(4.0).reshape(4, 1)
    res = csim.run(project, "fake", "s", x, {}, 1, log=project / "csim.log")
    assert res.ok, res.error
    assert np.array_equal(res.outputs[:, 0], 2 * x[:, 0])
    assert sorted(os.listdir(project)) == ["build_lib.sh", "csim.log", "firmware", "lib.c"]
    assert os.listdir(project / "firmware") == []


def test_report_rerenders_a_report_written_before_forms(base, tmp_path):
    """`synth report DIR` on a report.json of an earlier version (no `forms`, no `budget.judged`; its primary figures
    chosen by the old rule) gets the forms from its sections, like a new one, and the same verdict."""
    folder = tmp_path / "old"
    shutil.copytree(base, folder)
    new = json.loads((folder / "report.json").read_text())
    old = {k: v for k, v in new.items() if k != "forms"}
    old["budget"] = {k: v for k, v in new["budget"].items() if k not in ("judged", "forms")}
    (folder / "report.json").write_text(json.dumps(old))
    code = main(["report", str(folder)])
    again = json.loads((folder / "report.json").read_text())
    assert again["forms"] == new["forms"] and again["budget"]["judged"] == ["hls"]
    assert again["budget"]["met"] == new["budget"]["met"] and code == (0 if new["budget"]["met"] else 4)
