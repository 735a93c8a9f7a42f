"""C-simulation (g++ with ap_types: hls4ml's build script, run isolated by sim.csim) versus the NumPy emulator, layer by layer.

Reference: the compiled HLS C++ of the generated project. Comparison on raw integers of every traced layer output
(no tolerance). Shapes cover heads 1-4, blocks 1-3, 8-32 particles, odd and prime dimensions, norm on/off,
mean/max pooling, relu/linear FFN and 4- to 10-bit weights and activations. Weights are random and scaled up so that
saturation, wrap-free accumulation and every table region are exercised, not only the comfortable middle."""

import numpy as np
import pytest
import tensorflow as tf

from flow.config import Config
from flow.firmware import csim, write_project
from flow.verify import compare_layers
from models.builder import build_model, snap_to_grid
from models.data import make_synthetic

SHAPES = {
    "two_blocks_default": dict(model=dict(embed_dim=16, num_heads=2, key_dim=8, num_blocks=2, ffn_dim=32), n=16),
    "one_head_prime": dict(model=dict(embed_dim=5, num_heads=1, key_dim=3, num_blocks=1, ffn_dim=7, norm="none",
                                      pooling="max"),
                           quantization=dict(weight_bits=4, weight_int_bits=0, act_bits=6, act_int_bits=2), n=8),
    "four_heads_32": dict(model=dict(embed_dim=12, num_heads=4, key_dim=4, num_blocks=1, ffn_dim=24),
                          quantization=dict(weight_bits=6, weight_int_bits=1, act_bits=8, act_int_bits=3), n=32),
    "three_blocks_odd": dict(model=dict(embed_dim=11, num_heads=3, key_dim=5, num_blocks=3, ffn_dim=13,
                                        activation="linear"),
                             quantization=dict(weight_bits=10, weight_int_bits=1, act_bits=10, act_int_bits=4), n=13),
    "rmsnorm_max_pool": dict(model=dict(embed_dim=6, num_heads=2, key_dim=3, num_blocks=2, ffn_dim=10, norm="rmsnorm",
                                        pooling="max"), n=9),
    "four_bit": dict(model=dict(embed_dim=8, num_heads=2, key_dim=2, num_blocks=2, ffn_dim=8),
                     quantization=dict(weight_bits=4, weight_int_bits=1, act_bits=4, act_int_bits=1, input_bits=6,
                                       input_int_bits=0, prob_bits=6, table_bits=10, softmax_table_size=256,
                                       layernorm_table_size=128), n=10),
}
N_EVENTS = 1000


def make_cfg(name, spec) -> Config:
    return Config.model_validate({"name": name, "seed": 5, "data": {"n_particles": spec["n"]},
                                  "model": spec["model"], "quantization": spec.get("quantization", {})})


def events(cfg, n=N_EVENTS):
    x, _ = make_synthetic(n, cfg.data.n_particles, cfg.data.features, seed=11)
    x[: n // 10] *= 8.0  # a tenth far outside the input range: saturating input casts
    return x


@pytest.fixture(scope="module", params=sorted(SHAPES))
def project(request, tmp_path_factory):
    name = request.param
    cfg = make_cfg(name, SHAPES[name])
    tf.keras.utils.set_random_seed(2)
    model = build_model(cfg, quantized=True)
    model.set_weights([w * 2.5 for w in model.get_weights()])  # push into saturation
    snap_to_grid(model)
    x = events(cfg)
    hls_model, emu = write_project(cfg, model, "xcvu9p-flga2104-2L-e", tmp_path_factory.mktemp(name), x[:10])
    res = csim(hls_model, x)
    assert res.ok, res.error
    y_csim, csim_trace = res.outputs, res.trace
    y_emu, emu_trace = emu.run(x, trace=True)
    return dict(cfg=cfg, model=model, x=x, emu=emu, y_csim=np.asarray(y_csim), y_emu=y_emu, csim_trace=csim_trace,
                emu_trace=emu_trace)


def test_every_layer_bit_exact(project):
    p = project
    rows, bad_events = compare_layers(p["emu"], p["emu_trace"], p["csim_trace"], len(p["x"]))
    assert not bad_events.any()
    kinds = {node.kind for node in p["emu"].nodes}
    assert len(rows) >= 5 and {"mha", "dense", "pool"} <= kinds
    bad = [r for r in rows if r["mismatched_values"]]
    assert not bad, bad


def test_outputs_bit_exact(project):
    p = project
    t = p["emu"].output_type
    raw_csim = t.quantize(p["y_csim"].reshape(len(p["x"]), -1))
    assert np.array_equal(t.to_float(raw_csim), p["y_csim"].reshape(len(p["x"]), -1))  # csim values on the grid
    assert np.array_equal(raw_csim, p["y_emu"])


def test_saturation_and_tables_were_exercised(project):
    """The comparison means something only if casts actually saturate and outputs vary."""
    p = project
    types = p["emu"].types()
    saturated = sum(int(np.count_nonzero((v == types[k].raw_max) | (v == types[k].raw_min)))
                    for k, v in p["emu_trace"].items() if k != p["emu"].nodes[0].name)
    assert saturated > 0
    assert len(np.unique(p["y_emu"])) > 10


def test_keras_quantized_forward_matches_the_firmware(project):
    """Training-time forward = firmware arithmetic. QKeras' straight-through output is a float32 sum that is off the
    grid only where its activation quantizer saturates, so a small fraction of events may differ there."""
    p = project
    y_keras = p["model"].predict(p["x"], verbose=0, batch_size=1000)
    raw = p["emu"].output_type.quantize(y_keras)
    same = np.all(raw == p["y_emu"], axis=-1).mean()
    assert same >= 0.95, same
