"""hls4ml side of LayerNorm: layer class, Keras parser, config struct and call (nnet_tf_layernorm.h)."""

from __future__ import annotations

from hls4ml.model.layers import Layer

from models.fixed import FixedType
from models.ops.hls_common import attr_type, base_layer, on_grid
from models.ops.layernorm.spec import LayerNormSpec


class TFLayerNorm(Layer):
    def spec(self) -> LayerNormSpec:
        return LayerNormSpec(attr_type(self, "in_type"), self.get_attr("dim"), self.get_attr("table_size"),
                             self.get_attr("table_bits"), attr_type(self, "out_type"), self.get_attr("epsilon"),
                             gamma_t=attr_type(self, "gamma_type"), n_tokens=self.get_attr("n_tokens"))

    def initialize(self):
        sp = self.spec()
        self.add_output_variable([sp.n_tokens, sp.dim], precision=sp.result_t.to_hls4ml())
        for name in ("gamma", "beta"):
            self.add_weights_variable(name=name, var_name=f"{name[0]}n{{index}}", type_name=f"{name[0]}n{{index}}_t",
                                      precision=sp.gamma_t.to_hls4ml(), data=self.get_attr(f"{name}_data"))
        rs = sp.rsqrt
        self.add_weights_variable(name="rsqrt_table", var_name="rsqrt_table{index}",
                                  type_name="rsqrt_table{index}_t", precision=rs.rsqrt_t.to_hls4ml(),
                                  data=rs.rsqrt_t.to_float(rs.table))


def parse_layernorm(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = base_layer(keras_layer, input_names, "TFLayerNorm", n_tokens=input_shapes[0][-2],
                       dim=input_shapes[0][-1], in_type=c["in_type"], out_type=c["out_type"],
                       gamma_type=c["gamma_type"], table_size=c["table_size"], table_bits=c["table_bits"],
                       epsilon=c["epsilon"])
    g_t = FixedType.parse(c["gamma_type"])
    for name in ("gamma", "beta"):
        layer[f"{name}_data"] = on_grid(data_reader.get_weights_data(layer["name"], name), g_t)
    return layer, list(input_shapes[0])


PARSERS = {"QLayerNormalization": parse_layernorm}
LAYER = TFLayerNorm


def config(node) -> str:
    sp = node.spec()
    lo, hi = sp.rsqrt.half_range
    return f"""struct config{node.index} : nnet::tf_layernorm_config {{
    static const unsigned n_tokens = {sp.n_tokens};
    static const unsigned dim = {sp.dim};
    static const unsigned table_size = {sp.table_size};
    static const unsigned mant_bits = {sp.rsqrt.mant_bits};
    static const int var_frac = {sp.var_t.frac};
    static const int half_min = {lo};
    static const int half_max = {hi};
    static const unsigned long invdim_raw = {sp.invdim_raw}UL;
    static const unsigned long eps_raw = {sp.eps_raw}UL;
    static const unsigned reuse_factor = {node.get_attr('reuse_factor')};
    typedef {sp.sum_t} sum_t;
    typedef {sp.invdim_t} invdim_t;
    typedef {sp.mean_t} mean_t;
    typedef {sp.diff_t} diff_t;
    typedef {sp.sqsum_t} sqsum_t;
    typedef {sp.var_t} var_t;
    typedef {sp.rsqrt.rsqrt_t} rsqrt_t;
    typedef {sp.wide_t} wide_t;
    typedef {sp.norm_t} norm_t;
    typedef {sp.gamma_t} gamma_t;
}};
"""


def call(node, p: dict, w) -> str:
    return (f"nnet::tf_layernorm<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
            f"{w('gamma')}, {w('beta')}, {w('rsqrt_table')});")
