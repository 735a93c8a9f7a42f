"""hls4ml side of the attention: layer class, Keras parser, config struct and call (nnet_tf_mha.h)."""

from __future__ import annotations

import math

from hls4ml.model.layers import Layer

from models.fixed import FixedType
from models.ops.hls_common import attr_type, base_layer, input_type, on_grid
from models.ops.mha.spec import MHASpec
from models.ops.softmax.hls import add_softmax_tables, softmax_config_struct


class TFMultiHeadAttention(Layer):
    def spec(self) -> MHASpec:
        return MHASpec(input_type(self), *(self.get_attr(a) for a in ("n_tokens", "in_dim", "num_heads", "key_dim",
                                                                       "out_dim")),
                       *(attr_type(self, a) for a in ("weight_type", "qkv_type", "score_type", "prob_type",
                                                      "act_type")),
                       *(self.get_attr(a) for a in ("table_size", "input_range", "table_bits", "scale_bits")))

    def initialize(self):
        n = self.get_attr("n_tokens")
        self.set_attr("n_cols", n)
        self.add_output_variable([n, self.get_attr("out_dim")], precision=attr_type(self, "act_type").to_hls4ml())
        w_t = attr_type(self, "weight_type")
        for w in ("query", "key", "value", "output"):
            for part in ("kernel", "bias"):
                name = f"{w[0]}_{part}"
                self.add_weights_variable(name=name, var_name=f"{w[0]}{part[0]}{{index}}",
                                          type_name=f"{w[0]}{part[0]}{{index}}_t", precision=w_t.to_hls4ml(),
                                          data=self.get_attr(f"{w}_{part}_data"))
        sp = self.spec()
        add_softmax_tables(self, sp.softmax)


def parse_mha(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    n, d = input_shapes[0][-2], input_shapes[0][-1]
    out_dim = c["output_dim"] or d
    layer = base_layer(keras_layer, input_names, "TFMultiHeadAttention", n_tokens=n, in_dim=d, out_dim=out_dim,
                       num_heads=c["num_heads"], key_dim=c["key_dim"], weight_type=c["weight_type"],
                       act_type=c["act_type"], score_type=c["score_type"], prob_type=c["prob_type"],
                       qkv_type=c.get("qkv_type") or c["act_type"], table_size=c["table_size"],
                       input_range=c["input_range"], table_bits=c["table_bits"], scale_bits=c["scale_bits"])
    w_t = FixedType.parse(c["weight_type"])
    for w in ("query", "key", "value", "output"):
        for part in ("kernel", "bias"):
            layer[f"{w}_{part}_data"] = on_grid(data_reader.get_weights_data(layer["name"], f"{w}_{part}"), w_t)
    return layer, [input_shapes[0][0], n, out_dim]


PARSERS = {"QMultiHeadAttention": parse_mha}
LAYER = TFMultiHeadAttention


def config(node) -> str:
    sp = node.spec()
    n, d, h, k, o = sp.n_tokens, sp.in_dim, sp.num_heads, sp.key_dim, sp.out_dim
    reuse = node.get_attr("reuse_factor")
    # Q/K/V projections, Q K^T, the scale, softmax normalisation, P V, output projection
    n_mult = 3 * n * d * h * k + h * n * n * k + 2 * h * n * n + h * n * n * k + n * h * k * o
    strategy = "resource" if str(node.get_attr("strategy", "latency")).lower() == "resource" else "latency"
    i = node.index
    return softmax_config_struct(f"config{i}_softmax", sp.softmax, 1, reuse) + f"""struct config{i} : nnet::tf_mha_config {{
    static const unsigned n_tokens = {n};
    static const unsigned in_dim = {d};
    static const unsigned num_heads = {h};
    static const unsigned key_dim = {k};
    static const unsigned out_dim = {o};
    static const unsigned reuse_factor = {reuse};
    static const unsigned strategy = nnet::tf_strategy::{strategy};
    static const unsigned multiplier_limit = {math.ceil(n_mult / reuse)};
    static const unsigned weight_block_factor = {max(1, math.ceil(d * h * k / reuse))};
    typedef {sp.weight_t} weight_t;
    typedef {sp.weight_t} bias_t;
    typedef {sp.qkv_t} qkv_t;
    typedef {sp.proj_accum_t} proj_accum_t;
    typedef {sp.dot_t} dot_t;
    typedef {sp.scale.const_t} scale_t;
    typedef {sp.score_t} score_t;
    typedef {sp.prob_t} prob_t;
    typedef {sp.ctx_accum_t} ctx_accum_t;
    typedef {sp.out_accum_t} out_accum_t;
    typedef config{i}_softmax softmax_config;
    static const unsigned long scale_raw = {sp.scale.const_raw}UL;
}};
"""


def call(node, p: dict, w) -> str:
    ws = ", ".join(w(f"{x}_{y}") for x in "qkvo" for y in ("kernel", "bias"))
    return (f"nnet::tf_multi_head_attention<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, "
            f"{p['output']}, {ws}, {w('exp_table')}, {w('inv_table')});")
