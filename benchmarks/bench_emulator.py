"""Emulator vs C-simulation throughput on the default example, in one run. Prints its figures; asserts nothing.

    .venv/bin/python benchmarks/bench_emulator.py [--config models/jet_tagger.yaml] [--events N] [--repeat 5]

The firmware's speed does not depend on the weight values, so an untrained (seeded) model is used unless
--weights points at a synth output folder. Reports: csim library compile time (hls4ml compile = write + g++),
csim predict events/s (hls4ml's predict: one event after another, one core), emulator events/s on all usable
cores and on one, the speed-up, and that both gave identical integers. The emulator is timed first with glibc's
default allocator settings, then with EmulatorSettings.keep_freed_memory (what synth uses), in that order because
the setting cannot be undone within a process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best_of(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="models/jet_tagger.yaml")
    ap.add_argument("--events", type=int, help="default: the config's data.n_test (the test set synth emulates)")
    ap.add_argument("--weights", type=Path, help="a synth output folder (keras/fixed.weights.h5)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs after a warm-up; the best is reported")
    args = ap.parse_args()

    import numpy as np

    from trigformer.flow.config import load_config
    from trigformer.flow.convert import convert
    from trigformer.flow.parts import resolve_part
    from trigformer.flow.train import seed_everything
    from trigformer.models.builder import build_model, snap_to_grid
    from trigformer.models.data import make_synthetic
    from trigformer.sim.emulator import Emulator, EmulatorSettings, usable_cores

    cfg = load_config(args.config)
    seed_everything(cfg.seed)
    model = build_model(cfg, quantized=True)
    if args.weights:
        model.load_weights(args.weights / "keras" / "fixed.weights.h5")
    snap_to_grid(model)
    n_events = args.events or cfg.data.n_test
    x, _ = make_synthetic(n_events, cfg.data.n_particles, cfg.data.features, seed=cfg.seed)

    with tempfile.TemporaryDirectory() as d:
        hls_model = convert(model, cfg, Path(d) / cfg.name, resolve_part(cfg.hls.part)[0], trace=False)
        t0 = time.perf_counter()
        hls_model.compile()
        t_compile = time.perf_counter() - t0
        y_csim = np.asarray(hls_model.predict(x)).reshape(len(x), -1)  # warm-up run
        t_csim = best_of(lambda: hls_model.predict(x), args.repeat)

    tuned = EmulatorSettings.tuned()
    cores = tuned.threads
    emu = Emulator.from_hls_model(hls_model, model, EmulatorSettings(threads=cores, blas_threads=1))
    emu.run(x)  # warm-up run (first touch of the memory)
    t_plain = best_of(lambda: emu.run(x), args.repeat)
    emu.settings = tuned
    y_emu = emu.run(x)  # warm-up with freed blocks kept
    t_emu = best_of(lambda: emu.run(x), args.repeat)
    emu.settings = EmulatorSettings(threads=1, blas_threads=1, keep_freed_memory=True)
    t_one = best_of(lambda: emu.run(x), args.repeat)
    same = np.array_equal(emu.output_type.quantize(y_csim), y_emu)

    print(f"config                 {args.config} ({cfg.data.n_particles} particles, d={cfg.model.embed_dim}, "
          f"{cfg.model.num_heads} heads, {cfg.model.num_blocks} blocks)")
    print(f"events                 {len(x)} (best of {args.repeat} warm runs each)")
    print(f"csim compile (g++)     {t_compile:8.1f} s   (hls4ml compile(): write project + build_lib.sh)")
    print(f"csim predict           {len(x) / t_csim:10.0f} events/s  ({t_csim:.2f} s, 1 core)")
    n_cores = f"{cores} core{'s' if cores > 1 else ''}"
    for label, t in ((f"emulator, {n_cores}", t_emu), ("emulator, 1 core", t_one),
                     (f"emulator, {n_cores} *", t_plain)):
        print(f"{label:22s} {len(x) / t:10.0f} events/s  ({t:.3f} s)   speed-up {t_csim / t:6.1f} x")
    print("  * with glibc's default malloc thresholds (EmulatorSettings.keep_freed_memory off)")
    print(f"bit-exact              {same}")
    t0 = time.perf_counter()
    make_synthetic(50_000, cfg.data.n_particles, cfg.data.features, seed=1)
    print(f"synthetic jets         {50_000 / (time.perf_counter() - t0):10.0f} jets/s  (50 000 jets)")


if __name__ == "__main__":
    main()
