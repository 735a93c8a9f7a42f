"""Multi-head attention: every type (accumulators included) and the integer arithmetic of nnet_tf_mha.h.

What stock Keras-2 `MultiHeadAttention` expresses without a mask: the query from one tensor (n_tokens tokens of
in_dim features), the key and the value from another one or the same (n_kv tokens of kv_dim features; self-attention
when they are the same tensor), key_dim per head for Q and K, value_dim per head for V and the context, an output
projection of out_dim, with or without biases.

Q = cast<qkv_t>(x_q W_q + b_q), K = cast<qkv_t>(x_kv W_k + b_k), V = cast<qkv_t>(x_kv W_v + b_v) (exact
accumulators); S_h = Q_h K_h^T exact (dot_t); P_h = LUT softmax of S_h over the n_kv keys with the 1/sqrt(key_dim)
scale folded into its exp table (softmax(c s) needs only differences s_max - s, and a positive scale commutes with
the max: no multiply, no score rounding); C_h = cast<qkv_t>(P_h V_h); out = cast<out_t>(concat(C_h) W_o + b_o).
Without biases (use_bias=False) the bias arrays are zeros: the same arithmetic, and HLS drops the additions of
constant zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops.common import Spec, dot_accum_t, matmul_raw
from trigformer.models.ops.dense.spec import dense_raw
from trigformer.models.ops.softmax.spec import SoftmaxSpec

WEIGHTS = tuple(f"{a}_{b}" for a in "qkvo" for b in ("kernel", "bias"))


@dataclass(frozen=True)
class MHASpec(Spec):
    in_t: FixedType  # the query input
    n_tokens: int  # query tokens (= output tokens)
    in_dim: int  # query features
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
    value_dim: int | None = None  # per head, of V and the context; None: key_dim
    n_kv: int | None = None  # key/value tokens; None: n_tokens (self-attention)
    kv_dim: int | None = None  # key/value features; None: in_dim
    kv_t: FixedType | None = None  # the key/value input (cross-attention only); None: self-attention
    use_bias: bool = True

    def __post_init__(self):
        for name, default in (("value_dim", self.key_dim), ("n_kv", self.n_tokens), ("kv_dim", self.in_dim)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if self.kv_t is None and (self.n_kv != self.n_tokens or self.kv_dim != self.in_dim):
            raise ValueError("attention with key/value of another shape than the query needs the key/value input "
                             "type (kv_t): it is cross-attention")

    @property
    def cross(self) -> bool:
        """Key and value come from a second input (the layer has two inputs)."""
        return self.kv_t is not None

    @property
    def kv_in_t(self) -> FixedType:
        return self.kv_t if self.cross else self.in_t

    @property
    def hk(self) -> int:
        return self.num_heads * self.key_dim

    @property
    def hv(self) -> int:
        return self.num_heads * self.value_dim

    def products(self, arrays: dict) -> list:
        """The Q, K, V projections (per query / key-value token) and the output projection (per query token) as
        constant-weight products (models.ops.trace_common.Product): the trace's and the DA kernels'."""
        from trigformer.models.ops.trace_common import Product

        shapes = {"q": (self.in_dim, self.in_t, self.n_tokens), "k": (self.kv_dim, self.kv_in_t, self.n_kv),
                  "v": (self.kv_dim, self.kv_in_t, self.n_kv), "o": (self.hv, self.qkv_t, self.n_tokens)}
        return [Product(f"_{w}", np.asarray(arrays[f"{w}_kernel"]).reshape(n_in, -1), self.weight_t,
                        np.asarray(arrays[f"{w}_bias"]).reshape(-1), self.weight_t, in_t, tokens)
                for w, (n_in, in_t, tokens) in shapes.items()]

    @property
    def proj_accum_t(self) -> FixedType:
        """Q (and, in self-attention, K and V) projection accumulator."""
        return dot_accum_t(self.in_t, self.weight_t, self.in_dim, self.weight_t)

    @property
    def kv_accum_t(self) -> FixedType:
        """K and V projection accumulator (the same type as proj_accum_t in self-attention)."""
        return dot_accum_t(self.kv_in_t, self.weight_t, self.kv_dim, self.weight_t)

    @property
    def dot_t(self) -> FixedType:
        return dot_accum_t(self.qkv_t, self.qkv_t, self.key_dim)

    @property
    def ctx_accum_t(self) -> FixedType:
        return dot_accum_t(self.prob_t, self.qkv_t, self.n_kv)

    @property
    def out_accum_t(self) -> FixedType:
        return dot_accum_t(self.qkv_t, self.weight_t, self.hv, self.weight_t)

    @cached_property
    def softmax(self) -> SoftmaxSpec:
        """Over the exact dot products of one query with the n_kv keys; the exp table folds in 1/sqrt(key_dim)."""
        return SoftmaxSpec(self.dot_t, self.n_kv, self.table_size, self.input_range, self.table_bits,
                           self.prob_t, in_scale=1 / math.sqrt(self.key_dim))

    def internal_types(self) -> dict[str, FixedType]:
        sm = self.softmax
        types = {"qkv": self.qkv_t, "proj_accum": self.proj_accum_t, "dot": self.dot_t, "diff": sm.diff_t,
                 "sum": sm.sum_t, "prob": self.prob_t, "ctx_accum": self.ctx_accum_t, "out_accum": self.out_accum_t}
        if self.cross:
            types["kv_accum"] = self.kv_accum_t
        return types

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        d, dkv, hk, hv, o = self.in_dim, self.kv_dim, self.hk, self.hv, self.out_dim
        return {"q_kernel": (d, hk), "q_bias": (hk,), "k_kernel": (dkv, hk), "k_bias": (hk,), "v_kernel": (dkv, hv),
                "v_bias": (hv,), "o_kernel": (hv, o), "o_bias": (o,)}

    # ---- integer arithmetic ---------------------------------------------------------------------------------------
    def _project(self, x, x_t: FixedType, acc_t: FixedType, arrays: dict, names: str):
        """cast<qkv_t>(x W + b) of the projections `names` that share the input x: one matrix product."""
        w = np.concatenate([arrays[f"{a}_kernel"].reshape(x.shape[-1], -1) for a in names], axis=1)
        b = np.concatenate([arrays[f"{a}_bias"] for a in names])
        return dense_raw(x, x_t, w, self.weight_t, b, self.weight_t, acc_t, self.qkv_t)

    def _qkv(self, xs, arrays: dict, x_kv):
        """Raw Q [b, n, h*key_dim], K [b, n_kv, h*key_dim], V [b, n_kv, h*value_dim] (token-major) from the query
        tokens xs [b, n, in_dim] and, for cross-attention, the key/value input x_kv."""
        hk = self.hk
        if self.cross:
            q = self._project(xs, self.in_t, self.proj_accum_t, arrays, "q")
            kv = self._project(x_kv.reshape(len(xs), self.n_kv, -1), self.kv_t, self.kv_accum_t, arrays, "kv")
        else:  # the three projections share input, types and accumulator
            qkv = self._project(xs, self.in_t, self.proj_accum_t, arrays, "qkv")
            q, kv = qkv[..., :hk], qkv[..., hk:]
        return q, kv[..., :hk], kv[..., hk:]

    def attention(self, x, arrays: dict, x_kv=None):
        """Projections, dot products and LUT softmax: (dot products raw [b,h,j,i], probs raw, V raw [b,h,j,c]).
        x: raw [events, n_tokens * in_dim] of in_t; x_kv: raw [events, n_kv * kv_dim] of kv_t (cross-attention).
        Scores and probabilities are key-major ([b, h, key j, query i]): the softmax reduces over axis -2 in
        whole-block slices."""
        h, k, v_dim, n, m = self.num_heads, self.key_dim, self.value_dim, self.n_tokens, self.n_kv
        b = len(x)
        q, kk, v = self._qkv(x.reshape(b, n, -1), arrays, x_kv)
        q = q.reshape(b, n, h, k).transpose(0, 2, 1, 3)  # [b, h, i, c]
        kk = kk.reshape(b, m, h, k).transpose(0, 2, 1, 3)  # [b, h, j, c]
        v = v.reshape(b, m, h, v_dim).transpose(0, 2, 1, 3)
        s = matmul_raw(kk, q.transpose(0, 1, 3, 2), self.qkv_t, self.qkv_t)  # exact in dot_t: [b, h, j, i]
        return s, self.softmax.forward(s, axis=-2), v

    def forward(self, x, arrays: dict, x_kv=None) -> np.ndarray:
        """Raw out_t [events, n_tokens * out_dim] from raw in_t [events, n_tokens * in_dim] (and, for
        cross-attention, raw kv_t [events, n_kv * kv_dim])."""
        h, qkv_t = self.num_heads, self.qkv_t
        _, prob_t, v = self.attention(x, arrays, x_kv)
        ctx = qkv_t.cast_any(matmul_raw(prob_t.transpose(0, 1, 3, 2), v, self.prob_t, qkv_t),
                             self.prob_t.frac + qkv_t.frac, inplace=True)  # P V with P = prob_t^T: [b, h, i, c]
        ctx = ctx.transpose(0, 2, 1, 3).reshape(len(x), self.n_tokens, self.hv)
        out = dense_raw(ctx, qkv_t, arrays["o_kernel"].reshape(self.hv, -1), self.weight_t, arrays["o_bias"],
                        self.weight_t, self.out_accum_t, self.out_t)
        return out.reshape(len(x), -1)
