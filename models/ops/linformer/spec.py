"""Linformer self-attention (Wang et al. 2020, "Linformer: Self-Attention with Linear Complexity") as HGQ2's
`hgq.layers.QLinformerAttention` computes it: before the key and the value projections, their input x (N tokens of
in_dim features) is projected along the token axis to k < N tokens by learned matrices E and F ([N, k] each, like
HGQ2's einsum kernels 'bnd,nk->bkd'), without bias, shared by all heads, one for the keys and one for the values:

x_k = cast<kv_t>(E^T x), x_v = cast<kv_t>(F^T x) (exact accumulators, lin_accum_t), then the attention of
models/ops/mha with the query from x (N tokens) and the keys / values from x_k / x_v (n_kv = k tokens):
K = cast<qkv_t>(x_k W_k + b_k), V = cast<qkv_t>(x_v W_v + b_v), scores N x k per head, softmax over the k, context
sums over the k. E^T x is a constant-weight product per feature column (N -> k), like a Dense over the token axis;
only the scores and the context stay variable x variable products, N * k of each per head instead of N^2.

The spec is MHASpec's with n_kv = k and kv_t = the projected tokens' type (kv_dim = in_dim): its key/value input is
another tensor than the query, as in cross-attention, but one the layer computes from its one input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import dot_accum_t
from trigformer.models.ops.dense.spec import dense_raw
from trigformer.models.ops.mha.spec import WEIGHTS as MHA_WEIGHTS
from trigformer.models.ops.mha.spec import MHASpec

TOKEN_PROJECTIONS = ("e", "f")  # E for the keys' input, F for the values'
WEIGHTS = (*MHA_WEIGHTS, *(f"{p}_kernel" for p in TOKEN_PROJECTIONS))


@dataclass(frozen=True)
class LinformerSpec(MHASpec):
    def __post_init__(self):
        super().__post_init__()
        if self.kv_t is None or self.kv_dim != self.in_dim or not 1 <= self.n_kv < self.n_tokens:
            raise ValueError(f"Linformer attention projects N = {self.n_tokens} tokens to 1 <= k < N (k = "
                             f"{self.n_kv}) of the input's width ({self.in_dim}, got {self.kv_dim}), of a given type")

    @property
    def lin_accum_t(self) -> FixedType:
        """E^T x and F^T x accumulator: a sum over the N tokens (room for a bias of the weight type, which the C++
        adds as zeros)."""
        return dot_accum_t(self.in_t, self.weight_t, self.n_tokens, self.weight_t)

    def internal_types(self) -> dict[str, FixedType]:
        return {**super().internal_types(), "lin": self.kv_t, "lin_accum": self.lin_accum_t}

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {**super().weight_shapes(), **{f"{p}_kernel": (self.n_tokens, self.n_kv) for p in TOKEN_PROJECTIONS}}

    def products(self, arrays: dict) -> list:
        """MHASpec's Q/K/V/O products (K and V read k tokens of kv_t) and E, F: per feature column, N -> k."""
        from trigformer.models.ops.trace_common import Product

        return [*super().products(arrays),
                *(Product(f"_{p}", np.asarray(arrays[f"{p}_kernel"]).reshape(self.n_tokens, self.n_kv),
                          self.weight_t, None, None, self.in_t, self.in_dim) for p in TOKEN_PROJECTIONS)]

    # ---- integer arithmetic ---------------------------------------------------------------------------------------
    def token_project(self, xs, kernel) -> np.ndarray:
        """cast<kv_t>(E^T x): raw [b, k, in_dim] from the raw query tokens xs [b, N, in_dim] of in_t."""
        w = np.asarray(kernel).reshape(self.n_tokens, self.n_kv)
        y = dense_raw(xs.swapaxes(-1, -2), self.in_t, w, self.weight_t, np.zeros(self.n_kv, np.int64), self.weight_t,
                      self.lin_accum_t, self.kv_t)  # [b, in_dim, k]: the product on every feature column
        return y.swapaxes(-1, -2)

    def _qkv(self, xs, arrays: dict, x_kv):
        q = self._project(xs, self.in_t, self.proj_accum_t, arrays, "q")
        k = self._project(self.token_project(xs, arrays["e_kernel"]), self.kv_t, self.kv_accum_t, arrays, "k")
        v = self._project(self.token_project(xs, arrays["f_kernel"]), self.kv_t, self.kv_accum_t, arrays, "v")
        return q, k, v
