"""Cost model of DyT (nnet_tf_dyt.h): `tokens_parallel` token units per iteration; per element a tanh table read (two
elements per ROM copy), the product with gamma (a constant) and the sum with beta. No reduction, no 1/sqrt."""

from __future__ import annotations

from trigformer.models.ops.costmodel import Dims, Path, Res, mult_weights, share_mux, t_add, t_mul, units


def cost(layer: dict, path: Path, r: Res) -> tuple[int, bool, int]:
    d = Dims.of(layer)
    n, tab_w = d.n_in, d.tab_w
    tp, iters = units(layer, d.n_tok, "tokens_parallel")
    dsp_g = r.mult(tp * mult_weights(layer, n, n), tab_w, d.ww, 1, const=True, weights=True)
    r.adders(tp * n, tab_w + d.ww)  # + beta
    bram = r.table(tp * n, d.tab_entries, tab_w, 1)  # two reads per ROM copy
    share_mux(r, tp * n * d.wi, iters)
    path.lookup(bram)
    path.op(t_mul(tab_w, d.ww, dsp_g))
    path.op(t_add(tab_w + d.ww))
    return iters, True, d.n_tok * n * d.wo
