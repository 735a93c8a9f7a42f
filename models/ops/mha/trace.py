"""RTL trace of the attention (the arithmetic of spec.py MHASpec.forward, element for element): self-attention, or
cross-attention with the key/value tensor as a second input; value_dim per head for V and the context."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast, cast_all, dense, lut_softmax_row, vsum


def mha_trace(node, ins, in_t):
    sp = node.spec
    x = np.asarray(ins[0], dtype=object).reshape(sp.n_tokens, -1)
    x_kv = np.asarray(ins[1], dtype=object).reshape(sp.n_kv, -1) if len(ins) > 1 else x
    return attention_trace(sp, products_of(node), x, x_kv, x_kv)


def products_of(node) -> dict:
    """The node's constant-weight products by name (q, k, v, o, ...): the DA strategy's kernels."""
    return {p.suffix[1:]: p for p in node.spec.products(node.arrays)}


def attention_trace(sp, products: dict, x, x_k, x_v):
    """Projections, attention rows and output projection from the query tokens x [n, in_dim] and the tensors the key
    and the value projections read, x_k and x_v [n_kv, kv_dim]."""
    n, m, h, k, vd = sp.n_tokens, sp.n_kv, sp.num_heads, sp.key_dim, sp.value_dim

    def project(p, src, width):
        return cast_all(dense(src, products[p]), sp.qkv_t).reshape(len(src), h, width)

    proj = {"q": project("q", x, k), "k": project("k", x_k, k), "v": project("v", x_v, vd)}
    ctx = np.empty((n, h, vd), dtype=object)
    for head in range(h):
        q, kk, v = proj["q"][:, head], proj["k"][:, head], proj["v"][:, head]
        for i in range(n):
            scores = [vsum([q[i, c] * kk[j, c] for c in range(k)]) for j in range(m)]  # exact dot products
            p = lut_softmax_row(scores, sp.softmax)  # 1/sqrt(key_dim) is in its exp table
            for c in range(vd):
                ctx[i, head, c] = cast(vsum([p[j] * v[j, c] for j in range(m)]), sp.qkv_t)
    out = dense(ctx.reshape(n, h * vd), products["o"])
    return cast_all(out, sp.out_t).ravel()
