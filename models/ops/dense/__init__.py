"""Glue around the attention ops, computed by hls4ml's own layers: input cast, per-token Dense (QDense; hls4ml
makes it a PointwiseConv1D on tokens), activations (QActivation: a cast, or a ReLU cast), the residual Add and
Flatten (hls4ml's Reshape: in io_parallel a renaming of the same array, no C++ call).
spec.py holds their integer arithmetic, cost.py their cost model; the C++ is hls4ml's."""

from __future__ import annotations

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import dot_accum_t, float_for, raw_on_grid
from trigformer.models.ops.dense.spec import DenseSpec, add_raw, dense_raw


def quantizer_type(q) -> FixedType:
    """The ap type a QKeras quantizer rounds to (half to even, saturating)."""
    if type(q).__name__ == "quantized_relu":
        return FixedType(q.bits, q.integer, False, "RND_CONV", "SAT")
    if type(q).__name__ == "quantized_bits":
        return FixedType.from_qkeras(q.bits, q.integer, bool(q.keep_negative))
    raise ValueError(f"unsupported quantizer {q}")


def next_layers(model, layer) -> list:
    return [other for other in model.layers for node in other._inbound_nodes
            if layer in (node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers])]


class Input(OpDef):
    kind = "input"
    keras_classes = ("InputLayer",)
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


class Dense(OpDef):
    kind = "dense"
    keras_classes = ("QDense",)
    hls_classes = ("Dense", "PointwiseConv1D")
    spec_class = DenseSpec
    da_capable = True  # the classifier (hls4ml's Dense; its DA template calls the kernel models/ops/da.py writes)

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        w_t = quantizer_type(layer.kernel_quantizer_internal)
        b_t = quantizer_type(layer.bias_quantizer_internal)
        acc = dot_accum_t(in_types[0], w_t, int(layer.input_shape[-1]), b_t)
        # a single rounding, as in Keras: straight to the type of the QActivation that follows, unless it is a ReLU
        # (hls4ml applies the ReLU to the dense output, so that must still be the exact sum)
        nxt = next_layers(model, layer)
        q = getattr(nxt[0], "quantizer", None) if len(nxt) == 1 else None
        res = quantizer_type(q) if q is not None and type(q).__name__ == "quantized_bits" else acc
        # hls4ml splits off the Dense's (linear) activation as its own layer
        return {f"{layer.name}_linear": {"result": res},
                layer.name: {"result": res, "accum": acc, "weight": w_t, "bias": b_t}}

    @classmethod
    def params(cls, layer, keras_model):
        """Weights from the (snapped) Keras model by name: hls4ml's resource strategy stores some transposed. Under
        distributed arithmetic hls4ml drops the weight arrays and their types once the kernel is written: the
        types are then the Keras quantizers' (those the plan gave hls4ml)."""
        def t(name):
            return FixedType.parse(layer.types[name].precision.definition_cpp())

        k_layer = keras_model.get_layer(layer.name)
        if "weight_t" in layer.types:
            spec = DenseSpec(t("weight_t"), t("bias_t"), t("accum_t"))
        else:
            spec = DenseSpec(quantizer_type(k_layer.kernel_quantizer_internal),
                             quantizer_type(k_layer.bias_quantizer_internal), t("accum_t"))
        kernel, bias = k_layer.get_weights()
        return spec, {"w": raw_on_grid(kernel.reshape(kernel.shape[-2], kernel.shape[-1]), spec.weight_t),
                      "b": raw_on_grid(bias, spec.bias_t)}

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.dense.trace import dense_trace

        return dense_trace(node, ins, in_t)

    @classmethod
    def products(cls, spec, arrays, in_t, n_tokens):
        from trigformer.models.ops.trace_common import Product

        return [Product("", arrays["w"], spec.weight_t, arrays["b"], spec.bias_t, in_t[0], n_tokens)]

    @classmethod
    def da_products(cls, layer) -> list:
        """The classifier's product, from hls4ml's Dense before its DA template drops the weight arrays."""
        from trigformer.models.ops.hls_common import input_type

        if layer.class_name != "Dense":
            raise ValueError(f"{layer.name}: distributed arithmetic covers hls4ml's Dense, not {layer.class_name}")
        w_t, b_t, acc_t = (FixedType.from_hls4ml(layer.types[n].precision) for n in ("weight_t", "bias_t", "accum_t"))
        w = np.asarray(layer.weights["weight"].data, dtype=np.float64)
        arrays = {"w": raw_on_grid(w.reshape(-1, w.shape[-1]), w_t),
                  "b": raw_on_grid(np.ravel(layer.weights["bias"].data), b_t)}
        return cls.products(DenseSpec(w_t, b_t, acc_t), arrays, [input_type(layer)], 1)

    @classmethod
    def describe(cls, layer) -> dict:
        from trigformer.models.ops import da

        return da.describe(layer)

    @staticmethod
    def run(node, ins, in_t):
        sp, w, b = node.spec, node.arrays["w"], node.arrays["b"]
        x = ins[0].reshape(len(ins[0]), -1, w.shape[0])
        y = dense_raw(x, in_t[0], w, sp.weight_t, b, sp.bias_t, sp.accum_t, node.out_t)
        return y.reshape(len(y), -1)

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.dense.cost import dense

        return dense(layer, path, res)


class Cast(OpDef):
    """QActivation with quantized_bits (and hls4ml's linear activation): a cast to the result type."""

    kind = "cast"
    cost_kind = "activation"
    keras_classes = ("QActivation",)
    hls_classes = ("Activation",)

    @classmethod
    def matches_hls(cls, layer) -> bool:
        return layer.class_name == "Activation" and layer.get_attr("activation") == "linear"

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        return {layer.name: {"result": quantizer_type(layer.quantizer)}}

    @staticmethod
    def run(node, ins, in_t):
        return node.out_t.cast_any(ins[0], in_t[0].frac)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.dense.trace import cast_trace

        return cast_trace(node, ins, in_t)

    @classmethod
    def describe(cls, layer) -> dict:
        return {"activation": layer.get_attr("activation")}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.dense.cost import activation

        return activation(layer, path, res)


class Relu(Cast):
    kind = "relu"
    keras_classes = ()  # a QActivation with quantized_relu is planned by Cast

    @classmethod
    def matches_hls(cls, layer) -> bool:
        return layer.class_name == "Activation" and layer.get_attr("activation") == "relu"

    @staticmethod
    def run(node, ins, in_t):
        return node.out_t.cast_any(np.maximum(ins[0], 0), in_t[0].frac, inplace=True)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.dense.trace import relu_trace

        return relu_trace(node, ins, in_t)


class Add(OpDef):
    kind = "add"
    keras_classes = ("Add",)
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
        q = getattr(nxt[0], "quantizer", None) if len(nxt) == 1 else None
        res = quantizer_type(q) if q is not None and type(q).__name__ == "quantized_bits" else qt.act_t
        return {layer.name: {"result": res}}

    @staticmethod
    def run(node, ins, in_t):
        return add_raw(ins, in_t, node.out_t)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.dense.trace import add_trace

        return add_trace(node, ins, in_t)

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.dense.cost import add

        return add(layer, path, res)


class Flatten(OpDef):
    """[tokens, features] -> [tokens * features] before a Dense: the same values in the same (row-major) order."""

    kind = "flatten"
    keras_classes = ("Flatten",)
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
