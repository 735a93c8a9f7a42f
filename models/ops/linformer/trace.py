"""RTL trace of the Linformer attention (spec.py LinformerSpec.forward, element for element): E^T x and F^T x with
their alkaid kernels on every feature column, cast to the projected tokens' type, then the attention's trace."""

from __future__ import annotations

import numpy as np

from trigformer.models.ops.mha.trace import attention_trace, products_of
from trigformer.models.ops.trace_common import cast_all, dense


def linformer_trace(node, ins, in_t):
    sp = node.spec
    products = products_of(node)
    x = np.asarray(ins[0], dtype=object).reshape(sp.n_tokens, -1)

    def tokens(p):  # [k, in_dim]: the product N -> k on every feature column
        return cast_all(dense(x.T, products[p]), sp.kv_t).T

    return attention_trace(sp, products, x, tokens("e"), tokens("f"))
