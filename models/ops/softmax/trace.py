"""RTL trace of the stand-alone LUT softmax (spec.py SoftmaxSpec.forward, row by row)."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import lut_softmax_row


def softmax_trace(node, ins, in_t):
    sp = node.spec
    rows = np.asarray(ins[0], dtype=object).reshape(-1, sp.n)
    return np.array([v for row in rows for v in lut_softmax_row(list(row), sp)], dtype=object)
