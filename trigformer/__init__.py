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

from pathlib import Path as _Path

# The code lives in the project's folders flow/, models/, sim/ and hls_templates/, mapped to trigformer.flow, ... by
# the packaging (setup.py: a wheel holds them under trigformer/; an editable install maps them). In a source checkout
# run with PYTHONPATH=<checkout> they are the folders beside this one: the namespace also searches there.
if not (_Path(__file__).parent / "flow").is_dir() and (_Path(__file__).parents[1] / "flow" / "__init__.py").is_file():
    __path__.append(str(_Path(__file__).resolve().parents[1]))

import trigformer.models  # noqa: E402, F401  (sets the TensorFlow environment before TensorFlow is imported)
from trigformer.hls_templates.extension import register as _register  # noqa: E402

_register()

__all__ = ["synth", "Result"]


def __getattr__(name: str):
    """synth and Result on first use: `python -m trigformer.sim.csim` (a C-simulation child) imports this package
    first and needs neither the flow nor its imports."""
    if name == "synth":
        from trigformer.api import synth

        return synth
    if name == "Result":
        from trigformer.flow.pipeline import Result

        return Result
    raise AttributeError(f"module 'trigformer' has no attribute {name!r}")
