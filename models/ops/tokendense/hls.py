"""hls4ml side of the per-token Dense: layer class, Keras parser, config struct and call (nnet_tf_dense.h).
The MHA's projections use the same config struct (`dense_config_struct`)."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Layer

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import dot_accum_t, split_units
from trigformer.models.ops.hls_common import base_layer, configure, ctype, input_type, on_grid, set_internal_types

STRATEGIES = {"latency": "latency", "resource": "resource", "distributed_arithmetic": "distributed_arithmetic"}


def strategy_of(node) -> str:
    s = str(node.get_attr("strategy", "latency")).lower()
    if s not in STRATEGIES:
        raise ValueError(f"{node.name}: strategy {s!r} is not one of {', '.join(STRATEGIES)}")
    return s


def weight_layout(kernel: np.ndarray, strategy: str) -> np.ndarray:
    """Input-major [n_in][n_out] (latency: w[i * n_out + j]); output-major for resource (one ROM word per block of
    outputs: w[j * n_in + i])."""
    k = np.asarray(kernel)
    return k.T.copy() if strategy == "resource" else k


def dense_config_struct(name: str, n_tokens: int, n_in: int, n_out: int, reuse: int, strategy: str,
                        weight_t: str, bias_t: str, accum_t: str, kernel: str | None = None) -> str:
    """`kernel`: under distributed_arithmetic, the da4ml function (models/ops/da.py) one token runs."""
    tokens_parallel, iterations = split_units(n_tokens, reuse)
    out_block, blocks = split_units(n_out, reuse)
    if strategy == "resource":
        iterations = blocks
    da = ""
    if strategy == "distributed_arithmetic":
        if reuse != 1 or kernel is None:
            raise ValueError(f"{name}: distributed arithmetic is fully parallel (reuse factor 1) and needs its kernel")
        da = f"""    template <class x_T, class y_T> static void kernel(x_T x[{n_in}], y_T y[{n_out}]) {{
        #pragma HLS INLINE
        nnet::{kernel}<x_T, y_T>(x, y);
    }}
"""
    return f"""struct {name} : nnet::tf_dense_config {{
    static const unsigned n_tokens = {n_tokens};
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned reuse_factor = {reuse};
    static const unsigned strategy = nnet::tf_strategy::{strategy};
    static const unsigned tokens_parallel = {tokens_parallel};
    static const unsigned iterations = {iterations};
    static const unsigned out_block = {out_block};
    static const unsigned block_words = {out_block * n_in};
    typedef {weight_t} weight_t;
    typedef {bias_t} bias_t;
    typedef {accum_t} accum_t;
{da}}};
"""


class TFTokenDense(Layer):
    def initialize(self):
        configure(self)
        n, n_out = self.get_attr("n_tokens"), self.get_attr("n_out")
        w_t, b_t = FixedType.parse(self.get_attr("weight_type")), FixedType.parse(self.get_attr("bias_type"))
        acc = dot_accum_t(input_type(self), w_t, self.get_attr("n_in"), b_t)
        set_internal_types(self, {"accum": acc})
        self.add_output_variable([n, n_out])  # the result precision the configuration plans
        self.add_weights_variable(name="weight", var_name="w{index}", type_name="w{index}_t", precision=w_t.to_hls4ml(),
                                  data=weight_layout(self.get_attr("kernel_data"), strategy_of(self)))
        self.add_weights_variable(name="bias", var_name="b{index}", type_name="b{index}_t", precision=b_t.to_hls4ml(),
                                  data=self.get_attr("bias_data"))


def parse_token_dense(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    kq, bq = c["kernel_quantizer"]["config"], c["bias_quantizer"]["config"]
    w_t = FixedType.from_qkeras(kq["bits"], kq["integer"], bool(kq.get("keep_negative", True)))
    b_t = FixedType.from_qkeras(bq["bits"], bq["integer"], bool(bq.get("keep_negative", True)))
    name = c["name"]
    layer = base_layer(keras_layer, input_names, "TFTokenDense", n_tokens=input_shapes[0][-2],
                       n_in=input_shapes[0][-1], n_out=c["units"], weight_type=w_t.ap_type, bias_type=b_t.ap_type,
                       kernel_data=on_grid(data_reader.get_weights_data(name, "kernel"), w_t),
                       bias_data=on_grid(data_reader.get_weights_data(name, "bias"), b_t))
    return layer, [input_shapes[0][0], input_shapes[0][-2], c["units"]]


PARSERS = {"QTokenDense": parse_token_dense}
LAYER = TFTokenDense


def config(node) -> str:
    from trigformer.models.ops.da import function_name

    w, b = node.get_weights("weight"), node.get_weights("bias")
    return dense_config_struct(f"config{node.index}", node.get_attr("n_tokens"), node.get_attr("n_in"),
                               node.get_attr("n_out"), node.get_attr("reuse_factor"), strategy_of(node),
                               w.type.name, b.type.name, ctype(node, "accum_t"), function_name(node.index))


def call(node, p: dict, w) -> str:
    return (f"nnet::tf_token_dense<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']}, "
            f"{w('weight')}, {w('bias')});")

