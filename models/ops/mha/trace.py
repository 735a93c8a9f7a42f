"""RTL trace of the attention (the arithmetic of spec.py MHASpec.forward, element for element)."""

from __future__ import annotations

import numpy as np

from models.ops.trace_common import cast, cast_all, dense, lut_softmax_row, vsum


def mha_trace(node, ins, in_t):
    sp, a = node.spec, node.arrays
    n, h, k = sp.n_tokens, sp.num_heads, sp.key_dim
    x = np.asarray(ins[0], dtype=object).reshape(n, -1)
    proj = {p: cast_all(dense(x, a[f"{p}_kernel"].reshape(x.shape[1], -1), sp.weight_t, a[f"{p}_bias"],
                              sp.weight_t), sp.qkv_t).reshape(n, h, k) for p in "qkv"}
    ctx = np.empty((n, h, k), dtype=object)
    for head in range(h):
        q, kk, v = proj["q"][:, head], proj["k"][:, head], proj["v"][:, head]
        for i in range(n):
            scores = [vsum([q[i, c] * kk[j, c] for c in range(k)]) for j in range(n)]  # exact dot products
            p = lut_softmax_row(scores, sp.softmax)  # 1/sqrt(key_dim) is in its exp table
            for c in range(k):
                ctx[i, head, c] = cast(vsum([p[j] * v[j, c] for j in range(n)]), sp.qkv_t)
    out = dense(ctx.reshape(n, h * k), a["o_kernel"].reshape(h * k, -1), sp.weight_t, a["o_bias"], sp.weight_t)
    return cast_all(out, sp.out_t).ravel()
