"""The glue around trigformer's ops, computed by hls4ml's own layers (no header of ours): the model input (a cast
to input_t), QActivation (a cast, or a ReLU cast), the residual Add (hls4ml's Merge) and Flatten (hls4ml's Reshape:
in io_parallel a renaming of the same array, no C++ call). spec.py: the add's integer arithmetic; cost.py: the
estimate; trace.py: the RTL. Dense is models/ops/dense."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import activation_quantizer, float_for, next_layers, quantizer_type
from trigformer.models.ops.glue.spec import add_raw


class Input(OpDef):
    kind = "input"
    keras_classes = ("InputLayer",)
    byom = {}  # models/byom.py reads the model inputs itself
    graph_input = True
    hls_classes = ("Input",)

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        return {layer.name: {"result": qt.input_t}}

    @staticmethod
    def run(node, ins, in_t):
        x = ins[0]  # the testbench feeds floats; ap_fixed rounds them
        return node.out_t.quantize(x.reshape(len(x), -1)).astype(float_for(node.out_t.width))

    @staticmethod
    def trace(node, ins, in_t):
        return np.asarray(ins[0], dtype=object)  # the RTL's inputs are already raw input_t words

    @staticmethod
    def cost(layer, path, res):
        return 1, False, 0


class Cast(OpDef):
    """QActivation with quantized_bits (and hls4ml's linear activation): a cast to the result type."""

    kind = "cast"
    elementwise = True
    cost_kind = "activation"
    keras_classes = ("QActivation",)
    byom = {"QActivation": "_qactivation"}
    hls_classes = ("Activation",)

    @classmethod
    def matches_hls(cls, layer) -> bool:
        return layer.class_name == "Activation" and layer.get_attr("activation") == "linear"

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        return {layer.name: {"result": quantizer_type(activation_quantizer(layer))}}

    @staticmethod
    def run(node, ins, in_t):
        return node.out_t.cast_any(ins[0], in_t[0].frac)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.glue.trace import cast_trace

        return cast_trace(node, ins, in_t)

    @classmethod
    def describe(cls, layer) -> dict:
        return {"activation": layer.get_attr("activation")}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.glue.cost import activation

        return activation(layer, path, res)


class Relu(Cast):
    kind = "relu"
    elementwise = True
    keras_classes = ()  # a QActivation with quantized_relu is planned by Cast
    byom = {"Activation": "_activation", "ReLU": "_activation"}  # relu, linear (softmax: Softmax)

    @classmethod
    def matches_hls(cls, layer) -> bool:
        return layer.class_name == "Activation" and layer.get_attr("activation") == "relu"

    @staticmethod
    def run(node, ins, in_t):
        return node.out_t.cast_any(np.maximum(ins[0], 0), in_t[0].frac, inplace=True)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.glue.trace import relu_trace

        return relu_trace(node, ins, in_t)


class Add(OpDef):
    kind = "add"
    elementwise = True
    keras_classes = ("Add",)
    byom = {"Add": "_add"}
    hls_classes = ("Merge",)

    @classmethod
    def matches_hls(cls, layer) -> bool:
        if layer.class_name != "Merge":
            return False
        if layer.get_attr("op") != "add":
            raise NotImplementedError(f"merge op {layer.get_attr('op')} ({layer.name})")
        return True

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        # one rounding, as in Keras: straight to the type of the QActivation that follows (quantized_bits), else
        # the activation type
        nxt = next_layers(model, layer)
        q = activation_quantizer(nxt[0]) if len(nxt) == 1 else None
        res = quantizer_type(q) if q is not None and type(q).__name__ == "quantized_bits" else qt.act_t
        return {layer.name: {"result": res}}

    @staticmethod
    def run(node, ins, in_t):
        return add_raw(ins, in_t, node.out_t)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.glue.trace import add_trace

        return add_trace(node, ins, in_t)

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.glue.cost import add

        return add(layer, path, res)


class Flatten(OpDef):
    """[tokens, features] -> [tokens * features] before a Dense: the same values in the same (row-major) order."""

    kind = "flatten"
    keras_classes = ("Flatten",)
    byom = {"Flatten": "_flatten"}
    hls_classes = ("Reshape",)

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        return {layer.name: {"result": in_types[0]}}

    @staticmethod
    def run(node, ins, in_t):
        return ins[0]  # raws are [events, values] already

    @staticmethod
    def trace(node, ins, in_t):
        return np.asarray(ins[0], dtype=object).ravel()  # wiring only

    @staticmethod
    def cost(layer, path, res):
        return 1, False, 0  # wiring only
