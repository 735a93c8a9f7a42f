"""Cost model of the LUT softmax (stand-alone layer; the attention's softmax uses `softmax_path` too)."""

from __future__ import annotations

import math

from trigformer.models.ops.costmodel import T_MUX, Dims, Path, Res, depth, share_mux, t_add, t_mul, units


def softmax_path(path: Path, n: int, w_in: int, tab_w: int, bram: bool, dsp: bool) -> None:
    path.op(t_add(w_in) + T_MUX, depth(n))  # max tree
    path.op(t_add(w_in))  # x - max
    path.lookup(bram)  # exp table
    path.op(t_add(tab_w + depth(n)), depth(n))  # sum tree
    path.lookup(bram)  # 1/sum table
    path.op(t_mul(tab_w, tab_w, dsp))


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    """Stand-alone layer (nnet_tf_softmax.h): `rows_parallel` row units per iteration, ceil(n/2) exp table copies and
    one 1/sum copy per row."""
    d = Dims.of(layer)
    n, tab_n = d.n_in, d.tab_entries // 2  # exp and 1/sum tables of equal size
    rows, iters = units(layer, d.n_tok, "rows_parallel")
    dsp = r.var_mult(rows * n, d.tab_w, d.tab_w, layer)
    r.adders(rows * (2 * (n - 1) + n), max(d.wi, d.tab_w) + depth(n))  # max tree, subtract, sum tree
    bram = r.table(2 * rows * math.ceil(n / 2), tab_n, d.tab_w, 1) | r.table(rows, tab_n, d.tab_w, 1)
    share_mux(r, rows * n * d.wi, iters)
    softmax_path(path, n, d.wi, d.tab_w, bram, dsp)
    return iters, True, d.n_tok * n * d.tab_w
