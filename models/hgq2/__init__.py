"""HGQ2 models (hgq2, `import hgq`, Keras 3): recognised, loaded without running any code of the file, traced by
alkaid's HGQ2 plugin and checked bit-exact against HGQ2's own Keras inference.

An HGQ2 model is not mapped onto trigformer's layers (models/byom): its quantizers are per element (heterogeneous
bit widths, learnt), which trigformer's one-type-per-layer specs, emulator and HLS kernels cannot express. Its
firmware is the alkaid trace of its II = 1 form (check.py), written as pipelined Verilog by alkaid, co-simulated by
Verilator and counted by Yosys (rtl.py); flow/hgq2.py runs that as `synth`'s stages and writes the report.
"""

from __future__ import annotations

from pathlib import Path

HGQ_MODULE = "hgq"


def _layer_modules(config) -> set[str]:
    model_cfg = config.get("config") if isinstance(config, dict) else None
    layers = model_cfg.get("layers") if isinstance(model_cfg, dict) else None
    return {str(lyr.get("module") or "") for lyr in layers or [] if isinstance(lyr, dict)}


def is_hgq2_file(path: Path) -> bool:
    """A .keras file whose saved config names an HGQ2 layer (read from config.json only; nothing is loaded)."""
    from trigformer.models.byom.loading import _saved_configs

    path = Path(path)
    if path.suffix.lower() != ".keras" or not path.is_file():
        return False
    try:
        configs = _saved_configs(path) or []
    except Exception:  # noqa: BLE001 -- unreadable: not recognised here, the ordinary loader names the problem
        return False
    return any(m.split(".")[0] == HGQ_MODULE for config, _ in configs for m in _layer_modules(config))


def is_hgq2_model(model) -> bool:
    """A Keras model object with at least one HGQ2 layer."""
    return any(type(layer).__module__.split(".")[0] == HGQ_MODULE for layer in getattr(model, "layers", []))


def hgq_classes() -> frozenset[str]:
    """The layer classes HGQ2 registers (hgq.layers), the only non-Keras layers an HGQ2 file may name."""
    import hgq.layers

    return frozenset(n for n in dir(hgq.layers) if n.startswith("Q") and isinstance(getattr(hgq.layers, n), type))


def load_hgq2(path: Path):
    """The model of an HGQ2 .keras file: its config inspected first (models/byom/loading.py, with HGQ2's modules
    and layer classes allowed; a Lambda or any entry carrying code is refused), then Keras' safe_mode load."""
    import keras

    from trigformer.models.byom.loading import ModelFileError, check_finite_weights, inspect_model_file

    path = Path(path)
    inspect_model_file(path, extra_modules=(HGQ_MODULE,), extra_classes=hgq_classes())
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # a corrupt archive, a class HGQ2 0.2.0 does not know, ...
        msg = " ".join(str(e).split())
        raise ModelFileError(f"{path}: cannot load it as an HGQ2 model ({type(e).__name__}: {msg[:400]})") from None
    check_finite_weights(model, str(path))
    return model


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("hgq2", "alkaid", "keras")}


__all__ = ["is_hgq2_file", "is_hgq2_model", "load_hgq2", "hgq_classes", "versions"]
