"""hls4ml side of the LUT softmax: layer class, Keras parser, config struct and call (nnet_tf_softmax.h).
The attention's softmax uses the same config struct."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Layer

from trigformer.models.ops.common import split_units
from trigformer.models.ops.hls_common import attr_type, base_layer, configure, ctype, mul_impl, replicated, set_internal_types
from trigformer.models.ops.softmax.spec import SoftmaxSpec


def softmax_config_struct(name: str, sp: SoftmaxSpec, node, n_rows: int, rows_parallel: int, iterations: int,
                          reuse: int) -> str:
    return f"""struct {name} : nnet::tf_softmax_config {{
    static const unsigned n = {sp.n};
    static const unsigned n_rows = {n_rows};
    static const unsigned table_size = {sp.table_size};
    static const int exp_shift = {sp.exp_shift};
    static const int inv_shift = {sp.inv_shift};
    static const unsigned row_exp_copies = {sp.row_exp_copies};
    static const unsigned reuse_factor = {reuse};
    static const unsigned rows_parallel = {rows_parallel};
    static const unsigned iterations = {iterations};
    static const unsigned exp_copies = {rows_parallel * sp.row_exp_copies};
    static const int norm_mult = {mul_impl(node, sp.exp_t, sp.inv_t)};
    typedef {ctype(node, 'diff_t')} diff_t;
    typedef {node.get_weights('exp_table').type.name} exp_t;
    typedef {ctype(node, 'sum_t')} sum_t;
    typedef {node.get_weights('inv_table').type.name} inv_t;
}};
"""


class TFLUTSoftmax(Layer):
    def spec(self) -> SoftmaxSpec:
        return SoftmaxSpec(attr_type(self, "score_type"), self.get_attr("n_cols"), self.get_attr("table_size"),
                           self.get_attr("input_range"), self.get_attr("table_bits"), attr_type(self, "prob_type"))

    def rows(self) -> tuple[int, int]:
        n_rows = int(np.prod(self.get_attr("in_shape"))) // self.get_attr("n_cols")
        return n_rows, *split_units(n_rows, self.get_attr("reuse_factor"))

    def initialize(self):
        configure(self)
        shape = self.get_attr("in_shape")
        self.set_attr("n_cols", shape[-1])
        sp = self.spec()
        set_internal_types(self, sp.internal_types())
        self.add_output_variable(list(shape), precision=sp.out_t.to_hls4ml())
        _, rows, _ = self.rows()
        self.add_weights_variable(name="exp_table", var_name="exp_table{index}", type_name="exp_table{index}_t",
                                  precision=sp.exp_t.to_hls4ml(),
                                  data=replicated(sp.exp_t.to_float(sp.exp_table), rows * sp.row_exp_copies))
        self.add_weights_variable(name="inv_table", var_name="inv_table{index}", type_name="inv_table{index}_t",
                                  precision=sp.inv_t.to_hls4ml(), data=replicated(sp.inv_t.to_float(sp.inv_table), rows))


def parse_lut_softmax(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = base_layer(keras_layer, input_names, "TFLUTSoftmax", in_shape=list(input_shapes[0][1:]),
                       score_type=c["in_type"], prob_type=c["out_type"], table_size=c["table_size"],
                       input_range=c["input_range"], table_bits=c["table_bits"])
    return layer, list(input_shapes[0])


PARSERS = {"LUTSoftmax": parse_lut_softmax}
LAYER = TFLUTSoftmax


def config(node) -> str:
    n_rows, rows, iterations = node.rows()
    return softmax_config_struct(f"config{node.index}", node.spec(), node, n_rows, rows, iterations,
                                 node.get_attr("reuse_factor"))


def call(node, p: dict, w) -> str:
    return (f"nnet::tf_lut_softmax<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
            f"{w('exp_table')}, {w('inv_table')});")
