"""hls4ml's Keras 3 frontend for the layers it has no handler for: trigformer's ops and qkeras-v3's QDense/QActivation.

hls4ml 1.3.0 parses a Keras 3 model with handlers registered by subclassing `KerasV3LayerHandler`. Our layers (and
hls4ml's own QKeras layers) have one parser each in hls4ml's Keras-2 form `parse(keras_layer, input_names,
input_shapes, data_reader)`; each handler here runs that same parser on the Keras 3 layer, so both frontends build
the same ModelGraph layer (same name, class, attributes and weights) from one parser. As hls4ml's Keras-2 model
parser does, a layer that names an activation (QDense: 'linear') is followed by its own `<name>_<activation>` layer.
"""

from __future__ import annotations

import numpy as np

# hls4ml layer classes that are themselves activations (no split-off activation layer), as in hls4ml's
# keras_v2_to_hls.parse_keras_model
ACTIVATION_CLASSES = ("Activation", "LeakyReLU", "ThresholdedReLU", "ELU", "PReLU", "Softmax", "TernaryTanh",
                      "HardActivation")


class LayerReader:
    """The weights of one Keras 3 layer, found by name as hls4ml's Keras-2 model reader finds them
    (`var_name` within the weight's path `layer/var`, Keras 2's `layer/var:0`)."""

    def __init__(self, layer):
        self.layer = layer

    def get_weights_data(self, layer_name, var_name):
        if layer_name != self.layer.name:
            raise ValueError(f"parsing {self.layer.name}, the parser asked for weights of {layer_name}")
        for w in self.layer.weights:
            if var_name in w.path.split("/", 1)[-1]:  # the name below the layer's, as Keras 2's `var:0` was
                return np.asarray(w.numpy())
        return None


def _parse(keras_class: str, parser, layer, in_tensors, out_tensors) -> tuple[dict, ...]:
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers

    shapes = [[None, *t.shape[1:]] for t in in_tensors]  # batch first, as Keras 2's parser passes them
    conf, _ = parser({"class_name": keras_class, "config": layer.get_config()}, None, shapes, LayerReader(layer))
    conf["input_keras_tensor_names"] = [t.name for t in in_tensors]
    conf["output_keras_tensor_names"] = [t.name for t in out_tensors]
    act = conf.get("activation")
    if act is None or conf["class_name"] in ACTIVATION_CLASSES:
        return (conf,)
    if isinstance(act, dict) or len(out_tensors) != 1:
        raise NotImplementedError(f"{layer.name}: only a named Keras activation may follow a {keras_class}, got {act}")
    act_layer = {"class_name": "Activation", "config": {"name": f"{conf['name']}_{act}", "activation": act}}
    out_shapes = [[None, *out_tensors[0].shape[1:]]]
    act_conf, _ = get_layer_handlers()["Activation"](act_layer, None, out_shapes, None)
    between = f"{out_tensors[0].name}_{act}"
    act_conf["input_keras_tensor_names"] = [between]
    act_conf["output_keras_tensor_names"] = conf["output_keras_tensor_names"]
    conf["output_keras_tensor_names"] = [between]
    return conf, act_conf


def handler(key: str, parser):
    """A `KerasV3LayerHandler` for the Keras class `key` names (`module.Class`, or the bare class name; hls4ml looks
    the first up first) that runs the Keras-2 form `parser`; hls4ml registers it as it is created."""
    from hls4ml.converters.keras_v3._base import KerasV3LayerHandler

    keras_class = key.rsplit(".", 1)[-1]

    class Handler(KerasV3LayerHandler):
        handles = (key,)

        def handle(self, layer, in_tensors, out_tensors):
            return _parse(keras_class, parser, layer, in_tensors, out_tensors)

    Handler.__name__ = Handler.__qualname__ = f"{keras_class}Handler"
    return Handler


def qkeras_parsers() -> dict:
    """hls4ml's own parsers of the QKeras layers trigformer's models contain (hls4ml's Keras 3 frontend has no
    qkeras-v3 handler), keyed by module and class: HGQ2's QDense / QActivation keep hls4ml's HGQ2 handlers."""
    from hls4ml.converters.keras.qkeras import parse_qactivation_layer, parse_qdense_layer

    # qkeras-v3's classes by their module path (tests/test_stack.py checks it), named rather than imported: a
    # C-simulation child registers these and must not import QKeras, hence TensorFlow
    return {"qkeras.qlayers.QDense": parse_qdense_layer, "qkeras.qlayers.QActivation": parse_qactivation_layer}
