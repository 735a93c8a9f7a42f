"""trigformer's ops, one package each, and the registry that maps Keras classes, hls4ml classes and kinds to them.

    glue/       model input, casts and ReLU (QActivation), residual add, flatten (C++ by hls4ml)
    dense/      Dense, per token or flat (C++ by hls4ml)
    tokendense/ Dense applied to every token
    mha/        multi-head self- and cross-attention (uses softmax/)
    linformer/  Linformer self-attention: keys and values projected from N to k tokens first (built on mha/)
    softmax/    LUT softmax
    layernorm/  LayerNorm (uses rsqrt/)
    rmsnorm/    RMSNorm (uses rsqrt/)
    dyt/        DyT, gamma * tanh(alpha * x) + beta (a tanh table per element)
    pooling/    token pooling
    rsqrt/      exponent-normalised 1/sqrt table (a building block, not a layer)

Everything else (emulator, conversion, cost model, hls4ml registration) asks the registry, never a class name.
"""

from __future__ import annotations

from trigformer.models.ops.base import Node, OpDef
from trigformer.models.ops.dense import Dense
from trigformer.models.ops.dyt import DyT
from trigformer.models.ops.glue import Add, Cast, Flatten, Input, Relu
from trigformer.models.ops.layernorm import LayerNorm
from trigformer.models.ops.linformer import Linformer
from trigformer.models.ops.mha import MHA
from trigformer.models.ops.pooling import Pooling
from trigformer.models.ops.rmsnorm import RMSNorm
from trigformer.models.ops.softmax import Softmax
from trigformer.models.ops.tokendense import TokenDense

OPS: tuple[type[OpDef], ...] = (Input, TokenDense, Dense, Cast, Relu, Add, Flatten, MHA, Softmax, LayerNorm, RMSNorm,
                                Pooling, DyT, Linformer)

BY_KIND: dict[str, type[OpDef]] = {op.kind: op for op in OPS}
BY_COST_KIND: dict[str, type[OpDef]] = {op.cost_kind or op.kind: op for op in OPS}
NORMS: dict[str, type[OpDef]] = {op.norm_choice: op for op in OPS if getattr(op, "norm_choice", None)}
ATTENTIONS: dict[str, type[OpDef]] = {op.attention_choice: op for op in OPS if op.attention_choice}


class UnsupportedLayer(ValueError):
    """A layer no op handles; the message names it, its class and what is supported."""


def for_keras(layer) -> type[OpDef]:
    cls = type(layer).__name__
    for op in OPS:
        if cls in op.keras_classes:
            return op
    supported = sorted({c for op in OPS for c in op.keras_classes})
    raise UnsupportedLayer(f"layer {layer.name!r} ({cls}) is not supported; supported layers: {', '.join(supported)}")


def for_hls(layer) -> type[OpDef]:
    for op in OPS:
        if op.matches_hls(layer):
            return op
    raise UnsupportedLayer(f"hls4ml layer {layer.name!r} ({layer.class_name}) has no trigformer op")


def with_hls_parts() -> list[type[OpDef]]:
    """The ops that bring their own hls4ml layer and C++ header."""
    return [op for op in OPS if op.package]


__all__ = ["OPS", "BY_KIND", "BY_COST_KIND", "NORMS", "ATTENTIONS", "Node", "OpDef", "UnsupportedLayer", "for_keras",
           "for_hls", "with_hls_parts"]
