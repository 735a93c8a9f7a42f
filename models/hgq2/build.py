"""model.yaml -> an HGQ2 model (quantization.mode: hgq2): the Transformer of the model keys, built from HGQ2's layers,
with per-element bit widths that training learns under HGQ2's resource penalty (EBOPs), and its float twin.

    input -> QEinsumDense embedding -> num_blocks x [attention (QMultiHeadAttention, or QLinformerAttention with
    model.attention: linformer) + residual QAdd, mlp_blocks x (QDense ffn_dim + activation -> QDense embed_dim)
    + residual QAdd] -> pooling (flatten | mean | max) -> QDense classifier (logits)

The uniform keys are the starting point HGQ2 learns from: every weight and bias quantizer starts at weight_bits
(kbi, saturating), every activation quantizer at act_bits with act_int_bits (kif, wrapping), the inputs at
input_bits / input_int_bits. There is no norm layer in this mode (model.norm must be none: HGQ2 0.2.0 has no
LayerNorm that alkaid traces). The firmware of the trained model is its alkaid trace (models/hgq2/check.py).
"""

from __future__ import annotations


def _scopes(q):
    """HGQ2's quantizer defaults, started from the uniform keys. Both count integer bits without the sign (QKeras'
    convention, README); HGQ2's b (kbi) excludes the sign too while the keys' totals include it."""
    from hgq.config import LayerConfigScope, QuantizerConfigScope

    act_i = q.act_int_bits
    return (QuantizerConfigScope(place=("weight", "bias"), default_q_type="kbi", overflow_mode="SAT_SYM",
                                 b0=q.weight_bits - 1, i0=q.weight_int_bits),
            QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP",
                                 i0=act_i, f0=q.act_bits - act_i - 1),
            LayerConfigScope(enable_ebops=True, beta0=q.beta))


def _input_scope(q):
    from hgq.config import QuantizerConfigScope

    i = q.input_int_bits
    return QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP",
                                i0=i, f0=q.input_bits - i - 1)


def build_hgq2(cfg):
    """The HGQ2 model of the model/quantization keys (cfg: flow.config.Config)."""
    import keras
    from hgq.layers import (QAdd, QDense, QEinsumDense, QGlobalAveragePooling1D, QGlobalMaxPooling1D,
                            QLinformerAttention, QMultiHeadAttention)

    m, q = cfg.model, cfg.quantization
    n_tok, n_feat, d = cfg.data.n_particles, len(cfg.data.features), m.embed_dim
    act = m.activation if m.activation == "relu" else None
    a, b, c = _scopes(q)
    with a, b, c:
        inp = keras.Input((n_tok, n_feat), name="particles")
        with _input_scope(q):  # the embedding's input quantizer is the firmware's input type
            x = QEinsumDense("btf,fd->btd", output_shape=(n_tok, d), bias_axes="d", name="embed")(inp)
        for blk in range(m.num_blocks):
            if m.attention == "linformer":
                att = QLinformerAttention(num_heads=m.num_heads, lin_kv_proj_dim=m.linformer_k, key_dim=m.key_dim,
                                          name=f"b{blk}_attention")
            else:
                att = QMultiHeadAttention(num_heads=m.num_heads, key_dim=m.key_dim, name=f"b{blk}_attention")
            x = QAdd(name=f"b{blk}_add1")([x, att(x, x)])
            for j in range(m.mlp_blocks):
                h = QDense(m.ffn_dim, activation=act, name=f"b{blk}_mlp{j}_1")(x)
                x = QAdd(name=f"b{blk}_mlp{j}_add")([x, QDense(d, name=f"b{blk}_mlp{j}_2")(h)])
        x = _pool(m.pooling, x, keras, QGlobalAveragePooling1D, QGlobalMaxPooling1D)
        out = QDense(len(m.classes), name="head")(x)
    return keras.Model(inp, out, name=cfg.name)


def build_float(cfg):
    """The float twin: the same network of Keras' own layers (float32), trained the same way."""
    import keras
    from keras import layers as L

    m = cfg.model
    n_tok, n_feat, d = cfg.data.n_particles, len(cfg.data.features), m.embed_dim
    act = m.activation if m.activation == "relu" else None
    inp = keras.Input((n_tok, n_feat), name="particles")
    x = L.EinsumDense("btf,fd->btd", output_shape=(n_tok, d), bias_axes="d", name="embed")(inp)
    for blk in range(m.num_blocks):
        if m.attention == "linformer":  # keys and values projected along the tokens to linformer_k (E, F)
            kp = L.EinsumDense("btd,tk->bkd", output_shape=(m.linformer_k, d), name=f"b{blk}_lin_k")(x)
            vp = L.EinsumDense("btd,tk->bkd", output_shape=(m.linformer_k, d), name=f"b{blk}_lin_v")(x)
            a = L.MultiHeadAttention(num_heads=m.num_heads, key_dim=m.key_dim, name=f"b{blk}_attention")(x, vp, kp)
            x = L.Add(name=f"b{blk}_add1")([x, a])
        else:
            att = L.MultiHeadAttention(num_heads=m.num_heads, key_dim=m.key_dim, name=f"b{blk}_attention")
            x = L.Add(name=f"b{blk}_add1")([x, att(x, x)])
        for j in range(m.mlp_blocks):
            h = L.Dense(m.ffn_dim, activation=act, name=f"b{blk}_mlp{j}_1")(x)
            x = L.Add(name=f"b{blk}_mlp{j}_add")([x, L.Dense(d, name=f"b{blk}_mlp{j}_2")(h)])
    x = _pool(m.pooling, x, keras, L.GlobalAveragePooling1D, L.GlobalMaxPooling1D)
    out = L.Dense(len(m.classes), name="head")(x)
    return keras.Model(inp, out, name=f"{cfg.name}_float")


def _pool(kind: str, x, keras, mean_cls, max_cls):
    if kind == "flatten":
        return keras.layers.Flatten(name="flatten")(x)
    return (mean_cls if kind == "mean" else max_cls)(name="pool")(x)


def ebops(model) -> float:
    """HGQ2's EBOPs of the model as it stands (its resource proxy; as hgq.utils.sugar.FreeEBOPs sums them)."""
    from hgq.layers import QLayerBase
    from keras import ops

    return float(sum(int(ops.convert_to_numpy(layer._ebops)) for layer in model._flatten_layers()
                     if isinstance(layer, QLayerBase) and layer.enable_ebops))


def calibrate(model, x) -> dict:
    """HGQ2's deployment step for WRAP activation quantizers (hgq.utils.trace_minmax): every activation's integer
    bits (and sign bit) set from the values the training set gives it, so that no training event overflows. During
    training HGQ2 only tracks recent batches (i decays by i_decay_speed per step), so without this a rare event
    wraps. Returns what changed, for report.json."""
    from hgq.utils import trace_minmax

    before = ebops(model)
    trace_minmax(model, x, batch_size=1024)
    return {"method": "hgq.utils.trace_minmax (integer and sign bits of every WRAP activation quantizer)",
            "data": "the training set", "n_events": int(len(x)), "ebops_before": before, "ebops_after": ebops(model)}
