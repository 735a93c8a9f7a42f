"""DyT, gamma * tanh(alpha * x) + beta per element (model.norm: dyt; Zhu et al. 2025, "Transformers without
Normalization"): spec.py (types, the tanh table, integer arithmetic), keras.py (QDyT), hls.py + nnet_tf_dyt.h
(hls4ml layer), trace.py (RTL), cost.py (estimate). One table read per element instead of LayerNorm's two
reductions over the features and its 1/sqrt table."""

from __future__ import annotations

from trigformer.models.ops.base import SpecTypedOp
from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.dyt.spec import DyTSpec


class DyT(SpecTypedOp):
    kind = "dyt"
    tunable = True
    norm_choice = "dyt"
    keras_classes = ("QDyT",)
    hls_classes = ("TFDyT",)
    spec_class = DyTSpec
    package = __name__

    @classmethod
    def params(cls, layer, keras_model):
        sp = layer.spec()
        return sp, {k: raw_on_grid(layer.get_weights(k).data, sp.gamma_t) for k in ("gamma", "beta")}

    @staticmethod
    def run(node, ins, in_t):
        sp = node.spec
        y = sp.forward(ins[0].reshape(len(ins[0]), -1, sp.dim), node.arrays["gamma"], node.arrays["beta"])
        return y.reshape(len(y), -1)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.dyt.trace import dyt_trace

        return dyt_trace(node, ins, in_t)

    @classmethod
    def describe(cls, layer) -> dict:
        tokens, iterations = layer.tokens()
        return {"tokens_parallel": tokens, "iterations": iterations, "table_entries": layer.spec().entries}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.dyt.cost import cost

        return cost(layer, path, res)

    @staticmethod
    def keras_layer(qt, quantized: bool, name: str):
        """The layer `model.norm: dyt` puts after each residual add (alpha starts at 0.5, the paper's default)."""
        from trigformer.models.ops.dyt.keras import QDyT

        return QDyT(in_type=qt.act_t.ap_type, gamma_type=qt.gamma_t.ap_type, table_size=qt.layernorm_table_size,
                    table_bits=qt.table_bits, quantized=quantized, name=name)
