"""Before training: does the model come anywhere near the part? (`synth --no-size-check` skips it.)

The analytical estimate (flow.estimate) needs the hls4ml layer descriptions, which come from a converted model;
it does not need trained weights. Every type is known from the config (weights, activations, accumulators, tables,
attention's products), so the quantized model is built from the keys with its initial weights and converted
without writing anything: the attention's variable x variable products, the tables, the adders and the registers
are the same as after training, and the constant products are priced on weights that are all nonzero (training
can only make some zero), so the figure is what the trained model's estimate would be, or a little more.

A model whose estimate is more than SIZE_MARGIN (5) times the part's LUT or DSP (after `--fit`'s search when --fit
is given) is refused with exit 2 before anything is trained or written. Within that margin the run goes on: the
estimate's LUT error is wide (README, "Latency and resources"), and `--rtl` measures the RTL form.

Not checked: models from a model file (their types are calibrated from the data first) and
`hls.strategy: distributed_arithmetic` (the cost of an alkaid kernel is a property of the trained weights' shift-and-
add graph, and solving it for initial weights would take minutes on a large model).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

# Times the part's LUT or DSP. Not 1: the estimate's LUT ran 2.9x above Yosys's count on the default example
# (113 % against 39 % of the xcvu9p, README "The default example"), so only a model far beyond the part is stopped.
SIZE_MARGIN = 5.0
CHECKED = ("LUT", "DSP")


def estimate_from_config(cfg, fit: bool = False) -> dict:
    """The estimate of the untrained quantized model built from the keys (or of `--fit`'s closest point)."""
    from trigformer.flow.convert import convert, layer_descriptions
    from trigformer.flow.estimate import estimate
    from trigformer.flow.parts import resolve_part
    from trigformer.models.builder import build_model

    from trigformer.flow.train import seed_everything

    part_full, _ = resolve_part(cfg.hls.part)
    seed_everything(cfg.seed)  # the initial weights of the seed (training seeds again before it builds its models)
    model = build_model(cfg, quantized=True)
    probe = Path(tempfile.mkdtemp(prefix="trigformer-size-"))
    try:
        layers = layer_descriptions(convert(model, cfg, probe / "p", part_full, trace=False), cfg)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if fit:
        from trigformer.flow.fit import fit as fit_search

        return fit_search(layers, cfg.hls.clock_period_ns, part_full, cfg.budget_dict(), cfg.hls.strategy).estimate
    return estimate(layers, cfg.hls.clock_period_ns, cfg.hls.part, band=False)


def too_large(cfg, fit: bool = False) -> str | None:
    """The message when the config's estimate exceeds the part by more than SIZE_MARGIN (None when it does not,
    or when the check does not apply)."""
    if cfg.model.file is not None or cfg.hls.strategy == "distributed_arithmetic":
        return None
    from trigformer.flow.parts import resolve_part

    _, cap = resolve_part(cfg.hls.part)
    res = estimate_from_config(cfg, fit)["resources"]
    over = [f"{res[k] / getattr(cap, k):,.1f}x its {k} ({res[k]:,} of {getattr(cap, k):,})"
            for k in CHECKED if getattr(cap, k) and res[k] > SIZE_MARGIN * getattr(cap, k)]
    if not over:
        return None
    after = " after --fit's search" if fit else ""
    return (f"this model's estimate{after} is {' and '.join(over)} of the {cfg.hls.part}, more than {SIZE_MARGIN:g}x "
            "the part, found before training: make it smaller (data.n_particles, model.embed_dim, num_heads, "
            "num_blocks, ffn_dim), raise hls.reuse_factor, use --fit, or pass --no-size-check to run it anyway")
