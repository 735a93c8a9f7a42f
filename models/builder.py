"""model + quantization sections -> Keras Transformer encoder (quantized, or its float twin).

input -> QDense embedding -> num_blocks x [attention (model.attention) + residual (+ norm), FFN + residual (+ norm)]
-> token pooling -> QDense classifier (logits; argmax is the trigger decision, no softmax in firmware).
Every tensor between layers is cast to the activation type by a QActivation, the way hls4ml will cast it.
Layer names are stable: the HLS project, the emulator and the reports refer to them.
"""

from __future__ import annotations

import keras  # Keras 3 itself (tf.keras turns into Keras 2, tf_keras, under TF_USE_LEGACY_KERAS=1)
from qkeras import QActivation, QDense
from qkeras.quantizers import quantized_bits, quantized_relu

from trigformer.models.ops import ATTENTIONS, NORMS
from trigformer.models.ops.keras_common import weight_quantizer
from trigformer.models.ops.pooling.keras import TokenPooling
from trigformer.models.ops.tokendense.keras import QTokenDense
from trigformer.models.quant import QuantTypes


def build_model(cfg, quantized: bool = True) -> keras.Model:
    """cfg: flow.config.Config (only .data.n_particles, .data.features, .model, .quantization are read)."""
    m, qt = cfg.model, QuantTypes.from_config(cfg.quantization)
    n_tokens, n_feat, d = cfg.data.n_particles, len(cfg.data.features), m.embed_dim
    act_q = quantized_bits(**qt.act_t.qkeras_config())

    def cast(x, name, quantizer=act_q):
        return QActivation(quantizer, name=name)(x) if quantized else x

    def dense(x, units, name, activation=None):
        if quantized:
            wq = weight_quantizer(qt.weight_t)
            layer = QTokenDense if len(x.shape) == 3 else QDense  # per token, or the classifier after pooling
            y = layer(units, kernel_quantizer=wq, bias_quantizer=weight_quantizer(qt.weight_t), name=name)(x)
            if activation == "relu":
                return QActivation(quantized_relu(qt.relu_t.width, qt.relu_t.integer), name=f"{name}_relu")(y)
            return cast(y, f"{name}_q")
        return keras.layers.Dense(units, activation=activation, name=name)(x)

    def norm(x, name):
        return x if m.norm == "none" else NORMS[m.norm].keras_layer(qt, quantized, name)(x)

    inp = keras.Input((n_tokens, n_feat), name="particles")
    x = cast(inp, "input_q", quantized_bits(**qt.input_t.qkeras_config()))
    x = dense(x, d, "embed")
    for b in range(m.num_blocks):
        a = ATTENTIONS[m.attention].attention_layer(m, qt, quantized, f"b{b}_{m.attention}")(x)
        x = cast(keras.layers.Add(name=f"b{b}_add1")([x, a]), f"b{b}_add1_q")
        x = norm(x, f"b{b}_ln1")
        f = dense(x, m.ffn_dim, f"b{b}_ffn1", activation=m.activation if m.activation == "relu" else None)
        f = dense(f, d, f"b{b}_ffn2")
        x = cast(keras.layers.Add(name=f"b{b}_add2")([x, f]), f"b{b}_add2_q")
        x = norm(x, f"b{b}_ln2")
    x = TokenPooling(m.pooling, in_type=qt.act_t.ap_type, quantized=quantized, name="pool")(x)
    out = dense(x, len(m.classes), "head")
    return keras.Model(inp, out, name=cfg.name)


def snap_to_grid(model: keras.Model) -> None:
    """Replace every quantized weight by its value on the fixed-point grid (in place).

    The quantized forward pass is unchanged (quantizing a grid value is the identity), but hls4ml, the emulator and
    the saved model now hold the very numbers the firmware stores, with no float32 straight-through residue."""
    from trigformer.models.ops.common import quantizer_type

    for layer in model.layers:
        if isinstance(layer, QDense):  # kernel and bias, each on its own quantizer's grid
            ts = [quantizer_type(layer.kernel_quantizer_internal)]
            if layer.use_bias:
                ts.append(quantizer_type(layer.bias_quantizer_internal))
            layer.set_weights([t.round_trip(w) for t, w in zip(ts, layer.get_weights())])
        elif hasattr(layer, "snap_to_grid"):  # our layers know their weight grids
            layer.snap_to_grid()


def custom_objects() -> dict:
    """Everything needed to load a saved trigformer model (ours and QKeras')."""
    import importlib

    from qkeras.utils import _add_supported_quantized_objects

    from trigformer.models.ops import OPS

    objs = {}
    for op in OPS:
        if op.package:
            keras = importlib.import_module(f"{op.package}.keras")
            objs.update({c: getattr(keras, c) for c in op.keras_classes if hasattr(keras, c)})
    _add_supported_quantized_objects(objs)
    return objs
