"""Multi-head attention (self- and cross-attention): spec.py (types, constants, integer arithmetic), keras.py
(QMultiHeadAttention), hls.py + nnet_tf_mha.h (hls4ml layer), cost.py (estimate). The softmax inside is
models.ops.softmax."""

from __future__ import annotations

from trigformer.models.fixed import FixedType
from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.mha.spec import WEIGHTS, MHASpec


class MHA(OpDef):
    kind = "mha"
    tunable = True
    weighted = True
    attention_choice = "mha"
    config_keys: tuple[str, ...] = ()  # model keys that only this attention takes

    @classmethod
    def units(cls, layer: dict) -> int:
        return int(layer.get("n_tokens", 1)) * int(layer.get("num_heads", 1))  # attention rows

    @staticmethod
    def attention_scores(node, vals):
        sp = node.spec
        s, prob, _ = sp.attention(vals[node.inputs[0]], node.arrays, vals[node.inputs[1]] if len(node.inputs) > 1 else None)
        scores = sp.dot_t.to_float(s) * sp.softmax.in_scale  # the scaled scores the softmax sees
        return scores.swapaxes(-1, -2), sp.prob_t.to_float(prob).swapaxes(-1, -2)
    keras_classes = ("QMultiHeadAttention",)
    byom = {"MultiHeadAttention": "_mha", "QMultiHeadAttention": "_own_mha"}
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
                # the spec's widths: q, k, v, context (quantization.attention_bits) and probabilities (prob_bits)
                "qkv_bits": FixedType.from_hls4ml(layer.types["qkv_t"].precision).width,
                "prob_bits": FixedType.from_hls4ml(layer.types["prob_t"].precision).width,
                "rows_parallel": rows, "iterations": iterations,
                "table_entries": 2 * layer.get_attr("table_size"),  # one exp and one 1/sum table (copies apart)
                **da.describe(layer)}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.mha.cost import cost

        return cost(layer, path, res)

    @classmethod
    def config_problem(cls, m, n_tokens: int) -> tuple[str, str] | None:
        """(dotted key, message) when the model section `m` with n_tokens particles does not fit this attention."""
        return None

    @classmethod
    def attention_layer(cls, m, qt, quantized: bool, name: str, **kwargs):
        """The layer `model.attention` puts in each block (m: the model section, qt: models.quant.QuantTypes)."""
        layer_class = getattr(cls.part("keras"), cls.keras_classes[0])
        return layer_class(m.num_heads, m.key_dim, m.embed_dim, weight_type=qt.weight_t.ap_type,
                           act_type=qt.act_t.ap_type, prob_type=qt.prob_t.ap_type, qkv_type=qt.qkv_t.ap_type,
                           table_size=qt.softmax_table_size, input_range=qt.softmax_input_range,
                           table_bits=qt.table_bits, quantized=quantized, name=name, **kwargs)
