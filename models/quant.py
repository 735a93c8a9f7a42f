"""The network-level quantization plan: every type between layers, derived once from the `quantization` section.

Op-internal types (accumulators, table words) are derived by each op's spec from these (models/ops/*/spec.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import INTERNAL_ROUNDING


@dataclass(frozen=True)
class QuantTypes:
    """All network-level types. `integer` arguments follow QKeras (sign bit excluded)."""

    weight_bits: int = 8
    weight_int_bits: int = 0
    act_bits: int = 10
    act_int_bits: int = 4
    input_bits: int = 12
    input_int_bits: int = 4
    prob_bits: int = 10
    table_bits: int = 18
    softmax_table_size: int = 1024
    softmax_input_range: float = 8.0
    layernorm_table_size: int = 1024
    attention_bits: int | None = None
    gamma_int_bits: int | None = None  # not a model.yaml key: set by the calibration of a model file (models.byom)

    @classmethod
    def from_config(cls, q, **resolved) -> QuantTypes:
        """From the quantization section; `resolved` replaces keys (the calibrated values of `auto`)."""
        values = {k: resolved[k] if k in resolved else getattr(q, k, f.default)
                  for k, f in cls.__dataclass_fields__.items()}
        auto = [k for k, v in values.items() if v == "auto"]
        if auto:
            raise ValueError(f"quantization.{auto[0]}: auto is resolved by calibrating a model file first")
        return cls(**values)

    @property
    def input_t(self) -> FixedType:
        return FixedType.from_qkeras(self.input_bits, self.input_int_bits)

    @property
    def weight_t(self) -> FixedType:
        return FixedType.from_qkeras(self.weight_bits, self.weight_int_bits)

    @property
    def gamma_t(self) -> FixedType:
        """LayerNorm gamma/beta: weight bits, at least one integer bit so that gamma = 1 is representable-ish
        (or the calibrated gamma_int_bits of a model file)."""
        i = self.gamma_int_bits if self.gamma_int_bits is not None else max(self.weight_int_bits, 1)
        return FixedType.from_qkeras(self.weight_bits, i)

    @property
    def act_t(self) -> FixedType:
        return FixedType.from_qkeras(self.act_bits, self.act_int_bits)

    @property
    def relu_t(self) -> FixedType:
        """QKeras quantized_relu(act_bits, act_int_bits): unsigned, act_int_bits integer bits."""
        return FixedType(self.act_bits, self.act_int_bits, False, "RND_CONV", "SAT")

    @property
    def qkv_t(self) -> FixedType:
        """Attention-internal q, k, v and context: act_int_bits integer bits, attention_bits wide (default act_bits)."""
        b = self.act_bits if self.attention_bits is None else self.attention_bits
        return FixedType.from_qkeras(b, self.act_int_bits)

    @property
    def score_t(self) -> FixedType:
        """Input of a stand-alone LUT softmax (the attention's softmax works on the exact dot products instead)."""
        return FixedType.from_qkeras(self.act_int_bits + 10, self.act_int_bits + 1)

    @property
    def prob_t(self) -> FixedType:
        return FixedType(self.prob_bits, 1, False, INTERNAL_ROUNDING, "SAT")

    def softmax(self, n: int):
        from trigformer.models.ops.softmax.spec import SoftmaxSpec

        return SoftmaxSpec(self.score_t, n, self.softmax_table_size, self.softmax_input_range, self.table_bits,
                           self.prob_t)

    def layernorm(self, dim: int):
        from trigformer.models.ops.layernorm.spec import LayerNormSpec

        return LayerNormSpec(self.act_t, dim, self.layernorm_table_size, self.table_bits, self.act_t,
                             gamma_t=self.gamma_t)


def input_scale_log2(x: np.ndarray, input_t: FixedType, quantile: float = 0.999, lo: int = -8, hi: int = 16):
    """Per-feature power-of-two input scale k: x * 2**k puts the `quantile` of |x| (non-padding particles of the
    training set) inside input_t's range. A power of two only moves the binary point of the upstream words, so it
    costs nothing in firmware; it lets small features (pT fractions, angles ~0.04) use the embedding's range."""
    flat = np.abs(np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1]))
    ks = []
    for col in flat.T:
        q = np.quantile(col[col > 0], quantile) if np.any(col > 0) else 0.0
        ks.append(hi if q == 0 else int(np.clip(np.floor(np.log2(input_t.max_value / q)), lo, hi)))
    return np.array(ks, dtype=np.int64)
