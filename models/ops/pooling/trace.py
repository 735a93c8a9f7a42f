"""RTL trace of token pooling (spec.py PoolSpec.forward)."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast, vmax, vsum


def pooling_trace(node, ins, in_t):
    sp = node.spec
    cols = np.asarray(ins[0], dtype=object).reshape(sp.n, -1).T  # [dim, tokens]
    if sp.mode == "max":
        return np.array([vmax(col) for col in cols], dtype=object)
    invn = sp.invn_raw * 2.0**-sp.invn_t.frac
    return np.array([cast(vsum(col) * invn, sp.out_t) for col in cols], dtype=object)
