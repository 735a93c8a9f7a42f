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
    tunable: bool = False  # `synth --fit` may change its reuse factor (trigformer's own layers split by it)
    weighted: bool = False  # has weights whose place (constants, ROM) the strategy changes: --fit may switch it
    elementwise: bool = False  # folds into the unit of the layer before it (sim/rtl: one pipeline unit)
    graph_input: bool = False  # a model input: no inputs of its own, fed by the caller
    norm_choice: str | None = None  # the `model.norm` value that puts this op after each residual add
    attention_choice: str | None = None  # the `model.attention` value that makes this op each block's attention
    # its C++ header is included by every project (the ops of the Keras 2 reference firmware), or only by projects
    # with its layer (hls_templates/extension.py: includes)
    header_everywhere: bool = True
    # Keras / QKeras classes a saved model (models/byom.py) may hold for this op -> the ImportedModel method that maps
    # them; None: each of `keras_classes` is kept as itself ("_own", trigformer's own single-input layers)
    byom: dict[str, str] | None = None

    @classmethod
    def byom_handlers(cls) -> dict[str, str]:
        return dict(cls.byom) if cls.byom is not None else {c: "_own" for c in cls.keras_classes}

    @classmethod
    def units(cls, layer: dict) -> int:
        """Independent units of work of a layer description (what its reuse factor shares hardware over,
        models.ops.common.split_units): one per token unless the op says otherwise."""
        return int(layer.get("n_tokens", 1))

    # ---- conversion --------------------------------------------------------------------------------------------
    @classmethod
    def plan_types(cls, layer, in_types: list[FixedType], qt, model) -> dict[str, FixedType]:
        """hls4ml precisions of the hls4ml layer(s) a Keras layer of this op becomes: {name: {'result': ..., ...}}.
        Our own layers carry their result type in their config."""
        cfg = layer.get_config()
        res = cfg.get("out_type") or cfg.get("act_type") or cfg.get("in_type")
        return {layer.name: {"result": FixedType.parse(res)}}

    @classmethod
    def settings(cls, layer, s: dict, backend: str) -> dict:
        """The reuse factor and strategy a Keras layer of this op gets from the asked ones `s` (a note says why when
        they differ): distributed_arithmetic only where there are constant-weight products."""
        if s["strategy"] == "distributed_arithmetic" and not cls.da_capable:
            s["strategy"] = "latency"  # no constant-weight product: its kernel as it is
        return s

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
        """The RTL form: the same arithmetic on alkaid traced variables (flattened like the emulator's raws)."""
        raise NotImplementedError

    # ---- distributed arithmetic (models/ops/da.py) -------------------------------------------------------------
    @classmethod
    def products(cls, spec, arrays: dict, in_t: list[FixedType], n_tokens: int) -> list:
        """The layer's constant-weight products (models.ops.trace_common.Product) from its spec and raw arrays (an
        emulator node's, or what `params` reads from the hls4ml layer): what its trace computes with alkaid kernels
        and what hls.strategy distributed_arithmetic writes as C++. `n_tokens`: tokens per inference."""
        return []

    @classmethod
    def da_products(cls, layer) -> list:
        """`products` of an hls4ml layer (the distributed-arithmetic codegen pass, hls_templates/extension.py)."""
        from trigformer.models.ops.hls_common import input_type

        spec, arrays = cls.params(layer, None)
        shape = layer.get_output_variable().shape
        return cls.products(spec, arrays, [input_type(layer)], int(shape[0]) if len(shape) > 1 else 1)

    # ---- diagnostics ----------------------------------------------------------------------------------------------
    @staticmethod
    def attention_scores(node: Node, vals: dict):
        """(float scores, float probabilities) of an attention layer for the softmax diagnostics; None: not one."""
        return None

    # ---- cost model ---------------------------------------------------------------------------------------------
    @classmethod
    def describe(cls, layer) -> dict:
        """Op-specific fields of the layer description the cost model reads (sizes come from the graph)."""
        return {}

    @classmethod
    def ii(cls, d: dict) -> int | None:
        """The II a layer description's reuse factor gives (trigformer's layers: their iterations; None: not set by
        the reuse factor)."""
        return d.get("iterations")

    @classmethod
    def after(cls, layer: dict, prev: dict | None) -> dict:
        """The layer description completed from the previous layer's (the estimate walks the layers in order)."""
        return layer

    @staticmethod
    def cost(layer: dict, path, res) -> tuple[bool, int]:
        """Add the layer's operations to `path` (critical path) and `res` (resources).
        Returns (ends on a register, live bits held at an inner register boundary)."""
        raise NotImplementedError

    # ---- TensorFlow / hls4ml parts, imported on demand ------------------------------------------------------------
    @classmethod
    def part(cls, name: str):
        return importlib.import_module(f"{cls.package}.{name}")


class SpecTypedOp(OpDef):
    """An op whose hls4ml layer carries its whole spec (the norms): the types it plans are the spec's result and
    internal types, after the spec checks itself."""

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        sp = layer.spec()
        sp.check()
        return {layer.name: {"result": sp.result_t, **sp.internal_types()}}
