"""HGQ2 models (models/hgq2, flow/hgq2.py): an HGQ2 model with heterogeneous bit widths and QMultiHeadAttention,
trained briefly here (seeded), traced by alkaid. References: HGQ2's own Keras inference and Verilator, compared as
integers on each output's grid (no float tolerance), on the data's events and out-of-range ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from trigformer.models.data import make_synthetic

F3 = ["pt_rel", "eta_rel", "phi_rel"]
N_TOK = 8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, saved .keras path, x, y): the small attention model, 1 epoch on synthetic jets, seed fixed."""
    from trigformer.models.hgq2.examples import heterogeneous, small_attention, train

    x, y = make_synthetic(512, N_TOK, F3, seed=3)
    model = train(heterogeneous(small_attention(N_TOK, len(F3)), seed=2), x, y, epochs=1, seed=1)
    path = tmp_path_factory.mktemp("hgq2") / "tagger.keras"
    model.save(path)
    return model, path, x, y


def _widths(q) -> np.ndarray:
    """Total bit widths of an HGQ2 quantizer, per element."""
    k, i, f = (np.asarray(v, dtype=np.float64) for v in q.quantizer.kif)
    return np.broadcast_to(np.maximum(k + i + f, 0), np.broadcast(k, i, f).shape)


def test_model_is_heterogeneous_and_detected(trained):
    from trigformer.models.hgq2 import is_hgq2_file, is_hgq2_model

    model, path, _, _ = trained
    assert is_hgq2_model(model) and is_hgq2_file(path)
    widths = [np.unique(_widths(lyr.kq)) for lyr in model.layers if getattr(lyr, "kq", None) is not None]
    assert any(len(w) > 1 for w in widths), widths  # per-element bit widths differ within a layer's weights
    assert "QMultiHeadAttention" in {type(lyr).__name__ for lyr in model.layers}


def test_keras_equals_trace_on_integers(trained):
    """HGQ2's claim of bit-exactness, checked: Keras inference == alkaid trace on the data and far outside it."""
    from trigformer.models.hgq2 import check, load_hgq2

    _, path, x, _ = trained
    model = load_hgq2(path)  # the saved file, loaded with safe_mode after inspection
    traced = check.trace(model)
    assert traced.n_inputs == N_TOK * len(F3) and traced.n_outputs == 5
    sec, xs = check.check_trace(model, traced, x[:200], seed=0)
    assert sec["n_events"] == len(xs) > 1000
    assert sec["mismatched_values"] == 0 and sec["off_grid_values"] == 0, sec["first_mismatch"]
    assert np.abs(xs).max() >= 2 ** 15  # out-of-range inputs were part of it
    # the comparison can fail: one LSB off on one output is caught
    yk = check.keras_outputs(model, xs[:10])
    bumped = yk.copy()
    bumped[3, 1] += 2.0 ** -traced.out_frac[1]
    assert check.compare(yk, bumped, traced.out_frac, ("a", "b"))["mismatched_values"] == 1


def test_file_with_code_is_refused(trained, tmp_path):
    """An HGQ2 file with a Lambda is refused from its config alone (nothing of it runs)."""
    import zipfile

    from trigformer.models.byom import ModelFileError
    from trigformer.models.hgq2 import load_hgq2

    _, path, _, _ = trained
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                cfg = json.loads(data)
                cfg["config"]["layers"][-1]["class_name"] = "Lambda"
                cfg["config"]["layers"][-1]["config"]["function"] = {"class_name": "__lambda__", "config": {}}
                data = json.dumps(cfg).encode()
            zout.writestr(item, data)
    with pytest.raises(ModelFileError, match="code"):
        load_hgq2(bad)


def test_linformer_keras_equals_trace():
    """QLinformerAttention (keys and values projected to 4 tokens), heterogeneous, untrained: Keras == trace."""
    from trigformer.models.hgq2 import check
    from trigformer.models.hgq2.examples import heterogeneous, small_attention

    x, _ = make_synthetic(64, N_TOK, F3, seed=4)
    model = heterogeneous(small_attention(N_TOK, len(F3), linformer=4), seed=3)
    assert "QLinformerAttention" in {type(lyr).__name__ for lyr in model.layers}
    traced = check.trace(model)
    sec, _ = check.check_trace(model, traced, x, seed=1)
    assert sec["n_events"] > 300 and sec["mismatched_values"] == 0, sec["first_mismatch"]


def _yaml(tmp: Path, model_file: Path, **sections) -> Path:
    cfg = {"name": "hgq2_tagger", "seed": 5, "model": {"file": str(model_file)},
           "data": {"n_particles": N_TOK, "features": F3, "n_train": 200, "n_test": 300},
           "verify": {"n_events": 64}, **sections}
    p = tmp / "model.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def test_synth_refuses_hls_only_flags(trained, tmp_path):
    from trigformer.flow.cli import main

    _, path, _, _ = trained
    out = tmp_path / "out"
    assert main([str(_yaml(tmp_path, path)), "--out", str(out), "-q", "--fit"]) == 2
    assert not out.exists()


@pytest.mark.slow
def test_synth_hgq2_rtl_verilator_yosys(trained, tmp_path):
    """synth on the .keras: Verilator == HGQ2 Keras on integers (data and out-of-range events), Yosys counts in
    forms.rtl, judged by the budget."""
    from trigformer.flow.cli import main

    os.environ["PATH"] = f"{Path(__import__('sys').executable).parent}{os.pathsep}{os.environ['PATH']}"
    _, path, _, _ = trained
    out = tmp_path / "out"
    code = main([str(_yaml(tmp_path, path)), "--part", "xcvu9p", "--out", str(out), "-q", "--rtl"])
    r = json.loads((out / "report.json").read_text())
    rtl = r["rtl"]
    assert rtl["trace_vs_keras"]["mismatched_values"] == 0
    c = rtl["cosim"]
    assert c.get("failed") is None, c
    assert c["n_events"] == 5 * 64 + 4 and c["mismatched_values"] == 0 and c["off_grid_values"] == 0, c["first_mismatch"]
    assert "skipped" in rtl["hls_vs_keras"]  # hls.form: kernels (default): no traced HLS C++ (test below)
    assert code in (0, 4), code
    f = r["forms"]
    assert set(f) == {"rtl"}
    assert f["rtl"]["resources"]["source"] == "yosys" and f["rtl"]["resources"]["LUT"] > 0
    assert f["rtl"]["latency"]["cycles"] == rtl["latency"]["cycles"] > 0
    assert r["budget"]["judged"] == ["rtl"]
    assert "not_covered" in r["verification"]


@pytest.mark.slow
def test_traced_hls_cpp_equals_keras(trained, tmp_path):
    """hls.form: trace's check on its own: alkaid's HLS C++ of the trace, compiled with g++, == HGQ2 Keras as
    integers on the data and out-of-range events (the g++ build of the whole model takes minutes)."""
    from trigformer.models.hgq2 import check, hls

    model, _, x, _ = trained
    traced = check.trace(model)
    xs, _ = check.stress_inputs(x[:100], seed=0)
    h = hls.write_and_compile(traced.comb, tmp_path / "hls", "hgq2_tagger", 5.0, "xcvu9p-flga2104-2L-e")
    sec = check.compare(check.keras_outputs(model, xs), hls.simulate(h, xs), traced.out_frac, ("keras", "hls"))
    assert sec["n_events"] == 5 * 100 + 4 and sec["mismatched_values"] == 0, sec["first_mismatch"]


def test_signed_one_bit_inputs_trace_bit_exact():
    """alkaid 0.8.2 asserts when it lowers a group of signed 1-bit inputs (values -1, 0) of a constant matrix into a
    partial-sum table (hit by a trained N = 16 model); check.trace retraces without that lowering, says so, and the
    trace still equals HGQ2 Keras as integers."""
    import keras
    from hgq.config import QuantizerConfigScope
    from hgq.layers import QDense

    from trigformer.models.hgq2 import check

    with QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP", i0=0, f0=0), \
            QuantizerConfigScope(place=("weight", "bias"), default_q_type="kbi", b0=4, i0=1):
        inp = keras.Input((12,))
        model = keras.Model(inp, QDense(3)(inp))
    traced = check.trace(model)
    assert traced.note is not None and "binary_lut" in traced.note
    x = np.random.default_rng(0).uniform(-3, 3, (64, 12)).astype(np.float32)
    sec, _ = check.check_trace(model, traced, x, seed=0)
    assert sec["n_events"] > 300 and sec["mismatched_values"] == 0, sec["first_mismatch"]
