"""quantization.mode: hgq2 (models/hgq2/build.py, flow/train.py train_hgq2): a model built from the keys with HGQ2's
layers, trained here with per-element bit widths, then the HGQ2 flow (alkaid trace, Verilator, Yosys). References:
the keys themselves (hand-derived starting widths), HGQ2's Keras inference and Verilator compared as integers, Yosys's
own cell counts (0 DSP48E2 with hls.multipliers: lut)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

F3 = ["pt_rel", "eta_rel", "phi_rel"]


def _cfg(**over) -> dict:
    cfg = {"name": "hgq2_mode", "seed": 3,
           "data": {"n_particles": 8, "features": F3, "n_train": 300, "n_test": 200},
           "model": {"embed_dim": 4, "num_heads": 1, "key_dim": 4, "num_blocks": 1, "ffn_dim": 8, "norm": "none",
                     "pooling": "flatten", "mlp_blocks": 1},
           "quantization": {"mode": "hgq2", "weight_bits": 4, "act_bits": 6, "act_int_bits": 3, "input_bits": 8,
                            "input_int_bits": 3},
           "training": {"epochs": 1, "batch_size": 64},
           "hls": {"multipliers": "lut"},
           "rtl": {"yosys": "none"}, "verify": {"n_events": 32}}
    for dotted, v in over.items():
        sec, key = dotted.split("__")
        if v is None:
            cfg[sec].pop(key, None)
        else:
            cfg[sec][key] = v
    return cfg


def _write(tmp: Path, cfg: dict) -> Path:
    p = tmp / "model.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


@pytest.mark.parametrize("over, key", [
    ({"model__norm": "layernorm"}, "model.norm"),
    ({"quantization__mode": "uniform", "model__pooling": "mean", "model__mlp_blocks": 2}, "model.mlp_blocks"),
    ({"quantization__mode": "uniform", "model__pooling": "flatten"}, "model.pooling"),
    ({"quantization__mode": "uniform", "model__pooling": "mean", "quantization__lut_target": 5000},
     "quantization.lut_target"),
    ({"model__attention": "linformer"}, "model.linformer_k"),
    ({"model__attention": "linformer", "model__linformer_k": 8}, "model.linformer_k"),
    ({"model__linformer_k": 2}, "model.linformer_k"),
    ({"hls__reuse_factor": 2}, "hls.reuse_factor"),
])
def test_bad_combinations_exit_2_naming_the_key(tmp_path, capsys, over, key):
    from trigformer.flow.cli import main

    out = tmp_path / "out"
    assert main([str(_write(tmp_path, _cfg(**over))), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err, err
    assert not out.exists()


def _widths(q) -> np.ndarray:
    k, i, f = (np.asarray(v, dtype=np.float64) for v in q.quantizer.kif)
    return np.broadcast_to(k + i + f, np.broadcast(k, i, f).shape)


def test_built_model_starts_from_the_uniform_keys():
    """Every weight quantizer starts at weight_bits, the input quantizer at input_bits with input_int_bits (sign
    excluded, as QKeras counts), activations at act_bits; linformer gives QLinformerAttention, flatten a Flatten, mlp_blocks that many
    residual MLPs. The float twin has the same outputs and no HGQ2 layer."""
    from trigformer.flow.config import config_from_dict
    from trigformer.models.hgq2 import is_hgq2_model
    from trigformer.models.hgq2.build import build_float, build_hgq2

    cfg = config_from_dict(_cfg(model__attention="linformer", model__linformer_k=2, model__mlp_blocks=2))
    m = build_hgq2(cfg)
    kinds = [type(lyr).__name__ for lyr in m.layers]
    assert kinds.count("QLinformerAttention") == 1 and "Flatten" in kinds
    assert sum(lyr.name.endswith("_add") for lyr in m.layers) == 2
    dense = [lyr for lyr in m.layers if type(lyr).__name__ == "QDense"]
    for lyr in dense:
        assert np.all(_widths(lyr.kq) == 4), lyr.name  # weight_bits
    embed = m.get_layer("embed")
    iq = _widths(embed.iq)
    assert np.all(iq == 8)  # input_bits
    k, i, _ = (np.asarray(v) for v in embed.iq.quantizer.kif)
    assert np.all(k == 1) and np.all(i == 3)  # signed, input_int_bits 3 integer bits besides the sign
    assert np.all(_widths(dense[0].iq) == 6)  # act_bits
    f = build_float(cfg)
    assert not is_hgq2_model(f) and f.outputs[0].shape[-1] == m.outputs[0].shape[-1] == 5


def test_lut_target_drives_beta_up():
    """lut_target far below what the model costs: HGQ2's BetaPID raises the EBOPs penalty after the warm-up."""
    from trigformer.flow.config import config_from_dict
    from trigformer.flow.train import train_hgq2
    from trigformer.models.data import build_dataset

    cfg = config_from_dict(_cfg(quantization__lut_target=100, quantization__beta=1e-6, training__epochs=3))
    ds = build_dataset("synthetic", None, 8, F3, 300, 200, 3)
    tr = train_hgq2(cfg, ds, progress=False)
    fixed = tr.summary["fixed"]
    t = fixed["lut_target"]
    assert t["alkaid_cost_per_ebop"] > 0 and t["ebops_target"] > 0
    assert fixed["beta"]["final"] > 1e-6
    assert set(tr.accuracy) == {"float", "fixed", "n_events"}



def _sat_twin(model):
    """The model and a twin whose WRAP quantizers saturate instead (the same weights and bit widths), both rebuilt
    from the model's config in a fresh Keras session so that their variables have the same paths. On events where
    no activation leaves its integer range the two compute the same outputs; an overflow makes them differ."""
    import keras

    js = model.to_json()
    assert '"WRAP"' in js
    keras.backend.clear_session()
    wrap = keras.models.model_from_json(js)
    wrap.set_weights(model.get_weights())
    keras.backend.clear_session()
    sat = keras.models.model_from_json(js.replace('"WRAP"', '"SAT"'))
    src = {v.path: v for v in wrap.weights}
    for v in sat.weights:
        v.assign(src[v.path].numpy())
    return wrap, sat


def _overflowing_events(model, x) -> int:
    from trigformer.flow.train import predict

    wrap, sat = _sat_twin(model)
    return int(np.any(predict(wrap, x) != predict(sat, x), axis=1).sum())


def test_trained_model_is_calibrated_no_training_event_overflows():
    """After HGQ2 training the flow runs HGQ2's trace_minmax on the training set: no activation of any training event
    leaves its integer range (the WRAP model computes what a saturating twin computes, event by event). The same
    model with every activation's integer bits lowered by one (what a stale, decayed range looks like) does overflow
    on those events, and calibrating it again removes every overflow."""
    import keras

    from trigformer.flow.config import config_from_dict
    from trigformer.flow.train import train_hgq2
    from trigformer.models.data import build_dataset
    from trigformer.models.hgq2.build import calibrate

    cfg = config_from_dict(_cfg(training__epochs=2))
    ds = build_dataset("synthetic", None, 8, F3, 300, 200, 3)
    tr = train_hgq2(cfg, ds, progress=False)
    cal = tr.summary["fixed"]["calibration"]
    assert cal["n_events"] == 300 and cal["data"] == "the training set"
    assert _overflowing_events(tr.fixed, ds.x_train) == 0
    model, _ = _sat_twin(tr.fixed)
    var = {v.path: v for v in model.weights}
    lowered = 0
    for path, v in var.items():  # one integer bit less wherever an activation keeps at least one bit
        if "fixed_point_quantizer_kif" in path and path.endswith("/i") and not path.startswith("embed/"):
            q = path[:-2]
            i, k, f = v.numpy(), var[q + "/k"].numpy(), var[q + "/f"].numpy()
            keep = k + i + f >= 2
            v.assign(np.where(keep, i - 1, i))
            lowered += int(keep.sum())
    assert lowered > 0
    assert _overflowing_events(model, ds.x_train) > 0
    calibrate(model, ds.x_train)
    assert _overflowing_events(model, ds.x_train) == 0
    keras.backend.clear_session()

def _run(tmp: Path, cfg: dict, name: str) -> tuple[int, dict, Path]:
    from trigformer.flow.cli import main

    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    out = tmp / name
    code = main([str(_write(tmp, cfg)), "--out", str(out), "-q"])
    return code, json.loads((out / "report.json").read_text()), out


def test_synth_hgq2_mode_linformer_bit_exact(tmp_path, capsys):
    """Built, trained (1 epoch), traced: HGQ2 Keras == trace == Verilator as integers (data and out-of-range
    events); with hls.multipliers lut no product is left for a DSP48E2; the trained model is saved as an HGQ2 file."""
    from trigformer.models.hgq2 import is_hgq2_file

    code, r, out = _run(tmp_path, _cfg(model__attention="linformer", model__linformer_k=2), "fw")
    assert code in (0, 4), code
    wrote = [line for line in capsys.readouterr().out.splitlines() if line.startswith("synth: wrote")]
    assert wrote == [f"synth: wrote {out} (report.json, report.html, rtl/, keras/)"]  # no HLS project: none written
    rtl = r["rtl"]
    assert rtl["trace_vs_keras"]["mismatched_values"] == 0, rtl["trace_vs_keras"]["first_mismatch"]
    c = rtl["cosim"]
    assert c.get("failed") is None and c["n_events"] == 5 * 32 + 4 and c["mismatched_values"] == 0, c
    p = rtl["products"]
    assert p["total"] > 0 and p["on_dsp"] == 0 and p["on_lut"] == p["total"]
    verilog = "".join(f.read_text() for f in (out / "rtl" / "src").glob("logic*.v"))
    assert verilog.count("multiplier_lut #(") == p["total"] and "multiplier #(" not in verilog
    assert set(r["accuracy"]) >= {"float", "fixed", "firmware"}
    assert r["training"]["fixed"]["quantization"] == "hgq2"
    assert is_hgq2_file(out / "keras" / "hgq2.keras")
    # the critical path per layer (alkaid's arrival times over the cutoff) against alkaid's own pipeliner: one row per
    # Keras layer that computes, in model order, and the last layer's output no earlier than the pipeline's end
    cp = rtl["latency"]["critical_path"]
    names = [row["name"] for row in cp["rows"]]
    assert names[0] == "embed" and names[-1] == "head" and names == [lyr["name"] for lyr in r["layers"] if lyr["name"] in names]
    assert sum(row["cycles"] for row in cp["rows"]) == cp["sum_cycles"] == max(row["at_output"] for row in cp["rows"])
    assert cp["pipeline_cycles"] == rtl["latency"]["cycles"]
    assert cp["rows"][-1]["at_output"] <= cp["pipeline_cycles"] <= cp["rows"][-1]["at_output"] + 1, cp
    assert "Critical path per layer (estimate" in (out / "report.html").read_text()
    # `synth report` re-renders the folder: the same verdict and RTL figures (an HGQ2 run has no estimate to redo)
    from trigformer.flow.cli import main

    assert main(["report", str(out)]) == code
    again = json.loads((out / "report.json").read_text())
    assert again["rtl"] == r["rtl"] and again["budget"] == r["budget"] and again["forms"] == r["forms"]


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*.v")):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_same_yaml_and_seed_same_verilog(tmp_path):
    """Deterministic: the same YAML and seed give byte-identical Verilog, training included."""
    cfg = _cfg(rtl__cosim=False)
    d = []
    for i in range(2):
        _, _, out = _run(tmp_path, cfg, f"fw{i}")
        assert len(list((out / "rtl" / "src").glob("logic*.v"))) > 3
        d.append(_digest(out / "rtl" / "src"))
    assert d[0] == d[1]


@pytest.mark.slow
def test_synth_hgq2_mode_yosys_no_dsp(tmp_path):
    """Yosys on the delivered Verilog with hls.multipliers lut: 0 DSP48E2 by Yosys's own count, LUTs counted, the
    timing proxy's depth per stage reported."""
    code, r, _ = _run(tmp_path, _cfg(rtl__yosys="auto", rtl__cosim=False), "fw")
    res = r["forms"]["rtl"]["resources"]
    assert res["source"] == "yosys" and res["DSP"] == 0 and res["LUT"] > 0
    t = r["rtl"]["timing"]
    assert t["worst"]["lut_levels"] > 0 and len(t["stages"]) == len(r["rtl"]["resources"]["per_stage"])
