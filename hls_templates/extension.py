"""hls4ml 1.3.0 extension: our Keras-2 layers -> hls4ml layers -> `nnet::tf_*` HLS functions.

Registered once (`register()`, idempotent) for the Vivado and Vitis backends through hls4ml's public extension API:
a layer class, a Keras parser, config + function templates and the C++ headers. No hls4ml code is patched.
Every type and table comes from `models.numerics` specs rebuilt from the Keras layer config: one source of truth.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from models.fixed import FixedType
from models.numerics import LayerNormSpec, PoolSpec, ScaleSpec, SoftmaxSpec, ceil_log2, dot_accum_t

HEADERS = ("nnet_tf_common.h", "nnet_tf_softmax.h", "nnet_tf_mha.h", "nnet_tf_layernorm.h", "nnet_tf_pooling.h")
HERE = Path(__file__).parent
BACKENDS = ("Vivado", "Vitis")


def _type(node, attr: str) -> FixedType:
    return FixedType.parse(node.get_attr(attr))


def _ctype(t: FixedType) -> str:
    return t.ap_type


# ------------------------------------------------------------------------------------------------------------------
# hls4ml layer classes
# ------------------------------------------------------------------------------------------------------------------
def _layer_classes():
    from hls4ml.model.layers import Layer

    class TFSoftmaxMixin:
        def softmax_spec(self) -> SoftmaxSpec:
            return SoftmaxSpec(_type(self, "score_type"), self.get_attr("n_cols"), self.get_attr("table_size"),
                               self.get_attr("input_range"), self.get_attr("table_bits"), _type(self, "prob_type"))

        def add_softmax_tables(self):
            sp = self.softmax_spec()
            self.add_weights_variable(name="exp_table", var_name="exp_table{index}", type_name="exp_table{index}_t",
                                      precision=sp.exp_t.to_hls4ml(), data=sp.exp_t.to_float(sp.exp_table))
            self.add_weights_variable(name="inv_table", var_name="inv_table{index}", type_name="inv_table{index}_t",
                                      precision=sp.inv_t.to_hls4ml(), data=sp.inv_t.to_float(sp.inv_table))

    class TFMultiHeadAttention(TFSoftmaxMixin, Layer):
        def initialize(self):
            n = self.get_attr("n_tokens")
            self.set_attr("n_cols", n)
            out_t = _type(self, "act_type")
            self.add_output_variable([n, self.get_attr("out_dim")], precision=out_t.to_hls4ml())
            w_t = _type(self, "weight_type")
            for w in ("query", "key", "value", "output"):
                for part in ("kernel", "bias"):
                    name = f"{w[0]}_{part}"
                    self.add_weights_variable(name=name, var_name=f"{w[0]}{part[0]}{{index}}",
                                              type_name=f"{w[0]}{part[0]}{{index}}_t", precision=w_t.to_hls4ml(),
                                              data=self.get_attr(f"{w}_{part}_data"))
            self.add_softmax_tables()

    class TFLUTSoftmax(TFSoftmaxMixin, Layer):
        def initialize(self):
            shape = self.get_attr("in_shape")
            self.set_attr("n_cols", shape[-1])
            self.add_output_variable(list(shape), precision=_type(self, "prob_type").to_hls4ml())
            self.add_softmax_tables()

    class TFLayerNorm(Layer):
        def spec(self) -> LayerNormSpec:
            return LayerNormSpec(_type(self, "in_type"), self.get_attr("dim"), self.get_attr("table_size"),
                                 self.get_attr("table_bits"), _type(self, "out_type"), self.get_attr("epsilon"))

        def initialize(self):
            sp = self.spec()
            self.add_output_variable([self.get_attr("n_tokens"), sp.dim], precision=sp.result_t.to_hls4ml())
            g_t = _type(self, "gamma_type")
            for name in ("gamma", "beta"):
                self.add_weights_variable(name=name, var_name=f"{name[0]}n{{index}}", type_name=f"{name[0]}n{{index}}_t",
                                          precision=g_t.to_hls4ml(), data=self.get_attr(f"{name}_data"))
            self.add_weights_variable(name="rsqrt_table", var_name="rsqrt_table{index}",
                                      type_name="rsqrt_table{index}_t", precision=sp.rsqrt_t.to_hls4ml(),
                                      data=sp.rsqrt_t.to_float(sp.rsqrt_table))

    class TFTokenPooling(Layer):
        def spec(self) -> PoolSpec:
            return PoolSpec(_type(self, "in_type"), self.get_attr("n_tokens"), self.get_attr("mode"),
                            self.get_attr("const_bits"))

        def initialize(self):
            self.add_output_variable([self.get_attr("dim")], precision=self.spec().out_t.to_hls4ml())

    return TFMultiHeadAttention, TFLUTSoftmax, TFLayerNorm, TFTokenPooling


# ------------------------------------------------------------------------------------------------------------------
# Keras-2 parsers: Keras layer config -> hls4ml layer attributes (weights on their exact fixed-point grid)
# ------------------------------------------------------------------------------------------------------------------
def _on_grid(data, t: FixedType) -> np.ndarray:
    """Weights as the firmware stores them: the QKeras quantizer's grid (round half to even, saturate)."""
    return t.to_float(t.quantize(np.asarray(data, dtype=np.float64)))


def _base(keras_layer, input_names, class_name):
    layer = {"name": keras_layer["config"]["name"], "class_name": class_name}
    if input_names is not None:
        layer["inputs"] = input_names
    return layer


def parse_mha(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = _base(keras_layer, input_names, "TFMultiHeadAttention")
    n, d = input_shapes[0][-2], input_shapes[0][-1]
    out_dim = c["output_dim"] or d
    layer.update(n_tokens=n, in_dim=d, out_dim=out_dim, num_heads=c["num_heads"], key_dim=c["key_dim"],
                 weight_type=c["weight_type"], act_type=c["act_type"], score_type=c["score_type"],
                 prob_type=c["prob_type"], qkv_type=c.get("qkv_type") or c["act_type"],
                 table_size=c["table_size"], input_range=c["input_range"],
                 table_bits=c["table_bits"], scale_bits=c["scale_bits"])
    w_t = FixedType.parse(c["weight_type"])
    for w in ("query", "key", "value", "output"):
        for part in ("kernel", "bias"):
            layer[f"{w}_{part}_data"] = _on_grid(data_reader.get_weights_data(layer["name"], f"{w}_{part}"), w_t)
    return layer, [input_shapes[0][0], n, out_dim]


def parse_layernorm(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = _base(keras_layer, input_names, "TFLayerNorm")
    layer.update(n_tokens=input_shapes[0][-2], dim=input_shapes[0][-1], in_type=c["in_type"],
                 out_type=c["out_type"], gamma_type=c["gamma_type"], table_size=c["table_size"],
                 table_bits=c["table_bits"], epsilon=c["epsilon"])
    g_t = FixedType.parse(c["gamma_type"])
    for name in ("gamma", "beta"):
        layer[f"{name}_data"] = _on_grid(data_reader.get_weights_data(layer["name"], name), g_t)
    return layer, list(input_shapes[0])


def parse_lut_softmax(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = _base(keras_layer, input_names, "TFLUTSoftmax")
    layer.update(in_shape=list(input_shapes[0][1:]), score_type=c["in_type"], prob_type=c["out_type"],
                 table_size=c["table_size"], input_range=c["input_range"], table_bits=c["table_bits"])
    return layer, list(input_shapes[0])


def parse_pooling(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    layer = _base(keras_layer, input_names, "TFTokenPooling")
    layer.update(n_tokens=input_shapes[0][-2], dim=input_shapes[0][-1], mode=c["mode"], in_type=c["in_type"],
                 const_bits=c["const_bits"])
    return layer, [input_shapes[0][0], input_shapes[0][-1]]


# ------------------------------------------------------------------------------------------------------------------
# Config structs (all sizes, types and constants of one layer instance) and function calls
# ------------------------------------------------------------------------------------------------------------------
def softmax_config_struct(name: str, sp: SoftmaxSpec, n_rows: int, reuse: int) -> str:
    return f"""struct {name} : nnet::tf_softmax_config {{
    static const unsigned n = {sp.n};
    static const unsigned n_rows = {n_rows};
    static const unsigned table_size = {sp.table_size};
    static const int exp_shift = {sp.exp_shift};
    static const int inv_shift = {sp.inv_shift};
    static const unsigned reuse_factor = {reuse};
    typedef {_ctype(sp.diff_t)} diff_t;
    typedef {_ctype(sp.exp_t)} exp_t;
    typedef {_ctype(sp.sum_t)} sum_t;
    typedef {_ctype(sp.inv_t)} inv_t;
}};
"""


def mha_types(node) -> dict[str, FixedType]:
    """Every internal type of a TFMultiHeadAttention instance (shared with the emulator)."""
    in_t = FixedType.parse(node.get_input_variable().type.precision.definition_cpp())
    w_t, qkv_t = _type(node, "weight_type"), _type(node, "qkv_type")
    score_t, prob_t = _type(node, "score_type"), _type(node, "prob_type")
    n, d, hk = node.get_attr("n_tokens"), node.get_attr("in_dim"), node.get_attr("num_heads") * node.get_attr("key_dim")
    return {"in_t": in_t, "weight_t": w_t, "qkv_t": qkv_t, "score_t": score_t, "prob_t": prob_t,
            "proj_accum_t": dot_accum_t(in_t, w_t, d, w_t),
            "dot_t": dot_accum_t(qkv_t, qkv_t, node.get_attr("key_dim")),
            "ctx_accum_t": dot_accum_t(prob_t, qkv_t, n),
            "out_accum_t": dot_accum_t(qkv_t, w_t, hk, w_t)}


def _mha_config(node) -> str:
    t = mha_types(node)
    sc = ScaleSpec(node.get_attr("key_dim"), node.get_attr("scale_bits"))
    n, d, h, k, o = (node.get_attr(a) for a in ("n_tokens", "in_dim", "num_heads", "key_dim", "out_dim"))
    reuse = node.get_attr("reuse_factor")
    # Q/K/V projections, Q K^T, the scale, softmax normalisation, P V, output projection
    n_mult = 3 * n * d * h * k + h * n * n * k + 2 * h * n * n + h * n * n * k + n * h * k * o
    strategy = "resource" if str(node.get_attr("strategy", "latency")).lower() == "resource" else "latency"
    i = node.index
    return softmax_config_struct(f"config{i}_softmax", node.softmax_spec(), 1, reuse) + f"""struct config{i} : nnet::tf_mha_config {{
    static const unsigned n_tokens = {n};
    static const unsigned in_dim = {d};
    static const unsigned num_heads = {h};
    static const unsigned key_dim = {k};
    static const unsigned out_dim = {o};
    static const unsigned reuse_factor = {reuse};
    static const unsigned strategy = nnet::tf_strategy::{strategy};
    static const unsigned multiplier_limit = {math.ceil(n_mult / reuse)};
    static const unsigned weight_block_factor = {max(1, math.ceil(d * h * k / reuse))};
    typedef {_ctype(t['weight_t'])} weight_t;
    typedef {_ctype(t['weight_t'])} bias_t;
    typedef {_ctype(t['qkv_t'])} qkv_t;
    typedef {_ctype(t['proj_accum_t'])} proj_accum_t;
    typedef {_ctype(t['dot_t'])} dot_t;
    typedef {_ctype(sc.const_t)} scale_t;
    typedef {_ctype(t['score_t'])} score_t;
    typedef {_ctype(t['prob_t'])} prob_t;
    typedef {_ctype(t['ctx_accum_t'])} ctx_accum_t;
    typedef {_ctype(t['out_accum_t'])} out_accum_t;
    typedef config{i}_softmax softmax_config;
    static const unsigned long scale_raw = {sc.const_raw}UL;
}};
"""


def layernorm_types(sp: LayerNormSpec) -> dict[str, FixedType]:
    lo, hi = sp.half_range
    d = sp.diff_t
    sum_t = FixedType(sp.in_t.width + ceil_log2(sp.dim), sp.in_t.integer + ceil_log2(sp.dim), True)
    sq_int = 2 * (d.integer - 1) + ceil_log2(sp.dim)
    sq_t = FixedType(sq_int + 2 * d.frac, sq_int, False)
    wide_frac = sp.mean_t.frac + sp.rsqrt_t.frac + hi
    wide_int = d.integer + max(-lo, 0)
    return {"sum_t": sum_t, "sqsum_t": sq_t, "wide_t": FixedType(wide_int + wide_frac, wide_int, True)}


def _layernorm_config(node) -> str:
    sp = node.spec()
    t = layernorm_types(sp)
    lo, hi = sp.half_range
    return f"""struct config{node.index} : nnet::tf_layernorm_config {{
    static const unsigned n_tokens = {node.get_attr('n_tokens')};
    static const unsigned dim = {sp.dim};
    static const unsigned table_size = {sp.table_size};
    static const unsigned mant_bits = {sp.mant_bits};
    static const int var_frac = {sp.var_t.frac};
    static const int half_min = {lo};
    static const int half_max = {hi};
    static const unsigned long invdim_raw = {sp.invdim_raw}UL;
    static const unsigned long eps_raw = {sp.eps_raw}UL;
    static const unsigned reuse_factor = {node.get_attr('reuse_factor')};
    typedef {_ctype(t['sum_t'])} sum_t;
    typedef {_ctype(sp.invdim_t)} invdim_t;
    typedef {_ctype(sp.mean_t)} mean_t;
    typedef {_ctype(sp.diff_t)} diff_t;
    typedef {_ctype(t['sqsum_t'])} sqsum_t;
    typedef {_ctype(sp.var_t)} var_t;
    typedef {_ctype(sp.rsqrt_t)} rsqrt_t;
    typedef {_ctype(t['wide_t'])} wide_t;
    typedef {_ctype(sp.norm_t)} norm_t;
    typedef {_ctype(_type(node, 'gamma_type'))} gamma_t;
}};
"""


def pool_sum_t(sp: PoolSpec) -> FixedType:
    g = ceil_log2(sp.n)
    return FixedType(sp.in_t.width + g, sp.in_t.integer + g, True)


def _pooling_config(node) -> str:
    sp = node.spec()
    return f"""struct config{node.index} : nnet::tf_pooling_config {{
    static const unsigned n_tokens = {sp.n};
    static const unsigned dim = {node.get_attr('dim')};
    static const bool is_max = {'true' if sp.mode == 'max' else 'false'};
    static const unsigned long invn_raw = {sp.invn_raw}UL;
    static const unsigned reuse_factor = {node.get_attr('reuse_factor')};
    typedef {_ctype(pool_sum_t(sp))} sum_t;
    typedef {_ctype(sp.invn_t)} invn_t;
}};
"""


def _softmax_layer_config(node) -> str:
    sp = node.softmax_spec()
    rows = int(np.prod(node.get_attr("in_shape"))) // sp.n
    return softmax_config_struct(f"config{node.index}", sp, rows, node.get_attr("reuse_factor"))


def _templates(classes):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    mha, sm, ln, pool = classes
    includes = [f"nnet_utils/{h}" for h in HEADERS]

    def make(cls, config_fn, call_fn):
        class Config(LayerConfigTemplate):
            def __init__(self):
                super().__init__(cls)

            def format(self, node):
                return config_fn(node)

        class Function(FunctionCallTemplate):
            def __init__(self):
                super().__init__(cls, include_header=includes)

            def format(self, node):
                p = self._default_function_params(node)
                return call_fn(node, p)

        Config.__name__, Function.__name__ = f"{cls.__name__}Config", f"{cls.__name__}Function"
        return Config, Function

    def w(node, name):
        return node.get_weights(name).name

    def call_mha(node, p):
        ws = ", ".join(w(node, f"{x}_{y}") for x in "qkvo" for y in ("kernel", "bias"))
        return (f"nnet::tf_multi_head_attention<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, "
                f"{p['output']}, {ws}, {w(node, 'exp_table')}, {w(node, 'inv_table')});")

    def call_sm(node, p):
        return (f"nnet::tf_lut_softmax<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
                f"{w(node, 'exp_table')}, {w(node, 'inv_table')});")

    def call_ln(node, p):
        return (f"nnet::tf_layernorm<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
                f"{w(node, 'gamma')}, {w(node, 'beta')}, {w(node, 'rsqrt_table')});")

    def call_pool(node, p):
        return f"nnet::tf_token_pooling<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']});"

    return [*make(mha, _mha_config, call_mha), *make(sm, _softmax_layer_config, call_sm),
            *make(ln, _layernorm_config, call_ln), *make(pool, _pooling_config, call_pool)]


_REGISTERED: dict = {}


def register():
    """Register our layers with hls4ml (idempotent). Returns the hls4ml layer classes by name."""
    if _REGISTERED:
        return _REGISTERED
    import hls4ml
    from hls4ml.converters import register_keras_v2_layer_handler
    from hls4ml.model.layers import register_layer

    classes = _layer_classes()
    for keras_name, parser in (("QMultiHeadAttention", parse_mha), ("LUTSoftmax", parse_lut_softmax),
                               ("QLayerNormalization", parse_layernorm), ("TokenPooling", parse_pooling)):
        register_keras_v2_layer_handler(keras_name, parser)
    for cls in classes:
        register_layer(cls.__name__, cls)
    templates = _templates(classes)
    for backend_name in BACKENDS:
        backend = hls4ml.backends.get_backend(backend_name)
        for tmpl in templates:
            backend.register_template(tmpl)
        for h in HEADERS:
            backend.register_source(HERE / h)
    _REGISTERED.update({cls.__name__: cls for cls in classes})
    return _REGISTERED
