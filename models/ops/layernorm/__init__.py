"""LayerNorm over the last axis: spec.py (types, constants, integer arithmetic), keras.py (QLayerNormalization),
hls.py + nnet_tf_layernorm.h (hls4ml layer), cost.py (estimate). 1/sqrt is models.ops.rsqrt."""

from __future__ import annotations

from trigformer.models.ops.base import SpecTypedOp
from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.layernorm.spec import LayerNormSpec


class LayerNorm(SpecTypedOp):
    kind = "layernorm"
    tunable = True
    norm_choice = "layernorm"  # the model.norm value that builds this op
    keras_classes = ("QLayerNormalization",)
    byom = {"LayerNormalization": "_layernorm", "QLayerNormalization": "_own"}
    hls_classes = ("TFLayerNorm",)
    spec_class = LayerNormSpec
    package = __name__

    @classmethod
    def params(cls, layer, keras_model):
        sp = layer.spec()
        return sp, {k: raw_on_grid(layer.get_weights(k).data, sp.gamma_t) for k in ("gamma", "beta")}

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.layernorm.trace import layernorm_trace

        return layernorm_trace(node, ins, in_t)

    @staticmethod
    def run(node, ins, in_t):
        sp = node.spec
        y = sp.forward(ins[0].reshape(len(ins[0]), -1, sp.dim), node.arrays["gamma"], node.arrays["beta"])
        return y.reshape(len(y), -1)

    @classmethod
    def describe(cls, layer) -> dict:
        tokens, iterations = layer.tokens()
        return {"tokens_parallel": tokens, "iterations": iterations, "table_entries": layer.get_attr("table_size")}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.layernorm.cost import cost

        return cost(layer, path, res)

    @staticmethod
    def keras_layer(qt, quantized: bool, name: str):
        """The layer `model.norm: layernorm` puts after each residual add."""
        from trigformer.models.ops.layernorm.keras import QLayerNormalization

        return QLayerNormalization(in_type=qt.act_t.ap_type, gamma_type=qt.gamma_t.ap_type,
                                   table_size=qt.layernorm_table_size, table_bits=qt.table_bits,
                                   quantized=quantized, name=name)
