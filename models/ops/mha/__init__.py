"""Multi-head attention (self- and cross-attention): spec.py (types, constants, integer arithmetic), keras.py
(QMultiHeadAttention), hls.py + nnet_tf_mha.h (hls4ml layer), cost.py (estimate). The softmax inside is
models.ops.softmax."""

from __future__ import annotations

from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.mha.spec import WEIGHTS, MHASpec


class MHA(OpDef):
    kind = "mha"
    keras_classes = ("QMultiHeadAttention",)
    hls_classes = ("TFMultiHeadAttention",)
    spec_class = MHASpec
    package = __name__
    da_capable = True  # its Q, K, V and output projections

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        sp = layer.spec(in_types[0], in_types[1] if len(in_types) > 1 else None)
        return {layer.name: {"result": sp.out_t, **sp.internal_types()}}

    @classmethod
    def params(cls, layer, keras_model):
        sp = layer.spec()  # the parsed (input-major) weights: the written ones follow the strategy's layout
        full = {"q": "query", "k": "key", "v": "value", "o": "output"}
        return sp, {k: raw_on_grid(layer.get_attr(f"{full[k[0]]}_{k[2:]}_data"), sp.weight_t) for k in WEIGHTS}

    @classmethod
    def products(cls, spec, arrays, in_t, n_tokens):
        return spec.products(arrays)

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.mha.trace import mha_trace

        return mha_trace(node, ins, in_t)

    @staticmethod
    def run(node, ins, in_t):
        return node.spec.forward(ins[0], node.arrays, ins[1] if len(ins) > 1 else None)

    @classmethod
    def describe(cls, layer) -> dict:
        from trigformer.models.ops import da

        rows, iterations = layer.rows()
        return {"num_heads": layer.get_attr("num_heads"), "key_dim": layer.get_attr("key_dim"),
                "value_dim": layer.get_attr("value_dim"), "n_kv": layer.get_attr("n_kv"),
                "kv_dim": layer.get_attr("kv_dim"),
                "rows_parallel": rows, "iterations": iterations,
                "table_entries": 2 * layer.get_attr("table_size"),  # one exp and one 1/sum table (copies apart)
                **da.describe(layer)}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.mha.cost import cost

        return cost(layer, path, res)
