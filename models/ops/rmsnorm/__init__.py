"""RMSNorm over the last axis (model.norm: rmsnorm): spec.py, keras.py (QRMSNormalization), hls.py +
nnet_tf_rmsnorm.h, cost.py. 1/sqrt is models.ops.rsqrt, as in LayerNorm."""

from __future__ import annotations

from trigformer.models.ops.base import SpecTypedOp
from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.rmsnorm.spec import RMSNormSpec


class RMSNorm(SpecTypedOp):
    kind = "rmsnorm"
    tunable = True
    norm_choice = "rmsnorm"
    keras_classes = ("QRMSNormalization",)
    hls_classes = ("TFRMSNorm",)
    spec_class = RMSNormSpec
    package = __name__

    @classmethod
    def params(cls, layer, keras_model):
        sp = layer.spec()
        return sp, {"gamma": raw_on_grid(layer.get_attr("gamma_data"), sp.gamma_t)}

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.rmsnorm.trace import rmsnorm_trace

        return rmsnorm_trace(node, ins, in_t)

    @staticmethod
    def run(node, ins, in_t):
        sp = node.spec
        y = sp.forward(ins[0].reshape(len(ins[0]), -1, sp.dim), node.arrays["gamma"])
        return y.reshape(len(y), -1)

    @classmethod
    def describe(cls, layer) -> dict:
        tokens, iterations = layer.tokens()
        return {"tokens_parallel": tokens, "iterations": iterations, "table_entries": layer.get_attr("table_size")}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.rmsnorm.cost import cost

        return cost(layer, path, res)

    @staticmethod
    def keras_layer(qt, quantized: bool, name: str):
        from trigformer.models.ops.rmsnorm.keras import QRMSNormalization

        return QRMSNormalization(in_type=qt.act_t.ap_type, gamma_type=qt.gamma_t.ap_type,
                                 table_size=qt.layernorm_table_size, table_bits=qt.table_bits,
                                 quantized=quantized, name=name)
