"""What a run prints (issue 23): stage lines with timestamps, heartbeats, no third-party warning spam, tables that
read in a log, the RESULT line; the same events through a progress= callback and the 'trigformer' logger.

References: the run's own report.json (written independently of what is printed), a fake clock for the heartbeat,
and rich at 80 columns (the layout the issue saw split numbers) as the negative control of the table check."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from trigformer.flow.progress import PlainDisplay, reporting, stage
from trigformer.flow.report.summary import parse, result_line

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
STAMP = r"^\d\d:\d\d:\d\d "
STEPS = ("data", "train float", "train fixed", "Keras predictions", "save Keras models",
         "convert (hls4ml project, emulator)", "C-simulation build (g++)", "C-simulation run", "emulator")
# what TensorFlow, Keras, QKeras, absl and numba print when left alone
NOISE = re.compile(r"Warning\b|warnings\.warn|WARNING:|^[EWI]\d{4} |tensorflow/|absl|numba", re.I)


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory):
    """`synth tiny.yaml` with stdout and stderr to a pipe, as in a CI log."""
    out = tmp_path_factory.mktemp("log") / "tiny"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("COLUMNS", None)
    r = subprocess.run([sys.executable, "-m", "trigformer.flow.cli", str(TINY), "--part", "xcvu9p", "--out", str(out),
                        "--epochs", "1"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=1800)
    return r.stdout, r.returncode, out


def test_log_names_every_step_with_timestamps(piped_run):
    log, code, out = piped_run
    assert code in (0, 1), log
    lines = log.splitlines()
    for step in STEPS:
        start = [i for i, ln in enumerate(lines) if re.match(STAMP + re.escape(step) + r": started", ln)]
        end = [i for i, ln in enumerate(lines) if re.match(STAMP + re.escape(step) + r": done in \d", ln)]
        assert len(start) == 1 and len(end) == 1 and start[0] < end[0], (step, log)
    trained = [ln for ln in lines if re.match(STAMP + r"train fixed: done", ln)][0]
    assert "(1/1 epochs)" in trained  # the epochs are counted
    assert "\r" not in log  # no progress bar redrawn in place (a log shows each redraw)


def test_log_has_no_third_party_warnings(piped_run):
    log, _, _ = piped_run
    assert [ln for ln in log.splitlines() if NOISE.search(ln)] == []


def test_tensorflow_imported_through_trigformer_prints_nothing():
    """TensorFlow's GPU wheel (qkeras-v3 requires it) tells from C++, on import and at device discovery, that the
    machine has no CUDA driver, before TF_CPP_MIN_LOG_LEVEL applies: imported after trigformer, it says nothing, and
    Keras 3 saving a model (its legacy-.h5 notice, NumPy 2's __array__ warning) neither. A notebook's path."""
    code = ("import warnings; warnings.simplefilter('default')\n"
            "import trigformer, keras, tensorflow as tf\n"
            "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
            "m.save_weights(r'{d}/m.weights.h5'); m.save(r'{d}/m.h5'); print(float(tf.reduce_sum(m(tf.ones((1, 3))))))")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-c", code.format(d=d)], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and re.fullmatch(r"-?[\d.e+-]+\n", r.stdout), (r.stdout, r.stderr)


def test_result_line_is_last_and_parseable(piped_run):
    log, code, out = piped_run
    last = log.strip().splitlines()[-1]
    f = parse(last)
    r = json.loads((out / "report.json").read_text())
    assert f["out"] == str(out) and f["exit"] == str(code)
    assert f["budget"] == ("met" if r["budget"]["met"] else "not_met")
    assert f["latency"].startswith(f"{r['latency']['ns']:g}ns") and f"@II{r['latency']['ii']}" in f["latency"]
    fr = r["resources"]["fraction"] if "fraction" in r["resources"] else None
    name, pct = re.match(r"(\w+):([\d.]+)%", f["tightest"]).groups()
    assert name in ("DSP", "LUT", "FF", "BRAM_18K")
    if fr:
        assert float(pct) == pytest.approx(100 * fr[name], abs=0.06)


def test_log_tables_keep_every_number_whole(piped_run):
    """Each per-layer row of report.json is one line of the printed table, every figure whole."""
    log, _, out = piped_run
    r = json.loads((out / "report.json").read_text())
    rows = {}
    for sec in ("latency", "resources"):
        for row in r[sec].get("per_layer") or []:
            rows.setdefault(row["name"], {}).update(row)
    assert rows
    for name, row in rows.items():
        line = next((ln for ln in log.splitlines() if re.match(rf"│ {re.escape(name)} +│", ln)), None)
        assert line is not None, (name, log)
        cells = [c.strip() for c in line.strip("│").split("│")]
        for key in ("cycles", "LUT", "FF", "DSP"):
            if isinstance(row.get(key), int):
                assert f"{row[key]:,}" in cells, (name, key, line)


# --- the Estimate / RTL table of a real --rtl report, laid out for a log -----------------------------------------

RTL_REPORT = REPO / "tests" / "fixtures" / "reports" / "tiny_rtl_report.json"


def _whole_rows(text: str, report: dict) -> list[str]:
    """The units of the estimate / RTL table whose cells are not all whole on the unit's line."""
    from trigformer.flow.report.text import estimate_vs_rtl_rows, fmt_pair

    broken = []
    text = text[text.index("Estimate / RTL"):]  # the per-layer table above has lines for the same names
    for row in estimate_vs_rtl_rows(report):
        line = next((ln for ln in text.splitlines() if re.match(rf"│ {re.escape(row['unit'])} +│", ln)), "")
        for key in ("cycles", "LUT", "DSP", "FF"):
            e, m, q = fmt_pair(row[key])
            if any(v and not re.search(rf"(?<![\d,.]){re.escape(v)}(?![\d,.])", line) for v in (e, m, q)):
                broken.append(row["unit"])
                break
    return broken


def test_report_tables_in_a_log_do_not_wrap_numbers():
    from rich.console import Console

    from trigformer.flow.report import render_terminal
    from trigformer.flow.report.terminal import output_console

    report = json.loads(RTL_REPORT.read_text())
    assert report["rtl"]["resources"]["source"] == "yosys"  # a real --rtl run: the table the issue saw split
    buf = io.StringIO()  # not a terminal, as stdout in a log
    render_terminal(report, output_console(file=buf))
    assert _whole_rows(buf.getvalue(), report) == []
    narrow = io.StringIO()  # the former layout: rich's 80 columns off a terminal
    render_terminal(report, Console(file=narrow, width=80))
    assert _whole_rows(narrow.getvalue(), report) != []  # the check sees a split number


# --- RESULT line on partial reports -------------------------------------------------------------------------------

def test_result_line_reads_what_is_there():
    report = json.loads(RTL_REPORT.read_text())
    f = parse(result_line(report, Path("firmware/x y"), 0))
    assert f["out"] == "firmware/x y" and f["judged"] == "rtl,yosys"
    assert f["latency"] == f"{report['latency']['ns']:g}ns/{report['budget']['latency_ns']:g}ns@II1(rtl)"
    # a report from the verdict work: the judged forms it names are used as they are
    report["budget"]["judged"] = ["rtl", "hls"]
    assert parse(result_line(report, "o"))["judged"] == "rtl,hls"
    # nothing computed: every field says so, nothing is made up
    f = parse(result_line({}, "o"))
    assert (f["budget"], f["judged"], f["latency"], f["tightest"]) == ("none", "none", "none", "none")
    over = {"resources": {"source": "estimate", "DSP": 10, "LUT": 900, "fraction": {"DSP": 0.5, "LUT": 0.9}},
            "budget": {"met": False, "violations": ["LUT"], "max_fraction": {"DSP": 0.6, "LUT": 0.8}}}
    f = parse(result_line(over, "o"))
    assert f["budget"] == "not_met" and f["tightest"] == "LUT:90.0%/80%(estimate)"  # 0.9/0.8 beats 0.5/0.6
    # with forms (the verdict judges each): the slowest form and the tightest resource over every form, each named;
    # figures of the default example's report (hls estimate LUT 94.9 % decides the verdict, not rtl's DSP 47.7 %)
    forms = {"forms": {
        "hls": {"latency": {"source": "estimate", "ns": 100.0, "ii": 1},
                "resources": {"source": "estimate", "fraction": {"DSP": 0.477, "LUT": 0.949, "FF": 0.217}}},
        "rtl": {"latency": {"source": "rtl", "ns": 195.0, "ii": 1},
                "resources": {"source": "yosys", "fraction": {"DSP": 0.477, "LUT": 0.381, "FF": 0.131}}}},
        "latency": {"source": "rtl", "ns": 195.0, "ii": 1}, "resources": {"source": "yosys", "DSP": 3264},
        "budget": {"met": False, "violations": ["hls LUT"], "judged": ["hls", "rtl"], "latency_ns": 200.0,
                   "max_fraction": {"DSP": 0.7, "LUT": 0.7, "FF": 0.7, "BRAM_18K": 0.7}}}
    f = parse(result_line(forms, "o"))
    assert (f["judged"], f["latency"], f["tightest"]) == ("hls,rtl", "195ns/200ns@II1(rtl)", "LUT:94.9%/70%(hls:estimate)")


# --- the mechanism ------------------------------------------------------------------------------------------------

def test_heartbeat_lines_during_a_silent_step():
    """A step that reports nothing for 200 s of a fake clock: a line at 30 s, 60 s, ... (HEARTBEAT_S) with the
    count so far; the step's start and end are said once each."""
    now = [0.0]
    buf = io.StringIO()
    with reporting(True, display=PlainDisplay(buf), clock=lambda: now[0], thread=False, heartbeat_s=30) as rep:
        with stage("yosys", unit="jobs") as st:
            st.update(3, 40)  # quiet: within MIN_GAP_S of the start
            for _ in range(40):
                now[0] += 5
                rep.beat()
    lines = [ln.split(" ", 1)[1] for ln in buf.getvalue().splitlines()]
    assert lines[0] == "yosys: started"
    assert lines[1:-1] == [f"yosys: 3/40 jobs, {t} elapsed" for t in ("30.0s", "1m00s", "1m30s", "2m00s", "2m30s",
                                                                     "3m00s")]
    assert lines[-1] == "yosys: done in 3m20s (3/40 jobs)"


def test_heartbeat_thread_speaks_while_the_step_blocks():
    """The real heartbeat thread, with a tiny interval: a step blocked on something else still gets lines."""
    seen = threading.Event()
    beats = []

    def listen(ev):
        if ev.kind == "heartbeat":
            beats.append(ev)
            if len(beats) >= 3:
                seen.set()

    with reporting(listen, heartbeat_s=0.02):
        with stage("Verilator build"):
            assert seen.wait(120), "no heartbeat from the reporter's thread"
    assert all(b.stage == "Verilator build" and b.elapsed_s > 0 for b in beats)


def test_progress_lines_are_rate_limited_but_the_last_is_kept():
    now = [0.0]
    buf = io.StringIO()
    with reporting(True, display=PlainDisplay(buf), clock=lambda: now[0], thread=False):
        with stage("sweep points", total=100, unit="points") as st:
            for _ in range(100):
                now[0] += 1
                st.advance(note="ok")
    lines = buf.getvalue().splitlines()
    assert 5 <= len(lines) <= 13  # start, about one line per 10 s of 100 s, end
    assert lines[-1].endswith("sweep points: done in 1m40s (100/100 points); ok")


def test_a_failing_step_says_so_and_the_error_goes_on():
    buf = io.StringIO()
    with reporting(True, display=PlainDisplay(buf), thread=False):
        with pytest.raises(RuntimeError):
            with stage("Verilator build"):
                raise RuntimeError("boom")
    assert re.search(r"Verilator build: FAILED after", buf.getvalue())


def test_api_progress_callback_and_logger_get_the_events(tmp_path, capsys, caplog, recwarn):
    """trigformer.synth(progress=callback): every step's start and end reach the callback in order, nothing is
    printed as a stage line, and the 'trigformer' logger has the same steps."""
    import trigformer

    events = []
    caplog.set_level(logging.INFO, logger="trigformer")
    res = trigformer.synth(TINY, out=tmp_path / "t", epochs=1, csim=False, progress=events.append)
    assert res.report["name"] == "tiny"
    starts = [e.stage for e in events if e.kind == "start"]
    ends = [e.stage for e in events if e.kind == "end"]
    steps = [s for s in STEPS if not s.startswith("C-simulation")]
    assert starts == ends == steps
    assert all(e.ok for e in events if e.kind == "end")
    fixed_end = next(e for e in events if e.kind == "end" and e.stage == "train fixed")
    assert (fixed_end.done, fixed_end.total, fixed_end.unit) == (1, 1, "epochs")
    assert not re.search(STAMP, capsys.readouterr().out, re.M)
    logged = [r.trigformer_event for r in caplog.records if r.name == "trigformer"]
    assert [e.stage for e in logged if e.kind == "start"] == steps
    assert all(r.getMessage() == r.trigformer_event.text() for r in caplog.records if r.name == "trigformer")
    assert not [w for w in recwarn if re.search(r"qkeras|HDF5|Overriding attribute", str(w.message))]


def test_quiet_prints_nothing_but_the_logger_still_hears(capsys, caplog):
    """-q (progress=False): no stage line on stdout or stderr; the 'trigformer' logger still gets the events."""
    caplog.set_level(logging.INFO, logger="trigformer")
    with reporting(False):
        with stage("yosys", total=2, unit="jobs") as st:
            st.advance()
            st.advance()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert [r.trigformer_event.kind for r in caplog.records if r.name == "trigformer" and r.levelno == logging.INFO] \
        == ["start", "end"]
