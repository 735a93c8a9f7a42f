"""Multi-head self-attention: every type (accumulators included) and the integer arithmetic of nnet_tf_mha.h.

Q, K, V = cast<qkv_t>(x W + b) (exact accumulators); S_h = Q_h K_h^T exact (dot_t); P_h = LUT softmax of S_h with
the 1/sqrt(key_dim) scale folded into its exp table (softmax(c s) needs only differences s_max - s, and a positive
scale commutes with the max: no multiply, no score rounding); C_h = cast<qkv_t>(P_h V_h);
out = cast<out_t>(concat(C_h) W_o + b_o).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from models.fixed import FixedType
from models.ops.common import Spec, dot_accum_t, matmul_raw
from models.ops.dense.spec import dense_raw
from models.ops.softmax.spec import SoftmaxSpec

WEIGHTS = tuple(f"{a}_{b}" for a in "qkvo" for b in ("kernel", "bias"))


@dataclass(frozen=True)
class MHASpec(Spec):
    in_t: FixedType
    n_tokens: int
    in_dim: int
    num_heads: int
    key_dim: int
    out_dim: int
    weight_t: FixedType
    qkv_t: FixedType
    prob_t: FixedType
    out_t: FixedType
    table_size: int = 1024
    input_range: float = 8.0
    table_bits: int = 18

    @property
    def hk(self) -> int:
        return self.num_heads * self.key_dim

    @property
    def proj_accum_t(self) -> FixedType:
        return dot_accum_t(self.in_t, self.weight_t, self.in_dim, self.weight_t)

    @property
    def dot_t(self) -> FixedType:
        return dot_accum_t(self.qkv_t, self.qkv_t, self.key_dim)

    @property
    def ctx_accum_t(self) -> FixedType:
        return dot_accum_t(self.prob_t, self.qkv_t, self.n_tokens)

    @property
    def out_accum_t(self) -> FixedType:
        return dot_accum_t(self.qkv_t, self.weight_t, self.hk, self.weight_t)

    @cached_property
    def softmax(self) -> SoftmaxSpec:
        """Over the exact dot products; the exp table folds in 1/sqrt(key_dim)."""
        return SoftmaxSpec(self.dot_t, self.n_tokens, self.table_size, self.input_range, self.table_bits,
                           self.prob_t, in_scale=1 / math.sqrt(self.key_dim))

    def internal_types(self) -> dict[str, FixedType]:
        sm = self.softmax
        return {"qkv": self.qkv_t, "proj_accum": self.proj_accum_t, "dot": self.dot_t, "diff": sm.diff_t,
                "sum": sm.sum_t, "prob": self.prob_t, "ctx_accum": self.ctx_accum_t, "out_accum": self.out_accum_t}

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        d, hk, o = self.in_dim, self.hk, self.out_dim
        return {"q_kernel": (d, hk), "q_bias": (hk,), "k_kernel": (d, hk), "k_bias": (hk,), "v_kernel": (d, hk),
                "v_bias": (hk,), "o_kernel": (hk, o), "o_bias": (o,)}

    # ---- integer arithmetic ---------------------------------------------------------------------------------------
    def attention(self, x, arrays: dict):
        """Q/K/V projections, dot products and LUT softmax: (dot products raw [b,h,j,i], probs raw, V raw [b,j,h,c]).
        x: raw [events, n_tokens * in_dim] of in_t. Scores and probabilities are key-major ([b, h, key j, query i]):
        the softmax reduces over axis -2 in whole-block slices."""
        h, k, n = self.num_heads, self.key_dim, self.n_tokens
        xs = x.reshape(len(x), n, -1)
        # the three projections share input, types and accumulator: one matrix product, then [3, b, h, token, c]
        w = np.concatenate([arrays[f"{a}_kernel"].reshape(xs.shape[-1], -1) for a in "qkv"], axis=1)
        b = np.concatenate([arrays[f"{a}_bias"] for a in "qkv"])
        qkv = dense_raw(xs, self.in_t, w, self.weight_t, b, self.weight_t, self.proj_accum_t, self.qkv_t)
        q, kk, v = qkv.reshape(len(x), n, 3, h, k).transpose(2, 0, 3, 1, 4)
        s = matmul_raw(kk, q.transpose(0, 1, 3, 2), self.qkv_t, self.qkv_t)  # exact in dot_t
        return s, self.softmax.forward(s, axis=-2), v

    def forward(self, x, arrays: dict) -> np.ndarray:
        """Raw out_t [events, n_tokens * out_dim] from raw in_t [events, n_tokens * in_dim]."""
        h, k, qkv_t = self.num_heads, self.key_dim, self.qkv_t
        _, prob_t, v = self.attention(x, arrays)
        ctx = qkv_t.cast_any(matmul_raw(prob_t.transpose(0, 1, 3, 2), v, self.prob_t, qkv_t),
                             self.prob_t.frac + qkv_t.frac, inplace=True)  # P V with P = prob_t^T: [b, h, i, c]
        ctx = ctx.transpose(0, 2, 1, 3).reshape(len(x), self.n_tokens, h * k)
        out = dense_raw(ctx, qkv_t, arrays["o_kernel"].reshape(h * k, -1), self.weight_t, arrays["o_bias"],
                        self.weight_t, self.out_accum_t, self.out_t)
        return out.reshape(len(x), -1)
