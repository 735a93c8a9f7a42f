"""C-simulation (g++ with ap_types: hls4ml's build script, run isolated by sim.csim) versus the NumPy emulator, layer by layer.

Reference: the compiled HLS C++ of the generated project. Comparison on raw integers of every traced layer output
(no tolerance). Shapes cover heads 1-4, blocks 1-3, 8-32 particles, odd and prime dimensions, norm on/off,
mean/max pooling, relu/linear FFN, Linformer attention (linformer_odd) and 4- to 10-bit weights and activations; and
attention beyond the builder's (ATTENTION_SHAPES): value_dim != key_dim with an output projection of another width,
cross-attention with a second input of another token count and width (two top-function inputs), and no biases. DA_SHAPES are written with
hls.strategy distributed_arithmetic (every constant-weight product an alkaid kernel: odd widths, narrow bits, two
blocks, cross-attention with value_dim != key_dim) and random non-zero biases. Weights are random and scaled up
so that saturation, wrap-free accumulation and every table region are exercised, not only the comfortable middle."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from trigformer.flow.config import Config
from trigformer.flow.firmware import csim, write_project
from trigformer.flow.verify import compare_layers
from trigformer.models.builder import build_model, snap_to_grid
from trigformer.models.data import make_synthetic
from trigformer.models.quant import QuantTypes

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
    "dyt_odd": dict(model=dict(embed_dim=7, num_heads=2, key_dim=3, num_blocks=2, ffn_dim=9, norm="dyt"),
                    quantization=dict(act_bits=8, act_int_bits=3, layernorm_table_size=64, table_bits=10), n=9),
    "linformer_odd": dict(model=dict(embed_dim=7, num_heads=2, key_dim=3, num_blocks=2, ffn_dim=9,
                                     attention="linformer", linformer_k=3),
                          quantization=dict(act_bits=8, act_int_bits=3), n=9),
    "four_bit": dict(model=dict(embed_dim=8, num_heads=2, key_dim=2, num_blocks=2, ffn_dim=8),
                     quantization=dict(weight_bits=4, weight_int_bits=1, act_bits=4, act_int_bits=1, input_bits=6,
                                       input_int_bits=0, prob_bits=6, table_bits=10, softmax_table_size=256,
                                       layernorm_table_size=128), n=10),
}
# Attention the builder does not make (models built here from trigformer's layers, as models/byom.py maps them):
# value_dim / output width, cross-attention (query: the `n_query` leading particles through their own embedding, of
# width `query_dim`; key/value: all particles), biases off.
ATTENTION_SHAPES = {
    "value_dim_ne_key_dim": dict(att=dict(num_heads=2, key_dim=3, value_dim=5, output_dim=7), d=6, n=11),
    "cross_attention": dict(att=dict(num_heads=2, key_dim=4, value_dim=3), d=8, n=12, n_query=3, query_dim=5,
                            quantization=dict(weight_bits=6, weight_int_bits=1, act_bits=8, act_int_bits=3)),
    "cross_one_query_no_bias": dict(att=dict(num_heads=3, key_dim=2, use_bias=False, output_dim=4), d=5, n=9,
                                    n_query=1, query_dim=5),
    "no_bias_one_head": dict(att=dict(num_heads=1, key_dim=5, use_bias=False), d=7, n=10),
}
DA = {"strategy": "distributed_arithmetic"}
DA_SHAPES = {
    "da_odd_narrow": dict(model=dict(embed_dim=7, num_heads=2, key_dim=3, num_blocks=1, ffn_dim=9), n=11, hls=DA,
                          quantization=dict(weight_bits=5, weight_int_bits=1, act_bits=7, act_int_bits=3)),
    "da_four_bit_two_blocks": dict(model=dict(embed_dim=8, num_heads=2, key_dim=2, num_blocks=2, ffn_dim=8,
                                              pooling="max"), n=10, hls=DA,
                                   quantization=dict(weight_bits=4, weight_int_bits=1, act_bits=4, act_int_bits=1,
                                                     input_bits=6, input_int_bits=0, prob_bits=6, table_bits=10,
                                                     softmax_table_size=256, layernorm_table_size=128)),
    "da_cross_value_dim": dict(att=dict(num_heads=2, key_dim=3, value_dim=5, output_dim=6), d=6, n=10, n_query=2,
                               query_dim=5, hls=DA, quantization=dict(weight_bits=6, weight_int_bits=1)),
}
ALL_SHAPES = {**SHAPES, **ATTENTION_SHAPES, **DA_SHAPES}
N_EVENTS = 1000


def make_cfg(name, spec) -> Config:
    return Config.model_validate({"name": name, "seed": 5, "data": {"n_particles": spec["n"]},
                                  "model": spec["model"], "quantization": spec.get("quantization", {}),
                                  "hls": spec.get("hls", {})})


def events(cfg, n=N_EVENTS):
    x, _ = make_synthetic(n, cfg.data.n_particles, cfg.data.features, seed=11)
    x[: n // 10] *= 8.0  # a tenth far outside the input range: saturating input casts
    return x


def attention_model(cfg, spec) -> tf.keras.Model:
    """input casts -> token embeddings -> attention (self, or cross from the leading particles) -> residual add
    (self-attention) -> mean pooling -> classifier, from trigformer's quantized layers."""
    from qkeras import QActivation, QDense
    from qkeras.quantizers import quantized_bits

    from trigformer.models.ops.keras_common import weight_quantizer
    from trigformer.models.ops.mha.keras import QMultiHeadAttention
    from trigformer.models.ops.pooling.keras import TokenPooling
    from trigformer.models.ops.tokendense.keras import QTokenDense

    qt = QuantTypes.from_config(cfg.quantization)
    wq = weight_quantizer(qt.weight_t)

    def cast(x, name, t=qt.act_t):
        return QActivation(quantized_bits(**t.qkeras_config()), name=name)(x)

    def embed(inp, units, name):
        x = cast(inp, f"{name}_in_q", qt.input_t)
        return cast(QTokenDense(units, kernel_quantizer=wq, bias_quantizer=wq, name=name)(x), f"{name}_q")

    n, f = cfg.data.n_particles, len(cfg.data.features)
    parts = tf.keras.Input((n, f), name="particles")
    x = embed(parts, spec["d"], "embed")
    types = dict(weight_type=qt.weight_t.ap_type, act_type=qt.act_t.ap_type, prob_type=qt.prob_t.ap_type,
                 qkv_type=qt.qkv_t.ap_type, table_size=qt.softmax_table_size, input_range=qt.softmax_input_range,
                 table_bits=qt.table_bits)
    if spec.get("n_query"):
        lead = tf.keras.Input((spec["n_query"], f), name="leading")
        inputs = [lead, parts]
        q = embed(lead, spec["query_dim"], "query_embed")
        y = QMultiHeadAttention(**spec["att"], **types, name="mha")([q, x])
    else:
        inputs = parts
        y = QMultiHeadAttention(**spec["att"], **types, name="mha")(x)
        if y.shape[-1] == x.shape[-1]:
            y = cast(tf.keras.layers.Add(name="add")([x, y]), "add_q")
    y = TokenPooling("mean", in_type=qt.act_t.ap_type, name="pool")(y)
    out = cast(QDense(5, kernel_quantizer=wq, bias_quantizer=wq, name="head")(y), "head_q")
    return tf.keras.Model(inputs, out)


def feed(spec, x):
    """The model inputs for particles x: the leading particles as the query input of a cross-attention model."""
    return [x[:, :spec["n_query"]], x] if spec.get("n_query") else x


@pytest.fixture(scope="module", params=sorted(ALL_SHAPES))
def project(request, tmp_path_factory):
    name = request.param
    spec = ALL_SHAPES[name]
    cfg = make_cfg(name, {"model": {}, **spec})
    tf.keras.utils.set_random_seed(2)
    model = attention_model(cfg, spec) if "att" in spec else build_model(cfg, quantized=True)
    weights = [w * 2.5 for w in model.get_weights()]  # push into saturation
    if name in DA_SHAPES:  # the zero-initialised biases (and LayerNorm betas) random: constant adds in the kernels
        rng = np.random.default_rng(3)
        weights = [w if w.any() else rng.uniform(-1.0, 1.0, w.shape).astype(w.dtype) for w in weights]
    model.set_weights(weights)
    snap_to_grid(model)
    x = feed(spec, events(cfg))
    hls_model, emu = write_project(cfg, model, "xcvu9p-flga2104-2L-e", tmp_path_factory.mktemp(name),
                                   feed(spec, events(cfg)[:10]))
    res = csim(hls_model, x)
    assert res.ok, res.error
    y_csim, csim_trace = res.outputs, res.trace
    y_emu, emu_trace = emu.run(x, trace=True)
    return dict(cfg=cfg, model=model, x=x, n=N_EVENTS, emu=emu, y_csim=np.asarray(y_csim), y_emu=y_emu,
                csim_trace=csim_trace, emu_trace=emu_trace, hls_model=hls_model, spec=spec)


def test_every_layer_bit_exact(project):
    p = project
    rows, bad_events = compare_layers(p["emu"], p["emu_trace"], p["csim_trace"], p["n"])
    assert not bad_events.any()
    kinds = {node.kind for node in p["emu"].nodes}
    attention = p["spec"].get("model", {}).get("attention", "mha")  # the kind model.attention builds
    assert len(rows) >= (4 if "att" in p["spec"] else 5) and {attention, "dense", "pool"} <= kinds
    bad = [r for r in rows if r["mismatched_values"]]
    assert not bad, bad


def test_outputs_bit_exact(project):
    p = project
    t = p["emu"].output_type
    raw_csim = t.quantize(p["y_csim"].reshape(p["n"], -1))
    assert np.array_equal(t.to_float(raw_csim), p["y_csim"].reshape(p["n"], -1))  # csim values on the grid
    assert np.array_equal(raw_csim, p["y_emu"])


def test_saturation_and_tables_were_exercised(project):
    """The comparison means something only if casts actually saturate and outputs vary."""
    p = project
    types = p["emu"].types()
    saturated = sum(int(np.count_nonzero((v == types[k].raw_max) | (v == types[k].raw_min)))
                    for k, v in p["emu_trace"].items() if k not in p["emu"].input_names)
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


def test_attention_shapes_are_what_they_say(project):
    """The generated attention layer has the shape its case names: value_dim, n_kv and the inputs of the C++ call."""
    p = project
    spec = p["spec"]
    if "att" not in spec:
        pytest.skip("a builder shape")
    (node,) = [n for n in p["emu"].nodes if n.kind == "mha"]
    sp = node.spec
    assert sp.value_dim == spec["att"].get("value_dim", spec["att"]["key_dim"])
    assert sp.use_bias == spec["att"].get("use_bias", True)
    assert sp.cross == bool(spec.get("n_query")) and len(node.inputs) == (2 if sp.cross else 1)
    assert (sp.n_tokens, sp.n_kv) == ((spec["n_query"], spec["n"]) if sp.cross else (spec["n"], spec["n"]))
    if not sp.use_bias:
        assert not any(node.arrays[f"{w}_bias"].any() for w in "qkvo")


def test_rtl_trace_of_attention_equals_the_emulator(project):
    """The attention's RTL form (models/ops/mha/trace.py, an alkaid trace run by its exact Python interpreter) computes
    the emulator's integers for value_dim != key_dim, cross-attention (two external inputs) and no biases."""
    pytest.importorskip("alkaid")
    from trigformer.sim.rtl import trace_unit

    p = project
    if "att" not in p["spec"]:
        pytest.skip("a builder shape")
    emu, vals = p["emu"], p["emu_trace"]
    types = {m.name: m.out_t for m in emu.nodes}
    sizes = {m.name: m.size for m in emu.nodes}
    (node,) = [m for m in emu.nodes if m.kind == "mha"]
    comb, external = trace_unit([node], types, sizes)
    assert len(external) == len(node.inputs)
    for e in range(20):
        xin = np.concatenate([types[i].to_float(vals[i][e]) for i in external])
        raw = np.round(np.asarray(comb(xin), dtype=np.float64) * 2.0**node.out_t.frac).astype(np.int64)
        assert np.array_equal(raw, vals[node.name][e])


def test_distributed_arithmetic_is_the_trace(project):
    """DA projects: the C++ kernels in nnet_code_gen.h are exactly what alkaid writes for the products the traces
    compute (from the emulator plan: models/ops/*/trace.py), and every unit of the RTL form (those traces, run by
    alkaid's exact Python interpreter) equals the emulator; the C-simulation above equals the emulator. So the HLS DA
    form, the RTL and the emulator are one arithmetic."""
    pytest.importorskip("alkaid")
    from trigformer.models.ops import BY_KIND
    from trigformer.models.ops.da import generate
    from trigformer.sim.rtl import trace_unit, units

    p = project
    if p["cfg"].name not in DA_SHAPES:
        pytest.skip("not a distributed_arithmetic project")
    emu, vals = p["emu"], p["emu_trace"]
    code = (Path(p["hls_model"].config.get_output_dir()) / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    index = {layer.name: layer.index for layer in p["hls_model"].get_layers()}
    types = {m.name: m.out_t for m in emu.nodes}
    sizes = {m.name: m.size for m in emu.nodes}
    kernels, with_bias = 0, 0
    for node in emu.nodes:
        op = BY_KIND[node.kind]
        if not op.da_capable:
            continue
        tokens = node.size // node.arrays["w"].shape[1] if "w" in node.arrays else 0
        products = op.products(node.spec, node.arrays, [types[i] for i in node.inputs], tokens)
        text, figs = generate(products, index[node.name])
        assert text in code, node.name
        kernels += len(figs)
        with_bias += sum(f["const_adds"] > 0 for f in figs)
    assert kernels >= (7 if "att" in p["spec"] else 8)  # embedding(s), Q/K/V/O, (FFN x 2), classifier
    assert with_bias == kernels  # random biases: every kernel adds constants
    for members in units(emu.nodes):
        if not any(BY_KIND[m.kind].da_capable for m in members):
            continue
        comb, external = trace_unit(members, types, sizes)
        last = members[-1]
        for e in range(10):
            xin = np.concatenate([types[i].to_float(vals[i][e]) for i in external])
            raw = np.round(np.asarray(comb(xin), dtype=np.float64) * 2.0**last.out_t.frac).astype(np.int64)
            assert np.array_equal(raw, vals[last.name][e]), (last.name, e)
