"""Dense (QDense; per token hls4ml makes it a PointwiseConv1D), computed by hls4ml's own layer: spec.py (integer
arithmetic), cost.py (estimate), trace.py (RTL); the C++ is hls4ml's. The other glue (input, casts, ReLU, residual
Add, Flatten) is models/ops/glue."""

from __future__ import annotations

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import (activation_quantizer, dot_accum_t, input_shape, next_layers, quantizer_type,
                                          raw_on_grid)
from trigformer.models.ops.dense.spec import DenseSpec, dense_raw


def hls_dense_reuse(backend: str, n_in: int, n_out: int, requested: int) -> tuple[int, str | None]:
    """The reuse factor hls4ml's own Dense gets: hls4ml accepts only some values for an n_in x n_out layer (its
    FPGABackend.get_valid_reuse_factors); the closest one is used, and the note says why (None if unchanged)."""
    import hls4ml

    be = hls4ml.backends.get_backend(backend)
    valid = be.get_valid_reuse_factors(n_in, n_out)
    used = requested if requested in valid else be.get_closest_reuse_factor(valid, requested)
    if used == requested:
        return used, None
    shown = ", ".join(map(str, valid[:12])) + (", ..." if len(valid) > 12 else "")
    return used, (f"requested {requested}; hls4ml's Dense accepts only {shown} for {n_in}x{n_out}: the closest, "
                  f"{used}, is used")



class Dense(OpDef):
    kind = "dense"
    keras_classes = ("QDense",)
    byom = {"Dense": "_dense", "EinsumDense": "_dense", "QDense": "_dense"}  # stock Dense of any rank
    hls_classes = ("Dense", "PointwiseConv1D")
    spec_class = DenseSpec
    da_capable = True  # the classifier (hls4ml's Dense; its DA template calls the kernel models/ops/da.py writes)

    @classmethod
    def settings(cls, layer, s, backend):
        if s["strategy"] == "distributed_arithmetic":
            if len(input_shape(layer)) != 2:
                s["strategy"] = "latency"
                s["note"] = "a QDense on tokens becomes hls4ml's PointwiseConv1D, outside trigformer's DA"
        else:  # hls4ml's own Dense (the classifier): its valid reuse factors only
            used, note = hls_dense_reuse(backend, int(input_shape(layer)[-1]), int(layer.units), s["reuse_factor"])
            s["reuse_factor"] = used
            if note:
                s["note"] = note
        return s

    @classmethod
    def ii(cls, d):
        return d["reuse_factor"]  # hls4ml's Dense: II = its reuse factor

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        w_t = quantizer_type(layer.kernel_quantizer_internal)
        b_t = quantizer_type(layer.bias_quantizer_internal)
        acc = dot_accum_t(in_types[0], w_t, int(input_shape(layer)[-1]), b_t)
        # a single rounding, as in Keras: straight to the type of the QActivation that follows, unless it is a ReLU
        # (hls4ml applies the ReLU to the dense output, so that must still be the exact sum)
        nxt = next_layers(model, layer)
        q = activation_quantizer(nxt[0]) if len(nxt) == 1 else None
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
