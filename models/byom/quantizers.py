"""QKeras quantizers and Keras activations of a user's layers, read (never guessed)."""

from __future__ import annotations

import numpy as np

from trigformer.models.byom.classes import unsupported
from trigformer.models.fixed import FixedType


def read_quantizer(q, owner, what: str) -> FixedType:
    """The fixed-point type of a QKeras quantizer, or UnsupportedLayer when it is not a fixed-point grid."""
    name = type(q).__name__
    if name == "quantized_bits":
        alpha = q.alpha
        if isinstance(alpha, str) or (alpha is not None and float(np.max(np.abs(np.asarray(alpha) - 1))) != 0):
            raise unsupported(owner, f"{what} quantized_bits(alpha={alpha!r}) scales its grid by a float; "
                                     "firmware types need alpha=1 (or None)", "quantized_bits(bits, integer, alpha=1)")
        if q.symmetric:
            raise unsupported(owner, f"{what} quantized_bits(symmetric=1) drops the most negative value",
                              "quantized_bits(bits, integer, alpha=1)")
        if q.use_stochastic_rounding or getattr(q, "qnoise_factor", 1.0) != 1.0:
            raise unsupported(owner, f"{what} uses stochastic rounding or a qnoise_factor other than 1",
                              "quantized_bits(bits, integer, alpha=1)")
        return FixedType.from_qkeras(int(q.bits), int(q.integer), bool(q.keep_negative))
    if name == "quantized_relu":
        if q.use_sigmoid or q.negative_slope or getattr(q, "relu_upper_bound", None) is not None \
                or q.use_stochastic_rounding or getattr(q, "qnoise_factor", 1.0) != 1.0:
            raise unsupported(owner, f"{what} quantized_relu with a sigmoid, a negative slope, an upper bound or "
                                     "stochastic rounding", "quantized_relu(bits, integer)")
        return FixedType(int(q.bits), int(q.integer), False, "RND_CONV", "SAT")
    raise unsupported(owner, f"{what} {name} is not a fixed-point quantizer",
                      "quantized_bits(bits, integer, alpha=1) or quantized_relu(bits, integer)")




def _activation_name(act) -> str | object:
    """'linear', 'relu', 'softmax', ... or the QKeras quantizer object an activation argument holds."""
    import keras

    if act is None:
        return "linear"
    if hasattr(act, "bits") and hasattr(act, "get_config"):  # a QKeras quantizer as the activation
        return act
    try:
        name = keras.activations.serialize(act)
    except Exception:
        return getattr(act, "__name__", str(act))
    return name if isinstance(name, str) else str(name)
