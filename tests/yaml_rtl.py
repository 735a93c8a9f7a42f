"""The end-to-end check a new op's tests share: `synth model.yaml --rtl` on a tiny config, then csim == emulator,
alkaid trace == emulator and Verilator == emulator on every event, as integers (report.json)."""

from __future__ import annotations

import json

import yaml


def synth_rtl_bit_exact(tmp_path, monkeypatch, cfg: dict, n_events: int = 1000) -> dict:
    """Write `cfg` as YAML, run synth --rtl on it (exit 0 required), assert every comparison exact; the report."""
    from trigformer.flow.cli import main

    (tmp_path / "model.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    assert main(["model.yaml", "--rtl", "--out", "out", "-q"]) == 0
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert r["verification"]["csim_vs_emulator"]["bit_exact_fraction"] == 1.0
    assert r["rtl"]["trace_vs_emulator"]["mismatched_values"] == 0
    assert r["rtl"]["cosim"]["mismatched_values"] == 0 and r["rtl"]["cosim"]["n_events"] == n_events
    return r
