"""Bring your own model (issues 13, 21): trained stock Keras 3 and qkeras-v3 models through `synth`.

The models are built the way users build them, with plain Keras / QKeras code (not trigformer's builder), trained
briefly on the embedded jets (or left with their random weights), saved (.keras; .h5 as Keras 3 writes it) and run
through `synth` with `model: {file: ...}`. Files in the Keras-2 era's formats (.h5 and SavedModel folders written by
TensorFlow 2.14) are the committed fixtures of tests/fixtures/legacy (tests/test_legacy_models.py converts them).
References: the C-simulation of the generated C++ against the emulator (raw integers of every traced layer:
bit-exact, no tolerance), the model file's own float outputs against the mapped network in float with the same
weights (`import_check`, which checks the mapping), and the float-vs-firmware agreement of the report. Unsupported
layers must give exit 2 naming them, with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import keras
import yaml

from trigformer.flow.cli import main
from trigformer.models.data import make_synthetic

L = keras.layers
LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"  # written by TF 2.14 (make_legacy.py)
F3 = ["pt_rel", "eta_rel", "phi_rel"]
F4 = ["pt_rel", "eta_rel", "phi_rel", "delta_r"]
N_TRAIN, N_TEST, N_VERIFY = 600, 300, 150


def jets(n_particles: int, features: list[str], n: int = N_TRAIN):
    return make_synthetic(n, n_particles, features, seed=3)  # the same jets as data.source synthetic gives


def fit(model, x, y, epochs: int = 1, logits: bool = False):
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=logits),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)


def config(tmp: Path, name: str, file: str, n_particles: int, features=F3, **sections) -> Path:
    cfg = {"name": name, "seed": 5, "model": {"file": file, **sections.pop("model", {})},
           "data": {"n_particles": n_particles, "features": features, "n_train": N_TRAIN, "n_test": N_TEST},
           "verify": {"n_events": N_VERIFY}, **sections}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def synth(yaml_path: Path, out: Path, *args) -> tuple[int, dict]:
    code = main([str(yaml_path), "--part", "xcvu9p", "--out", str(out), "-q", *args])
    return code, (json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {})


def assert_verified(code: int, r: dict) -> None:
    """csim == emulator on every traced layer, the mapping exact in float, float-vs-firmware agreement reported."""
    assert code in (0, 4), code  # 4: a budget the estimate does not meet (1 would be a failure)
    v = r["verification"]
    c = v["csim_vs_emulator"]
    assert c["bit_exact_fraction"] == 1.0 and c["mismatched_values"] == 0 and c["first_mismatching_layer"] is None
    assert len(c["per_layer"]) >= 3 and all(row["mismatched_values"] == 0 for row in c["per_layer"])
    assert v["keras_fixed_vs_emulator"]["bit_exact_fraction"] >= 0.95
    assert 0 <= v["float_vs_fixed"]["argmax_agreement"] <= 1 and v["float_vs_fixed"]["max_abs_diff"] >= 0
    ic = v["import_check"]  # the same weights in float: only float32 summation order may differ
    assert ic["argmax_agreement"] >= 0.99 and ic["max_abs_diff"] < 1e-3, ic
    acc = r["accuracy"]
    assert all(0 <= acc[k] <= 1 for k in ("float", "fixed", "firmware")) and acc["n_events"] == N_TEST
    if code == 4:
        assert not r["budget"]["met"]


def mapped(r: dict, layer: str) -> list[str]:
    return next(row["becomes"] for row in r["model"]["mapping"] if row["layer"] == layer)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    keras.utils.set_random_seed(11)
    return tmp_path_factory.mktemp("byom")


def test_one_block_self_attention_classifier(work):
    """Dense embedding, MultiHeadAttention, residual Add, LayerNormalization, relu FFN, mean pooling, softmax head;
    post-training quantization with every integer-bit count calibrated (auto)."""
    x, y = jets(8, F3)
    inp = L.Input((8, 3), name="particles")
    h = L.Dense(8, name="embed")(inp)
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1, name="mha")(h, h)
    h = L.LayerNormalization(name="ln1")(L.Add(name="add1")([h, a]))
    f = L.Dense(16, activation="relu", name="ffn1")(h)
    f = L.Dense(8, name="ffn2")(L.Dropout(0.1, name="drop")(f))
    h = L.LayerNormalization(name="ln2")(L.Add(name="add2")([h, f]))
    out = L.Dense(5, activation="softmax", name="head")(L.GlobalAveragePooling1D(name="pool")(h))
    model = keras.Model(inp, out)
    fit(model, x, y)
    model.save(work / "one_block.keras")
    cfg = config(work, "one_block", "one_block.keras", 8,
                 quantization={"weight_int_bits": "auto", "act_int_bits": "auto", "input_int_bits": "auto"})
    code, r = synth(cfg, work / "out_one_block")
    assert_verified(code, r)
    cal = r["calibration"]
    assert set(cal["auto"]) == {"weight_int_bits", "act_int_bits", "input_int_bits"}
    for k in cal["auto"]:  # the resolved value is in the config, derived as documented
        assert r["config"]["quantization"][k] == cal[k]["value"]
        big = cal[k].get("largest", cal[k].get("largest_abs_weight"))
        assert cal[k]["value"] == max(0, int(np.ceil(np.log2(big))))
    assert r["input_scaling"]["log2"] == [0, 0, 0]  # the model learnt on unscaled features
    assert mapped(r, "mha")[0].startswith("QMultiHeadAttention (self-attention")
    assert "drop" not in {row["layer"] for row in r["model"]["mapping"]}  # Dropout: removed
    assert mapped(r, "ffn1")[-1].startswith("QActivation (quantized_relu")
    assert any("softmax dropped" in b for row in r["model"]["mapping"] for b in row["becomes"])
    assert r["training"]["fixed"]["epochs"] == 0


def test_final_softmax_lut_is_in_the_firmware(work):
    """model.final_softmax: lut: the model's final softmax becomes trigformer's LUT softmax in the firmware (its own
    traced layer), C-simulated bit-exact against the emulator, and the firmware's outputs are probabilities."""
    x, y = jets(8, F3)
    inp = L.Input((8, 3), name="particles")
    h = L.Dense(8, name="embed")(inp)
    h = L.Add(name="add1")([h, L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(h, h)])
    out = L.Dense(5, activation="softmax", name="head")(L.GlobalAveragePooling1D(name="pool")(h))
    model = keras.Model(inp, out)
    fit(model, x, y)
    model.save(work / "lut_head.keras")
    cfg = config(work, "lut_head", "lut_head.keras", 8, model={"final_softmax": "lut"})
    out_dir = work / "out_lut_head"
    code, r = synth(cfg, out_dir)
    assert_verified(code, r)
    assert any(b == "LUTSoftmax" for row in r["model"]["mapping"] for b in row["becomes"])
    rows = r["verification"]["csim_vs_emulator"]["per_layer"]
    assert any("softmax" in row["layer"] for row in rows), [row["layer"] for row in rows]
    p = np.load(out_dir / "predictions.npz")["firmware"]  # probabilities: in [0, 1], rows summing to about 1
    assert p.min() >= 0 and p.max() <= 1 and np.all(np.abs(p.sum(axis=1) - 1) < 0.1)


def test_two_blocks_value_dim_and_output_shape(work):
    """Two blocks, value_dim != key_dim and an output_shape, an EinsumDense embedding, max pooling, logits;
    saved as .keras, QAT fine-tuning for one epoch."""
    x, y = jets(10, F3)
    inp = L.Input((10, 3), name="particles")
    h = L.EinsumDense("abc,cd->abd", output_shape=(None, 8), bias_axes="d", name="embed")(inp)
    for b in range(2):
        a = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, output_shape=8, name=f"mha{b}")(h, h)
        h = L.LayerNormalization(epsilon=1e-5, name=f"ln{b}a")(L.Add(name=f"add{b}a")([h, a]))
        f = L.Dense(8, name=f"ffn{b}")(L.ReLU(name=f"relu{b}")(L.Dense(12, name=f"ffn{b}_in")(h)))
        h = L.LayerNormalization(name=f"ln{b}b")(L.Add(name=f"add{b}b")([h, f]))
    out = L.Dense(5, name="head")(L.GlobalMaxPooling1D(name="pool")(h))
    model = keras.Model(inp, out)
    fit(model, x, y, logits=True)
    model.save(work / "two_blocks.keras")
    cfg = config(work, "two_blocks", "two_blocks.keras", 10, training={"epochs": 1, "batch_size": 128})
    code, r = synth(cfg, work / "out_two_blocks")
    assert_verified(code, r)
    assert r["training"]["fixed"]["epochs"] == 1
    layers = {row["layer"]: row for row in r["verification"]["csim_vs_emulator"]["per_layer"]}
    assert {"mha0", "mha1", "ln1b", "head"} <= set(layers)


def test_cross_attention_class_token_query(work):
    """Cross-attention with fewer query tokens than keys, class-token style: the query is a second input (one
    token: the leading particle) through a learned Dense; key/value are all particles. No biases in the attention,
    Flatten followed by the Dense head; saved as .keras (the SavedModel folder of Keras 2: test_legacy_models)."""
    x, y = jets(12, F3)
    parts = L.Input((12, 3), name="particles")
    lead = L.Input((1, 3), name="leading")
    kv = L.Dense(8, name="embed")(parts)
    q = L.Dense(6, name="query_embed")(lead)
    c = L.MultiHeadAttention(num_heads=2, key_dim=4, use_bias=False, name="cross")(q, kv)
    out = L.Dense(5, name="head")(L.Flatten(name="flat")(c))
    model = keras.Model([parts, lead], out)
    fit(model, [x, x[:, :1]], y, logits=True)
    model.save(work / "cross.keras")
    cfg = config(work, "cross", "cross.keras", 12)
    code, r = synth(cfg, work / "out_cross")
    assert_verified(code, r)
    assert [i["tokens"] for i in r["model"]["inputs"]] == [12, 1]
    assert "cross-attention" in mapped(r, "cross")[0]
    cpp = (work / "out_cross" / "firmware" / "cross.cpp").read_text()
    assert "nnet::tf_cross_attention<" in cpp
    assert "particles[" in cpp and "leading[" in cpp  # two top-function inputs


def test_hls4ml_pr1163_shape(work):
    """The shape of hls4ml PR #1163's Keras test: sequence 20, 2 heads, key_dim 2, embed 4, separate query and
    key/value inputs (both fed the 20 leading particles' 4 features), random weights; pooled into a 5-class head
    because synth scores a classifier."""
    q_in = L.Input((20, 4), name="query")
    kv_in = L.Input((20, 4), name="key_value")
    h = L.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(q_in, kv_in)
    out = L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h))
    model = keras.Model([q_in, kv_in], out)
    model.save(work / "pr1163.keras")
    cfg = config(work, "pr_1163_shape", "pr1163.keras", 20, F4, quantization={"act_int_bits": "auto"})
    code, r = synth(cfg, work / "out_pr1163")
    assert_verified(code, r)
    assert "cross-attention" in mapped(r, "mha")[0]  # two input tensors: the two-input C++ function


def test_qkeras_model_quantizers_are_read(work):
    """A QKeras model: QActivation input quantizer, QDense + QActivation around a stock MultiHeadAttention.
    Their quantizers become the firmware types (not the quantization section's)."""
    from qkeras import QActivation, QDense
    from qkeras.quantizers import quantized_bits, quantized_relu

    x, y = jets(8, F3)
    inp = L.Input((8, 3), name="particles")
    h = QActivation(quantized_bits(10, 1, alpha=1), name="in_q")(inp)
    h = QDense(8, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
               name="embed")(h)
    h = QActivation(quantized_bits(9, 3, alpha=1), name="embed_q")(h)
    a = L.MultiHeadAttention(num_heads=1, key_dim=4, name="mha")(h, h)
    a = QActivation(quantized_bits(9, 3, alpha=1), name="mha_q")(a)
    h = QActivation(quantized_bits(9, 3, alpha=1), name="add_q")(L.Add(name="add")([h, a]))
    h = QActivation(quantized_relu(9, 3), name="relu")(h)
    h = L.GlobalAveragePooling1D(name="pool")(h)
    out = QDense(5, kernel_quantizer=quantized_bits(7, 1, alpha=1), bias_quantizer=quantized_bits(7, 1, alpha=1),
                 name="head")(h)
    model = keras.Model(inp, out)
    fit(model, x, y, logits=True)
    model.save(work / "qkeras.keras")
    cfg = config(work, "qkeras_tagger", "qkeras.keras", 8)
    code, r = synth(cfg, work / "out_qkeras")
    assert_verified(code, r)
    assert mapped(r, "embed") == ["QTokenDense (ap_fixed<6,1,AP_RND_CONV,AP_SAT> weights)"]  # no cast of ours
    assert mapped(r, "head")[0] == "QDense (ap_fixed<7,2,AP_RND_CONV,AP_SAT> weights)"
    assert mapped(r, "embed_q") == ["QActivation (ap_fixed<9,4,AP_RND_CONV,AP_SAT>)"]
    types = {row["layer"]: row["type"] for row in r["verification"]["csim_vs_emulator"]["per_layer"]}
    assert types["embed"] == "ap_fixed<9,4,AP_RND_CONV,AP_SAT>"  # the Dense rounds once, to the user's type


# ---- refused models: exit 2 naming the layer, its class and an alternative; nothing written ----------------------
def _lstm():
    inp = L.Input((8, 3), name="particles")
    return keras.Model(inp, L.Dense(5, name="head")(L.LSTM(8, name="lstm")(inp)))


def _conv2d():
    inp = L.Input((8, 3, 1), name="image")
    h = L.Conv2D(4, 3, name="conv")(inp)
    return keras.Model(inp, L.Dense(5, name="head")(L.Flatten(name="flat")(h)))


def _causal_mha():
    inp = L.Input((8, 3), name="particles")
    h = L.MultiHeadAttention(2, 4, name="masked_mha")(inp, inp, use_causal_mask=True)
    return keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))


def _mask_input_mha():
    inp = L.Input((8, 3), name="particles")
    mask = L.Input((8, 8), name="mask")
    h = L.MultiHeadAttention(2, 4, name="masked_mha")(inp, inp, attention_mask=mask)
    return keras.Model([inp, mask], L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))


@pytest.mark.parametrize("build, layer, cls", [
    (_lstm, "lstm", "LSTM"),
    (_conv2d, "conv", "Conv2D"),
    (_causal_mha, "masked_mha", "MultiHeadAttention"),
    (_mask_input_mha, "masked_mha", "MultiHeadAttention"),
])
def test_unsupported_layers_exit_2_with_nothing_written(work, capsys, build, layer, cls):
    name = build.__name__.strip("_")
    build().save(work / f"{name}.keras")
    cfg = config(work, name, f"{name}.keras", 8)
    out = work / "never" / name
    assert main([str(cfg), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert f"layer {layer!r} ({cls})" in err[0] and "nearest supported:" in err[0], err[0]
    if "mha" in name:
        assert "mask" in err[0]
    assert not out.exists() and not out.parent.exists()


def test_conv2d_itself_is_named(work, capsys):
    """A Conv2D reached directly (an image-like input of tokens x features x 1 channel is not a token input)."""
    inp = L.Input((8, 3), name="particles")
    h = L.Conv1D(8, 1, name="conv")(inp)
    model = keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))
    model.save(work / "conv.keras")
    cfg = config(work, "conv", "conv.keras", 8)
    assert main([str(cfg), "--out", str(work / "never_conv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "layer 'conv' (Conv1D)" in err and "Dense applied per token" in err
    assert not (work / "never_conv").exists()


def test_file_with_architecture_keys_is_refused(work, capsys):
    _lstm().save(work / "any.keras")  # never loaded: the config is refused first
    cfg = config(work, "mixed", "any.keras", 8, model={"num_heads": 4})
    assert main([str(cfg), "--out", str(work / "never_mixed"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "model.num_heads" in err and "model.file" in err and "line" in err
    assert not (work / "never_mixed").exists()


def test_input_shape_must_match_the_data(work, capsys):
    inp = L.Input((8, 4), name="particles")
    keras.Model(inp, L.Dense(5)(L.GlobalAveragePooling1D()(inp))).save(work / "four.keras")
    cfg = config(work, "four", "four.keras", 8)
    assert main([str(cfg), "--out", str(work / "never_four"), "-q"]) == 2
    assert "data.features" in capsys.readouterr().err


def test_shortcut_synth_model_file(work):
    """`synth tagger-v2.keras --part xcvu9p`: every default, the embedded jets, n_particles from the model's input,
    the project named after the file (tagger_v2: only hls4ml's own <prefix><index> names are refused). Random
    weights."""
    inp = L.Input((6, 3), name="particles")
    h = L.Dense(4, name="embed")(inp)
    h = L.Add(name="add")([h, L.MultiHeadAttention(1, 4, name="mha")(h, h)])
    model = keras.Model(inp, L.Dense(5, activation="softmax", name="head")(L.GlobalAveragePooling1D()(h)))
    model.save(work / "tagger-v2.keras")
    out = work / "out_shortcut"
    code = main([str(work / "tagger-v2.keras"), "--part", "xcvu9p", "--out", str(out), "-q"])
    r = json.loads((out / "report.json").read_text())
    assert code in (0, 4) and r["name"] == "tagger_v2"
    assert r["config"]["data"]["n_particles"] == 6 and r["config"]["model"]["file"].endswith("tagger-v2.keras")
    assert r["accuracy"]["n_events"] == 10000 and r["verification"]["csim_vs_emulator"]["bit_exact_fraction"] == 1.0


# ---- model files are inspected before they are loaded; hostile layer names -----------------------------------------
MARKER_ENV = "TRIGFORMER_LAMBDA_MARKER"  # the legacy fixtures' Lambdas write the file it names when their code runs


def _writer(marker: Path):
    """A Keras 3 model whose Lambda writes `marker` when its code runs (.keras stores its bytecode)."""
    inp = L.Input((8, 3), name="particles")
    h = L.Dense(8, name="embed")(inp)
    h = L.Lambda(lambda x, p=str(marker): (open(p, "w").write("ran"), x)[1], name="evil")(h)
    return keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))


def _plain(marker, weights=None):
    inp = L.Input((8, 3), name="particles")
    h = L.Dense(8, name="embed")(inp)
    h = L.Add(name="add")([h, L.MultiHeadAttention(1, 4, name="mha")(h, h)])
    model = keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))
    if weights:
        layer, index, value = weights
        w = model.get_layer(layer).get_weights()
        w[index].flat[1] = value
        model.get_layer(layer).set_weights(w)
    return model


def _add_of(n):
    def build(marker):
        inp = L.Input((8, 3), name="particles")
        hs = [L.Dense(8, name=f"d{i}")(inp) for i in range(n)]
        return keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(
            L.Add(name="sum")(hs))))
    return build


def _edited(key, value):
    """A Keras-2 .h5 whose saved config gets one entry a code-carrying layer would have (h5py edits the attribute)."""
    def after(path: Path):
        import h5py

        with h5py.File(path, "r+") as f:
            c = json.loads(f.attrs["model_config"])
            dense = next(lyr for lyr in c["config"]["layers"] if lyr["config"]["name"] == "embed")
            if key == "module":
                dense["config"]["kernel_initializer"]["module"] = value
            else:
                dense["config"][key] = value
            f.attrs["model_config"] = json.dumps(c)
    return after


def _raw_config(text: str):
    def after(path: Path):
        import h5py

        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = text
    return after


def _nan_kernel(path: Path):
    """One NaN in the Keras-2 .h5's embedding kernel (h5py edits the dataset)."""
    import h5py

    with h5py.File(path, "r+") as f:
        f["model_weights/embed/embed/kernel:0"][0, 1] = np.nan


def _keras_class(cls: str):
    """A .keras archive whose config names the embedding layer's class `cls` (zipfile rewrites config.json)."""
    def after(path: Path):
        import zipfile

        with zipfile.ZipFile(path) as z:
            files = {n: z.read(n) for n in z.namelist()}
        c = json.loads(files["config.json"])
        next(lyr for lyr in c["config"]["layers"] if lyr["config"]["name"] == "embed")["class_name"] = cls
        files["config.json"] = json.dumps(c).encode()
        with zipfile.ZipFile(path, "w") as z:
            for n, v in files.items():
                z.writestr(n, v)
    return after


MODEL_FILE_CASES = [  # (id, Keras 3 build or legacy fixture, file, edit after saving, substrings of the one error line)
    ("lambda-h5", "lambda.h5", "m.h5", None, ("m.h5", "'evil' (Lambda)", "code")),
    ("lambda-savedmodel", "lambda_savedmodel", "m_saved", None, ("m_saved", "'evil' (Lambda)", "code")),
    ("lambda-keras", _writer, "m.keras", None, ("m.keras", "'evil' (Lambda)", "code")),
    ("lambda-nested-h5", "lambda_nested.h5", "m.h5", None, ("m.h5", "'inner_evil' (Lambda)", "code")),
    ("lambda-nested-savedmodel", "lambda_nested_savedmodel", "m_saved", None, ("m_saved", "Lambda", "code")),
    ("custom-layer-h5", "custom.h5", "m.h5", None, ("m.h5", "'mine' (Custom)", "custom layer")),
    ("function-entry-h5", "stock_mha.h5", "m.h5", _edited("function", ["4wEAAAAA", None, None]),
     ("m.h5", "'embed' (EinsumDense)", "function")),
    ("module-entry-h5", "stock_mha.h5", "m.h5", _edited("module", "os"),
     ("m.h5", "'embed' (EinsumDense)", "module 'os'")),
    ("nan-kernel-h5", "stock_mha.h5", "m.h5", _nan_kernel, ("m.h5", "'embed'", "kernel", "NaN")),
    ("inf-bias-keras", lambda m: _plain(m, ("head", 1, np.inf)), "m.keras", None, ("m.keras", "'head'", "bias", "inf")),
    ("neg-inf-mha-savedmodel", "neginf_mha_savedmodel", "m_saved", None, ("m_saved", "'mha'", "inf")),
    ("savedmodel-without-metadata", "stock_mha_savedmodel", "m_saved", lambda p: (p / "keras_metadata.pb").unlink(),
     ("m_saved", "keras_metadata.pb")),
    ("deep-config-h5", "stock_mha.h5", "m.h5", _raw_config("[" * 100000 + "]" * 100000), ("m.h5", "not JSON")),
    ("nested-config-h5", "stock_mha.h5", "m.h5", _raw_config('{"a": ' * 200 + "1" + "}" * 200), ("m.h5", "deeper")),
    ("torch-wrapper-keras", _plain, "m.keras", _keras_class("TorchModuleWrapper"),
     ("m.keras", "'embed' (TorchModuleWrapper)", "code")),  # Keras 3 unpickles a torch module: code
    ("tfsm-layer-keras", _plain, "m.keras", _keras_class("TFSMLayer"), ("m.keras", "'embed' (TFSMLayer)", "code")),
    ("add-of-3-keras", _add_of(3), "m.keras", None, ("model.file", "'sum' (Add)", "3 tensors")),
    ("add-of-4-h5", _add_of(4), "m.h5", None, ("model.file", "'sum' (Add)", "4 tensors")),  # an .h5 Keras 3 wrote
]


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_size if p.is_file() else -1 for p in sorted(root.rglob("*"))}


def _legacy_copy(fixture: str, dest: Path) -> None:
    src = LEGACY / fixture
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dest)


@pytest.mark.parametrize("case", MODEL_FILE_CASES, ids=[c[0] for c in MODEL_FILE_CASES])
def test_model_files_are_inspected_before_loading(tmp_path, capsys, monkeypatch, case):
    """A Lambda (in .h5, a SavedModel, .keras, a nested model), any entry carrying code, a custom layer, NaN/inf
    weights, an Add of more than two tensors: exit 2, one line naming the file (or model.file) and the layer, nothing
    written, and the Lambda's code never ran (the file it writes does not exist after synth). The .h5 and SavedModel
    files of the Keras-2 era are the committed fixtures TensorFlow 2.14 wrote (tests/fixtures/legacy)."""
    _, build, file, edit, expect = case
    marker = tmp_path / "the_lambda_ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    if isinstance(build, str):
        _legacy_copy(build, tmp_path / file)
    else:
        build(marker).save(tmp_path / file)
    if edit:
        edit(tmp_path / file)
    marker.unlink(missing_ok=True)  # Keras ran the Lambda once while building it
    cfg = config(tmp_path, "inspected", file, 8)
    before = _tree(tmp_path)
    capsys.readouterr()
    code = main([str(cfg), "--out", str(tmp_path / "never" / "out"), "-q"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("synth: error: ") and "Traceback" not in err[0], err
    for s in expect:
        assert s in err[0], f"{s!r} not in {err[0]!r}"
    assert not marker.exists(), "the model file's code ran"
    assert _tree(tmp_path) == before, "something was written"


def test_shortcut_with_a_lambda_h5_runs_nothing(tmp_path, capsys, monkeypatch):
    """`synth evil.h5 --part xcvu9p` (no YAML, a Keras-2 .h5 holding a Lambda): the same refusal, naming the file."""
    marker = tmp_path / "the_lambda_ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    _legacy_copy("lambda.h5", tmp_path / "evil.h5")
    assert main([str(tmp_path / "evil.h5"), "--part", "xcvu9p", "--out", str(tmp_path / "never"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "evil.h5" in err and "'evil' (Lambda)" in err and not marker.exists()
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("stem, name", [
    ("ünïcödé", "unicode"), ("synth ünïcödé", "synth_unicode"), ("日本語", "model"),
    ("2024-model", "m_2024_model"),
    ("tagger-v2", "tagger_v2"), ("jet8", "jet8"), ("w2", "w2_net"), ("class", "class_net"), ("main", "main_net"),
    ("layer20_out", "layer20_out_net"), ("__x__", "x"), ("input_t", "input_t_net"),
])
def test_a_name_from_a_file_name_is_valid(stem, name):
    """`synth <stem>.keras`: the project name derived from the file name is a valid name (the config accepts it),
    never an error about a `name` key the user did not write."""
    from trigformer.flow.config import config_from_dict
    from trigformer.api import _name_for

    assert _name_for(stem) == name
    assert config_from_dict({"name": name}).name == name


HOSTILE = ["my-dense", "a-b", "a_b", "class", "int", "main", "input_t", "head.1", "w2", "in", "lead", "ünï",
           "1x", "layer3_out", "module", "wire", "x" * 80]


def test_layer_names_map_to_safe_unique_identifiers():
    """Every name becomes a C/Verilog identifier that is no keyword and no generated name, unique, the same every
    time; names that are already safe are kept; an input named like the project is renamed."""
    from trigformer.flow.config import _generated_clash
    from trigformer.models.byom import c_names

    names = c_names(HOSTILE, project="lead")
    assert names == c_names(HOSTILE, project="lead")
    assert len(set(names.values())) == len(HOSTILE)
    for user, c in names.items():
        assert c.isascii() and c.isidentifier() and len(c) <= 40 and _generated_clash(c) is None, (user, c)
        assert c not in ("class", "int", "main", "in", "lead", "module", "wire"), c
    assert names["a_b"] == "a_b" and names["a-b"] != "a_b" and names["my-dense"] == "my_dense"


def test_hostile_layer_names_compile_and_are_bit_exact(work):
    """Keras layer names that C++ cannot take (my-dense, head.1, class, int, main, input_t, an input named `in` like
    the testbench's local, a-b next to a_b, w2 like hls4ml's weights) give a project that compiles and is csim ==
    emulator on every layer; the report maps each firmware name back to the user's."""
    x, y = jets(8, F3)
    inp = L.Input((8, 3), name="in")
    h = L.Dense(8, name="my-dense")(inp)
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, name="class")(h, h)
    h = L.LayerNormalization(name="head.1")(L.Add(name="int")([h, a]))
    f = L.Dense(8, activation="relu", name="a-b")(h)
    h = L.Add(name="main")([h, L.Dense(8, name="a_b")(f)])
    out = L.Dense(5, name="input_t")(L.GlobalAveragePooling1D(name="w2")(h))
    model = keras.Model(inp, out)
    fit(model, x, y, logits=True)
    model.save(work / "hostile.keras")
    # heldout_h1: a project name the former rule refused (every name ending in letters + digits)
    code, r = synth(config(work, "heldout_h1", "hostile.keras", 8), work / "out_hostile")
    assert_verified(code, r)
    rows = {row["layer"]: row.get("firmware_name", row["layer"]) for row in r["model"]["mapping"]}
    assert set(rows) >= {"in", "my-dense", "class", "head.1", "int", "a-b", "a_b", "main", "w2", "input_t"}
    assert rows["a_b"] == "a_b" and len(set(rows.values())) == len(rows)
    traced = {row["layer"] for row in r["verification"]["csim_vs_emulator"]["per_layer"]}
    assert {rows["my-dense"], rows["class"], rows["head.1"], rows["main"]} <= traced


def test_sequential_model_is_mapped():
    """A Keras 3 Sequential model (its layer graph is the functional model it wraps) maps layer by layer."""
    from trigformer.models.byom import ImportedModel

    model = keras.Sequential([L.Input((8, 3)), L.Dense(8, activation="relu", name="embed"),
                              L.GlobalAveragePooling1D(name="pool"), L.Dense(5, name="head")])
    rows = {row["layer"]: row["becomes"] for row in ImportedModel(model).rows}
    assert rows["embed"][0].startswith("QTokenDense") and rows["embed"][-1].startswith("QActivation (quantized_relu")
    assert rows["pool"] == ["TokenPooling (mean)"] and rows["head"][0].startswith("QDense")


# ---- the Python API and hls4ml's own converter ---------------------------------------------------------------------
def test_python_api_with_a_model_object(work):
    import trigformer

    x, y = jets(8, F3)
    inp = L.Input((8, 3), name="particles")
    h = L.Dense(8, name="embed")(inp)
    h = L.Add(name="add")([h, L.MultiHeadAttention(2, 4, name="mha")(h, h)])
    model = keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))
    fit(model, x, y, logits=True)
    res = trigformer.synth({"name": "api_tagger", "data": {"n_particles": 8, "n_train": N_TRAIN, "n_test": N_TEST},
                            "verify": {"n_events": N_VERIFY}}, model=model, part="xcvu9p",
                           out=work / "out_api", progress=False)
    assert res.exit_code in (0, 4) and res.out_dir == work / "out_api"
    assert_verified(res.exit_code, res.report)
    with pytest.raises(trigformer.api.ConfigError, match="model.num_heads"):
        trigformer.synth({"name": "api_bad", "model": {"num_heads": 2}}, model=model, out=work / "never_api")
    assert not (work / "never_api").exists()


def test_hls4ml_converter_accepts_trigformer_layers(work):
    """After `import trigformer`, hls4ml's own convert_from_keras_model takes a model of trigformer's layers (here
    a stock model mapped onto them) and compiles it."""
    import hls4ml

    import trigformer  # noqa: F401  (registers the extension)
    from trigformer.models.byom import ImportedModel
    from trigformer.models.quant import QuantTypes

    inp = L.Input((8, 3), name="particles")
    h = L.Dense(8, name="embed")(inp)
    h = L.LayerNormalization(name="ln")(L.Add(name="add")([h, L.MultiHeadAttention(2, 4, name="mha")(h, h)]))
    stock = keras.Model(inp, L.Dense(5, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))
    model = ImportedModel(stock).build(QuantTypes(), quantized=True)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis",
                                                           output_dir=str(work / "hls4ml_own"), io_type="io_parallel")
    classes = {layer.class_name for layer in hls_model.get_layers()}
    assert {"TFMultiHeadAttention", "TFLayerNorm", "TFTokenDense", "TFTokenPooling"} <= classes
    hls_model.compile()
    x, _ = jets(8, F3, n=20)
    assert hls_model.predict(np.ascontiguousarray(x)).shape == (20, 5)
