"""`synth`: model.yaml -> data -> trained QKeras Transformer -> HLS project -> csim + emulator -> report.

Everything is built in a temporary sibling folder and moved into place at the end, so an interrupted run never
leaves a half project that looks done, and an existing output folder is only replaced with `force`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flow.config import Config, ConfigError, load_config, resolve_data_paths

class UsageError(Exception):
    """Bad request (exit 2, nothing written)."""


@dataclass
class Options:
    config: Path
    part: str | None = None
    out: Path | None = None
    force: bool = False
    weights: Path | None = None
    epochs: int | None = None
    csim: bool = True
    backend: str | None = None
    clock: float | None = None
    vendor_synth: bool = False
    cosim: bool = False
    vsynth: bool = False
    progress: bool = True
    extra_overrides: dict = field(default_factory=dict)


@dataclass
class Result:
    report: dict
    out_dir: Path
    messages: list[str] = field(default_factory=list)


def load(opts: Options) -> Config:
    overrides = dict(opts.extra_overrides)
    for key, val in (("hls.part", opts.part), ("hls.backend", opts.backend), ("hls.clock_period_ns", opts.clock),
                     ("training.epochs", opts.epochs)):
        if val is not None:
            overrides[key] = val
    return load_config(opts.config, overrides)


def output_dir(cfg: Config, opts: Options) -> Path:
    return Path(opts.out) if opts.out else Path("firmware") / cfg.name


def synth(opts: Options) -> Result:
    """The whole flow. Raises ConfigError/UsageError (exit 2) before writing anything."""
    cfg = load(opts)
    out = output_dir(cfg, opts)
    if out.exists() and not opts.force:
        raise UsageError(f"output folder {out} exists; pass --force to replace it (nothing was changed)")
    if opts.weights is not None and not Path(opts.weights).exists():
        raise UsageError(f"--weights {opts.weights}: no such file or folder")
    if opts.vendor_synth or opts.cosim or opts.vsynth:
        from flow.vendor import missing_tool_message

        why = missing_tool_message(cfg.hls.backend, opts.vsynth)
        if why:
            raise UsageError(f"--synth/--cosim/--vsynth: {why} Without them synth still C-simulates, emulates and "
                             "reports the labelled estimate.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        result = _run(cfg, opts, tmp)
        from flow.verify import finalize

        finalize(tmp, out)
        _replace_dir(tmp, out)
        result.out_dir = out
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(new: Path, dest: Path) -> None:
    """Move `new` to `dest`; an existing `dest` is swapped out first and removed after the move succeeded."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        os.replace(dest, old)
    os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _run(cfg: Config, opts: Options, work: Path) -> Result:
    from flow import train as tr
    from models.builder import build_model, snap_to_grid
    from models.data import build_dataset

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data_path = resolve_data_paths(cfg, Path(opts.config)) if cfg.data.source == "hls4ml_jets" else None
    d = cfg.data
    ds = build_dataset(d.source, data_path, d.n_particles, d.features, d.n_train, d.n_test, cfg.seed,
                       progress=opts.progress)
    timings["data_s"] = round(time.perf_counter() - t0, 1)
    scaling = apply_input_scaling(cfg, ds)

    report: dict = {"name": cfg.name, "part": None, "backend": cfg.hls.backend, "seed": cfg.seed,
                    "config": json.loads(cfg.model_dump_json())}
    from flow.parts import resolve_part

    part_full, _ = resolve_part(cfg.hls.part)
    report["part"] = part_full
    report["input_scaling"] = scaling

    keras_dir = work / "keras"
    keras_dir.mkdir()
    tr.seed_everything(cfg.seed)  # initial weights come from the seed too
    fixed = build_model(cfg, quantized=True)
    tr.seed_everything(cfg.seed)
    floatm = build_model(cfg, quantized=False)
    training: dict = {}
    if opts.weights is not None:
        training["fixed"] = _load_weights(fixed, Path(opts.weights), "fixed")
        training["float"] = _load_weights(floatm, Path(opts.weights), "float") if _has(Path(opts.weights), "float") \
            else tr.train(floatm, ds.x_train, ds.y_train, cfg.training, cfg.seed, "float", opts.progress)
    else:
        training["float"] = tr.train(floatm, ds.x_train, ds.y_train, cfg.training, cfg.seed, "float", opts.progress)
        if cfg.training.qat_init == "float":  # float pre-training, then quantization-aware fine-tuning
            fixed.set_weights(floatm.get_weights())
        training["fixed"] = tr.train(fixed, ds.x_train, ds.y_train, cfg.training, cfg.seed, "fixed", opts.progress)
        training["fixed"]["initialized_from"] = cfg.training.qat_init
    snap_to_grid(fixed)
    fixed.save_weights(keras_dir / "fixed.weights.h5")
    floatm.save_weights(keras_dir / "float.weights.h5")
    fixed.save(keras_dir / "fixed.h5")
    floatm.save(keras_dir / "float.h5")
    report["training"] = training
    report["model"] = {"parameters": int(fixed.count_params()), "layers": [l.name for l in fixed.layers]}

    logits = {"float": floatm.predict(ds.x_test, batch_size=1024, verbose=0),
              "fixed": fixed.predict(ds.x_test, batch_size=1024, verbose=0)}
    report["accuracy"] = {"float": tr.accuracy(logits["float"], ds.y_test),
                          "fixed": tr.accuracy(logits["fixed"], ds.y_test), "n_events": int(len(ds.y_test))}

    from flow.verify import verify

    messages = verify(cfg, opts, fixed, ds, logits, part_full, work, report, timings)
    report["timings"] = timings
    report = json.loads(json.dumps(report, default=_json_default))
    from flow.reporting import complete, write_json

    complete(report, work, cfg, opts)
    write_json(report, work / "report.json")
    return Result(report, work, messages)


def apply_input_scaling(cfg: Config, ds) -> dict:
    """Multiply every feature by its power of two (in place); the firmware expects the scaled words."""
    from models.quant import QuantTypes, input_scale_log2

    qt = QuantTypes.from_config(cfg.quantization)
    k = cfg.quantization.input_scale_log2
    if k == "auto":
        ks = input_scale_log2(ds.x_train, qt.input_t)
        method = "auto: 99.9 % quantile of |feature| (training set, non-zero) placed inside the input type"
    else:
        ks = np.array(k if isinstance(k, list) else [k] * len(cfg.data.features), dtype=np.int64)
        method = "from model.yaml"
    factor = (2.0 ** ks).astype(np.float32)
    ds.x_train *= factor
    ds.x_test *= factor
    return {"log2": [int(v) for v in ks], "features": list(cfg.data.features), "input_type": qt.input_t.ap_type,
            "method": method, "firmware_input": "feature * 2**log2 (a binary-point shift upstream)"}


def _has(path: Path, which: str) -> bool:
    return path.is_dir() and (path / "keras" / f"{which}.weights.h5").exists()


def _load_weights(model, path: Path, which: str) -> dict:
    """--weights: a previous output folder (keras/<which>.weights.h5) or one weights file for the quantized model."""
    f = path / "keras" / f"{which}.weights.h5" if path.is_dir() else path
    if not f.exists():
        raise UsageError(f"--weights {path}: no {which} weights at {f}")
    try:
        model.load_weights(f)
    except Exception as e:  # shape mismatch: the weights belong to another model.yaml
        raise UsageError(f"--weights {f}: does not fit this model ({type(e).__name__}: {e})") from None
    return {"loaded_from": str(f)}


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


__all__ = ["Options", "Result", "synth", "ConfigError", "UsageError"]
