"""hls4ml helpers shared by the ops' hls.py modules (imported only where hls4ml is)."""

from __future__ import annotations

import numpy as np

from trigformer.models.fixed import FixedType


def configure(node) -> None:
    """Reuse factor and strategy from the model's hls4ml configuration when the layer's own config has none
    (hls4ml's config_from_keras_model gives them per model; trigformer's flow sets them per layer), as hls4ml's
    own layers read them."""
    if node.get_attr("reuse_factor") is None:
        node.set_attr("reuse_factor", node.model.config.get_reuse_factor(node))
    if node.get_attr("strategy") is None:
        node.set_attr("strategy", node.model.config.get_strategy(node))


def base_layer(keras_layer: dict, input_names, class_name: str, **attrs) -> dict:
    layer = {"name": keras_layer["config"]["name"], "class_name": class_name}
    if input_names is not None:
        layer["inputs"] = input_names
    layer.update(attrs)
    return layer


def on_grid(data, t: FixedType) -> np.ndarray:
    """Weights as the firmware stores them: the QKeras quantizer's grid (round half to even, saturate)."""
    return t.to_float(t.quantize(np.asarray(data, dtype=np.float64)))


def read_on_grid(layer: dict, data_reader, names, t: FixedType) -> None:
    """A parser's per-feature weights (`gamma`, `beta`, ...) read from the model and put on `t`'s grid, as
    layer["<name>_data"]."""
    for name in names:
        layer[f"{name}_data"] = on_grid(data_reader.get_weights_data(layer["name"], name), t)


def add_feature_weights(node, names, tag: str, t: FixedType) -> None:
    """The weight variables of read_on_grid's arrays: C++ names `<initial><tag><index>` (gn3, bn3, ...), type `t`."""
    for name in names:
        var = f"{name[0]}{tag}{{index}}"
        node.add_weights_variable(name=name, var_name=var, type_name=f"{var}_t", precision=t.to_hls4ml(),
                                  data=node.get_attr(f"{name}_data"))


def attr_type(node, attr: str) -> FixedType:
    return FixedType.parse(node.get_attr(attr))


def input_type(node) -> FixedType:
    return FixedType.from_hls4ml(node.get_input_variable().type.precision)


def set_internal_types(node, types: dict) -> None:
    """Make the op's internal types hls4ml type attributes (`<name>_t`: in node.types, defines.h and the written
    config). The spec is the source of truth: a precision the configuration gives for one of them must be the same
    type (flow.convert plans them from the same spec), and a missing one is taken from the spec."""
    from hls4ml.model.types import NamedType

    for name, t in types.items():
        key = f"{node.name.lower()}_{name}"
        given = node.model.config.layer_name_precision.get(key)
        if given is not None:
            got = FixedType.from_hls4ml(node.model.config.backend.convert_precision_string(given))
            if got != t:
                raise ValueError(f"{node.name}: configured {name} precision {got} differs from the op's {t}")
        node.set_attr(f"{name}_t", NamedType(f"{key}_t", t.to_hls4ml()))


def ctype(node, name: str) -> str:
    """The C++ name of one of the node's types (`weight_t`, `dot_t`, ...)."""
    return node.types[name].name


def replicated(table, copies: int):
    """`copies` consecutive copies of a table: one ROM per copy once the array is block-partitioned."""
    import numpy as np

    return np.tile(np.asarray(table), copies)


def multipliers(node) -> str:
    """hls.multipliers of the model (flow/convert.py puts it in the hls4ml config's Model section)."""
    cfg = getattr(node.model.config, "config", {}) or {}
    return ((cfg.get("HLSConfig") or {}).get("Model") or {}).get("Multipliers", "auto")


def mul_impl(node, a: FixedType, b: FixedType) -> str:
    """The C++ binding (nnet_tf_common.h tf_mult) of a variable product of types a x b under hls.multipliers: the
    rule the RTL and the estimate use (models/ops/costmodel.py var_on_dsp)."""
    from trigformer.models.ops.costmodel import var_on_dsp

    return "nnet::tf_mult::" + ("dsp" if var_on_dsp(a.width, b.width, multipliers(node)) else "fabric")
