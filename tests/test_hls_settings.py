"""C-simulation == emulator over the implementation settings the config allows, and the report's account of them.

`hls.strategy` (latency, resource) x `hls.reuse_factor` (1, 2, 3, 5, 8, 64; 4096 = the config's maximum in the slow
sweep) x `hls.backend` (Vitis, Vivado) on one small model whose units of work (6 tokens, 12 attention rows, 6 and 10
features, a 6x5 classifier) do not divide evenly by most of those factors; plus the widest types the config allows
(act_bits 24 with every other width at its maximum, and each norm at the widest act_bits its integer check admits).

References:
- the compiled HLS C++ of each generated project (sim.csim, g++ with ap_types): raw integers of every traced layer
  and of the outputs, 1000 events of which a tenth saturate the input casts, weights scaled into saturation;
- the written `firmware/parameters.h`: the reuse factor, strategy and iteration count of each layer's config struct
  (found through the `// <layer>` comment of its call in `<name>.cpp`) must be what report.json["implementation"]
  says the layer got;
- hls4ml's own list of valid reuse factors for its Dense (FPGABackend.get_valid_reuse_factors), for the classifier.

The default suite compiles DEFAULT (6 projects, 10-15 s each here); `pytest -m slow` adds the rest of the grid.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from trigformer.flow.config import Config, ConfigError
from trigformer.flow.convert import implementation, layer_descriptions
from trigformer.flow.firmware import csim, write_project
from trigformer.flow.verify import compare_layers
from trigformer.models.builder import build_model, snap_to_grid
from trigformer.models.data import make_synthetic

PART = "xcvu9p-flga2104-2L-e"
N_EVENTS = 1000
N_PARTICLES = 6
MODEL = dict(embed_dim=6, num_heads=2, key_dim=3, num_blocks=1, ffn_dim=10)
WIDEST = dict(weight_bits=16, weight_int_bits=8, act_bits=24, act_int_bits=12, input_bits=24, input_int_bits=12,
              attention_bits=24, prob_bits=18, table_bits=24, softmax_table_size=65536, layernorm_table_size=65536)

# (backend, strategy, reuse factor, case) -> model and quantization changes
CASES = {"plain": ({}, {})}
# The widest settings planning admits: every width at its maximum without a norm; with a norm (embed_dim 8, a power
# of 2: 1/dim is a shift) the widest act_bits its exact integer arithmetic holds, all else at its maximum.
CASES["widest"] = (dict(norm="none"), WIDEST)
CASES["widest_layernorm"] = (dict(embed_dim=8, norm="layernorm"),
                             {**WIDEST, "act_bits": 23, "act_int_bits": 4, "attention_bits": 23})
CASES["widest_rmsnorm"] = (dict(embed_dim=8, norm="rmsnorm"), {**WIDEST, "act_int_bits": 4})

DEFAULT = [("Vitis", "latency", 3, "plain"), ("Vitis", "resource", 5, "plain"),
           ("Vivado", "latency", 8, "plain"), ("Vivado", "resource", 64, "plain"),
           ("Vitis", "resource", 3, "widest"), ("Vivado", "latency", 2, "widest_layernorm")]
GRID = [(b, s, r, "plain") for b in ("Vitis", "Vivado") for s in ("latency", "resource")
        for r in (1, 2, 3, 5, 8, 64, 4096)]
SLOW = [c for c in GRID if c not in DEFAULT] + [("Vivado", "resource", 8, "widest_rmsnorm"),
                                                ("Vitis", "latency", 1, "widest_layernorm")]


def _id(c) -> str:
    return f"{c[0]}-{c[1]}-R{c[2]}-{c[3]}"


def config(backend: str, strategy: str, reuse: int, case: str) -> Config:
    model, quant = CASES[case]
    return Config.model_validate({"name": "settings", "seed": 5, "data": {"n_particles": N_PARTICLES},
                                  "model": {**MODEL, **model}, "quantization": quant,
                                  "hls": {"backend": backend, "strategy": strategy, "reuse_factor": reuse}})


def build_and_simulate(params, tmp_path_factory) -> dict:
    backend, strategy, reuse, case = params
    cfg = config(*params)
    tf.keras.utils.set_random_seed(2)
    model = build_model(cfg, quantized=True)
    model.set_weights([w * 2.5 for w in model.get_weights()])  # push into saturation
    snap_to_grid(model)
    x, _ = make_synthetic(N_EVENTS, N_PARTICLES, cfg.data.features, seed=11)
    x[: N_EVENTS // 10] *= 8.0  # a tenth far outside the input range: saturating input casts
    out = tmp_path_factory.mktemp(_id(params))
    hls_model, emu = write_project(cfg, model, PART, out, x[:10])
    res = csim(hls_model, x)
    assert res.ok, f"{res.error}\n{res.log.read_text()[-3000:] if res.log else ''}"
    y_emu, emu_trace = emu.run(x, trace=True)
    layers = layer_descriptions(hls_model, cfg)
    return dict(cfg=cfg, out=out, emu=emu, x=x, y_csim=res.outputs, csim_trace=res.trace, y_emu=y_emu,
                emu_trace=emu_trace, impl=implementation(layers, model, cfg))


@pytest.fixture(scope="module", params=DEFAULT, ids=_id)
def project(request, tmp_path_factory):
    return build_and_simulate(request.param, tmp_path_factory)


def check_bit_exact(p) -> None:
    rows, bad_events = compare_layers(p["emu"], p["emu_trace"], p["csim_trace"], N_EVENTS)
    assert len(rows) >= 8, [r["layer"] for r in rows]  # every traced layer of the block came back from the C++
    assert not [r for r in rows if r["mismatched_values"]] and not bad_events.any()
    t = p["emu"].output_type
    raw = t.quantize(p["y_csim"])
    assert np.array_equal(t.to_float(raw), p["y_csim"]) and np.array_equal(raw, p["y_emu"])
    types = p["emu"].types()  # the comparison means something only if casts saturate and outputs vary
    assert any(np.any((v == types[k].raw_max) | (v == types[k].raw_min)) for k, v in p["emu_trace"].items()
               if k not in p["emu"].input_names)
    assert len(np.unique(p["y_emu"])) > 10


def config_structs(project_dir: Path, name: str) -> dict[str, dict]:
    """{layer name: {config struct name: its reuse_factor / strategy / iterations}} from the written C++."""
    params = (project_dir / "firmware" / "parameters.h").read_text()
    structs = {}
    for m in re.finditer(r"^struct (\w+) : [\w:]+ \{\n(.*?)^\};", params, re.S | re.M):
        body = m[2]
        fields = {}
        for key, pat in (("reuse_factor", r"reuse_factor = (\d+);"), ("iterations", r"\biterations = (\d+);"),
                         ("strategy", r"strategy = nnet::(?:tf_strategy::)?(\w+);")):
            f = re.search(pat, body)
            if f:
                fields[key] = int(f[1]) if f[1].isdigit() else f[1]
        structs[m[1]] = fields
    top = (project_dir / "firmware" / f"{name}.cpp").read_text()
    out = {}
    for call in re.finditer(r"nnet::\w+<[^;]*?\b(\w*config\d+)>\(.*?\);\s*// (\w+)", top):
        conf = call[1]
        out[call[2]] = {k: v for k, v in structs.items() if k == conf or k.startswith(conf + "_")}
    return out


def check_implementation_matches_the_cpp(p) -> None:
    cfg = p["cfg"]
    written = config_structs(p["out"], cfg.name)
    impl = p["impl"]
    assert set(impl) == set(written) - {"particles"}, (sorted(impl), sorted(written))
    for layer, entry in impl.items():
        structs = written[layer]
        main = next(v for k, v in structs.items() if not re.search(r"_\w+$", k.removeprefix("relu_")))
        assert all(s.get("reuse_factor", entry["reuse_factor"]) == entry["reuse_factor"] for s in structs.values()), \
            (layer, structs, entry)
        strategies = {s["strategy"] for s in structs.values() if "strategy" in s}
        assert strategies <= {entry["strategy"]}, (layer, strategies, entry)
        if "iterations" in main:
            assert entry["ii"] == main["iterations"], (layer, main, entry)
        if entry["reuse_factor"] != cfg.hls.reuse_factor:
            assert entry["requested"] == cfg.hls.reuse_factor and entry["note"], (layer, entry)


def check_classifier_reuse(p) -> None:
    """hls4ml's Dense (the classifier) gets a factor hls4ml accepts for its 6x5 kernel: the asked one if valid,
    else the closest, with the reason in the report."""
    import hls4ml

    cfg = p["cfg"]
    backend = hls4ml.backends.get_backend(cfg.hls.backend)
    n_in = cfg.model.embed_dim
    valid = backend.get_valid_reuse_factors(n_in, len(cfg.model.classes))
    head = p["impl"]["head"]
    assert head["reuse_factor"] in valid
    asked = cfg.hls.reuse_factor
    if asked in valid:
        assert head["reuse_factor"] == asked and "note" not in head
    else:
        assert min(abs(v - asked) for v in valid) == abs(head["reuse_factor"] - asked)
        assert str(asked) in head["note"] and "hls4ml" in head["note"]


def test_csim_equals_emulator_every_layer(project):
    check_bit_exact(project)


def test_report_implementation_is_what_the_cpp_got(project):
    check_implementation_matches_the_cpp(project)
    check_classifier_reuse(project)


def test_ii_follows_the_reuse_factor(project):
    """Hand-derived for this model: a layer of u units at reuse R runs ceil(u / R) units per iteration, so its II is
    ceil(u / ceil(u / R)) <= R (the embedding and LayerNorms: 6 tokens; attention: 2 heads x 6 queries = 12 rows)."""
    p = project
    cfg = p["cfg"]
    if cfg.model.norm == "none" or p["cfg"].hls.strategy == "resource":
        pytest.skip("the latency strategy's token split; the resource strategy splits the outputs instead")
    r = cfg.hls.reuse_factor
    tokens = N_PARTICLES
    assert p["impl"]["embed"]["ii"] == -(-tokens // -(-tokens // r))
    assert p["impl"]["b0_ln1"]["ii"] == -(-tokens // -(-tokens // r))
    rows = cfg.model.num_heads * tokens
    assert p["impl"]["b0_mha"]["ii"] == -(-rows // -(-rows // r))


@pytest.mark.parametrize("model, quant, widest", [
    (dict(embed_dim=8, norm="layernorm"), dict(act_bits=24), 23),  # the default norm at the config's act_bits maximum
    (dict(embed_dim=12, norm="layernorm"), dict(act_bits=20), 14),  # 1/12 is a table_bits-wide constant
    pytest.param(dict(embed_dim=8, norm="rmsnorm"), dict(act_bits=24, act_int_bits=12, weight_bits=16, table_bits=24),
                 21, marks=pytest.mark.slow),
])
def test_types_too_wide_for_a_norm_are_refused_up_front(tmp_path, capsys, model, quant, widest):
    """Widths inside the config's ranges whose norm arithmetic the emulator's exact int64 integers cannot hold: exit 2
    before anything is written, naming quantization.act_bits and the widest value that works. Reference for that
    value: it converts, and the next one up is refused (the norm's own width check, models/ops/common.py)."""
    import yaml

    from trigformer.flow.cli import main
    from trigformer.flow.convert import check_plan

    doc = {"name": "wide", "data": {"n_particles": 6}, "model": {**MODEL, **model}, "quantization": quant}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main([str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"quantization.act_bits: {quant['act_bits']} is too wide" in lines[0]
    assert f"at most {widest} works" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]
    check_plan(Config.model_validate({**doc, "quantization": {**quant, "act_bits": widest}}))
    if widest + 1 < quant["act_bits"]:
        with pytest.raises(ConfigError, match="quantization.act_bits"):
            check_plan(Config.model_validate({**doc, "quantization": {**quant, "act_bits": widest + 1}}))


@pytest.mark.slow
@pytest.mark.parametrize("params", SLOW, ids=_id)
def test_wider_sweep(params, tmp_path_factory):
    p = build_and_simulate(params, tmp_path_factory)
    check_bit_exact(p)
    check_implementation_matches_the_cpp(p)
    check_classifier_reuse(p)
