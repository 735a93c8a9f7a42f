"""hls4ml side of RMSNorm: layer class, Keras parser, config struct and call (nnet_tf_rmsnorm.h)."""

from __future__ import annotations

from hls4ml.model.layers import Layer

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import split_units
from trigformer.models.ops.hls_common import (add_feature_weights, attr_type, base_layer, configure, ctype, mul_impl,
                                              read_on_grid, set_internal_types)
from trigformer.models.ops.rsqrt.hls import add_rsqrt_table, rsqrt_fields
from trigformer.models.ops.rmsnorm.spec import RMSNormSpec


class TFRMSNorm(Layer):
    def spec(self) -> RMSNormSpec:
        return RMSNormSpec(attr_type(self, "in_type"), self.get_attr("dim"), self.get_attr("table_size"),
                           self.get_attr("table_bits"), attr_type(self, "out_type"), self.get_attr("epsilon"),
                           gamma_t=attr_type(self, "gamma_type"), n_tokens=self.get_attr("n_tokens"))

    def tokens(self) -> tuple[int, int]:
        return split_units(self.get_attr("n_tokens"), self.get_attr("reuse_factor"))

    def initialize(self):
        configure(self)
        sp = self.spec()
        set_internal_types(self, sp.internal_types())
        self.add_output_variable([sp.n_tokens, sp.dim], precision=sp.result_t.to_hls4ml())
        add_feature_weights(self, ("gamma",), "n", sp.gamma_t)
        add_rsqrt_table(self, sp.rsqrt, (self.tokens()[0] + 1) // 2)


def parse_rmsnorm(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = base_layer(keras_layer, input_names, "TFRMSNorm", n_tokens=input_shapes[0][-2], dim=input_shapes[0][-1],
                       in_type=c["in_type"], out_type=c["out_type"], gamma_type=c["gamma_type"],
                       table_size=c["table_size"], table_bits=c["table_bits"], epsilon=c["epsilon"])
    read_on_grid(layer, data_reader, ("gamma",), FixedType.parse(c["gamma_type"]))
    return layer, list(input_shapes[0])


PARSERS = {"QRMSNormalization": parse_rmsnorm}
LAYER = TFRMSNorm


def config(node) -> str:
    sp = node.spec()
    tokens, iterations = node.tokens()
    return f"""struct config{node.index} : nnet::tf_rmsnorm_config {{
{rsqrt_fields(node, sp.rsqrt)}    static const unsigned n_tokens = {sp.n_tokens};
    static const unsigned dim = {sp.dim};
    static const unsigned long invdim_raw = {sp.invdim_raw}UL;
    static const unsigned long eps_raw = {sp.eps_raw}UL;
    static const unsigned reuse_factor = {node.get_attr('reuse_factor')};
    static const unsigned tokens_parallel = {tokens};
    static const unsigned iterations = {iterations};
    static const unsigned table_copies = {(tokens + 1) // 2};
    static const int sq_mult = {mul_impl(node, sp.in_t, sp.in_t)};
    static const int rs_mult = {mul_impl(node, sp.in_t, sp.rsqrt.rs_t)};
    typedef {ctype(node, 'invdim_t')} invdim_t;
    typedef {ctype(node, 'sqsum_t')} sqsum_t;
    typedef {ctype(node, 'norm_t')} norm_t;
    typedef {node.get_weights('gamma').type.name} gamma_t;
}};
"""


def call(node, p: dict, w) -> str:
    return (f"nnet::tf_rmsnorm<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
            f"{w('gamma')}, {w('rsqrt_table')});")
