"""`synth` end to end on a tiny model: project layout, report contents, --force, --weights, --no-csim,
`synth report`, and determinism (same YAML + seed => same data, weights and byte-identical firmware).

References: hls4ml's documented project layout, the report contract of the issues, and a second independent run."""

import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from trigformer.flow.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("a") / "tiny"
    code = main([str(TINY), "--part", "xcvu9p", "--out", str(out), "-q"])
    return out, code


def _report(out):
    return json.loads((out / "report.json").read_text())


def test_project_layout(run_a):
    out, code = run_a
    for rel in ("build_prj.tcl", "firmware/tiny.cpp", "firmware/tiny.h", "firmware/parameters.h",
                "firmware/nnet_utils/nnet_tf_mha.h", "firmware/nnet_utils/nnet_tf_layernorm.h",
                "tb_data/tb_input_features.dat", "tb_data/tb_output_predictions.dat", "tiny_test.cpp",
                "keras/fixed.h5", "keras/fixed.weights.h5", "keras/float.weights.h5", "report.json", "report.html",
                "emulator.json", "emulator.npz"):
        assert (out / rel).exists(), rel
    assert not list((out / "firmware").glob("*.so")), "build products must not be left in the project"
    assert not list(out.parent.glob(".tiny*")), "temporary folders must be cleaned up"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [], "no hidden leftovers in the project"
    recorded = (out / "hls4ml_config.yml").read_text()
    assert ".tmp-" not in recorded and f"OutputDir: {out}" in recorded  # paths point at the final folder
    assert f"InputData: {out}/tb_data/tb_input_features.dat" in recorded
    assert "xcvu9p-flga2104-2L-e" in (out / "build_prj.tcl").read_text() + (out / "project.tcl").read_text()
    # tb_data expected outputs are the emulator's (= csim) outputs of the tb inputs, one event per line
    n_tb = len((out / "tb_data/tb_input_features.dat").read_text().strip().splitlines())
    assert n_tb == _report(out)["verification"]["n_events"]


def test_report_contract(run_a):
    out, code = run_a
    r = _report(out)
    assert r["name"] == "tiny" and r["part"] == "xcvu9p-flga2104-2L-e"
    assert r["model"]["parameters"] > 100
    acc = r["accuracy"]
    assert set(acc) >= {"float", "fixed", "firmware", "n_events"} and acc["n_events"] == 300
    v = r["verification"]
    assert v["n_events"] == 200
    assert v["csim_vs_emulator"]["bit_exact_fraction"] == 1.0 and v["csim_vs_emulator"]["mismatched_values"] == 0
    assert v["csim_vs_emulator"]["first_mismatching_layer"] is None
    assert {row["layer"] for row in v["csim_vs_emulator"]["per_layer"]} >= {"embed", "b0_mha", "b0_ln1", "pool", "head"}
    assert 0 <= v["float_vs_fixed"]["argmax_agreement"] <= 1
    assert 0.5 <= v["lut_softmax_vs_float"]["argmax_agreement_ties_allowed"] <= 1
    # firmware accuracy is the emulator's, which the fixed Keras model reproduces bit for bit on these events
    pred = np.load(out / "predictions.npz")
    assert acc["firmware"] == pytest.approx(np.mean(pred["firmware"].argmax(-1) == pred["y_true"]))
    assert r["latency"]["source"] in ("estimate", "csynth", "cosim") and r["resources"]["source"]
    assert r["budget"]["met"] == (code == 0) and code in (0, 4)


def test_refuses_existing_output_and_force_replaces(run_a, tmp_path):
    out, _ = run_a
    copy = tmp_path / "tiny"
    shutil.copytree(out, copy)
    before = (copy / "report.json").read_text()
    assert main([str(TINY), "--out", str(copy), "-q"]) == 2
    assert (copy / "report.json").read_text() == before


def test_same_seed_same_weights_and_identical_firmware(run_a, tmp_path):
    """A second full run (train again from the same seed) gives the same weights and byte-identical firmware."""
    out, _ = run_a
    out2 = tmp_path / "tiny"
    main([str(TINY), "--out", str(out2), "-q"])
    for f in ("fixed.weights.h5", "float.weights.h5"):
        import h5py

        with h5py.File(out / "keras" / f) as a, h5py.File(out2 / "keras" / f) as b:
            names = []
            a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
            assert names and all(np.array_equal(a[n][()], b[n][()]) for n in names)
    cmp = filecmp.dircmp(out / "firmware", out2 / "firmware")
    assert _all_same(cmp), (cmp.diff_files, cmp.left_only, cmp.right_only)
    for f in ("build_prj.tcl", "tiny_test.cpp", "build_lib.sh"):  # build_lib.sh names the library by the stamp
        assert (out / f).read_bytes() == (out2 / f).read_bytes()


def _all_same(cmp) -> bool:
    if cmp.diff_files or cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_all_same(sub) for sub in cmp.subdirs.values())


def test_weights_no_csim_and_report_rerender(run_a, tmp_path):
    out, _ = run_a
    out3 = tmp_path / "again"
    code = main([str(TINY), "--out", str(out3), "--weights", str(out), "--no-csim", "-q"])
    r = _report(out3)
    assert r["verification"]["csim_vs_emulator"] == {"skipped": "--no-csim"}
    assert r["accuracy"]["fixed"] == _report(out)["accuracy"]["fixed"]
    assert "loaded_from" in r["training"]["fixed"]
    (out3 / "report.html").unlink()
    assert main(["report", str(out3)]) == code
    assert (out3 / "report.html").exists() and _report(out3)["budget"] == r["budget"]
    assert main(["report", str(tmp_path / "nothing")]) == 2


FIXTURE = REPO / "tests" / "fixtures" / "vendor" / "vitis" / "jet_tagger_prj"


def _fake_tool(tmp_path, body: str) -> str:
    """A stand-in `vitis-run` on PATH (the real one is not installed here); returns the new PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "vitis-run"
    exe.write_text("#!/bin/bash\n" + body)
    exe.chmod(0o755)
    import os

    return f"{bindir}:{os.environ['PATH']}"


def test_vendor_synthesis_results_replace_the_estimate(run_a, tmp_path, monkeypatch):
    """--synth with a tool that leaves a csynth report (the documented XML, from tests/fixtures) in the project:
    the report's latency/resources come from it, labelled csynth, parsed by hls4ml's parser."""
    out, _ = run_a
    body = (f'set -e\nname=$(sed -n \'s/set project_name "\\(.*\\)"/\\1/p\' project.tcl)\n'
            f'mkdir -p ${{name}}_prj/solution1/syn/report\ncp {FIXTURE}/hls.app ${{name}}_prj/\n'
            f'sed "s/jet_tagger/$name/g" {FIXTURE}/solution1/syn/report/jet_tagger_csynth.xml '
            f'> ${{name}}_prj/solution1/syn/report/${{name}}_csynth.xml\n')
    monkeypatch.setenv("PATH", _fake_tool(tmp_path, body))
    dest = tmp_path / "v"
    code = main([str(TINY), "--out", str(dest), "--weights", str(out), "--no-csim", "--synth", "-q"])
    r = _report(dest)
    assert r["latency"]["source"] == "csynth" and r["latency"]["cycles"] == 14 and r["latency"]["ii"] == 1
    assert r["resources"]["DSP"] == 1210 and r["resources"]["LUT"] == 96544
    assert r["estimate"]["latency"]["source"] == "estimate"  # the estimate is kept beside the real figures
    assert (dest / "build_opt.tcl").exists()  # hls4ml's Vitis option file, written for the tool
    assert code == (0 if r["budget"]["met"] else 4)


def test_vendor_failure_keeps_the_project_and_exits_1(run_a, tmp_path, monkeypatch):
    out, _ = run_a
    monkeypatch.setenv("PATH", _fake_tool(tmp_path, "echo 'ERROR: [HLS 200-70] synthesis failed' >&2\nexit 3\n"))
    dest = tmp_path / "v"
    assert main([str(TINY), "--out", str(dest), "--weights", str(out), "--no-csim", "--synth", "-q"]) == 1
    r = _report(dest)
    assert "exited with code 3" in r["vendor_error"] and r["latency"]["source"] == "estimate"


def test_csim_emulator_disagreement_exits_1_and_names_the_layer(run_a, tmp_path, monkeypatch):
    """An emulator that is off by one lsb in the first residual add: synth must notice (the reference is the
    compiled C++), name that layer first, and exit 1 with everything written."""
    from trigformer.models.ops import BY_KIND

    add = BY_KIND["add"]
    real_add = add.run
    monkeypatch.setattr(add, "run", staticmethod(
        lambda node, ins, in_t: real_add(node, ins, in_t) + (node.name == "b0_add1")))
    dest = tmp_path / "bad"
    assert main([str(TINY), "--out", str(dest), "--weights", str(out_dir(run_a)), "-q"]) == 1
    v = _report(dest)["verification"]["csim_vs_emulator"]
    assert v["first_mismatching_layer"] == "b0_add1" and v["mismatched_values"] > 0
    assert v["bit_exact_fraction"] < 1.0 and (dest / "report.html").exists()


def out_dir(run):
    return run[0]


def test_hls4ml_jets_source_end_to_end(tmp_path):
    """data.source hls4ml_jets: an h5 file in the public dataset's layout (jetConstituentList [N,150,16] in its
    column order, one-hot labels at jets[:, 53:58]), a path relative to the YAML, through training and firmware."""
    import h5py

    from trigformer.models.data import make_synthetic

    n = 1000
    x, y = make_synthetic(n, 20, ["pt_rel", "eta_rel", "phi_rel"], seed=3)
    cons = np.zeros((n, 150, 16), np.float32)
    cons[:, :20, 6], cons[:, :20, 8], cons[:, :20, 11] = x[..., 0], x[..., 1], x[..., 2]  # ptrel, etarel, phirel
    jets = np.zeros((n, 59), np.float32)
    jets[np.arange(n), 53 + y] = 1.0
    (tmp_path / "data").mkdir()
    with h5py.File(tmp_path / "data" / "jets.h5", "w") as f:
        f["jetConstituentList"], f["jets"] = cons, jets
    cfg = tmp_path / "h5.yaml"
    cfg.write_text(TINY.read_text().replace("name: tiny", "name: h5tiny").replace(
        "data:\n", "data:\n  source: hls4ml_jets\n  path: data/jets.h5\n"))
    out = tmp_path / "out"
    code = main([str(cfg), "--out", str(out), "--no-csim", "-q", "--epochs", "1"])
    r = _report(out)
    assert code in (0, 4) and r["config"]["data"]["source"] == "hls4ml_jets"
    assert r["accuracy"]["n_events"] == 300 and r["verification"]["n_events"] == 200
    assert r["input_scaling"]["log2"] == [4, 4, 4]  # same feature ranges as the synthetic jets


@pytest.mark.parametrize("written", ["86678857", "00001234", "0badf00d", "1e234567"])
def test_the_deterministic_stamp_replaces_any_stamp_hls4ml_writes(tmp_path, written):
    """hls4ml's make_stamp gives 8 random hex digits, written by yaml.dump into hls4ml_config.yml (quoted when they
    read as a number, about 2 % of runs: that once made synth fail) and verbatim into build_lib.sh. Reference:
    the files as hls4ml's writer produces them (its template line and yaml.dump of its config)."""
    import yaml

    from trigformer.flow.firmware import keep_stamp

    class Config:
        config = {"OutputDir": str(tmp_path), "ProjectName": "tiny", "Stamp": written}

        def get_config_value(self, key):
            return self.config[key]

    class Model:
        config = Config()

    (tmp_path / "hls4ml_config.yml").write_text(yaml.dump(Model.config.config))
    (tmp_path / "build_lib.sh").write_text(f"#!/bin/bash\nPROJECT=tiny\nLIB_STAMP={written}\nBASEDIR=x\n")
    for new in ("12345678", "c0ffee42"):
        keep_stamp(Model(), tmp_path, new)
        assert yaml.safe_load((tmp_path / "hls4ml_config.yml").read_text())["Stamp"] == new  # a string, as hls4ml's
        assert f"\nLIB_STAMP={new}\n" in (tmp_path / "build_lib.sh").read_text()
        assert Model.config.config["Stamp"] == new
