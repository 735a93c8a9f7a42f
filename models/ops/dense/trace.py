"""RTL trace of Dense (same arithmetic as spec.py)."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast_all, dense


def dense_trace(node, ins, in_t):
    from trigformer.models.ops import BY_KIND

    x = np.asarray(ins[0], dtype=object).reshape(-1, node.arrays["w"].shape[0])
    (product,) = BY_KIND[node.kind].products(node.spec, node.arrays, in_t, len(x))
    return cast_all(dense(x, product), node.out_t).ravel()
