"""RTL trace of RMSNorm (spec.py RMSNormSpec.forward, token by token)."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast, real_table, rsqrt, vsum


def rmsnorm_trace(node, ins, in_t):
    sp = node.spec
    invdim = sp.invdim_raw * 2.0**-sp.invdim_t.frac
    eps = sp.eps_raw * 2.0**-sp.var_t.frac
    gamma = real_table(node.arrays["gamma"], sp.gamma_t)
    out = []
    for xs in np.asarray(ins[0], dtype=object).reshape(-1, sp.dim):
        ms = cast(vsum([x * x for x in xs]) * invdim, sp.var_t)
        r = rsqrt(ms + eps, sp.rsqrt)
        out += [cast(cast(x * r, sp.norm_t) * float(gg), sp.result_t) for x, gg in zip(xs, gamma)]
    return np.array(out, dtype=object)
