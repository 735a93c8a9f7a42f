"""The cost models read the spec's widths: hand-derived DSP counts of one LayerNorm / RMSNorm and one attention
layer (issue 20). Rules (models/ops/costmodel.py): a variable x variable product is a DSP48E2 when either operand has
more than 4 bits (hls.multipliers auto), ceil(max/27) * ceil(min/18) of them; a constant of <= 10 bits is
shift-and-add in LUTs; 1/dim of a power-of-two dim is one bit (models.ops.common.inv_const_t): a shift, no DSP."""

from __future__ import annotations

import pytest

from trigformer.flow.estimate import estimate


def _dsp(layer: dict) -> int:
    inp = {"name": "input", "kind": "input", "n_tokens": layer["n_tokens"], "n_in": layer["n_in"],
           "n_out": layer["n_in"]}
    rows = estimate([inp, layer], 5.0, "xcvu9p", band=False)["resources"]["per_layer"]
    return next(r["DSP"] for r in rows if r["name"] == layer["name"])


def _norm(kind: str, dim: int) -> dict:
    return {"name": "ln", "kind": kind, "n_tokens": 1, "n_in": dim, "n_out": dim, "in_bits": 10, "out_bits": 10,
            "weight_bits": 8, "accum_bits": 24, "table_entries": 1024, "table_bits": 18, "n_weights": 2 * dim,
            "n_nonzero_weights": 2 * dim, "strategy": "latency", "reuse_factor": 1}


@pytest.mark.parametrize("kind, dim, dsp", [
    # LayerNorm: dim squares (x - mean) 11 x 11 bits -> dim DSP; dim products x 1/sqrt, 11 x (18 + 10) bits -> 2 DSP
    # each; gamma (8-bit constants) in LUTs; mean and variance * 1/dim: shifts at dim 16, two 24 x 18 DSP at dim 12
    ("layernorm", 16, 16 + 2 * 16),
    ("layernorm", 12, 12 + 2 * 12 + 2),
    # RMSNorm: dim squares 10 x 10 -> dim DSP; dim x * 1/sqrt 10 x 28 -> 2 each; mean square * 1/dim: one at dim 12
    ("rmsnorm", 16, 16 + 2 * 16),
    ("rmsnorm", 12, 12 + 2 * 12 + 1),
])
def test_norm_dsp_hand_derived(kind, dim, dsp):
    assert _dsp(_norm(kind, dim)) == dsp


def _mha(qkv_bits: int | None, prob_bits: int | None) -> dict:
    d = {"name": "mha", "kind": "mha", "n_tokens": 2, "n_in": 4, "n_out": 4, "in_bits": 8, "out_bits": 8,
         "weight_bits": 4, "accum_bits": 20, "table_entries": 2 * 64, "table_bits": 8, "n_weights": 64 + 16,
         "n_nonzero_weights": 64 + 16, "strategy": "latency", "reuse_factor": 1, "num_heads": 1, "key_dim": 4,
         "value_dim": 4}
    return {**d, **({"qkv_bits": qkv_bits} if qkv_bits else {}), **({"prob_bits": prob_bits} if prob_bits else {})}


@pytest.mark.parametrize("qkv_bits, prob_bits, dsp", [
    # 2 tokens, 1 head, key_dim = value_dim = 4, 4-bit weights (projections: LUT constants). Rows = 2, each:
    # Q K^T 2 x 4 products (qkv x qkv), 2 normalisations exp * 1/sum (8 x 8 table words), P V 2 x 4 (prob x qkv).
    (None, None, 16 + 4 + 16),  # no spec widths: out_bits (8) everywhere
    (8, 8, 16 + 4 + 16),
    (4, 4, 0 + 4 + 0),          # 4 x 4 products are LUT multipliers
    (4, 8, 0 + 4 + 16),         # wider probabilities put P V on DSPs: prob_bits is read
    (8, 4, 16 + 4 + 16),
])
def test_attention_dsp_follows_attention_and_prob_bits(qkv_bits, prob_bits, dsp):
    assert _dsp(_mha(qkv_bits, prob_bits)) == dsp
