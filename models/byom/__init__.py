"""Bring your own model: a trained stock Keras 3 or qkeras-v3 model (a .keras file or a model object; a Keras-2 /
QKeras-0.9 .h5 or SavedModel, rebuilt as Keras 3 by byom.legacy) becomes the same network out of trigformer's layers.

`ImportedModel(keras_model)` walks the user's functional graph once and refuses (UnsupportedLayer, naming the layer,
its class and the nearest supported alternative) anything trigformer cannot put into firmware, before any data is
read or anything trained. `build(qt, quantized)` then makes the equivalent model out of trigformer's layers with the
user's weights, the way models/builder.py builds one from model.yaml:

    InputLayer [tokens, features]        -> Input + QActivation cast to the input type
    Dense / EinsumDense / QDense          -> QTokenDense per token (3-D input) or QDense (2-D, the classifier),
                                             then a cast to the activation type (or quantized_relu for relu), unless
                                             a QActivation of the user's follows (then that one types the output)
    MultiHeadAttention                    -> QMultiHeadAttention (self- or cross-attention, value_dim, output_shape,
                                             use_bias); the EinsumDense kernels [d, heads, key_dim] become
                                             [d, heads*key_dim]; Keras scales the query by 1/sqrt(key_dim), which
                                             trigformer folds into the softmax's exp table (the same softmax)
    LayerNormalization (last axis)        -> QLayerNormalization
    Add                                   -> Add + cast to the activation type (unless a QActivation follows)
    Activation / ReLU (relu), QActivation -> QActivation (quantized_relu, or the user's quantizer, read as is)
    GlobalAverage/MaxPooling1D            -> TokenPooling (mean / max)
    Flatten followed by Dense             -> Flatten (hls4ml Reshape: no operation in io_parallel)
    Dropout and other inference no-ops    -> removed
    final Softmax (or Dense(softmax))     -> dropped (logits) or LUTSoftmax (model.final_softmax)
    trigformer's own layers               -> themselves (a saved trigformer model round-trips)

Weights: stock layers take the `quantization` section's weight type; QKeras layers keep their quantizers (read from
the layer; only fixed-point grids are accepted: quantized_bits with alpha 1 or None and quantized_relu).
"""

from __future__ import annotations

# The package, by concern: loading (model-file inspection, then Keras' load), legacy (Keras-2 files rebuilt), names
# (C++-safe layer names), quantizers (QKeras quantizers read), classes (the supported table), graph + mapping
# (per-class mapping), calibration (the `auto` integer bits), model (ImportedModel, which ties them together).
from trigformer.models.byom.classes import (HANDLED, HANDLERS, NEAREST, NO_OPS, SUPPORTED, unsupported,
                                            unsupported_message)
from trigformer.models.byom.loading import ModelFileError, check_finite_weights, inspect_model_file, load_model_file
from trigformer.models.byom.model import ImportedModel
from trigformer.models.byom.names import c_name_problem, c_names
from trigformer.models.byom.quantizers import read_quantizer

__all__ = ["HANDLED", "HANDLERS", "NEAREST", "NO_OPS", "SUPPORTED", "ImportedModel", "ModelFileError", "c_name_problem",
           "c_names", "check_finite_weights", "inspect_model_file", "load_model_file", "read_quantizer", "unsupported",
           "unsupported_message"]
