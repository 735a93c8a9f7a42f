"""hls4ml side of the Linformer attention: the attention's layer class, parser, config and call (models/ops/mha/hls.py)
plus E and F, two token-dense products over the feature columns (tokendense's C++: `dense_config_struct`), and the
call of nnet_tf_linformer.h."""

from __future__ import annotations

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.da import function_name
from trigformer.models.ops.hls_common import attr_type, ctype, on_grid
from trigformer.models.ops.linformer.spec import TOKEN_PROJECTIONS, LinformerSpec
from trigformer.models.ops.mha import hls as mha_hls
from trigformer.models.ops.tokendense.hls import dense_config_struct, strategy_of, weight_layout


class TFLinformerAttention(mha_hls.TFMultiHeadAttention):
    spec_class = LinformerSpec

    def kv_type(self):
        return attr_type(self, "lin_type")

    def initialize(self):
        super().initialize()
        sp, strategy = self.spec(), strategy_of(self)
        for p in TOKEN_PROJECTIONS:  # no bias (HGQ2's too): zeros, whose additions vanish in HLS
            self.add_weights_variable(name=f"{p}_kernel", var_name=f"{p}k{{index}}", type_name=f"{p}k{{index}}_t",
                                      precision=sp.weight_t.to_hls4ml(),
                                      data=weight_layout(self.get_attr(f"{p}_kernel_data"), strategy))
            self.add_weights_variable(name=f"{p}_bias", var_name=f"{p}b{{index}}", type_name=f"{p}b{{index}}_t",
                                      precision=sp.weight_t.to_hls4ml(), data=np.zeros(sp.n_kv))


def parse_linformer(keras_layer, input_names, input_shapes, data_reader):
    c = keras_layer["config"]
    if len(input_shapes) > 1:
        raise ValueError(f"{c['name']}: Linformer attention is self-attention (one input)")
    layer, shape = mha_hls.parse_mha(keras_layer, input_names, input_shapes, data_reader)
    w_t = FixedType.parse(layer["weight_type"])
    layer.update(class_name="TFLinformerAttention", n_kv=c["lin_k"], lin_type=c.get("lin_type") or layer["qkv_type"])
    for p in TOKEN_PROJECTIONS:
        layer[f"{p}_kernel_data"] = on_grid(data_reader.get_weights_data(layer["name"], f"{p}_kernel"), w_t)
    return layer, shape


PARSERS = {"QLinformerAttention": parse_linformer}
LAYER = TFLinformerAttention


def config(node) -> str:
    sp, i = node.spec(), node.index
    reuse, strategy = node.get_attr("reuse_factor"), strategy_of(node)
    structs = "".join(  # per feature column: N -> k
        dense_config_struct(f"config{i}_{p}", sp.in_dim, sp.n_tokens, sp.n_kv, reuse, strategy,
                            node.get_weights(f"{p}_kernel").type.name, node.get_weights(f"{p}_bias").type.name,
                            ctype(node, "lin_accum_t"), function_name(i, f"_{p}"))
        for p in TOKEN_PROJECTIONS)
    members = "".join(f"    typedef config{i}_{p} {p}_config;\n" for p in TOKEN_PROJECTIONS)
    return mha_hls.config(node, structs, f"    typedef {ctype(node, 'lin_t')} lin_t;\n{members}")


def call(node, p: dict, w) -> str:
    ws = mha_hls.weight_args(w, "qkvo" + "".join(TOKEN_PROJECTIONS))
    return (f"nnet::tf_linformer_attention<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, "
            f"{p['output']}, {ws}, {w('exp_table')}, {w('inv_table')});")
