"""RTL traces of the glue ops (same arithmetic as the emulator): casts, ReLU, residual Add."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast_all


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
