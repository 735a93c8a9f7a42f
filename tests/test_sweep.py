"""`synth sweep`: a grid on a 2-worker LocalCluster (one synth subprocess per point), resume by key, a failing point
recorded while the others finish, the Pareto HTML, up-front validation, crash isolation, and the dask-jobqueue
job scripts built from `cluster:` settings (rendered, never submitted).

Points use a shrunken tests/configs/tiny.yaml (1 epoch, 300 training jets) with --no-csim to stay quick."""

import base64
import csv
import json
import os
from pathlib import Path

import pytest
import yaml

from trigformer.flow.cli import main
from trigformer.flow.sweep import load_sweep, run_sweep
from trigformer.flow.sweep.runner import RECORD, jobqueue_cluster, read_record, run_point

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def _base(folder: Path) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["data"].update(n_train=300, n_test=200)
    cfg["training"]["epochs"] = 1
    cfg["verify"]["n_events"] = 100
    path = folder / "base.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _sweep(folder: Path, body: dict, name="sweep.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"base": "base.yaml", **body}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """A 3-point grid (model.embed_dim) on a 2-worker LocalCluster."""
    folder = tmp_path_factory.mktemp("sweep")
    _base(folder)
    sw = _sweep(folder, {"grid": {"model.embed_dim": [4, 6, 8]}, "synth_args": ["--no-csim"],
                         "cluster": {"type": "local", "workers": 2}})
    out = folder / "out"
    summary = run_sweep(load_sweep(sw), out, progress=False)
    return sw, out, summary


def _csv(out: Path) -> list[dict]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def test_three_point_grid_gives_three_rows(grid_run):
    sw, out, summary = grid_run
    assert summary.cluster == "local cluster, 2 workers" and summary.ran == 3 and summary.skipped == 0
    rows = _csv(out)
    assert len(rows) == 3 and sorted(r["model.embed_dim"] for r in rows) == ["4", "6", "8"]
    for r in rows:
        assert r["status"] in ("ok", "over_budget") and r["exit_code"] in ("0", "4"), r
        assert float(r["wall_s"]) > 0 and 0 <= float(r["acc_firmware"]) <= 1 and float(r["acc_float"]) >= 0
        assert r["csim_bit_exact"] == "skipped"  # --no-csim
        assert float(r["latency_ns"]) > 0 and r["ii"] == "1" and r["latency_source"] == "estimate"
        assert int(r["LUT"]) > 0 and int(r["DSP"]) >= 0 and r["resources_source"] == "estimate"
        assert r["budget_met"] in ("True", "False") and (r["budget_met"] == "True") == (r["status"] == "ok")
        d = out / r["dir"]
        report = json.loads((d / "firmware" / "report.json").read_text())
        assert report["config"]["model"]["embed_dim"] == int(r["model.embed_dim"])
        assert report["accuracy"]["firmware"] == pytest.approx(float(r["acc_firmware"]))
        assert yaml.safe_load((d / "model.yaml").read_text())["model"]["embed_dim"] == int(r["model.embed_dim"])
        assert (d / "stdout.log").stat().st_size > 0 and (d / "stderr.log").exists()
        rec = json.loads((d / RECORD).read_text())
        assert rec["finished"] and rec["key"] == d.name == r["key"] and rec["exit_code"] == int(r["exit_code"])
        assert rec["command"][1:3] == ["-m", "trigformer.flow.cli"] and "--no-csim" in rec["command"]
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["points"]) == 3 and doc["varied_keys"] == ["model.embed_dim"]
    assert not [p.name for p in out.rglob(".*tmp*")], "no temporary files left"


def test_rerun_skips_every_finished_point(grid_run, capsys):
    sw, out, _ = grid_run
    records = {p: p.read_bytes() for p in out.glob(f"points/*/{RECORD}")}
    reports = {p: p.stat().st_mtime_ns for p in out.glob("points/*/firmware/report.json")}
    assert len(records) == 3 and len(reports) == 3
    code = main(["sweep", str(sw), "--out", str(out), "--workers", "2", "-q"])
    text = capsys.readouterr().out
    assert "3 points: 0 to run, 3 skipped" in text and "ran 0, skipped 3" in text
    assert "local cluster" not in text  # nothing to run: no cluster, no subprocess
    assert {p: p.read_bytes() for p in out.glob(f"points/*/{RECORD}")} == records
    assert {p: p.stat().st_mtime_ns for p in out.glob("points/*/firmware/report.json")} == reports
    rows = _csv(out)
    assert len(rows) == 3 and {r["this_run"] for r in rows} == {"skipped"}
    assert code == (0 if all(r["status"] in ("ok", "over_budget") for r in rows) else 1)


def test_failing_point_is_recorded_and_the_others_finish(grid_run, tmp_path):
    """Both points pass validation; at run time synth refuses the missing --weights path (exit 2), while the other
    point loads the weights of a finished point (no training) and completes."""
    _, first, _ = grid_run
    donor = next(d for d in first.glob("points/*")
                 if yaml.safe_load((d / "model.yaml").read_text())["model"]["embed_dim"] == 8)  # = the base's
    _base(tmp_path)
    sw = _sweep(tmp_path, {"grid": {"synth_args": [["--weights", str(donor / "firmware")],
                                                   ["--weights", str(tmp_path / "no_such_weights")]]},
                           "synth_args": ["--no-csim"], "cluster": {"type": "local", "workers": 2}})
    summary = run_sweep(load_sweep(sw), tmp_path / "out", progress=False)
    assert summary.ran == 2 and summary.exit_code == 1
    bad = next(r for r in summary.rows if "no_such_weights" in r["synth_args"])
    good = next(r for r in summary.rows if r is not bad)
    assert bad["status"] == "bad_input" and bad["exit_code"] == 2 and "no such file or folder" in bad["error"]
    assert bad["acc_firmware"] is None and bad["LUT"] is None
    rec = read_record(tmp_path / "out" / bad["dir"])
    assert rec is not None and rec["status"] == "bad_input" and "no_such_weights" in rec["error"]
    assert good["status"] in ("ok", "over_budget") and good["acc_firmware"] is not None
    report = json.loads((tmp_path / "out" / good["dir"] / "firmware" / "report.json").read_text())
    assert "loaded_from" in report["training"]["fixed"]
    # a rerun does not retry the recorded failure either
    again = run_sweep(load_sweep(sw), tmp_path / "out", progress=False)
    assert again.ran == 0 and again.skipped == 2


def test_html_has_the_pareto_plots(grid_run):
    _, out, _ = grid_run
    doc = (out / "sweep.html").read_text()
    imgs = doc.split("src='data:image/png;base64,")[1:]
    assert len(imgs) == 2
    for img in imgs:
        assert base64.b64decode(img.split("'", 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Accuracy vs LUT (estimate)" in doc and "<h2>Accuracy vs latency (estimate)" in doc
    assert "Pareto-optimal feasible points" in doc and doc.count("<tr>") >= 4


def test_pareto_front():
    from trigformer.flow.sweep.results import pareto_front

    pts = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.7), (5, 0.3), (20, 0.6)]
    assert sorted(pareto_front(pts)) == [0, 1, 4]


def test_points_grid_times_random_deterministic(tmp_path):
    _base(tmp_path)
    body = {"grid": {"model.num_heads": [1, 2], "quantization.act_bits": [8, 9, 10]},
            "random": {"n": 4, "seed": 3, "space": {"model.key_dim": {"log2int": [2, 16]},
                                                    "training.learning_rate": {"loguniform": [1e-4, 1e-2]},
                                                    "model.ffn_dim": {"int": [4, 9]},
                                                    "model.pooling": {"choice": ["mean", "max"]}}}}
    a = load_sweep(_sweep(tmp_path, body))
    assert len(a.points) == 24 and a.duplicates == 0
    assert a.varied_keys == ["model.num_heads", "quantization.act_bits", "model.key_dim", "training.learning_rate",
                             "model.ffn_dim", "model.pooling"]
    for p in a.points:
        v = p.varied
        assert v["model.key_dim"] in (2, 4, 8, 16) and 4 <= v["model.ffn_dim"] <= 9
        assert 1e-4 <= v["training.learning_rate"] <= 1e-2 and v["model.pooling"] in ("mean", "max")
        assert p.config["model"]["key_dim"] == v["model.key_dim"]
    assert [p.key for p in load_sweep(_sweep(tmp_path, body)).points] == [p.key for p in a.points]
    body["random"]["n"] = 6  # growing n keeps the earlier samples (and so their keys: resume works)
    b = load_sweep(_sweep(tmp_path, body))
    assert {p.key for p in a.points} < {p.key for p in b.points}
    body["synth_args"] = ["--no-csim"]  # flags are part of the key
    assert not {p.key for p in a.points} & {p.key for p in load_sweep(_sweep(tmp_path, body)).points}
    same = load_sweep(_sweep(tmp_path, {"grid": {"model.embed_dim": [8, "8"]}}))  # validated values key the point
    assert len(same.points) == 1 and same.duplicates == 1


@pytest.mark.parametrize("body, message", [
    ({"grid": {"model.embed_dimm": [4, 8]}}, "grid.model.embed_dimm: no such model.yaml key"),
    ({"grid": {"model.embed_dim": [4, 0]}}, "grid.model.embed_dim = 0: Input should be greater than or equal to 1"),
    ({"grid": {"model": [1]}}, "grid.model: a whole section"),
    ({"random": {"n": 2, "space": {"quantization.act_bitz": {"int": [6, 9]}}}}, "random.space.quantization.act_bitz"),
    ({"random": {"n": 2, "space": {"model.key_dim": {"log2int": [3, 8]}}}}, "log2int bounds must be powers of two"),
    ({"grid": {"synth_args": [["--nope"]]}}, "grid.synth_args: synth does not know --nope"),
    ({"synth_args": ["--epochs", "3"]}, "vary training.epochs in grid"),
    ({"synth_args": ["--out", "x"]}, "--out is set by the sweep"),
    ({"grdi": {}}, "grdi: unknown key"),
    ({"cluster": {"type": "htcondor", "cores": 2, "memory": "4GB", "disk": "1GB", "walltime": "1:00:00",
                  "scale": {"jobs": 1}}}, "cluster.walltime: unknown key for cluster type htcondor"),
    ({"cluster": {"type": "slurm", "cores": 2, "memory": "4GB"}}, "cluster.scale: required key is missing"),
    ({"cluster": {"type": "pbs"}}, "cluster.type: 'pbs'"),
    ({"grid": {"data.n_test": [50]}}, "verify.n_events: 100 exceeds data.n_test (50)"),
])
def test_bad_sweep_is_exit_2_naming_the_key_before_anything_runs(tmp_path, capsys, body, message):
    _base(tmp_path)
    sw = _sweep(tmp_path, body)
    assert main(["sweep", str(sw), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("synth sweep: error: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_crashing_point_is_recorded_interrupted_one_is_not(tmp_path, monkeypatch):
    """The point runs in its own process: a segfault there is a recorded failure, not a dead worker; a point killed
    by SIGINT (Ctrl-C) is not recorded, so the next run retries it."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "segv_cli.py").write_text("import os, signal, sys\nprint('about to crash', file=sys.stderr)\n"
                                      "sys.stderr.flush()\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    (mods / "sigint_cli.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n")
    monkeypatch.setenv("PYTHONPATH", str(mods))
    crash = tmp_path / "0123456789abcdef"
    crash.mkdir()
    rec = run_point(str(crash), [], module="segv_cli")
    assert rec["status"] == "crashed" and rec["signal"] == "SIGSEGV" and "about to crash" in rec["error"]
    assert read_record(crash)["exit_code"] == -11
    stop = tmp_path / "fedcba9876543210"
    stop.mkdir()
    rec = run_point(str(stop), [], module="sigint_cli")
    assert rec["status"] == "interrupted" and not rec["finished"]
    assert read_record(stop) is None and not (stop / RECORD).exists()


def test_over_budget_is_a_result_and_wrong_is_a_failure(tmp_path, monkeypatch):
    """A point that exits 4 (verified, over budget) is `over_budget` with the violations as its reason, a result the
    sweep's exit code accepts; one that exits 1 with a report (csim != emulator) is `failed`, naming why."""
    mods = tmp_path / "mods"
    mods.mkdir()
    for name, code, report in (
            ("over_cli", 4, {"budget": {"met": False, "violations": ["hls (estimate) LUT 9 = 113.0% of x > limit 70%"]}}),
            ("wrong_cli", 1, {"budget": {"met": True}, "verification": {"csim_vs_emulator": {
                "mismatched_values": 3, "first_mismatching_layer": "b0_mha"}}})):
        (mods / f"{name}.py").write_text(
            "import json, pathlib, sys\nout = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])\n"
            f"out.mkdir()\n(out / 'report.json').write_text({json.dumps(json.dumps(report))})\nsys.exit({code})\n")
    monkeypatch.setenv("PYTHONPATH", str(mods))
    over = tmp_path / "0000000000000001"
    over.mkdir()
    rec = run_point(str(over), [], module="over_cli")
    assert rec["status"] == "over_budget" and rec["exit_code"] == 4 and "LUT 9 = 113.0%" in rec["error"]
    assert read_record(over)["status"] == "over_budget"
    wrong = tmp_path / "0000000000000002"
    wrong.mkdir()
    rec = run_point(str(wrong), [], module="wrong_cli")
    assert rec["status"] == "failed" and rec["exit_code"] == 1 and "csim != emulator" in rec["error"]
    assert "b0_mha" in rec["error"]
    from trigformer.flow.sweep import Summary

    assert Summary(tmp_path, [{"status": "ok"}, {"status": "over_budget"}]).exit_code == 0
    assert Summary(tmp_path, [{"status": "ok"}, {"status": "failed"}]).exit_code == 1


def test_unfinished_or_foreign_records_are_not_finished(tmp_path):
    d = tmp_path / "aaaa"
    (d / "firmware").mkdir(parents=True)
    (d / RECORD).write_text('{"key": "aaaa", "finished": true, "exit_code": 0, "status": "ok"')  # truncated
    assert read_record(d) is None
    (d / RECORD).write_text(json.dumps({"key": "aaaa", "finished": True, "exit_code": 0, "status": "ok"}))
    assert read_record(d) is None  # exit 0 promises a report: without it the point is rerun
    (d / "firmware" / "report.json").write_text("{}")
    assert read_record(d)["status"] == "ok"
    (d / RECORD).write_text(json.dumps({"key": "bbbb", "finished": True, "exit_code": 2, "status": "bad_input"}))
    assert read_record(d) is None  # a record copied from another point's folder


def _cluster(tmp_path, cluster: dict):
    _base(tmp_path)
    return load_sweep(_sweep(tmp_path, {"cluster": cluster})).cluster


def test_slurm_job_script_from_cluster_settings(tmp_path):
    spec = _cluster(tmp_path, {"type": "slurm", "cores": 4, "memory": "8GB", "queue": "short", "account": "cms_l1",
                               "walltime": "02:00:00", "job_extra_directives": ["--qos=normal"],
                               "job_script_prologue": ["source /shared/trigformer/.venv/bin/activate"],
                               "log_directory": str(tmp_path / "logs"), "scale": {"jobs": 3}})
    cluster = jobqueue_cluster(spec)  # starts only the scheduler; jobs are submitted when scaled
    try:
        lines = cluster.job_script().splitlines()
        assert cluster.workers == {} and not cluster.worker_spec
    finally:
        cluster.close()
    for line in ("#SBATCH -p short", "#SBATCH -A cms_l1", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G",
                 "#SBATCH -t 02:00:00", "#SBATCH --qos=normal", "source /shared/trigformer/.venv/bin/activate",
                 f"#SBATCH -o {tmp_path / 'logs'}/dask-worker-%J.out"):
        assert line in lines, (line, lines)
    worker = next(ln for ln in lines if "distributed.cli.dask_worker" in ln)
    assert "--nworkers 4" in worker and "--nthreads 1" in worker  # processes default to cores: 1 point each


def test_htcondor_job_script_from_cluster_settings(tmp_path):
    spec = _cluster(tmp_path, {"type": "htcondor", "cores": 2, "memory": "4GB", "disk": "2GB", "processes": 2,
                               "job_extra_directives": {"+MaxRuntime": 7200, "+JobFlavour": '"workday"'},
                               "scale": {"adapt": {"minimum_jobs": 0, "maximum_jobs": 50}}})
    assert spec.scale.adapt.maximum_jobs == 50
    cluster = jobqueue_cluster(spec)
    try:
        lines = cluster.job_script().splitlines()
    finally:
        cluster.close()
    for line in ("MY.DaskWorkerCores = 2", "MY.DaskWorkerMemory = 4000000000", "MY.DaskWorkerDisk = 2000000000",
                 "RequestCpus = MY.DaskWorkerCores", "+MaxRuntime = 7200", '+JobFlavour = "workday"'):
        assert line in lines, (line, lines)
    args = next(ln for ln in lines if ln.startswith("Arguments"))
    assert "--nworkers 2" in args and "--nthreads 1" in args


def test_python_m_flow_cli_runs(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "trigformer.flow.cli", "sweep", "--help"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert res.returncode == 0 and "--scheduler" in res.stdout and "--workers" in res.stdout


def test_example_sweep_file_is_valid():
    s = load_sweep(REPO / "models" / "sweep_example.yaml")
    assert len(s.points) == 24 and s.cluster.type == "local" and s.base.name == "jet_tagger_small.yaml"


def test_existing_scheduler_is_used(tmp_path):
    """--scheduler: the points go to an already running Dask cluster (here one started by the test). The point is
    one that synth refuses quickly at run time, so no training is needed to see it run there and be recorded."""
    import logging

    from distributed import LocalCluster

    _base(tmp_path)
    sw = _sweep(tmp_path, {"synth_args": ["--no-csim", "--weights", str(tmp_path / "missing")]})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                      dashboard_address=None) as cluster:
        summary = run_sweep(load_sweep(sw), tmp_path / "out", scheduler=cluster.scheduler_address, progress=False)
        assert summary.cluster == f"existing scheduler {cluster.scheduler_address}"
        assert len(cluster.scheduler.workers) == 1  # the sweep closed its client, not the cluster
    (row,) = summary.rows
    assert row["status"] == "bad_input" and row["exit_code"] == 2 and row["this_run"] == "ran"
    assert read_record(tmp_path / "out" / row["dir"])["host"]


# ------------------------------------------------------------------ issue 18: strict sweep.yaml, bounds, interrupts

BOMB = "base: base.yaml\ngrid:\n  model.embed_dim: &a [4, 4, 4, 4, 4, 4, 4, 4, 4]\n" + "".join(
    f"  x{i}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))

# (case, the sweep file's bytes, the message after "<file> ")
BAD_SWEEP_TEXT = [
    ("duplicate grid", b"base: base.yaml\ngrid:\n  model.embed_dim: [4, 8]\ngrid:\n  model.num_heads: [1]\n",
     "(line 4): grid: duplicate key (lines 2 and 4)"),
    ("duplicate grid key", b"base: base.yaml\ngrid:\n  model.embed_dim: [4]\n  model.embed_dim: [8]\n",
     "(line 4): grid.model.embed_dim: duplicate key (lines 3 and 4)"),
    ("duplicate base", b"base: base.yaml\nbase: other.yaml\n", "(line 2): base: duplicate key (lines 1 and 2)"),
    ("Latin-1 comment", "base: base.yaml  # café\n".encode("latin-1"), "(line 1): not UTF-8 text (byte 0xe9"),
    ("0xff in a value", b"base: base.yaml\ngrid: {model.embed_dim: [4, \xff]}\n", "(line 2): not UTF-8 text"),
    ("UTF-16", "base: base.yaml\n".encode("utf-16"), "not UTF-8 text"),
    ("self-referencing grid", b"base: base.yaml\ngrid: &g {model.embed_dim: *g}\n",
     "(line 2): grid: YAML anchors and aliases"),
    ("self-referencing list", b"base: base.yaml\nsynth_args: &s [*s]\n", "(line 2): synth_args: YAML anchors"),
    ("alias bomb in a grid value", BOMB.encode(), "(line 3): grid.model.embed_dim: YAML anchors and aliases"),
    ("merge key", b"base: base.yaml\ncluster:\n  <<: {type: local}\n", "(line 3): cluster.<<: YAML merge keys"),
    ("nested too deep", b"base: base.yaml\ngrid: {a: [[[[[[[[[1]]]]]]]]]}\n", "nested too deep"),
    ("empty file", b"", ": expected a mapping"),
    ("a list", b"- base.yaml\n", ": expected a mapping"),
]


@pytest.mark.parametrize("case, text, message", BAD_SWEEP_TEXT, ids=[c[0] for c in BAD_SWEEP_TEXT])
def test_sweep_yaml_is_read_as_strictly_as_model_yaml(tmp_path, capsys, case, text, message):
    """The same strict reader as model.yaml (flow.yamlio): exit 2, one line naming the file (and line), no
    traceback, nothing written; before: exit 3 (non-UTF-8, self-reference), the last duplicate silently kept, or
    an alias bomb expanded into a 100 MB message."""
    _base(tmp_path)
    sw = tmp_path / "s.yaml"
    sw.write_bytes(text)
    assert main(["sweep", str(sw), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"synth sweep: error: {sw}") and message in err[0], err
    assert len(err[0]) < 300 and not (tmp_path / "out").exists()


def test_a_folder_as_sweep_file_is_exit_2(tmp_path, capsys):
    assert main(["sweep", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"synth sweep: error: {tmp_path}: is a directory, not a sweep.yaml file"


TEN = list(range(1, 11))
# (case, sweep body, extra flags, the count in the message)
TOO_MANY_POINTS = [
    ("10^6 grid", {"grid": {k: list(TEN) for k in ("model.embed_dim", "model.num_heads", "model.key_dim", "model.ffn_dim",
                                             "quantization.act_bits", "quantization.weight_bits")}}, [], "1,000,000"),
    ("10^7 random", {"random": {"n": 10_000_000, "space": {"model.embed_dim": {"int": [4, 8]}}}}, [], "10,000,000"),
    ("just over the cap", {"grid": {"model.embed_dim": list(range(1, 102)), "model.ffn_dim": list(range(1, 101))}},
     [], "10,100"),
    ("grid x random", {"grid": {"model.embed_dim": TEN}, "random": {"n": 2000, "space": {"seed": {"int": [0, 9]}}}},
     [], "20,000"),
    ("lowered cap", {"grid": {"model.embed_dim": [4, 6, 8]}}, ["--max-points", "2"], "3"),
]


@pytest.mark.parametrize("case, body, flags, count", TOO_MANY_POINTS, ids=[c[0] for c in TOO_MANY_POINTS])
def test_a_sweep_past_the_point_cap_is_refused_before_expanding(tmp_path, capsys, case, body, flags, count):
    """Counted from the grid sizes and random.n before any point is made or validated (before: a 10^6 grid was
    validated for ~30 minutes and ~12 GB); the message gives the count and the override."""
    _base(tmp_path)
    sw = _sweep(tmp_path, body)
    assert main(["sweep", str(sw), "--out", str(tmp_path / "out"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"synth sweep: error: {sw}: {count} points"), err
    assert f"--max-points {count.replace(',', '')}" in err[0] and not (tmp_path / "out").exists()


def test_max_points_lets_a_large_sweep_through(tmp_path, capsys):
    _base(tmp_path)
    sw = _sweep(tmp_path, {"grid": {"model.embed_dim": [4, 6, 8]}})
    assert len(load_sweep(sw, max_points=3).points) == 3
    assert main(["sweep", str(sw), "--max-points", "0"]) == 2
    assert "--max-points must be >= 1" in capsys.readouterr().err


BAD_SCHEDULERS = ["not a url", "http://host:8786", "tcp://host", "host:0", "tcp://host:99999", "ftp://h:1", "",
                  "tcp:// host:8786"]


@pytest.mark.parametrize("address", BAD_SCHEDULERS)
def test_a_scheduler_that_is_not_an_address_is_exit_2_naming_the_flag(tmp_path, capsys, address):
    _base(tmp_path)
    sw = _sweep(tmp_path, {"grid": {"model.embed_dim": [4, 8]}})
    assert main(["sweep", str(sw), "--scheduler", address, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"synth sweep: error: --scheduler {address!r}: not a Dask scheduler address (e.g. "
                   "tcp://host:8786)"], err
    assert not (tmp_path / "out").exists()


def test_a_dead_scheduler_writes_nothing(tmp_path, capsys):
    """Nobody listens on port 1: the connection fails before any point folder is written (before: point folders
    were written, then "nothing was written" was said)."""
    import dask

    _base(tmp_path)
    sw = _sweep(tmp_path, {"grid": {"model.embed_dim": [4, 8]}})
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(["sweep", str(sw), "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synth sweep: error: --scheduler tcp://127.0.0.1:1: cannot connect")
    assert err[0].endswith("nothing was written") and not (tmp_path / "out").exists()


# (case, the planted CLI's body, interrupted?, the status recorded otherwise)
POINT_ENDINGS = [
    ("exit 130 (synth's SIGINT exit)", "sys.exit(130)", True, None),
    ("exit 143 (synth's SIGTERM exit)", "sys.exit(143)", True, None),
    ("exit 129 (SIGHUP handled)", "sys.exit(129)", True, None),
    ("exit 137 (shell's SIGKILL code)", "sys.exit(137)", True, None),
    ("killed by SIGTERM", "os.kill(os.getpid(), signal.SIGTERM)", True, None),
    ("killed by SIGHUP", "os.kill(os.getpid(), signal.SIGHUP)", True, None),
    ("killed by SIGKILL", "os.kill(os.getpid(), signal.SIGKILL)", True, None),
    ("exit 2", "sys.exit(2)", False, "bad_input"),
    ("exit 3", "sys.exit(3)", False, "error"),
    ("exit 131 (SIGQUIT: a crash dump, not a stop)", "sys.exit(131)", False, "error"),
    ("killed by SIGABRT", "os.kill(os.getpid(), signal.SIGABRT)", False, "crashed"),
]


@pytest.mark.parametrize("case, body, interrupted, status", POINT_ENDINGS, ids=[c[0] for c in POINT_ENDINGS])
def test_an_interrupted_point_is_not_recorded_whatever_its_exit(tmp_path, monkeypatch, case, body, interrupted,
                                                                status):
    """README: a point stopped by SIGINT, SIGTERM, SIGHUP or SIGKILL is rerun next time, whether the signal killed
    it or synth handled it and exited 128 + N (before: exit 130 was recorded as a finished `error` for good)."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "ending_cli.py").write_text(f"import os, signal, sys\n{body}\n")
    monkeypatch.setenv("PYTHONPATH", str(mods))
    d = tmp_path / "0123456789abcdef"
    d.mkdir()
    rec = run_point(str(d), [], module="ending_cli")
    if interrupted:
        assert rec["status"] == "interrupted" and rec["finished"] is False
        assert read_record(d) is None and not (d / RECORD).exists()
    else:
        assert rec["status"] == status and read_record(d)["status"] == status


@pytest.mark.parametrize("code", [130, 143])
def test_an_interrupted_point_recorded_by_an_earlier_version_is_rerun(tmp_path, code):
    d = tmp_path / "aaaa"
    d.mkdir()
    (d / RECORD).write_text(json.dumps({"key": "aaaa", "finished": True, "exit_code": code, "status": "error"}))
    assert read_record(d) is None


def test_ctrl_c_to_the_process_group_leaves_the_running_point_to_be_rerun(tmp_path):
    """The issue's case end to end: `synth sweep` with one long point; SIGINT to the whole process group (what
    Ctrl-C in a terminal sends) while the point's synth trains. Exit 130, the point has no record, so the rerun
    runs it again; no point process is left."""
    import signal
    import subprocess
    import sys
    import time

    base = _base(tmp_path)
    cfg = yaml.safe_load(base.read_text())
    cfg["training"]["epochs"] = 500  # long enough to be interrupted while training
    base.write_text(yaml.safe_dump(cfg, sort_keys=False))
    sw = _sweep(tmp_path, {"synth_args": ["--no-csim"], "cluster": {"type": "local", "workers": 1}})
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "trigformer.flow.cli", "sweep", str(sw), "--out", str(out), "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("points/*/.firmware.tmp-*")):  # synth has validated and started building
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 130, (stdout, stderr)
    (point,) = (out / "points").iterdir()
    assert read_record(point) is None and not (point / RECORD).exists(), (point / RECORD).read_text()
    said = " ".join(stdout.split())
    assert "synth sweep: interrupted; finished points are kept, 1 point not finished" in said, said
    assert "Rerun the same command to run them" in said
    assert not list(point.glob(".firmware.tmp-*"))


def test_fronts_by_group_hand_derived():
    """One Pareto front (fewest LUTs, best accuracy) per particle count; rows without both figures are left out."""
    from trigformer.flow.sweep.results import fronts_by_group

    rows = [{"key": k, "data.n_particles": n, "alkaid_LUT": x, "acc_firmware": a}
            for k, n, x, a in [("a", 8, 100, 0.60), ("b", 8, 200, 0.65), ("c", 8, 150, 0.55), ("d", 8, 300, 0.64),
                               ("e", 16, 120, 0.50), ("f", 16, 80, 0.52), ("g", 16, 50, None), ("h", 32, None, 0.7)]]
    fronts = fronts_by_group(rows, "alkaid_LUT", "data.n_particles")
    assert {g: [r["key"] for r in f] for g, f in fronts.items()} == {8: ["a", "b"], 16: ["f"]}
    assert [r["key"] for r in fronts_by_group(rows, "alkaid_LUT", None)[None]] == ["f", "a", "b"]


def test_alkaid_cost_column_and_plot(tmp_path):
    """An HGQ2 point's report carries alkaid's cost of the written logic: the row has it as alkaid_LUT, and sweep.html
    adds the accuracy-vs-alkaid-cost plot (one front per particle count) and its table."""
    from types import SimpleNamespace

    from trigformer.flow.sweep.results import make_row, write_html

    rows = []
    for key, n, cost, acc in [("p8a", 8, 1000.5, 0.61), ("p8b", 8, 2000.0, 0.60), ("p16", 16, 3000.0, 0.66)]:
        d = tmp_path / key
        (d / "firmware").mkdir(parents=True)
        (d / "firmware" / "report.json").write_text(json.dumps({
            "accuracy": {"float": 0.7, "fixed": acc, "firmware": acc}, "latency": {"ns": 195.0, "cycles": 39, "ii": 1},
            "resources": {"source": "none"}, "budget": {"met": False},
            "rtl": {"alkaid_cost": {"trace": cost + 1, "written": cost}}, "training": {"fixed": {"ebops": 5 * cost}}}))
        rows.append(make_row(SimpleNamespace(key=key, varied={"data.n_particles": n}), {"status": "over_budget"}, d,
                             True))
    assert [(r["alkaid_LUT"], r["ebops"]) for r in rows] == [(1000.5, 5002.5), (2000.0, 10000.0), (3000.0, 15000.0)]
    sweep = SimpleNamespace(varied_keys=["data.n_particles"], path=tmp_path / "s.yaml", base=tmp_path / "b.yaml",
                            budget={"latency_ns": 200, "ii": 1, "part": "xcvu9p"})
    points = [SimpleNamespace(config={"hls": {"part": "xcvu9p"}, "budget": {"latency_ns": 200}})]
    doc = write_html(tmp_path, rows, sweep, points).read_text()
    assert len(doc.split("src='data:image/png;base64,")) == 4  # LUT, latency, alkaid cost
    assert "<h2>Accuracy vs alkaid cost (estimate" in doc and "one Pareto front per data.n_particles" in doc
    front = doc.split("<h2>Pareto fronts by alkaid cost per data.n_particles</h2>")[1].split("<h2>")[0]
    assert "p8a" in front and "p16" in front and "p8b" not in front  # p8b: more LUTs, lower accuracy than p8a


def test_pareto_sweep_file_is_valid():
    """models/sweep_pareto.yaml: every point (N = 8/16/32 x 3 LUT targets) validates as an HGQ2-mode model.yaml."""
    s = load_sweep(REPO / "models" / "sweep_pareto.yaml")
    assert len(s.points) == 9 and s.base.name == "jet_tagger_n16.yaml"
    assert {p.config["data"]["n_particles"] for p in s.points} == {8, 16, 32}
    assert all(p.config["quantization"]["mode"] == "hgq2" for p in s.points)
    est = load_sweep(REPO / "models" / "sweep_pareto_alkaid.yaml")  # the same points without Verilator and Yosys
    assert len(est.points) == 9 and est.base == s.base
    assert all(not p.config["rtl"]["cosim"] and p.config["rtl"]["yosys"] == "none" for p in est.points)
    for sweep in (s, est):  # 30 epochs, as the estimate sweep was measured (the N = 16 example itself trains 90)
        assert {(p.config["data"]["n_particles"], p.config["quantization"]["lut_target"], p.config["training"]["epochs"])
                for p in sweep.points} == {(n, t, 30) for n in (8, 16, 32) for t in (75000, 150000, 300000)}
