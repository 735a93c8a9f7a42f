"""LUT softmax over the last axis: spec.py (types, tables, integer arithmetic), keras.py (LUTSoftmax),
hls.py + nnet_tf_softmax.h (hls4ml layer), cost.py (estimate)."""

from __future__ import annotations

from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import input_shape
from trigformer.models.ops.softmax.spec import SoftmaxSpec


class Softmax(OpDef):
    kind = "softmax"
    tunable = True
    keras_classes = ("LUTSoftmax",)
    byom = {"LUTSoftmax": "_own", "Softmax": "_activation"}
    hls_classes = ("TFLUTSoftmax",)
    spec_class = SoftmaxSpec
    package = __name__

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        sp = layer.spec(int(input_shape(layer)[-1]))
        return {layer.name: {"result": sp.out_t, **sp.internal_types()}}

    @classmethod
    def params(cls, layer, keras_model):
        return layer.spec(), {}

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.softmax.trace import softmax_trace

        return softmax_trace(node, ins, in_t)

    @staticmethod
    def run(node, ins, in_t):
        sp = node.spec
        return sp.forward(ins[0].reshape(len(ins[0]), -1, sp.n)).reshape(len(ins[0]), -1)

    @classmethod
    def describe(cls, layer) -> dict:
        n_rows, rows, iterations = layer.rows()
        return {"n_tokens": n_rows, "rows_parallel": rows, "iterations": iterations,
                "table_entries": 2 * layer.get_attr("table_size")}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.softmax.cost import cost

        return cost(layer, path, res)
