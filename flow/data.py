"""Stage: the data section -> train/test jets, scaled by the input power-of-two the firmware expects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigformer.flow.config import Config, resolve_data_paths


@dataclass
class Data:
    ds: object  # models.data.Dataset, features already scaled
    scaling: dict  # report.json["input_scaling"]


def prepare(cfg: Config, cfg_path: Path, progress: bool, trained_model: bool = False) -> Data:
    """`trained_model`: the model comes trained (model.file): `auto` input scaling is then 0 (see below)."""
    from trigformer.models.data import build_dataset

    d = cfg.data
    paths = resolve_data_paths(cfg, cfg_path) if d.source == "hls4ml_jets" else None
    ds = build_dataset(d.source, paths, d.n_particles, d.features, d.n_train, d.n_test, cfg.seed, progress=progress)
    return Data(ds, apply_input_scaling(cfg, ds, trained_model))


def apply_input_scaling(cfg: Config, ds, trained_model: bool = False) -> dict:
    """Multiply every feature by its power of two (in place); the firmware expects the scaled words.
    A trained model file learnt on the features as they are, so `auto` is 0 for it: scaling would change what the
    model computes (its integer input bits are calibrated instead, input_int_bits: auto)."""
    from trigformer.models.quant import QuantTypes, input_scale_log2

    k = cfg.quantization.input_scale_log2
    if k == "auto" and trained_model:
        ks = np.zeros(len(cfg.data.features), dtype=np.int64)
        return {"log2": [0] * len(ks), "features": list(cfg.data.features),
                "input_type": _input_type(cfg), "method": "auto with a trained model file: 0 (the model was trained "
                                                          "on the features as they are)",
                "firmware_input": "feature * 2**log2 (a binary-point shift upstream)"}
    if k == "auto":
        ks = input_scale_log2(ds.x_train, QuantTypes.from_config(cfg.quantization).input_t)
        method = "auto: 99.9 % quantile of |feature| (training set, non-zero) placed inside the input type"
    else:
        ks = np.array(k if isinstance(k, list) else [k] * len(cfg.data.features), dtype=np.int64)
        method = "from model.yaml"
    factor = (2.0 ** ks).astype(np.float32)
    ds.x_train *= factor
    ds.x_test *= factor
    return {"log2": [int(v) for v in ks], "features": list(cfg.data.features), "input_type": _input_type(cfg),
            "method": method, "firmware_input": "feature * 2**log2 (a binary-point shift upstream)"}


def _input_type(cfg: Config) -> str:
    from trigformer.models.fixed import FixedType

    i = cfg.quantization.input_int_bits
    return FixedType.from_qkeras(cfg.quantization.input_bits, i).ap_type if i != "auto" else \
        f"ap_fixed<{cfg.quantization.input_bits}, auto>"
