"""Cost model of the LUT softmax (stand-alone layer; the attention's softmax uses `softmax_path` too)."""

from __future__ import annotations

from models.ops.costmodel import T_MUX, Dims, Path, Res, depth, t_add, t_mul


def softmax_path(path: Path, n: int, w_in: int, tab_w: int, bram: bool, dsp: bool) -> None:
    path.op(t_add(w_in) + T_MUX, depth(n))  # max tree
    path.op(t_add(w_in))  # x - max
    path.lookup(bram)  # exp table
    path.op(t_add(tab_w + depth(n)), depth(n))  # sum tree
    path.lookup(bram)  # 1/sum table
    path.op(t_mul(tab_w, tab_w, dsp))


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n, R, tab_n = d.n_in, d.reuse, d.tab_entries // 2  # exp and 1/sum tables of equal size
    dsp = r.mult(d.n_tok * n, d.tab_w, d.tab_w, R)
    r.adders(d.n_tok * (2 * (n - 1) + n), max(d.wi, d.tab_w) + depth(n), R)  # max tree, subtract, sum tree
    bram = r.table(d.n_tok * n, tab_n, d.tab_w, R) | r.table(d.n_tok, tab_n, d.tab_w, R)
    softmax_path(path, n, d.wi, d.tab_w, bram, dsp)
    return R, True, d.n_tok * n * d.tab_w
