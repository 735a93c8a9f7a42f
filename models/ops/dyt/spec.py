"""DyT ("Dynamic Tanh", Zhu et al. 2025, "Transformers without Normalization") in fixed point: types, the tanh table
and the integer arithmetic of nnet_tf_dyt.h.

Per element, no reduction: idx = x_raw >> shift (the input's top `index_bits` bits, signed); t = tanh_table[idx +
2**(index_bits-1)] = tanh(alpha * x at the bin's centre) in tanh_t; y = cast<out_t>(t * gamma + beta) (the product
and the sum exact). alpha is a constant of the layer (trained in Keras), folded into the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import Spec, check_products, to_raw


@dataclass(frozen=True)
class DyTSpec(Spec):
    in_t: FixedType
    dim: int
    alpha: float = 0.5
    table_size: int = 1024
    table_bits: int = 18
    out_t: FixedType | None = None
    gamma_t: FixedType = field(default_factory=lambda: FixedType(8, 2, True, "RND_CONV", "SAT"))
    n_tokens: int = 1

    @property
    def index_bits(self) -> int:
        """The table covers the whole input range: 2**index_bits entries, one per input value when it fits."""
        if self.table_size & (self.table_size - 1) or self.table_size < 2:
            raise ValueError(f"DyT table size must be a power of 2, got {self.table_size}")
        return min(self.in_t.width, int(math.log2(self.table_size)))

    @property
    def shift(self) -> int:
        return self.in_t.width - self.index_bits

    @property
    def entries(self) -> int:
        return 2**self.index_bits

    @property
    def tanh_t(self) -> FixedType:
        return FixedType(self.table_bits, 1, True, "RND", "SAT")  # tanh in (-1, 1): sign bit and fraction

    @property
    def result_t(self) -> FixedType:
        return self.out_t or self.in_t

    def bin_centres(self) -> np.ndarray:
        """Input value each table entry stands for: the centre of its bin of 2**shift raw values."""
        s = np.arange(self.entries, dtype=np.int64) - self.entries // 2
        return (s * 2.0**self.shift + (2.0**self.shift - 1) / 2) * self.in_t.lsb

    @cached_property
    def table(self) -> np.ndarray:
        """Raw tanh_t entries, indexed by (x_raw >> shift) + entries / 2."""
        return self.tanh_t.quantize(np.tanh(float(self.alpha) * self.bin_centres()))

    def check(self) -> None:
        if not math.isfinite(self.alpha):
            raise ValueError(f"DyT: alpha must be finite, got {self.alpha}")
        check_products("DyT", {"tanh * gamma + beta": self.tanh_t.width + self.gamma_t.width + 1})

    def internal_types(self) -> dict[str, FixedType]:
        return {"tanh": self.tanh_t}

    def index(self, x_raw: np.ndarray) -> np.ndarray:
        return (np.asarray(x_raw, dtype=np.int64) >> self.shift) + self.entries // 2

    def forward(self, x_raw: np.ndarray, gamma_raw: np.ndarray, beta_raw: np.ndarray) -> np.ndarray:
        """Over the last axis: raw in_t -> raw result_t. int64 in, int64 out; integer-valued floats in, the same
        values as float64 out."""
        x = to_raw(x_raw)
        kind = x.dtype
        t = self.table[self.index(x.astype(np.int64))]
        acc = t * np.asarray(gamma_raw, dtype=np.int64) + (np.asarray(beta_raw, dtype=np.int64) << self.tanh_t.frac)
        y = self.result_t.cast(acc, self.tanh_t.frac + self.gamma_t.frac)
        return y.astype(np.float64) if kind == np.float64 else y
