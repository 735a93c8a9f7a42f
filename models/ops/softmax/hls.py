"""hls4ml side of the LUT softmax: layer class, Keras parser, config struct and call (nnet_tf_softmax.h)."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Layer

from models.ops.hls_common import attr_type, base_layer
from models.ops.softmax.spec import SoftmaxSpec


def add_softmax_tables(layer, sp: SoftmaxSpec) -> None:
    """The exp and 1/sum tables as weight arrays of `layer` (written to firmware/weights/*.h)."""
    layer.add_weights_variable(name="exp_table", var_name="exp_table{index}", type_name="exp_table{index}_t",
                               precision=sp.exp_t.to_hls4ml(), data=sp.exp_t.to_float(sp.exp_table))
    layer.add_weights_variable(name="inv_table", var_name="inv_table{index}", type_name="inv_table{index}_t",
                               precision=sp.inv_t.to_hls4ml(), data=sp.inv_t.to_float(sp.inv_table))


def softmax_config_struct(name: str, sp: SoftmaxSpec, n_rows: int, reuse: int) -> str:
    return f"""struct {name} : nnet::tf_softmax_config {{
    static const unsigned n = {sp.n};
    static const unsigned n_rows = {n_rows};
    static const unsigned table_size = {sp.table_size};
    static const int exp_shift = {sp.exp_shift};
    static const int inv_shift = {sp.inv_shift};
    static const unsigned reuse_factor = {reuse};
    typedef {sp.diff_t} diff_t;
    typedef {sp.exp_t} exp_t;
    typedef {sp.sum_t} sum_t;
    typedef {sp.inv_t} inv_t;
}};
"""


class TFLUTSoftmax(Layer):
    def spec(self) -> SoftmaxSpec:
        return SoftmaxSpec(attr_type(self, "score_type"), self.get_attr("n_cols"), self.get_attr("table_size"),
                           self.get_attr("input_range"), self.get_attr("table_bits"), attr_type(self, "prob_type"))

    def initialize(self):
        shape = self.get_attr("in_shape")
        self.set_attr("n_cols", shape[-1])
        self.add_output_variable(list(shape), precision=attr_type(self, "prob_type").to_hls4ml())
        add_softmax_tables(self, self.spec())


def parse_lut_softmax(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = base_layer(keras_layer, input_names, "TFLUTSoftmax", in_shape=list(input_shapes[0][1:]),
                       score_type=c["in_type"], prob_type=c["out_type"], table_size=c["table_size"],
                       input_range=c["input_range"], table_bits=c["table_bits"])
    return layer, list(input_shapes[0])


PARSERS = {"LUTSoftmax": parse_lut_softmax}
LAYER = TFLUTSoftmax


def config(node) -> str:
    sp = node.spec()
    rows = int(np.prod(node.get_attr("in_shape"))) // sp.n
    return softmax_config_struct(f"config{node.index}", sp, rows, node.get_attr("reuse_factor"))


def call(node, p: dict, w) -> str:
    return (f"nnet::tf_lut_softmax<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
            f"{w('exp_table')}, {w('inv_table')});")
