"""RTL trace of DyT (spec.py DyTSpec.forward): per element the input's top bits index the tanh table, then one
constant product and one constant sum."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.trace_common import cast, is_const, lookup, real_table


def _index(x, sp):
    """(x_raw >> shift) + entries / 2: a floor onto the bin grid (wires), then a constant offset."""
    if is_const(x):
        return (int(np.floor(float(x) * 2.0**(sp.in_t.frac - sp.shift)))) + sp.entries // 2
    s = (x * 2.0**(sp.in_t.frac - sp.shift)).quantize(1, sp.index_bits - 1, 0, "WRAP", "TRN")
    return s + sp.entries // 2


def dyt_trace(node, ins, in_t):
    sp = node.spec
    table = real_table(sp.table, sp.tanh_t)
    gamma = real_table(node.arrays["gamma"], sp.gamma_t)
    beta = real_table(node.arrays["beta"], sp.gamma_t)
    xs = np.asarray(ins[0], dtype=object).reshape(-1, sp.dim)
    out = [cast(lookup(_index(x, sp), table) * float(g) + float(b), sp.result_t)
           for row in xs for x, g, b in zip(row, gamma, beta)]
    return np.array(out, dtype=object)
