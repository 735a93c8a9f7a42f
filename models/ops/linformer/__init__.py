"""Linformer self-attention (model.attention: linformer): keys and values from the N tokens projected to
k = model.linformer_k tokens along the token axis by learned E, F ([N, k], no bias, shared by the heads), as HGQ2's
hgq.layers.QLinformerAttention: spec.py (LinformerSpec, on MHASpec), keras.py (QLinformerAttention, on
QMultiHeadAttention), hls.py + nnet_tf_linformer.h (on the attention's stages), trace.py, cost.py. The scores and
the context are N x k variable products per head instead of N x N; E and F are constant-weight products."""

from __future__ import annotations

from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.linformer.spec import TOKEN_PROJECTIONS, LinformerSpec
from trigformer.models.ops.mha import MHA


class Linformer(MHA):
    kind = "linformer"
    attention_choice = "linformer"
    config_keys = ("linformer_k",)
    keras_classes = ("QLinformerAttention",)
    byom = {"QLinformerAttention": "_own_mha"}  # no stock Keras Linformer to map
    hls_classes = ("TFLinformerAttention",)
    spec_class = LinformerSpec
    package = __name__
    header_everywhere = False  # nnet_tf_linformer.h only where the layer is

    @classmethod
    def params(cls, layer, keras_model):
        sp, arrays = super().params(layer, keras_model)
        return sp, {**arrays, **{f"{p}_kernel": raw_on_grid(layer.get_attr(f"{p}_kernel_data"), sp.weight_t)
                                 for p in TOKEN_PROJECTIONS}}

    @staticmethod
    def trace(node, ins, in_t):
        from trigformer.models.ops.linformer.trace import linformer_trace

        return linformer_trace(node, ins, in_t)

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.linformer.cost import cost

        return cost(layer, path, res)

    @classmethod
    def config_problem(cls, m, n_tokens: int) -> tuple[str, str] | None:
        k = m.linformer_k
        if k is None or not 1 <= k < n_tokens:
            return "model.linformer_k", (f"attention linformer projects the data.n_particles = {n_tokens} tokens to k "
                                         f"keys and values: give an integer 1 <= k < {n_tokens}, got {k}")
        return None

    @classmethod
    def attention_layer(cls, m, qt, quantized: bool, name: str, **kwargs):
        return super().attention_layer(m, qt, quantized, name, lin_k=m.linformer_k, **kwargs)
