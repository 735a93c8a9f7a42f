"""The anchor's shape (Laatu et al., arXiv 2510.24784) as an HGQ2 model through `synth --rtl`: Yosys's LUT count of
alkaid's Verilog against alkaid's own cost figure of the same traced logic (issue 22 wants them within 15 %).

    PYTHONPATH=<repo> python benchmarks/hgq2_anchor.py OUT [--epochs 1] [--seed 0]

Builds models/hgq2/examples.py `anchor` (N = 8 particles, 3 features, d_model 16, one head key_dim 16, one
attention block with residual, two residual MLP blocks 32 -> 16, Flatten head, no norm), draws heterogeneous bit
widths (seeded), trains it briefly on the embedded synthetic jets, saves OUT/anchor.keras and OUT/anchor.yaml, runs
`synth OUT/anchor.yaml --part xcvu9p --rtl --out OUT/fw` and prints the figures from OUT/fw/report.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

F3 = ["pt_rel", "eta_rel", "phi_rel"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--multipliers", choices=("auto", "lut", "dsp"), default="lut",
                    help="hls.multipliers (lut: every variable product in LUTs, as alkaid's cost counts them)")
    args = ap.parse_args(argv)
    from trigformer.flow.cli import main as synth
    from trigformer.models.data import make_synthetic
    from trigformer.models.hgq2.examples import anchor, heterogeneous, train

    args.out.mkdir(parents=True, exist_ok=True)
    x, y = make_synthetic(2000, 8, F3, seed=args.seed)
    model = train(heterogeneous(anchor(8, len(F3)), seed=args.seed), x, y, epochs=args.epochs, seed=args.seed)
    model.save(args.out / "anchor.keras")
    cfg = {"name": "hgq2_anchor", "seed": args.seed, "model": {"file": "anchor.keras"},
           "data": {"n_particles": 8, "features": F3, "n_train": 200, "n_test": 1000}, "verify": {"n_events": 200},
           "hls": {"multipliers": args.multipliers}}
    (args.out / "anchor.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    code = synth([str(args.out / "anchor.yaml"), "--part", "xcvu9p", "--rtl", "--out", str(args.out / "fw"),
                  "--force"])
    r = json.loads((args.out / "fw" / "report.json").read_text())
    rtl = r["rtl"]
    print(json.dumps({"exit": code, "latency": rtl["latency"], "resources": {k: rtl["resources"].get(k) for k in
                                                                             ("source", "LUT", "FF", "DSP", "yosys")},
                      "alkaid_cost": rtl["alkaid_cost"], "vs_alkaid_cost": rtl.get("vs_alkaid_cost"),
                      "trace_vs_keras": rtl["trace_vs_keras"]["mismatched_values"],
                      "cosim": {k: rtl["cosim"].get(k) for k in ("n_events", "mismatched_values", "failed")}},
                     indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
