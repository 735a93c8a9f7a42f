"""hls4ml side of the attention: layer class, Keras parser, config structs and call (nnet_tf_mha.h).

Self-attention has one input (`tf_multi_head_attention`); cross-attention has two, the query and the key/value
tensor (`tf_cross_attention`). The spec (models/ops/mha/spec.py) gives every type and size of both."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Layer

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import split_units
from trigformer.models.ops.da import function_name
from trigformer.models.ops.hls_common import (attr_type, base_layer, configure, ctype, input_type, mul_impl, on_grid,
                                   replicated, set_internal_types)
from trigformer.models.ops.mha.spec import MHASpec
from trigformer.models.ops.softmax.hls import softmax_config_struct
from trigformer.models.ops.tokendense.hls import dense_config_struct, strategy_of, weight_layout

PROJECTIONS = ("query", "key", "value", "output")
SIZES = ("n_tokens", "in_dim", "num_heads", "key_dim", "out_dim")


class TFMultiHeadAttention(Layer):
    spec_class = MHASpec

    def kv_type(self) -> FixedType | None:
        """The spec's kv_t: the second input's type in cross-attention, None in self-attention."""
        cross = len(self.inputs) > 1
        return FixedType.from_hls4ml(self.get_input_variable(self.inputs[1]).type.precision) if cross else None

    def spec(self) -> MHASpec:
        return self.spec_class(input_type(self), *(self.get_attr(a) for a in SIZES),
                               *(attr_type(self, a) for a in ("weight_type", "qkv_type", "prob_type", "act_type")),
                               *(self.get_attr(a) for a in ("table_size", "input_range", "table_bits")),
                               value_dim=self.get_attr("value_dim"), n_kv=self.get_attr("n_kv"),
                               kv_dim=self.get_attr("kv_dim"), kv_t=self.kv_type(),
                               use_bias=self.get_attr("use_bias", True))

    def rows(self) -> tuple[int, int]:
        """(rows per iteration, iterations) of the attention stage: a row is one query of one head."""
        return split_units(self.get_attr("num_heads") * self.get_attr("n_tokens"), self.get_attr("reuse_factor"))

    def initialize(self):
        configure(self)
        sp = self.spec()
        set_internal_types(self, sp.internal_types())
        self.add_output_variable([sp.n_tokens, sp.out_dim], precision=sp.out_t.to_hls4ml())
        strategy = strategy_of(self)
        for w in PROJECTIONS:
            for part in ("kernel", "bias"):
                data = self.get_attr(f"{w}_{part}_data")
                self.add_weights_variable(name=f"{w[0]}_{part}", var_name=f"{w[0]}{part[0]}{{index}}",
                                          type_name=f"{w[0]}{part[0]}{{index}}_t", precision=sp.weight_t.to_hls4ml(),
                                          data=weight_layout(data, strategy) if part == "kernel" else data)
        sm, (rows, _) = sp.softmax, self.rows()
        self.add_weights_variable(name="exp_table", var_name="exp_table{index}", type_name="exp_table{index}_t",
                                  precision=sm.exp_t.to_hls4ml(),
                                  data=replicated(sm.exp_t.to_float(sm.exp_table), rows * sm.row_exp_copies))
        self.add_weights_variable(name="inv_table", var_name="inv_table{index}", type_name="inv_table{index}_t",
                                  precision=sm.inv_t.to_hls4ml(), data=replicated(sm.inv_t.to_float(sm.inv_table), rows))


def parse_mha(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    if len(input_shapes) > 2:
        raise ValueError(f"{c['name']}: attention takes a query and at most one key/value tensor")
    n, d = input_shapes[0][-2], input_shapes[0][-1]
    m, d_kv = input_shapes[-1][-2], input_shapes[-1][-1]
    out_dim = c["output_dim"] or d
    use_bias = c.get("use_bias", True)
    layer = base_layer(keras_layer, input_names, "TFMultiHeadAttention", n_tokens=n, in_dim=d, out_dim=out_dim,
                       n_kv=m, kv_dim=d_kv, num_heads=c["num_heads"], key_dim=c["key_dim"],
                       value_dim=c.get("value_dim") or c["key_dim"], use_bias=use_bias,
                       weight_type=c["weight_type"], act_type=c["act_type"], prob_type=c["prob_type"],
                       qkv_type=c.get("qkv_type") or c["act_type"], table_size=c["table_size"],
                       input_range=c["input_range"], table_bits=c["table_bits"])
    w_t = FixedType.parse(c["weight_type"])
    for w in PROJECTIONS:
        kernel = data_reader.get_weights_data(layer["name"], f"{w}_kernel")
        layer[f"{w}_kernel_data"] = on_grid(kernel, w_t)
        layer[f"{w}_bias_data"] = on_grid(data_reader.get_weights_data(layer["name"], f"{w}_bias"), w_t) if use_bias \
            else np.zeros(np.shape(kernel)[-1])  # no biases: zeros (the additions of constant zeros vanish in HLS)
    return layer, [input_shapes[0][0], n, out_dim]


PARSERS = {"QMultiHeadAttention": parse_mha}
LAYER = TFMultiHeadAttention


def config(node, structs: str = "", members: str = "") -> str:
    """The config structs of the projections and the softmax, then the layer's; `structs` and `members`: what an
    op built on this one adds (more structs before the layer's, more members inside it)."""
    sp = node.spec()
    n, m, d, d_kv, h, k, v, o = (sp.n_tokens, sp.n_kv, sp.in_dim, sp.kv_dim, sp.num_heads, sp.key_dim, sp.value_dim,
                                 sp.out_dim)
    reuse, strategy, i = node.get_attr("reuse_factor"), strategy_of(node), node.index
    rows, iterations = node.rows()
    kv_accum = "kv_accum_t" if sp.cross else "proj_accum_t"
    shapes = {"q": (n, d, h * k, "proj_accum_t"), "k": (m, d_kv, h * k, kv_accum), "v": (m, d_kv, h * v, kv_accum),
              "o": (n, h * v, o, "out_accum_t")}
    projections = "".join(
        dense_config_struct(f"config{i}_{w}", tokens, n_in, n_out, reuse, strategy,
                            node.get_weights(f"{w}_kernel").type.name, node.get_weights(f"{w}_bias").type.name,
                            ctype(node, accum), function_name(i, f"_{w}"))
        for w, (tokens, n_in, n_out, accum) in shapes.items())
    sm = softmax_config_struct(f"config{i}_softmax", sp.softmax, node, n_rows=h * n, rows_parallel=rows,
                               iterations=iterations, reuse=reuse)
    return projections + structs + sm + f"""struct config{i} : nnet::tf_mha_config {{
    static const unsigned n_tokens = {n};
    static const unsigned n_kv = {m};
    static const unsigned in_dim = {d};
    static const unsigned kv_dim = {d_kv};
    static const unsigned num_heads = {h};
    static const unsigned key_dim = {k};
    static const unsigned value_dim = {v};
    static const unsigned out_dim = {o};
    static const unsigned reuse_factor = {reuse};
    static const unsigned rows_parallel = {rows};
    static const unsigned iterations = {iterations};
    static const unsigned exp_copies = {rows * sp.softmax.row_exp_copies};
    static const int qk_mult = {mul_impl(node, sp.qkv_t, sp.qkv_t)};
    static const int pv_mult = {mul_impl(node, sp.prob_t, sp.qkv_t)};
    typedef {ctype(node, 'qkv_t')} qkv_t;
    typedef {ctype(node, 'dot_t')} dot_t;
    typedef {ctype(node, 'prob_t')} prob_t;
    typedef {ctype(node, 'ctx_accum_t')} ctx_accum_t;
    typedef config{i}_q q_config;
    typedef config{i}_k k_config;
    typedef config{i}_v v_config;
    typedef config{i}_o o_config;
    typedef config{i}_softmax softmax_config;
{members}}};
"""


def weight_args(w, names: str = "qkvo") -> str:
    """The C++ call's weight arguments: kernel and bias of each projection in `names`."""
    return ", ".join(w(f"{x}_{y}") for x in names for y in ("kernel", "bias"))


def call(node, p: dict, w) -> str:
    ws = weight_args(w)
    tables = f"{w('exp_table')}, {w('inv_table')}"
    if len(node.inputs) > 1:
        kv = node.get_input_variable(node.inputs[1])
        return (f"nnet::tf_cross_attention<{p['input_t']}, {kv.type.name}, {p['output_t']}, {p['config']}>("
                f"{p['input']}, {kv.name}, {p['output']}, {ws}, {tables});")
    return (f"nnet::tf_multi_head_attention<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, "
            f"{p['output']}, {ws}, {tables});")
