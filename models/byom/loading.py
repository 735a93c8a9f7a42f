"""Loading a model file, after inspecting its saved config so that no code of the file ever runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trigformer.models.byom.classes import HANDLED, NEAREST, unsupported_message
from trigformer.models.byom.errors import ModelFileError  # noqa: F401 (raised here, re-exported)


def load_model_file(path: Path):
    """A Keras 3 model of a .keras file or an .h5 Keras 3 wrote (Keras 3's loader, safe_mode=True), or of a legacy
    Keras-2 .h5 file or SavedModel folder (config and weights read directly: byom.legacy), with trigformer's and
    QKeras' layers known; never compiled."""
    path = Path(path)
    inspect_model_file(path)  # before Keras deserializes anything: no code of the file ever runs
    from trigformer.models.byom.legacy import is_legacy, load_legacy

    if is_legacy(path):
        return load_legacy(path)
    import keras

    from trigformer.models.builder import custom_objects

    try:
        return keras.saving.load_model(path, custom_objects=custom_objects(), compile=False, safe_mode=True)
    except Exception as e:  # unknown custom layers, a corrupt file, ...
        msg = " ".join(str(e).split())
        if "Could not locate class" in msg or "Unknown layer" in msg:
            msg = msg.split(". Make sure")[0].split(". Please ensure")[0] + " (custom layers are not supported: " \
                  "build the model from the supported Keras/QKeras layers, see the README)"
        raise ModelFileError(f"{path}: cannot load it as a Keras model ({type(e).__name__}: {msg[:400]})") from None



def check_finite_weights(model, source: str) -> None:
    """NaN or inf in a weight would reach the firmware's tables and calibration (which reads NaN as 0): refused."""
    for layer in model.layers:
        for w in layer.weights:
            a = np.asarray(w.numpy())
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                bad = "NaN" if np.isnan(a).any() else "inf"
                raise ModelFileError(f"{source}: layer {layer.name!r}: weight {w.path!r} holds {bad} "
                                     f"({int((~np.isfinite(a)).sum())} of {a.size} values); a trained model's "
                                     "weights are finite")


# Model files are inspected before anything is deserialized: Keras 2 ran a Lambda's marshalled bytecode while loading
# an .h5 or a SavedModel (only .keras has a safe mode), and trigformer rebuilds a legacy file from its config. Entries
# that carry code (a function, its module) are refused.
CODE_KEYS = ("function", "function_type", "output_shape_type", "output_shape_module")
# Keras 3's wrappers of foreign code count too: a pickled torch module, JAX/Flax functions, a SavedModel loaded from a
# path the config names
CODE_CLASSES = ("Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer")
# modules whose objects a config may name (the "module" entries Keras writes for its initializers and layers; "models":
# trigformer's layers in files saved before they moved under the trigformer namespace)
SAFE_MODULES = ("keras", "tf_keras", "tensorflow", "qkeras", "trigformer", "models", "builtins")


def inspect_model_file(path: Path, extra_modules: tuple = (), extra_classes: frozenset = frozenset()) -> None:
    """Refuse (ModelFileError, naming the file and the layer) a Lambda, any entry that carries code, and any layer
    class that is neither Keras' own, QKeras' nor trigformer's, reading only the saved config: the `model_config`
    attribute of an .h5 (h5py), keras_metadata.pb of a SavedModel folder, config.json of a .keras archive.
    `extra_modules` / `extra_classes`: a library's modules and layer classes also allowed (models/hgq2: HGQ2's)."""
    configs = _saved_configs(path)
    if configs is None:
        return  # no config to read (a weights-only .h5, not a zip): Keras's own load refuses it without running code
    for config, layers in configs:
        _refuse_code(path, config, layers, tuple(extra_modules), frozenset(extra_classes))


def _saved_configs(path: Path) -> list[tuple[object, bool]] | None:
    """(config, whether it describes layers) of each saved object: a SavedModel also keeps its metrics (`loss`,
    `accuracy`: Keras' Mean objects, walked for code but no layers)."""
    if path.is_dir():
        meta = path / "keras_metadata.pb"
        if not meta.is_file():
            raise ModelFileError(f"{path}: a SavedModel folder without keras_metadata.pb (not saved by Keras' "
                                 "model.save): its layers cannot be inspected before loading, so it is not loaded; "
                                 "save the model as .keras or .h5")
        from trigformer.models.byom.legacy import saved_metadata

        try:
            m = saved_metadata(meta)
            return [(json.loads(n.metadata), n.identifier != "_tf_keras_metric") for n in m.nodes if n.metadata]
        except (Exception, RecursionError) as e:
            raise ModelFileError(f"{meta}: cannot read it ({type(e).__name__}); it is not loaded") from None
    try:
        if path.suffix.lower() == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
        else:
            import zipfile

            with zipfile.ZipFile(path) as z:
                raw = z.read("config.json")
    except Exception:
        return None
    if raw is None:
        return None
    try:
        return [(json.loads(raw.decode() if isinstance(raw, bytes) else raw), True)]
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path}: its saved model config is not JSON (or nests too deep); it is not loaded") \
            from None


def _keras_class(cls: str) -> bool:
    """A layer class Keras 3 defines, or one Keras 2 defined under the name legacy files carry."""
    import keras

    return hasattr(keras.layers, cls) or cls in ("Functional", "Sequential", "Model")


def _refuse_code(path: Path, config, has_layers: bool = True, extra_modules: tuple = (),
                 extra_classes: frozenset = frozenset()) -> None:
    from trigformer.models.builder import custom_objects

    known = set(custom_objects()) | HANDLED | set(extra_classes)

    def walk(node, layer: str | None, depth: int = 0):
        if depth > 64:
            raise ModelFileError(f"{path}: its saved config nests deeper than 64 levels; it is not loaded")
        if isinstance(node, list):
            for item in node:
                walk(item, layer, depth + 1)
            return
        if not isinstance(node, dict):
            return
        cls = node.get("class_name")
        cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
        name = cfg.get("name", node.get("name"))
        if isinstance(cls, str) and isinstance(name, str):  # a layer (or an object inside one): name the layer
            layer = layer if layer and cls not in known and not _keras_class(cls) else f"{name!r} ({cls})"
        if cls in CODE_CLASSES:
            raise ModelFileError(f"{path}: layer {layer or repr(name)} carries Python code (or loads it), and a model "
                                 "file's code is never run, so the file is not loaded; nearest supported: "
                                 f"{NEAREST.get(cls, 'a Keras layer of the supported table')}")
        code = [k for k in CODE_KEYS if node.get(k) is not None]
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] not in SAFE_MODULES + extra_modules:
            code.append(f"module {module!r}")
        if code:
            raise ModelFileError(f"{path}: layer {layer or '?'}: its config carries code ({', '.join(code)}), and a "
                                 "model file's code is never run, so the file is not loaded")
        for v in node.values():
            walk(v, layer, depth + 1)

    if isinstance(config, dict):  # load_model(compile=False) never deserializes the loss, metrics and optimizer
        config = {k: v for k, v in config.items() if k != "compile_config"}
    walk(config, None)
    if not has_layers:
        return
    # every layer is a class Keras, QKeras or trigformer defines: anything else is a custom layer (its code is the
    # user's), refused before Keras looks it up
    model_cfg = config.get("config") if isinstance(config, dict) else None
    layers = model_cfg.get("layers") if isinstance(model_cfg, dict) else None
    if isinstance(config, dict) and "class_name" in config and not isinstance(layers, list):
        layers = [config] if config.get("class_name") not in ("Functional", "Sequential", "Model") else []
    bad = [(lyr.get("config", {}).get("name", "?"), lyr.get("class_name")) for lyr in layers or []
           if isinstance(lyr, dict) and isinstance(lyr.get("class_name"), str)
           and lyr["class_name"] not in known and not _keras_class(lyr["class_name"])]
    if bad:
        n, cls = bad[0]
        raise ModelFileError(f"{path}: " + unsupported_message(
            n, cls, "a custom layer: trigformer does not load user code",
            "build the model from the supported Keras/QKeras layers (see the README)"))
