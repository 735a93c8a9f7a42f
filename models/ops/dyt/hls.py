"""hls4ml side of DyT: layer class, Keras parser, config struct and call (nnet_tf_dyt.h)."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Layer

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import split_units
from trigformer.models.ops.dyt.spec import DyTSpec
from trigformer.models.ops.hls_common import (add_feature_weights, attr_type, base_layer, configure, ctype,
                                              read_on_grid, replicated, set_internal_types)


class TFDyT(Layer):
    def spec(self) -> DyTSpec:
        return DyTSpec(attr_type(self, "in_type"), self.get_attr("dim"), self.get_attr("alpha"),
                       self.get_attr("table_size"), self.get_attr("table_bits"), attr_type(self, "out_type"),
                       gamma_t=attr_type(self, "gamma_type"), n_tokens=self.get_attr("n_tokens"))

    def tokens(self) -> tuple[int, int]:
        return split_units(self.get_attr("n_tokens"), self.get_attr("reuse_factor"))

    def initialize(self):
        configure(self)
        sp = self.spec()
        set_internal_types(self, sp.internal_types())
        self.add_output_variable([sp.n_tokens, sp.dim], precision=sp.result_t.to_hls4ml())
        add_feature_weights(self, ("gamma", "beta"), "y", sp.gamma_t)
        copies = self.tokens()[0] * ((sp.dim + 1) // 2)  # a ROM's two ports serve two elements of one token
        self.add_weights_variable(name="tanh_table", var_name="tanh_table{index}", type_name="tanh_table{index}_t",
                                  precision=sp.tanh_t.to_hls4ml(), data=replicated(sp.tanh_t.to_float(sp.table), copies))


def parse_dyt(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    alpha = float(np.asarray(data_reader.get_weights_data(keras_layer["config"]["name"], "alpha")))
    layer = base_layer(keras_layer, input_names, "TFDyT", n_tokens=input_shapes[0][-2], dim=input_shapes[0][-1],
                       in_type=c["in_type"], out_type=c["out_type"], gamma_type=c["gamma_type"],
                       table_size=c["table_size"], table_bits=c["table_bits"], alpha=alpha)
    read_on_grid(layer, data_reader, ("gamma", "beta"), FixedType.parse(c["gamma_type"]))
    return layer, list(input_shapes[0])


PARSERS = {"QDyT": parse_dyt}
LAYER = TFDyT


def config(node) -> str:
    sp = node.spec()
    tokens, iterations = node.tokens()
    return f"""struct config{node.index} : nnet::tf_dyt_config {{
    static const unsigned n_tokens = {sp.n_tokens};
    static const unsigned dim = {sp.dim};
    static const unsigned table_size = {sp.entries};
    static const unsigned shift = {sp.shift};
    static const unsigned reuse_factor = {node.get_attr('reuse_factor')};
    static const unsigned tokens_parallel = {tokens};
    static const unsigned iterations = {iterations};
    static const unsigned token_copies = {(sp.dim + 1) // 2};
    typedef {ctype(node, 'tanh_t')} tanh_t;
    typedef {node.get_weights('gamma').type.name} gamma_t;
}};
"""


def call(node, p: dict, w) -> str:
    return (f"nnet::tf_dyt<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
            f"{w('gamma')}, {w('beta')}, {w('tanh_table')});")
