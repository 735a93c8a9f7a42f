"""hls4ml side of token pooling: layer class, Keras parser, config struct and call (nnet_tf_pooling.h)."""

from __future__ import annotations

from hls4ml.model.layers import Layer

from trigformer.models.ops.common import split_units
from trigformer.models.ops.hls_common import attr_type, base_layer, configure, ctype, set_internal_types
from trigformer.models.ops.pooling.spec import PoolSpec


class TFTokenPooling(Layer):
    def spec(self) -> PoolSpec:
        return PoolSpec(attr_type(self, "in_type"), self.get_attr("n_tokens"), self.get_attr("mode"),
                        self.get_attr("const_bits"), self.get_attr("dim"))

    def initialize(self):
        configure(self)
        sp = self.spec()
        set_internal_types(self, sp.internal_types())
        self.add_output_variable([sp.dim], precision=sp.out_t.to_hls4ml())


def parse_pooling(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = base_layer(keras_layer, input_names, "TFTokenPooling", n_tokens=input_shapes[0][-2],
                       dim=input_shapes[0][-1], mode=c["mode"], in_type=c["in_type"], const_bits=c["const_bits"])
    return layer, [input_shapes[0][0], input_shapes[0][-1]]


PARSERS = {"TokenPooling": parse_pooling}
LAYER = TFTokenPooling


def config(node) -> str:
    sp = node.spec()
    features, iterations = split_units(sp.dim, node.get_attr("reuse_factor"))
    return f"""struct config{node.index} : nnet::tf_pooling_config {{
    static const unsigned n_tokens = {sp.n};
    static const unsigned dim = {sp.dim};
    static const bool is_max = {'true' if sp.mode == 'max' else 'false'};
    static const unsigned long invn_raw = {sp.invn_raw}UL;
    static const unsigned reuse_factor = {node.get_attr('reuse_factor')};
    static const unsigned features_parallel = {features};
    static const unsigned iterations = {iterations};
    typedef {ctype(node, 'sum_t')} sum_t;
    typedef {ctype(node, 'invn_t')} invn_t;
}};
"""


def call(node, p: dict, w) -> str:
    return f"nnet::tf_token_pooling<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']});"
