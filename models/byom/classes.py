"""The Keras/QKeras classes bring-your-own-model maps (the README's supported-layer table), the nearest supported
alternative for the others, and which method of the mapping (byom.mapping) handles each class."""

from __future__ import annotations

from trigformer.models.ops import OPS, UnsupportedLayer

# The supported-layer table (README and messages): user layer -> trigformer layers.
SUPPORTED = (
    ("MultiHeadAttention", "QMultiHeadAttention: self-attention (query = key = value) or cross-attention (query and "
                           "key/value from different tensors, any token counts); any num_heads, key_dim, value_dim, "
                           "output_shape, use_bias; no attention mask, default attention_axes"),
    ("LayerNormalization", "QLayerNormalization, on the last axis of token tensors"),
    ("Dense, EinsumDense, QDense", "QTokenDense per token on [tokens, features] (EinsumDense: a 2-D kernel "
                                   "contracting the last axis, e.g. 'abc,cd->abd'), QDense on [features]"),
    ("Add", "Add (+ a cast to the activation type)"),
    ("Activation / QActivation (relu, linear), ReLU", "QActivation (quantized_relu or the user's quantizer)"),
    ("Dropout (and SpatialDropout1D, GaussianNoise, GaussianDropout, AlphaDropout)", "removed (inference)"),
    ("GlobalAveragePooling1D, GlobalMaxPooling1D", "TokenPooling (mean, max)"),
    ("Flatten followed by Dense", "Flatten (hls4ml Reshape; free in io_parallel) + QDense"),
    ("Softmax / Activation('softmax') / Dense(..., activation='softmax') as the model output",
     "dropped (logits are reported; model.final_softmax: drop) or LUTSoftmax (model.final_softmax: lut)"),
    ("trigformer's own layers (QTokenDense, QMultiHeadAttention, QLayerNormalization, QRMSNormalization, "
     "TokenPooling, LUTSoftmax)", "themselves (a saved trigformer model round-trips)"),
)

# Nearest supported alternative for layers people commonly have.
NEAREST = {
    "LSTM": "MultiHeadAttention (a Transformer block mixes the tokens instead of a recurrence)",
    "GRU": "MultiHeadAttention (a Transformer block mixes the tokens instead of a recurrence)",
    "SimpleRNN": "MultiHeadAttention (a Transformer block mixes the tokens instead of a recurrence)",
    "Bidirectional": "MultiHeadAttention (attention sees every token in both directions)",
    "QLSTM": "MultiHeadAttention", "QGRU": "MultiHeadAttention", "QSimpleRNN": "MultiHeadAttention",
    "Conv1D": "Dense applied per token (a kernel size of 1) followed by MultiHeadAttention to mix tokens",
    "QConv1D": "QDense applied per token (a kernel size of 1)",
    "Conv2D": "Dense applied per token on [tokens, features] inputs (e.g. particles x features)",
    "QConv2D": "QDense applied per token on [tokens, features] inputs",
    "DepthwiseConv1D": "Dense applied per token", "SeparableConv1D": "Dense applied per token",
    "BatchNormalization": "LayerNormalization (per token, last axis)",
    "QBatchNormalization": "LayerNormalization (per token, last axis)",
    "Attention": "MultiHeadAttention", "AdditiveAttention": "MultiHeadAttention",
    "Concatenate": "Add (residual sums), or one input tensor with the features side by side",
    "Multiply": "Add", "Subtract": "Add", "Average": "Add", "Maximum": "GlobalMaxPooling1D or Add",
    "Reshape": "Flatten followed by Dense", "Permute": "MultiHeadAttention over the token axis",
    "MaxPooling1D": "GlobalMaxPooling1D", "AveragePooling1D": "GlobalAveragePooling1D",
    "GlobalAveragePooling2D": "GlobalAveragePooling1D on [tokens, features]",
    "GlobalMaxPooling2D": "GlobalMaxPooling1D on [tokens, features]",
    "LeakyReLU": "ReLU", "PReLU": "ReLU", "ELU": "ReLU", "ThresholdedReLU": "ReLU",
    "Embedding": "Dense on the token features", "Masking": "no mask (padding particles are zero tokens)",
    "TFOpLambda": "a Keras layer (Add for +, Flatten for a reshape, GlobalAveragePooling1D for a mean)",
    "SlicingOpLambda": "GlobalAveragePooling1D / GlobalMaxPooling1D, or a separate model input",
    "Lambda": "a Keras layer of the supported table",
    "Functional": "one flat functional model (call the inner model's layers directly)",
    "Sequential": "one flat functional model (call the inner model's layers directly)",
}

NO_OPS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")
HANDLERS = {c: h for op in OPS for c, h in op.byom_handlers().items()}  # layer class -> ImportedModel method
HANDLED = {"InputLayer", *NO_OPS, *HANDLERS}


def unsupported(layer, why: str = "", nearest: str | None = None) -> UnsupportedLayer:
    return UnsupportedLayer(unsupported_message(layer.name, type(layer).__name__, why, nearest))


def unsupported_message(name: str, cls: str, why: str = "", nearest: str | None = None) -> str:
    alt = nearest or NEAREST.get(cls) or "see the supported-layer table in the README"
    what = f": {why}" if why else " is not supported"
    return f"layer {name!r} ({cls}){what}; nearest supported: {alt}"
