"""Models people already have (issue 21): Keras-2 / QKeras-0.9 files written by TensorFlow 2.14, read under Keras 3.

The fixtures (tests/fixtures/legacy) were written by the Keras-2 stack itself (make_legacy.py says how), together with
that stack's own outputs on fixed inputs: the independent reference. The QKeras tagger keeps every tensor on a QKeras
grid, so its Keras-2 forward pass is the firmware's arithmetic: its outputs are stored as integers on the output grid,
and the firmware's emulator (C-simulated bit-exact by synth) must give exactly those integers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from trigformer.flow.cli import main

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"


@pytest.mark.parametrize("file", ["qkeras_tagger.h5", "qkeras_tagger_savedmodel"])
def test_legacy_qkeras_file_reads_as_keras2_computed(file):
    """The file rebuilt under Keras 3 (qkeras-v3 layers, the saved weights) gives the Keras-2 model's integers."""
    from trigformer.models.byom import load_model_file

    z = np.load(LEGACY / "qkeras_tagger.npz")
    model = load_model_file(LEGACY / file)
    y = model.predict(z["x"], verbose=0).astype(np.float64) * 2.0 ** int(z["out_frac_bits"])
    assert np.array_equal(y, np.round(y)), "an output off the QKeras grid"
    assert np.array_equal(y.astype(np.int64), z["out_int"])


@pytest.mark.parametrize("file", ["stock_mha.h5", "stock_mha_savedmodel"])
def test_legacy_stock_transformer_reads_with_its_weights(file):
    """A stock Keras-2 block (EinsumDense, MultiHeadAttention called with a `value` kwarg, LayerNormalization, softmax
    head): the same float outputs as Keras 2 computed (float32, so only the summation order may differ), and the
    mapping onto trigformer's layers accepts it."""
    from trigformer.models.byom import ImportedModel, load_model_file

    z = np.load(LEGACY / "stock_mha.npz")
    model = load_model_file(LEGACY / file)
    assert np.abs(model.predict(z["x"], verbose=0) - z["out"]).max() < 1e-5
    classes = {row["layer"]: row["becomes"][0] for row in ImportedModel(model, file).rows}
    assert classes["mha"].startswith("QMultiHeadAttention (self-attention") and classes["ln"].startswith(
        "QLayerNormalization")


def test_legacy_cross_attention_reads_with_its_two_inputs():
    """Keras 2 saved the cross-attention's key/value as the call's `value` kwarg naming another layer's tensor: the
    rebuilt model attends from the query input's token to the particles, with the outputs Keras 2 computed."""
    from trigformer.models.byom import ImportedModel, load_model_file

    z = np.load(LEGACY / "cross_mha.npz")
    model = load_model_file(LEGACY / "cross_mha.h5")
    assert np.abs(model.predict([z["x"], z["x"][:, :1]], verbose=0) - z["out"]).max() < 1e-5
    rows = {row["layer"]: row["becomes"][0] for row in ImportedModel(model, "cross_mha.h5").rows}
    assert "cross-attention" in rows["cross"] and rows["flat"].startswith("Flatten")


@pytest.mark.parametrize("file", ["qkeras_tagger.h5", "qkeras_tagger_savedmodel"])
def test_legacy_qkeras_file_converts_bit_exact(tmp_path, file):
    """`synth` on the legacy file: csim == emulator on every traced layer, and the emulator's outputs on the
    fixture's inputs are the Keras-2 model's own integers (the input type set to the user's input quantizer, so
    the firmware's input cast is exact)."""
    from trigformer.sim.emulator import Emulator

    src = LEGACY / file
    (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / file)
    cfg = {"name": "legacy_tagger", "seed": 5, "model": {"file": file},
           "data": {"n_particles": 8, "n_train": 300, "n_test": 200}, "verify": {"n_events": 100},
           "quantization": {"input_bits": 10, "input_int_bits": 3}}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    code = main([str(tmp_path / "m.yaml"), "--part", "xcvu9p", "--out", str(out), "-q"])
    r = json.loads((out / "report.json").read_text())
    assert code in (0, 4), code
    c = r["verification"]["csim_vs_emulator"]
    assert c["bit_exact_fraction"] == 1.0 and c["mismatched_values"] == 0
    z = np.load(LEGACY / "qkeras_tagger.npz")
    (emu_json,) = list(out.rglob("emulator.json"))
    emu = Emulator.load(emu_json.with_suffix(""))
    assert emu.output_type.frac == int(z["out_frac_bits"])
    assert np.array_equal(emu.run(z["x"]), z["out_int"])
