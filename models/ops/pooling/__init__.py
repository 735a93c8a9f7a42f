"""Token pooling (mean or max): spec.py, keras.py (TokenPooling), hls.py + nnet_tf_pooling.h, cost.py."""

from __future__ import annotations

from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import input_shape
from trigformer.models.ops.pooling.spec import PoolSpec


class Pooling(OpDef):
    kind = "pool"
    tunable = True

    @classmethod
    def units(cls, layer: dict) -> int:
        return int(layer.get("n_out", 1))  # one unit per feature

    @classmethod
    def after(cls, layer, prev):
        if "n_tokens_in" in layer:
            return layer
        return {**layer, "n_tokens_in": int(prev.get("n_tokens", 1)) if prev else 1}  # the previous layer's output
    keras_classes = ("TokenPooling",)
    byom = {"TokenPooling": "_own", "GlobalAveragePooling1D": "_pool", "GlobalMaxPooling1D": "_pool"}
    hls_classes = ("TFTokenPooling",)
    spec_class = PoolSpec
    package = __name__

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        sp = layer.spec(int(input_shape(layer)[-2]))
        return {layer.name: {"result": sp.out_t, **sp.internal_types()}}

    @classmethod
    def params(cls, layer, keras_model):
        return layer.spec(), {}

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.pooling.trace import pooling_trace

        return pooling_trace(node, ins, in_t)

    @staticmethod
    def run(node, ins, in_t):
        sp = node.spec
        return sp.forward(ins[0].reshape(len(ins[0]), sp.n, -1), axis=1)

    @classmethod
    def describe(cls, layer) -> dict:
        from trigformer.models.ops.common import split_units

        features, iterations = split_units(layer.get_attr("dim"), layer.get_attr("reuse_factor"))
        return {"pool": layer.get_attr("mode"), "features_parallel": features, "iterations": iterations}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.pooling.cost import cost

        return cost(layer, path, res)
