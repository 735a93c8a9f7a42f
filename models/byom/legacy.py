"""Legacy model files (Keras 2 / QKeras 0.9, TensorFlow <= 2.15): an .h5 file or a SavedModel folder, read as config
and weights and rebuilt as a Keras 3 model of the same layers.

Why not Keras 3's own readers: Keras 3 does not read SavedModel folders at all, and its .h5 reader cannot call a
Keras-2 MultiHeadAttention (Keras 2 saved the key/value tensors as call kwargs, `{"value": ["embed", 0, 0]}`, which
Keras 3's legacy node reader passes on as plain lists). So trigformer reads, after byom.loading inspected the config
(no code of the file ever runs):
  - the functional config: an .h5's `model_config` attribute (h5py), or the root object of a SavedModel's
    keras_metadata.pb (the SavedMetadata protobuf, parsed with tf_keras' generated message class);
  - each layer from its config with Keras 3's reader of Keras-2 layer configs (QKeras-0.9 layers and quantizers
    become qkeras-v3's, which reads their configs unchanged), then called on its inbound tensors as the config says;
  - the weights by name: an .h5's `model_weights/<layer>` datasets (h5py), or a SavedModel's variables checkpoint
    (tf.train.load_checkpoint: `layer_with_weights-<i>/<attribute path>/.ATTRIBUTES/VARIABLE_VALUE`, the i-th layer
    of the config that holds weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trigformer.models.byom.errors import ModelFileError

# Keras-2 MultiHeadAttention's config keys that Keras 3 takes from the call instead
_MHA_BUILD_KEYS = ("query_shape", "key_shape", "value_shape")


def is_legacy(path: Path) -> bool:
    """A SavedModel folder, or an .h5 / .hdf5 file written by Keras 2 (Keras 3 writes .keras, and reads the .h5
    files it wrote itself)."""
    path = Path(path)
    if path.is_dir():
        return True
    if path.suffix.lower() not in (".h5", ".hdf5"):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version", b"")
    except Exception:
        return True  # not HDF5: the legacy reader names the file
    version = version.decode() if isinstance(version, bytes) else str(version)
    return not version.startswith("3.")


def saved_metadata(meta: Path):
    """The SavedMetadata protobuf of a SavedModel's keras_metadata.pb."""
    from tf_keras.protobuf import saved_metadata_pb2  # the message class (Keras 3 no longer ships it)

    m = saved_metadata_pb2.SavedMetadata()
    m.ParseFromString(meta.read_bytes())
    return m


def legacy_config(path: Path) -> dict:
    """The saved {"class_name": "Functional" | "Sequential", "config": {...}} of an .h5 or a SavedModel folder."""
    path = Path(path)
    if path.is_dir():
        root = next((n for n in saved_metadata(path / "keras_metadata.pb").nodes if n.node_path == "root"), None)
        meta = json.loads(root.metadata) if root is not None and root.metadata else {}
        if "class_name" not in meta or "config" not in meta:
            raise ModelFileError(f"{path}: keras_metadata.pb holds no model (a SavedModel of a single layer?)")
        return {"class_name": meta["class_name"], "config": meta["config"]}
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        raise ModelFileError(f"{path}: an .h5 without a model config (saved with save_weights?): save the model with "
                             "model.save")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _untuple(node):
    """SavedModel metadata writes tuples as {"class_name": "__tuple__", "items": [...]}: plain lists."""
    if isinstance(node, dict):
        if node.get("class_name") == "__tuple__" and "items" in node:
            return [_untuple(v) for v in node["items"]]
        return {k: _untuple(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_untuple(v) for v in node]
    return node


def load_legacy(path: Path):
    """The Keras 3 model of a legacy .h5 / SavedModel file (inspected by the caller), with its saved weights."""
    path = Path(path)
    try:
        model, order = _rebuild(_untuple(legacy_config(path)), path)
    except ModelFileError:
        raise
    except Exception as e:  # a config Keras 3 cannot read
        msg = " ".join(str(e).split())[:400]
        raise ModelFileError(f"{path}: cannot rebuild it as a Keras 3 model ({type(e).__name__}: {msg})") from None
    try:
        (_weights_from_checkpoint if path.is_dir() else _weights_from_h5)(model, order, path)
    except ModelFileError:
        raise
    except Exception as e:
        msg = " ".join(str(e).split())[:400]
        raise ModelFileError(f"{path}: cannot read its weights ({type(e).__name__}: {msg})") from None
    return model


def _layer(cfg: dict, path: Path):
    """One layer of the config, with Keras 3's reader of Keras-2 layer configs."""
    from keras.src.legacy.saving import serialization

    from trigformer.models.builder import custom_objects

    cls = cfg.get("class_name")
    if cls in ("Functional", "Sequential", "Model"):
        from trigformer.models.byom.classes import unsupported_message

        raise ModelFileError(f"{path}: " + unsupported_message(cfg.get("config", {}).get("name", "?"), cls,
                                                               "a model nested in the model"))
    c = dict(cfg.get("config", {}))
    if cls == "MultiHeadAttention":
        for k in _MHA_BUILD_KEYS:
            c.pop(k, None)
    import keras

    return serialization.deserialize_keras_object({"class_name": cls, "config": c},
                                                  module_objects=vars(keras.layers),
                                                  custom_objects=custom_objects(), printable_module_name="layer")


def _rebuild(config: dict, path: Path):
    """(Keras 3 model, [layer names in the config's order]) of a Keras-2 Functional or Sequential config."""
    import keras

    cls, cfg = config.get("class_name"), config.get("config", {})
    layers_cfg = cfg.get("layers", [])
    order = [lc.get("config", {}).get("name", lc.get("name")) for lc in layers_cfg]
    if cls == "Sequential":
        first = layers_cfg[0] if layers_cfg else {}
        shape = first.get("config", {}).get("batch_input_shape")
        if shape is None:
            raise ModelFileError(f"{path}: a Sequential model without an input shape")
        x = inp = keras.Input(tuple(shape[1:]), name=first["config"].get("name") if first.get("class_name") ==
                              "InputLayer" else None)
        for lc in layers_cfg:
            if lc.get("class_name") == "InputLayer":
                continue
            x = _layer(lc, path)(x)
        return keras.Model(inp, x, name=cfg.get("name")), order
    if cls not in ("Functional", "Model"):
        raise ModelFileError(f"{path}: the saved model is a {cls!r}, not a functional or Sequential Keras model")
    outputs: dict[str, list] = {}  # layer name -> output tensors of each of its calls

    def tensor(ref):
        name, node_index, tensor_index = ref[0], ref[1], ref[2]
        out = outputs[name][node_index]
        return out[tensor_index] if isinstance(out, (list, tuple)) else out

    def is_ref(v):
        return isinstance(v, list) and len(v) >= 3 and isinstance(v[0], str) and v[0] in outputs

    for lc in layers_cfg:
        name = lc.get("config", {}).get("name", lc.get("name"))
        if lc.get("class_name") == "InputLayer":
            c = lc["config"]
            shape = c.get("batch_input_shape", c.get("batch_shape"))
            outputs[name] = [keras.Input(batch_shape=tuple(shape), dtype=c.get("dtype", "float32"), name=name)]
            continue
        layer = _layer(lc, path)
        outputs[name] = []
        for node in lc.get("inbound_nodes", []):
            if isinstance(node, dict):  # Keras 3's own node format (an .h5 written by Keras 3)
                raise ModelFileError(f"{path}: written by Keras 3: save it as .keras")
            args = [tensor(ref) for ref in node]
            kwargs = {k: tensor(v) if is_ref(v) else v for k, v in (node[0][3] if len(node[0]) > 3 else {}).items()}
            outputs[name].append(layer(args[0] if len(args) == 1 else args, **kwargs))
    ins = [tensor(r) for r in cfg["input_layers"]]
    outs = [tensor(r) for r in cfg["output_layers"]]
    return keras.Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0],
                       name=cfg.get("name")), order


def _assign(path: Path, layer, weights: list, arrays: list, names: list[str]) -> None:
    if len(weights) != len(arrays):
        raise ModelFileError(f"{path}: layer {layer.name!r} has {len(arrays)} saved weights, its Keras 3 layer "
                             f"{len(weights)}")
    for w, a, n in zip(weights, arrays, names):
        if tuple(w.shape) != tuple(a.shape):
            raise ModelFileError(f"{path}: layer {layer.name!r}: weight {n!r} has shape {tuple(a.shape)}, its Keras 3 "
                                 f"layer {tuple(w.shape)}")
        w.assign(np.asarray(a, dtype=w.dtype))


def _weights_from_h5(model, order: list[str], path: Path) -> None:
    """Each layer's weights from `model_weights/<layer>` of the .h5, matched by their saved names."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        for layer in model.layers:
            if not layer.weights:
                continue
            g = group[layer.name]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
            saved = {n.split(":")[0]: np.asarray(g[n]) for n in names}
            # Keras 2 and Keras 3 name a layer's weights alike (mha/query/kernel); the order is the fallback
            paths = [w.path for w in layer.weights]
            if set(paths) == set(saved):
                arrays, used = [saved[p] for p in paths], paths
            else:
                arrays, used = [np.asarray(g[n]) for n in names], names
            _assign(path, layer, layer.weights, arrays, used)


def _weights_from_checkpoint(model, order: list[str], path: Path) -> None:
    """Each layer's weights from the SavedModel's checkpoint: the i-th layer with weights (in the config's order) is
    `layer_with_weights-<i>`; below it the attribute path (kernel, _query_dense/kernel, ...) names the weight."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    keys = [k for k in reader.get_variable_to_shape_map() if k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")]
    by_name = {layer.name: layer for layer in model.layers}
    with_weights = [by_name[n] for n in order if n in by_name and by_name[n].weights]
    for i, layer in enumerate(with_weights):
        prefix = f"layer_with_weights-{i}/"
        mine = sorted(k for k in keys if k.startswith(prefix))
        weights, arrays, names = [], [], []
        for k in mine:
            attrs = k[len(prefix):-len("/.ATTRIBUTES/VARIABLE_VALUE")].split("/")
            obj = layer
            for a in attrs:
                obj = getattr(obj, a, None)
            if obj is None or not hasattr(obj, "assign"):
                raise ModelFileError(f"{path}: layer {layer.name!r}: the checkpoint's {'/'.join(attrs)!r} is no "
                                     "weight of its Keras 3 layer")
            weights.append(obj)
            arrays.append(reader.get_tensor(k))
            names.append("/".join(attrs))
        if {id(w) for w in weights} != {id(w) for w in layer.weights}:
            raise ModelFileError(f"{path}: layer {layer.name!r}: the checkpoint holds {len(mine)} of its "
                                 f"{len(layer.weights)} weights")
        _assign(path, layer, weights, arrays, names)
