"""synth --fit (flow/fit.py): on a tiny model whose as-written settings exceed the budget, the search finds per-layer
settings that meet it (checked against the budget itself, and the chosen firmware is still csim == emulator); an
impossible budget is reported with the closest point and advice. Reference: the budget's own limits and the
compiled C++ (csim) for the chosen point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf

from trigformer.flow.cli import main
from trigformer.flow.config import Config
from trigformer.flow.convert import convert, layer_descriptions
from trigformer.flow.estimate import estimate
from trigformer.flow.fit import fit
from trigformer.models.builder import build_model, snap_to_grid

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny_layers(tmp_path_factory):
    cfg = Config.model_validate({"name": "tinyfit", "data": {"n_particles": 8},
                                 "model": {"embed_dim": 8, "num_heads": 2, "key_dim": 4, "num_blocks": 1, "ffn_dim": 12}})
    tf.keras.utils.set_random_seed(1)
    model = build_model(cfg)
    snap_to_grid(model)
    hls = convert(model, cfg, tmp_path_factory.mktemp("fit"), "xcvu9p-flga2104-2L-e", trace=False)
    return cfg, layer_descriptions(hls, cfg)


def _budget(ii=5, lut=1.0, latency=5000.0):
    return {"latency_ns": latency, "ii": ii, "max_fraction": {"LUT": lut, "FF": 1.0, "DSP": 1.0, "BRAM_18K": 1.0}}


def test_infeasible_as_written_feasible_after_fit(tiny_layers):
    cfg, layers = tiny_layers
    as_written = estimate(layers, 5.0, "xcvu9p", band=False)
    lut = as_written["resources"]["fraction"]["LUT"]
    budget = _budget(lut=lut * 0.6)  # 40 % less LUT than reuse 1 takes
    assert as_written["resources"]["fraction"]["LUT"] > budget["max_fraction"]["LUT"]
    res = fit(layers, 5.0, "xcvu9p", budget)
    assert res.feasible and res.advice is None
    got = res.estimate
    assert got["resources"]["fraction"]["LUT"] <= budget["max_fraction"]["LUT"]
    assert got["latency"]["ii"] <= budget["ii"] and got["latency"]["ns"] <= budget["latency_ns"]
    assert any(s["reuse_factor"] > 1 for s in res.settings.values())
    assert res.tried[0]["feasible"] is False and res.tried[-1]["feasible"] is True
    sec = res.section()
    assert sec["chosen"]["ii"] <= 5 and len(sec["points_tried"]) == len(res.tried)


def test_impossible_budget_gives_the_closest_point_and_advice(tiny_layers):
    _, layers = tiny_layers
    res = fit(layers, 5.0, "xcvu9p", _budget(lut=0.001))
    assert not res.feasible
    assert "LUT" in res.advice and ("shrink the model" in res.advice or "would fit at II" in res.advice)


def test_synth_fit_end_to_end(tmp_path):
    """As written (reuse 1) the tiny model needs more LUT than this budget allows; with --fit synth meets it, writes
    the chosen settings into the firmware, and csim still equals the emulator bit for bit."""
    yaml = tmp_path / "m.yaml"
    yaml.write_text(TINY.read_text().replace("name: tiny", "name: tinyfit") + "budget:\n  latency_ns: 5000\n"
                    "  max_fraction:\n    LUT: 0.15\n")
    out = tmp_path / "out"
    code = main([str(yaml), "--out", str(out), "-q", "--fit", "--epochs", "1"])
    r = json.loads((out / "report.json").read_text())
    assert r["fit"]["feasible"] and code == 0 and r["budget"]["met"]
    assert r["resources"]["fraction"]["LUT"] <= 0.15
    assert r["verification"]["csim_vs_emulator"]["bit_exact_fraction"] == 1.0
    reuse = {k: v["reuse_factor"] for k, v in r["implementation"].items()}
    assert max(reuse.values()) > 1 and r["fit"]["layers"]["b0_mha"]["reuse_factor"] == reuse["b0_mha"]
    assert "Fit: latency against LUT" in (out / "report.html").read_text()  # the trade-off curve
    params = (out / "firmware" / "parameters.h").read_text()
    assert f"static const unsigned reuse_factor = {reuse['b0_mha']};" in params


def test_the_default_margin_is_the_readme_error_band():
    """Hand-copied from README (Latency and resources: |estimate/csynth - 1| medians on the held-out reports):
    cycles 13 %, DSP 5 %, LUT 58 %, FF 92 %; BRAM has no published band."""
    from trigformer.flow.fit import margins

    m, why = margins({"fit_margin": "band"})
    assert m == {"cycles": 0.13, "DSP": 0.05, "LUT": 0.58, "FF": 0.92, "BRAM_18K": 0.0} and "held-out" in why
    assert margins({"fit_margin": 0.2})[0]["LUT"] == 0.2 and margins({})[0]["LUT"] == 0.0


def test_fit_keeps_the_margin(tiny_layers):
    """With a 50 % margin the chosen point stays below limit / 1.5 (hand: the LUT limit 0.6 x the reuse-1 fraction,
    divided by 1.5); without it, below the limit only. The margin-free point may sit in the band between the two."""
    _, layers = tiny_layers
    lut = estimate(layers, 5.0, "xcvu9p", band=False)["resources"]["fraction"]["LUT"]
    budget = _budget(lut=lut * 0.6)
    plain = fit(layers, 5.0, "xcvu9p", budget)
    kept = fit(layers, 5.0, "xcvu9p", {**budget, "fit_margin": 0.5})
    assert plain.feasible and kept.feasible
    assert kept.estimate["resources"]["fraction"]["LUT"] <= lut * 0.6 / 1.5
    assert kept.estimate["resources"]["fraction"]["LUT"] <= plain.estimate["resources"]["fraction"]["LUT"]
    assert kept.section()["targets"]["LUT"] == pytest.approx(lut * 0.6 / 1.5, abs=1e-4)
    assert kept.section()["margin"]["LUT"] == 0.5


def test_a_fit_that_finds_nothing_exits_with_the_budget_code(tmp_path):
    """An impossible LUT limit: --fit finds nothing; synth exits 4 (verified, over budget), also with --rtl, whose
    RTL form is never shared and so cannot be what the fit promised."""
    yaml = tmp_path / "m.yaml"
    yaml.write_text(TINY.read_text().replace("name: tiny", "name: tinynofit") + "budget:\n  latency_ns: 5000\n"
                    "  max_fraction:\n    LUT: 0.0001\nrtl:\n  cosim: false\n  yosys: none\n")
    out = tmp_path / "out"
    assert main([str(yaml), "--out", str(out), "-q", "--fit", "--epochs", "1", "--no-csim"]) == 4
    r = json.loads((out / "report.json").read_text())
    assert r["fit"]["feasible"] is False and not r["budget"]["met"]
    assert any(v.startswith("--fit: no setting meets the budget") for v in r["budget"]["violations"])
    out_rtl = tmp_path / "out_rtl"
    assert main([str(yaml), "--out", str(out_rtl), "-q", "--fit", "--weights", str(out), "--no-csim", "--rtl"]) == 4
    r = json.loads((out_rtl / "report.json").read_text())
    assert r["budget"]["judged"] == ["hls", "rtl"] and r["fit"]["feasible"] is False
