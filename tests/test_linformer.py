"""Linformer attention (models/ops/linformer, model.attention: linformer): its semantics against Keras' own
MultiHeadAttention on the projected tokens (HGQ2's QLinformerAttention: E, F [N, k] over the token axis, no bias,
shared by the heads, before the key and the value projections), the token projection against hand-derived values,
the Keras layer against the integer reference, the config keys, and the firmware: C-simulation (g++ ap_fixed) ==
emulator on every layer, alkaid trace == emulator, the DA kernels == the trace's products, --fit tuning its reuse,
and (slow) Verilator RTL == emulator from YAML. tests/test_hls.py (shape linformer_odd) compares csim with the
emulator layer by layer on a held-out shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from trigformer.models.fixed import FixedType
from yaml_rtl import synth_rtl_bit_exact  # tests/yaml_rtl.py

W_T = FixedType.parse("ap_fixed<8,2,AP_RND_CONV,AP_SAT>")
A_T = FixedType.parse("ap_fixed<10,4,AP_RND_CONV,AP_SAT>")
P_T = FixedType.parse("ap_ufixed<10,1,AP_RND_CONV,AP_SAT>")
TYPES = dict(weight_type=W_T.ap_type, act_type=A_T.ap_type, prob_type=P_T.ap_type, table_size=256, table_bits=14)


def _raw_arrays(layer) -> dict:
    """The layer's quantized weights as raw integers under the spec's names (q_kernel, ..., e_kernel, f_kernel)."""
    return {f"{name.split('_')[0][0]}_{name.split('_')[1]}": W_T.quantize(w)
            for name, w in layer.quantized_weights().items()}


def test_token_projection_hand_derived():
    """E^T x over the tokens: N = 3 tokens of 2 features, k = 1; E = (1, 0.5, -1): (1, 2) + 0.5 (2, 0) - (0.5, 1) =
    (1.5, 1). Raws: x and E lsb 1/64 (A_T, W_T); the result in kv_t (A_T) is (96, 64)."""
    from trigformer.models.ops.linformer.spec import LinformerSpec

    sp = LinformerSpec(A_T, 3, 2, 1, 2, 2, W_T, A_T, P_T, A_T, n_kv=1, kv_t=A_T)
    x = np.array([[[64, 128], [128, 0], [32, 64]]])
    e = np.array([[64], [32], [-64]])
    assert sp.token_project(x, e).tolist() == [[[96, 64]]]
    with pytest.raises(ValueError, match="1 <= k < N"):
        LinformerSpec(A_T, 3, 2, 1, 2, 2, W_T, A_T, P_T, A_T, n_kv=3, kv_t=A_T)


def test_float_semantics_are_keras_attention_on_the_projected_tokens():
    """The float twin (quantized=False) is Keras' MultiHeadAttention with query x, key E^T x and value F^T x and the
    same Q/K/V/O weights: HGQ2's QLinformerAttention.call (key = lin_k_proj(key), value = lin_v_proj(value), then
    the attention), with HGQ2's kernel shape [N, k] (einsum 'bnd,nk->bkd')."""
    import keras

    from trigformer.models.ops.linformer.keras import QLinformerAttention

    rng = np.random.default_rng(1)
    n, d, h, kd, k = 7, 6, 2, 3, 3
    x = rng.normal(0, 1, (4, n, d)).astype(np.float32)
    lin = QLinformerAttention(h, kd, lin_k=k, quantized=False, **TYPES)
    lin.build(x.shape)
    assert lin.e_kernel.shape == lin.f_kernel.shape == (n, k)
    for w in lin.weights:
        w.assign(rng.normal(0, 0.5, w.shape))
    ref = keras.layers.MultiHeadAttention(h, kd)
    e, f = lin.e_kernel.numpy(), lin.f_kernel.numpy()
    xk, xv = np.einsum("bnd,nk->bkd", x, e), np.einsum("bnd,nk->bkd", x, f)
    ref(x, xv, key=xk)
    shapes = {"query": (d, h, kd), "key": (d, h, kd), "value": (d, h, kd)}
    for name, dense in (("query", ref._query_dense), ("key", ref._key_dense), ("value", ref._value_dense)):
        dense.kernel.assign(getattr(lin, f"{name}_kernel").numpy().reshape(shapes[name]))
        dense.bias.assign(getattr(lin, f"{name}_bias").numpy().reshape(h, kd))
    ref._output_dense.kernel.assign(lin.output_kernel.numpy().reshape(h, kd, d))
    ref._output_dense.bias.assign(lin.output_bias.numpy())
    np.testing.assert_allclose(lin(x).numpy(), ref(x, xv, key=xk).numpy(), rtol=1e-4, atol=1e-5)


def test_keras_layer_equals_integer_reference():
    """The quantized Keras forward pass is the spec's integer arithmetic, bit for bit (weights scaled into
    saturation of the projected tokens and the projections)."""
    from trigformer.models.ops.linformer.keras import QLinformerAttention

    rng = np.random.default_rng(2)
    layer = QLinformerAttention(2, 3, lin_k=2, **TYPES)
    x = A_T.round_trip(rng.normal(0, 3, (300, 8, 5))).astype(np.float32)
    layer.build(x.shape)
    for w in layer.weights:
        w.assign(rng.normal(0, 1.2, w.shape))
    layer.snap_to_grid()
    y = layer(x).numpy()
    sp = layer.spec()
    assert (sp.n_tokens, sp.n_kv, sp.kv_t) == (8, 2, A_T)
    want = sp.forward(A_T.quantize(x).reshape(len(x), -1), _raw_arrays(layer))
    assert np.array_equal(A_T.quantize(y).reshape(len(x), -1), want)
    lin = sp.token_project(A_T.quantize(x), _raw_arrays(layer)["e_kernel"])
    assert (lin == A_T.raw_max).any() or (lin == A_T.raw_min).any()  # the projected tokens' cast saturates


def test_config_keys(tmp_path, capsys, monkeypatch):
    """model.attention's choices come from the registry; linformer needs 1 <= model.linformer_k < data.n_particles:
    otherwise exit 2 naming the key, nothing written."""
    from trigformer.flow.cli import main
    from trigformer.flow.config import Config

    cfg = Config.model_validate({"name": "n", "data": {"n_particles": 8},
                                 "model": {"attention": "linformer", "linformer_k": 7}})
    assert (cfg.model.attention, cfg.model.linformer_k) == ("linformer", 7)
    assert Config.model_validate({"name": "n"}).model.attention == "mha"
    monkeypatch.chdir(tmp_path)
    for model, key in (({"attention": "linformer"}, "model.linformer_k"), ({"linformer_k": 2}, "model.linformer_k"),
                       ({"attention": "linformer", "linformer_k": 8}, "model.linformer_k"),
                       ({"attention": "linformer", "linformer_k": 0}, "model.linformer_k"),
                       ({"attention": "performer"}, "model.attention")):
        (tmp_path / "m.yaml").write_text(yaml.safe_dump({"name": "n", "data": {"n_particles": 8}, "model": model}))
        assert main(["m.yaml", "--out", "out", "-q"]) == 2
        err = capsys.readouterr().err
        assert key in err and "Traceback" not in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


def test_a_sweep_varies_linformer_k(tmp_path):
    """A sweep's grid over model.linformer_k; a point with k = n_particles is refused before anything runs."""
    from trigformer.flow.cli import main
    from trigformer.flow.sweep import load_sweep

    base = {"name": "s", "data": {"n_particles": 8},
            "model": {"embed_dim": 4, "num_heads": 1, "key_dim": 2, "num_blocks": 1, "ffn_dim": 4,
                      "attention": "linformer", "linformer_k": 3}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.linformer_k": [2, 4]}}))
    assert [p.config["model"]["linformer_k"] for p in load_sweep(sweep).points] == [2, 4]
    sweep.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.linformer_k": [2, 8]}}))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


DA = "distributed_arithmetic"
CASES = {  # N = 8 tokens of width 8
    "k2_two_heads": dict(model=dict(num_heads=2, key_dim=4, linformer_k=2), hls={}),
    "k4_one_head_da": dict(model=dict(num_heads=1, key_dim=8, linformer_k=4), hls={"strategy": DA}),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def project(request, tmp_path_factory):
    import tensorflow as tf

    from trigformer.flow.config import Config
    from trigformer.flow.firmware import csim, write_project
    from trigformer.models.builder import build_model, snap_to_grid
    from trigformer.models.data import make_synthetic

    case = CASES[request.param]
    cfg = Config.model_validate({"name": request.param, "seed": 5, "data": {"n_particles": 8},
                                 "model": {"embed_dim": 8, "num_blocks": 1, "ffn_dim": 8, "attention": "linformer",
                                           **case["model"]}, "hls": case["hls"]})
    tf.keras.utils.set_random_seed(2)
    model = build_model(cfg, quantized=True)
    rng = np.random.default_rng(3)  # scaled into saturation; zero biases random (constant adds in the DA kernels)
    model.set_weights([w * 2.5 if w.any() else rng.uniform(-1, 1, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    snap_to_grid(model)
    x, _ = make_synthetic(1000, 8, cfg.data.features, seed=11)
    x[:100] *= 8.0
    hls_model, emu = write_project(cfg, model, "xcvu9p-flga2104-2L-e", tmp_path_factory.mktemp(request.param), x[:10])
    res = csim(hls_model, x)
    assert res.ok, res.error
    y_emu, emu_trace = emu.run(x, trace=True)
    return dict(cfg=cfg, model=model, x=x, emu=emu, hls_model=hls_model, y_csim=np.asarray(res.outputs),
                csim_trace=res.trace, y_emu=y_emu, emu_trace=emu_trace)


def _node(p):
    (node,) = [m for m in p["emu"].nodes if m.kind == "linformer"]
    return node


def test_csim_equals_the_emulator_on_every_layer(project):
    from trigformer.flow.verify import compare_layers

    p = project
    rows, bad_events = compare_layers(p["emu"], p["emu_trace"], p["csim_trace"], len(p["x"]))
    assert not bad_events.any()
    assert "b0_linformer" in {r["layer"] for r in rows}
    assert [r for r in rows if r["mismatched_values"]] == []
    assert np.array_equal(p["emu"].output_type.quantize(p["y_csim"].reshape(len(p["x"]), -1)), p["y_emu"])
    assert len(np.unique(p["y_emu"])) > 10
    sp = _node(p).spec
    assert (sp.n_tokens, sp.n_kv) == (8, p["cfg"].model.linformer_k)  # scores N x k


def test_keras_quantized_forward_matches_the_firmware(project):
    p = project
    raw = p["emu"].output_type.quantize(p["model"].predict(p["x"], verbose=0, batch_size=1000))
    assert np.all(raw == p["y_emu"], axis=-1).mean() >= 0.95


def test_trace_equals_the_emulator(project):
    """The RTL form (trace.py, alkaid's exact interpreter) computes the emulator's integers."""
    pytest.importorskip("alkaid")
    from trigformer.sim.rtl import trace_unit

    p = project
    emu, vals, node = p["emu"], p["emu_trace"], _node(p)
    types = {m.name: m.out_t for m in emu.nodes}
    sizes = {m.name: m.size for m in emu.nodes}
    comb, external = trace_unit([node], types, sizes)
    for e in range(20):
        xin = np.concatenate([types[i].to_float(vals[i][e]) for i in external])
        raw = np.round(np.asarray(comb(xin), dtype=np.float64) * 2.0**node.out_t.frac).astype(np.int64)
        assert np.array_equal(raw, vals[node.name][e])


def test_distributed_arithmetic_kernels_are_the_trace_products(project):
    """DA: the C++ kernels of the layer (Q, K, V, O and E, F) are exactly alkaid's for the products the trace
    computes; the C-simulation above equals the emulator."""
    pytest.importorskip("alkaid")
    from trigformer.models.ops import BY_KIND
    from trigformer.models.ops.da import generate

    p = project
    if p["cfg"].hls.strategy != DA:
        pytest.skip("not a distributed_arithmetic project")
    node = _node(p)
    code = (Path(p["hls_model"].config.get_output_dir()) / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    index = {layer.name: layer.index for layer in p["hls_model"].get_layers()}[node.name]
    products = BY_KIND[node.kind].products(node.spec, node.arrays, [], 0)
    assert sorted(q.suffix for q in products) == ["_e", "_f", "_k", "_o", "_q", "_v"]
    text, _ = generate(products, index)
    assert text in code


def test_fit_tunes_its_reuse(project):
    """--fit may give the layer a reuse factor (its op is tunable like MHA's): a budget below the as-written DSP
    that an II of 8 allows is met with the Linformer layer shared."""
    from trigformer.flow.convert import layer_descriptions
    from trigformer.flow.estimate import estimate
    from trigformer.flow.fit import fit

    p = project
    if p["cfg"].hls.strategy == DA:
        pytest.skip("DA: fully parallel kernels")
    layers = layer_descriptions(p["hls_model"], p["cfg"])
    dsp = estimate(layers, 5.0, "xcvu9p", band=False)["resources"]["fraction"]["DSP"]
    assert dsp > 0
    res = fit(layers, 5.0, "xcvu9p", {"latency_ns": 1e6, "ii": 8, "fit_margin": 0.0,
                                       "max_fraction": {"LUT": 1.0, "FF": 1.0, "DSP": dsp * 0.5, "BRAM_18K": 1.0}})
    assert res.feasible and res.settings["b0_linformer"]["reuse_factor"] > 1


@pytest.mark.slow
def test_linformer_from_yaml_csim_trace_rtl_bit_exact(tmp_path, monkeypatch):
    """synth --rtl on a Linformer model from YAML: csim == emulator, trace == emulator, Verilator == emulator."""
    cfg = {"name": "lin_tiny", "seed": 3, "data": {"n_particles": 8, "n_train": 300, "n_test": 1000},
           "model": {"embed_dim": 8, "num_heads": 2, "key_dim": 4, "num_blocks": 1, "ffn_dim": 8,
                     "attention": "linformer", "linformer_k": 2},
           "quantization": {"act_bits": 8, "act_int_bits": 3, "weight_bits": 6},
           "training": {"epochs": 1, "batch_size": 128}, "budget": {"latency_ns": 100000, "max_fraction": 1.0},
           "verify": {"n_events": 1000}, "rtl": {"yosys": "none"}}
    synth_rtl_bit_exact(tmp_path, monkeypatch, cfg)
    assert "tf_linformer_attention" in (tmp_path / "out" / "firmware" / "lin_tiny.cpp").read_text()


def test_saved_model_with_linformer_is_brought_in(tmp_path):
    """Bring your own model: a saved Keras model holding QLinformerAttention maps through the registry (itself) and
    its firmware is csim == emulator. With E scaled up, E^T x is the widest tensor: the calibration of the
    activation's integer bits ranges it (it has the attention's type)."""
    import tensorflow as tf

    from trigformer.flow.cli import main
    from trigformer.models.data import make_synthetic
    from trigformer.models.ops.linformer.keras import QLinformerAttention

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(4)
    x, y = make_synthetic(300, 6, ["pt_rel", "eta_rel", "phi_rel"], seed=3)
    inp = L.Input((6, 3), name="particles")
    h = L.Dense(6, name="embed")(inp)
    lin = QLinformerAttention(2, 3, lin_k=2, name="lin")
    h = lin(h)
    out = L.Dense(5, activation="softmax", name="head")(L.GlobalAveragePooling1D(name="pool")(h))
    model = tf.keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    lin.e_kernel.assign(lin.e_kernel * 16.0)
    model.save(tmp_path / "m.keras")
    cfg = {"name": "byom_lin", "seed": 5, "model": {"file": "m.keras"},
           "data": {"n_particles": 6, "n_train": 300, "n_test": 200}, "verify": {"n_events": 100}}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    code = main([str(tmp_path / "m.yaml"), "--out", str(tmp_path / "out"), "-q"])
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code in (0, 4), code
    assert r["verification"]["csim_vs_emulator"]["bit_exact_fraction"] == 1.0
    assert next(row["becomes"] for row in r["model"]["mapping"] if row["layer"] == "lin") == ["QLinformerAttention"]
    assert r["calibration"]["act_int_bits"]["tensor"] == "lin/e_tokens"
