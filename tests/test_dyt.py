"""DyT (models/ops/dyt, model.norm: dyt): the table and the arithmetic against hand-derived values and float64
gamma * tanh(alpha * x) + beta, the Keras layer against the integer reference, the config choice, and (slow) the
whole flow from YAML: csim == emulator == alkaid trace == Verilator RTL. tests/test_hls.py (shape dyt_odd) compares
csim with the emulator layer by layer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from trigformer.models.fixed import FixedType
from trigformer.models.ops.dyt.spec import DyTSpec
from yaml_rtl import synth_rtl_bit_exact  # tests/yaml_rtl.py

IN_T = FixedType.parse("ap_fixed<6,3,AP_RND_CONV,AP_SAT>")  # raw -32..31, lsb 1/8
G_T = FixedType.parse("ap_fixed<8,2,AP_RND_CONV,AP_SAT>")  # lsb 1/64


def test_table_and_forward_hand_derived():
    """16 entries over a 6-bit input: the top 4 bits index (shift 2); x_raw = 5 -> bin 1 -> entry 9, standing for
    raw 4..7, centre 5.5 / 8 = 0.6875; tanh(0.8 * 0.6875) = 0.50052 -> 512.5 / 1024 at 10 fractional bits (RND: 513);
    y = 513/1024 * 1.5 - 0.25 = 0.5015 -> out (3 fractional bits, RND_CONV) 4/8."""
    sp = DyTSpec(IN_T, 2, alpha=0.8, table_size=16, table_bits=11, gamma_t=G_T)
    assert (sp.index_bits, sp.shift, sp.entries) == (4, 2, 16)
    assert sp.table[9] == round(math.tanh(0.8 * 0.6875) * 1024) == 513
    assert sp.table[0] == round(math.tanh(0.8 * (-32 + 1.5) / 8) * 1024)  # raw -32..-29
    y = sp.forward(np.array([[5, -32]]), np.array([96, 64]), np.array([-16, 0]))  # gamma 1.5, 1; beta -0.25, 0
    assert y[0, 0] == 4
    assert y[0, 1] == round(sp.table[0] / 1024 * 8)  # tanh(-3.05) = -0.9955 -> -7.96 -> -8


def test_one_entry_per_input_value_when_the_table_is_large():
    sp = DyTSpec(IN_T, 1, alpha=1.0, table_size=1024, table_bits=12, gamma_t=G_T)
    assert (sp.entries, sp.shift) == (64, 0)
    x = np.arange(-32, 32)
    want = sp.tanh_t.quantize(np.tanh(x / 8))  # each input value its own entry: exact tanh on the table's grid
    assert np.array_equal(sp.forward(x[:, None], np.array([64]), np.array([0]))[:, 0],
                          sp.result_t.cast(want * 64, sp.tanh_t.frac + G_T.frac))


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_integer_reference_vs_float(alpha):
    """Within the output rounding, the table's rounding times |gamma| and the bin's half width times
    max |d tanh/dx| = alpha."""
    rng = np.random.default_rng(1)
    in_t = FixedType.parse("ap_fixed<10,4,AP_RND_CONV,AP_SAT>")
    sp = DyTSpec(in_t, 8, alpha=alpha, table_size=256, table_bits=14, gamma_t=G_T)
    x = in_t.quantize(rng.normal(0, 2, (2000, 8)))
    g, b = G_T.quantize(rng.uniform(-1.9, 1.9, 8)), G_T.quantize(rng.uniform(-1, 1, 8))
    y = in_t.to_float(sp.forward(x, g, b))
    ref = np.clip(G_T.to_float(g) * np.tanh(alpha * in_t.to_float(x)) + G_T.to_float(b), in_t.min_value,
                  in_t.max_value)
    half_bin = 2.0**sp.shift * in_t.lsb / 2
    bound = in_t.lsb / 2 + 2 * (sp.tanh_t.lsb / 2 + alpha * half_bin)
    assert np.abs(y - ref).max() <= bound


def test_keras_layer_equals_integer_reference():
    from trigformer.models.ops.dyt.keras import QDyT

    rng = np.random.default_rng(2)
    in_t = FixedType.parse("ap_fixed<10,4,AP_RND_CONV,AP_SAT>")
    layer = QDyT(in_t.ap_type, gamma_type=G_T.ap_type, table_size=128, table_bits=12, alpha_init=0.7)
    x = in_t.round_trip(rng.normal(0, 2, (400, 5, 6))).astype(np.float32)
    layer.build(x.shape)
    layer.gamma.assign(G_T.round_trip(rng.uniform(-1.5, 1.5, 6)))
    layer.beta.assign(G_T.round_trip(rng.uniform(-0.5, 0.5, 6)))
    y = layer(x).numpy()
    want = layer.spec().forward(in_t.quantize(x), G_T.quantize(layer.gamma.numpy()), G_T.quantize(layer.beta.numpy()))
    assert np.array_equal(in_t.quantize(y), want)
    assert layer.spec().alpha == pytest.approx(0.7)


def test_alpha_trains():
    """The straight-through gradient reaches alpha (the float DyT's derivative), so QAT moves it."""
    import tensorflow as tf

    from trigformer.models.ops.dyt.keras import QDyT

    layer = QDyT(table_size=64, table_bits=10)
    x = tf.constant(np.random.default_rng(3).normal(0, 1, (8, 4, 3)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * x)
    g = tape.gradient(loss, layer.alpha)
    assert g is not None and float(g) != 0.0


def test_model_norm_accepts_dyt_from_the_registry():
    from trigformer.flow.config import Config

    cfg = Config.model_validate({"name": "n", "model": {"norm": "dyt"}})
    assert cfg.model.norm == "dyt"
    with pytest.raises(Exception, match="dyt"):  # the error lists the registry's choices
        Config.model_validate({"name": "n", "model": {"norm": "dyt2"}})


def test_fit_tunes_dyt():
    """--fit gives a DyT layer a reuse factor (its op says tunable, units = tokens): 16 tokens x 16 elements read a
    1024 x 18-bit table, 2 reads per BRAM_18K (1 BRAM each) -> 128 at reuse 1; a budget of half that is met by
    sharing the token units (II 2: 8 tokens, 64 BRAM)."""
    from trigformer.flow.estimate import estimate
    from trigformer.flow.fit import fit

    dyt = {"name": "n", "kind": "dyt", "n_tokens": 16, "n_in": 16, "n_out": 16, "in_bits": 10, "out_bits": 10,
           "weight_bits": 8, "n_weights": 32, "n_nonzero_weights": 32, "table_entries": 1024, "table_bits": 18,
           "strategy": "latency", "reuse_factor": 1}
    layers = [{"name": "input", "kind": "input", "n_tokens": 16, "n_in": 16, "n_out": 16}, dyt]
    assert estimate(layers, 5.0, "xcvu9p", band=False)["resources"]["BRAM_18K"] == 128
    bram = 64 / 4320  # xcvu9p: 4320 BRAM_18K
    res = fit(layers, 5.0, "xcvu9p", {"latency_ns": 5000.0, "ii": 4, "fit_margin": 0.0,
                                       "max_fraction": {"LUT": 1.0, "FF": 1.0, "DSP": 1.0, "BRAM_18K": bram * 1.001}})
    assert res.feasible and res.settings["n"]["reuse_factor"] == 2


def test_a_sweep_varies_model_norm_over_the_registry(tmp_path):
    """A sweep's grid over model.norm takes dyt (the choices come from the registry) and refuses an unknown one."""
    from trigformer.flow.cli import main
    from trigformer.flow.sweep import load_sweep

    base = {"name": "s", "model": {"embed_dim": 4, "num_heads": 1, "key_dim": 2, "num_blocks": 1, "ffn_dim": 4}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.norm": ["layernorm", "rmsnorm", "dyt"]}}))
    points = load_sweep(sweep).points
    assert [p.config["model"]["norm"] for p in points] == ["layernorm", "rmsnorm", "dyt"]
    sweep.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"model.norm": ["dyt", "tanh"]}}))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_dyt_from_yaml_csim_trace_rtl_bit_exact(tmp_path, monkeypatch):
    """synth on a DyT model from YAML with --rtl: csim == emulator, trace == emulator, Verilator == emulator."""
    cfg = {"name": "dyt_tiny", "seed": 3, "data": {"n_particles": 5, "n_train": 300, "n_test": 1000},
           "model": {"embed_dim": 6, "num_heads": 1, "key_dim": 3, "num_blocks": 1, "ffn_dim": 5, "norm": "dyt"},
           "quantization": {"act_bits": 8, "act_int_bits": 3, "weight_bits": 6, "layernorm_table_size": 128,
                            "table_bits": 10},
           "training": {"epochs": 1, "batch_size": 128}, "budget": {"latency_ns": 100000, "max_fraction": 1.0},
           "verify": {"n_events": 1000}, "rtl": {"yosys": "none"}}
    synth_rtl_bit_exact(tmp_path, monkeypatch, cfg)
    assert "tf_dyt_config" in (tmp_path / "out" / "firmware" / "parameters.h").read_text()


def test_saved_model_with_dyt_is_brought_in(tmp_path):
    """Bring your own model: a saved Keras model holding QDyT maps through the registry (OpDef.byom_handlers) and
    its firmware is csim == emulator."""
    import tensorflow as tf

    from trigformer.flow.cli import main
    from trigformer.models.data import make_synthetic
    from trigformer.models.ops.dyt.keras import QDyT

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(4)
    x, y = make_synthetic(300, 6, ["pt_rel", "eta_rel", "phi_rel"], seed=3)
    inp = L.Input((6, 3), name="particles")
    h = L.Dense(6, name="embed")(inp)
    h = QDyT("ap_fixed<10,4,AP_RND_CONV,AP_SAT>", table_size=64, table_bits=10, alpha_init=0.9, name="dyt")(h)
    out = L.Dense(5, activation="softmax", name="head")(L.GlobalAveragePooling1D(name="pool")(h))
    model = tf.keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    model.save(tmp_path / "m.keras")
    cfg = {"name": "byom_dyt", "seed": 5, "model": {"file": "m.keras"},
           "data": {"n_particles": 6, "n_train": 300, "n_test": 200}, "verify": {"n_events": 100}}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    code = main([str(tmp_path / "m.yaml"), "--out", str(tmp_path / "out"), "-q"])
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code in (0, 4), code
    assert r["verification"]["csim_vs_emulator"]["bit_exact_fraction"] == 1.0
    assert next(row["becomes"] for row in r["model"]["mapping"] if row["layer"] == "dyt") == ["QDyT"]
