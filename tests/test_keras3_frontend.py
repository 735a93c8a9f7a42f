"""hls4ml's Keras 3 frontend (our ops' and QKeras' parsers as KerasV3LayerHandler subclasses,
hls_templates/keras_v3.py) writes the same firmware as its Keras 2 frontend did.

Reference: tests/fixtures/keras2_firmware.json, the sha256 of every generated firmware file (top function, its
header, parameters.h, defines.h, weights/) of these models with these weights, written by the Keras 2 stack (TF 2.14,
QKeras 0.9, hls4ml 1.3.0) from the code before the move to Keras 3 (tests/fixtures/make_keras2_firmware.py). Same
files => the same hls4ml layers, types, configs and weights, so csim == emulator carries over bit for bit. A change
of the generated C++ itself (a template or an op) needs the fixture remade under the Keras 2 stack, or dropped."""

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "keras2_firmware.json"
PART = "xcvu9p-flga2104-2L-e"
MODELS = {  # heads, blocks, the three norms, both poolings, relu and linear FFN, both strategies
    "k3_layernorm": dict(model=dict(embed_dim=6, num_heads=2, key_dim=3, num_blocks=1, ffn_dim=7), n=5),
    "k3_rmsnorm": dict(model=dict(embed_dim=5, num_heads=1, key_dim=3, num_blocks=2, ffn_dim=6, norm="rmsnorm",
                                  pooling="max", activation="linear"), n=4),
    "k3_dyt_resource": dict(model=dict(embed_dim=4, num_heads=2, key_dim=2, num_blocks=1, ffn_dim=5, norm="dyt"), n=4,
                            hls=dict(strategy="resource", reuse_factor=2)),
}


def write(name: str, out: Path) -> dict[str, str]:
    """Build model `name` with weights fixed by layer name (the same under any Keras), write its hls4ml project into
    `out`, return {firmware file: sha256}."""
    from trigformer.flow.config import Config
    from trigformer.flow.firmware import write_project
    from trigformer.models.builder import build_model, snap_to_grid
    from trigformer.models.data import make_synthetic

    spec = MODELS[name]
    cfg = Config.model_validate({"name": name, "seed": 5, "data": {"n_particles": spec["n"]}, "model": spec["model"],
                                 "hls": spec.get("hls", {})})
    model = build_model(cfg, quantized=True)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([np.random.default_rng(zlib.crc32(f"{layer.name}/{i}".encode())).uniform(-2, 2, w.shape)
                               .astype(w.dtype) for i, w in enumerate(ws)])
    snap_to_grid(model)
    x, _ = make_synthetic(20, cfg.data.n_particles, cfg.data.features, seed=11)
    write_project(cfg, model, PART, out, x)
    fw = out / "firmware"
    files = [fw / f"{name}.cpp", fw / f"{name}.h", fw / "parameters.h", fw / "defines.h",
             *sorted((fw / "weights").iterdir())]
    return {str(f.relative_to(fw)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras3_writes_the_keras2_firmware(name, tmp_path):
    want = json.loads(FIXTURE.read_text())[name]
    got = write(name, tmp_path / name)
    assert sorted(got) == sorted(want)
    assert [f for f in want if got[f] != want[f]] == []
