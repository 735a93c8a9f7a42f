"""What every op provides, in one place (see ARCHITECTURE.md).

An op is a class with class attributes and static methods; the registry (`models.ops.registry`) maps Keras class
names, hls4ml class names and emulator kinds to it. Parts that need TensorFlow or hls4ml (the Keras layer, the
hls4ml layer and templates) live in the op's `keras.py` / `hls.py` and are imported only when asked for, so the
emulator and the cost model run with NumPy alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigformer.models.fixed import FixedType


@dataclass
class Node:
    """One layer of the emulator's plan: its op kind, inputs, result type, spec and raw integer arrays."""

    name: str
    kind: str
    inputs: list[str]
    out_t: FixedType
    spec: object = None  # the op's Spec instance (None for ops without parameters)
    arrays: dict = field(default_factory=dict)  # raw int64 weights
    size: int = 0  # output elements per event


class OpDef:
    """Base of every op. Subclasses set the class attributes and override what applies to them."""

    kind: str = ""  # emulator kind
    cost_kind: str = ""  # cost-model kind (defaults to `kind`)
    keras_classes: tuple[str, ...] = ()  # Keras layer classes this op converts
    hls_classes: tuple[str, ...] = ()  # hls4ml layer classes this op emulates
    spec_class = None  # Spec subclass of the node, if any
    package: str = ""  # the op's package (for keras.py / hls.py / headers)
    da_capable: bool = False  # has constant-weight products that hls.strategy distributed_arithmetic computes

    # ---- conversion --------------------------------------------------------------------------------------------
    @classmethod
    def plan_types(cls, layer, in_types: list[FixedType], qt, model) -> dict[str, FixedType]:
        """hls4ml precisions of the hls4ml layer(s) a Keras layer of this op becomes: {name: {'result': ..., ...}}.
        Our own layers carry their result type in their config."""
        cfg = layer.get_config()
        res = cfg.get("out_type") or cfg.get("act_type") or cfg.get("in_type")
        return {layer.name: {"result": FixedType.parse(res)}}

    # ---- emulator -----------------------------------------------------------------------------------------------
    @classmethod
    def matches_hls(cls, layer) -> bool:
        return layer.class_name in cls.hls_classes

    @classmethod
    def params(cls, layer, keras_model) -> tuple[object, dict]:
        """(spec, raw integer arrays) of the emulator node of an hls4ml layer of this op."""
        return None, {}

    @staticmethod
    def run(node: Node, ins: list[np.ndarray], in_t: list[FixedType]) -> np.ndarray:
        """Raw outputs [events, ...] from raw inputs: the firmware's integer arithmetic."""
        raise NotImplementedError

    @staticmethod
    def trace(node: Node, ins: list, in_t: list[FixedType]):
        """The RTL form: the same arithmetic on da4ml traced variables (flattened like the emulator's raws)."""
        raise NotImplementedError

    # ---- distributed arithmetic (models/ops/da.py) -------------------------------------------------------------
    @classmethod
    def products(cls, spec, arrays: dict, in_t: list[FixedType], n_tokens: int) -> list:
        """The layer's constant-weight products (models.ops.trace_common.Product) from its spec and raw arrays (an
        emulator node's, or what `params` reads from the hls4ml layer): what its trace computes with da4ml kernels
        and what hls.strategy distributed_arithmetic writes as C++. `n_tokens`: tokens per inference."""
        return []

    @classmethod
    def da_products(cls, layer) -> list:
        """`products` of an hls4ml layer (the distributed-arithmetic codegen pass, hls_templates/extension.py)."""
        from trigformer.models.ops.hls_common import input_type

        spec, arrays = cls.params(layer, None)
        shape = layer.get_output_variable().shape
        return cls.products(spec, arrays, [input_type(layer)], int(shape[0]) if len(shape) > 1 else 1)

    # ---- cost model ---------------------------------------------------------------------------------------------
    @classmethod
    def describe(cls, layer) -> dict:
        """Op-specific fields of the layer description the cost model reads (sizes come from the graph)."""
        return {}

    @staticmethod
    def cost(layer: dict, path, res) -> tuple[bool, int]:
        """Add the layer's operations to `path` (critical path) and `res` (resources).
        Returns (ends on a register, live bits held at an inner register boundary)."""
        raise NotImplementedError

    # ---- TensorFlow / hls4ml parts, imported on demand ------------------------------------------------------------
    @classmethod
    def part(cls, name: str):
        return importlib.import_module(f"{cls.package}.{name}")
