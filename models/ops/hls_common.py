"""hls4ml helpers shared by the ops' hls.py modules (imported only where hls4ml is)."""

from __future__ import annotations

import numpy as np

from models.fixed import FixedType


def base_layer(keras_layer: dict, input_names, class_name: str, **attrs) -> dict:
    layer = {"name": keras_layer["config"]["name"], "class_name": class_name}
    if input_names is not None:
        layer["inputs"] = input_names
    layer.update(attrs)
    return layer


def on_grid(data, t: FixedType) -> np.ndarray:
    """Weights as the firmware stores them: the QKeras quantizer's grid (round half to even, saturate)."""
    return t.to_float(t.quantize(np.asarray(data, dtype=np.float64)))


def attr_type(node, attr: str) -> FixedType:
    return FixedType.parse(node.get_attr(attr))


def input_type(node) -> FixedType:
    return FixedType.from_hls4ml(node.get_input_variable().type.precision)
