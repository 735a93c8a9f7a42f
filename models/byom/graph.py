"""The user's functional graph (Keras history keys) and the state of one mapping pass over it."""

from __future__ import annotations

from dataclasses import dataclass, field

from trigformer.models.fixed import FixedType


def _history(t):
    h = t._keras_history  # Keras 3: (operation, node_index, tensor_index)
    return h.operation, h.node_index, h.tensor_index


def _key(t) -> tuple[str, int, int]:
    layer, node_index, tensor_index = _history(t)
    return layer.name, node_index, tensor_index



@dataclass
class Tensor:
    """A mapped tensor: the new Keras tensor and the fixed-point type the firmware holds it in (None: untyped, the
    following QActivation types it)."""

    t: object
    type: FixedType | None


@dataclass
class _Build:
    qt: object
    quantized: bool  # trigformer's quantization (casts, quantized layers)
    final_softmax: str
    keep_user_quantizers: bool = False  # QKeras quantizers and trigformer layers as the user has them (mirror)
    memo: dict = field(default_factory=dict)
    weights: list = field(default_factory=list)  # (new layer, arrays)
    names: set = field(default_factory=set)
    rows: list = field(default_factory=list)  # the mapping table
    act_tensors: list = field(default_factory=list)  # (name, float tensor) of activation-typed tensors
    mha_layers: list = field(default_factory=list)  # (new layer, its inputs) for calibrating q/k/v/context
    inputs: list = field(default_factory=list)
