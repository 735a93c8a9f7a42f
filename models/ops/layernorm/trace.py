"""RTL trace of LayerNorm (spec.py LayerNormSpec.forward, token by token)."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast, real_table, rsqrt, vsum


def layernorm_trace(node, ins, in_t):
    sp, g, b = node.spec, node.arrays["gamma"], node.arrays["beta"]
    invdim = sp.invdim_raw * 2.0**-sp.invdim_t.frac
    eps = sp.eps_raw * 2.0**-sp.var_t.frac
    gamma, beta = real_table(g, sp.gamma_t), real_table(b, sp.gamma_t)
    out = []
    for xs in np.asarray(ins[0], dtype=object).reshape(-1, sp.dim):
        mean = cast(vsum(xs) * invdim, sp.mean_t)
        diff = [x - mean for x in xs]  # exact
        var = cast(vsum([d * d for d in diff]) * invdim, sp.var_t)
        r = rsqrt(var + eps, sp.rsqrt)  # entry * 2**-half: one shifted value per token
        out += [cast(cast(d * r, sp.norm_t) * float(gg) + float(bb), sp.result_t)
                for d, gg, bb in zip(diff, gamma, beta)]
    return np.array(out, dtype=object)
