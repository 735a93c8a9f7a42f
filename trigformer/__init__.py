"""trigformer's Python API: the `synth` flow for notebooks and scripts, and trigformer's layers in hls4ml.

    import trigformer

    result = trigformer.synth("model.yaml", part="xcvu9p")        # what `synth model.yaml --part xcvu9p` does
    result = trigformer.synth("tagger.keras")                      # a trained model file, defaults, embedded jets
    result = trigformer.synth({"name": "tagger", "data": {"n_particles": 16}}, model=keras_model)  # a model object
    result.report["accuracy"], result.out_dir, result.exit_code

Importing trigformer registers its layers (QMultiHeadAttention, QTokenDense, QLayerNormalization, TokenPooling,
LUTSoftmax, ...) with hls4ml for the Vivado and Vitis backends, so hls4ml's own
`hls4ml.converters.convert_from_keras_model(model, ...)` accepts models made of them.
"""

from __future__ import annotations

import trigformer.models  # noqa: F401  (sets the TensorFlow environment before TensorFlow is imported)
from trigformer.flow.pipeline import Result
from trigformer.hls_templates.extension import register as _register
from trigformer.api import synth

_register()

__all__ = ["synth", "Result"]
