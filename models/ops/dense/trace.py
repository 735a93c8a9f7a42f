"""RTL traces of the glue ops (same arithmetic as spec.py): Dense, casts, ReLU, residual Add, the input."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast_all, dense


def dense_trace(node, ins, in_t):
    from trigformer.models.ops import BY_KIND

    x = np.asarray(ins[0], dtype=object).reshape(-1, node.arrays["w"].shape[0])
    (product,) = BY_KIND[node.kind].products(node.spec, node.arrays, in_t, len(x))
    return cast_all(dense(x, product), node.out_t).ravel()


def cast_trace(node, ins, in_t):
    return cast_all(ins[0], node.out_t)


def relu_trace(node, ins, in_t):
    return cast_all(np.array([v.relu() if hasattr(v, "relu") else max(v, 0.0) for v in ins[0]], dtype=object),
                    node.out_t)


def add_trace(node, ins, in_t):
    total = np.asarray(ins[0], dtype=object)
    for more in ins[1:]:
        total = total + np.asarray(more, dtype=object)  # exact: aligned sum
    return cast_all(total, node.out_t)
