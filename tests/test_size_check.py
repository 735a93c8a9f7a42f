"""A model far beyond its part is refused before training (flow.sizecheck), unless --no-size-check.

Each row is a model.yaml (the test config or an example, with a few keys changed) and flags. A refused row is exit 2
with one line naming the resource, the factor and the flag, and nothing written. An accepted row must get past the
check without training anything: its --out is an existing folder synth did not write, which synth refuses right
after the check (exit 2, the output folder's message), so reaching that message proves the check let it through.
The factors are the estimate's (flow.estimate) on the untrained quantized model; the reference points are the
README's (the issue's model: minutes of training before; the former default: 4.4x the LUT, kept runnable).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from trigformer.flow.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
DEFAULT = REPO / "models" / "jet_tagger.yaml"
LARGE = REPO / "models" / "jet_tagger_large.yaml"
ISSUE = {"data": {"n_particles": 64}, "model": {"embed_dim": 64, "num_heads": 8, "num_blocks": 4}}


def _config(folder: Path, base: Path, changes: dict) -> Path:
    cfg = yaml.safe_load(base.read_text())
    for section, keys in changes.items():
        cfg.setdefault(section, {}).update(keys)
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# (case, base config, changed keys, flags, what the message names)
REFUSED = [
    ("the issue's model: 64 particles, d 64, 8 heads, 4 blocks", DEFAULT, ISSUE, [], ["x its LUT", "x its DSP"]),
    ("the test model on an xc7z007s", TINY, {}, ["--part", "xc7z007s"], ["x its LUT", "x its DSP"]),
    ("the default on a Zynq-7020", DEFAULT, {"hls": {"part": "xc7z020"}}, [], ["x its LUT (", "xc7z020"]),
    ("32 particles, d 32", DEFAULT, {"data": {"n_particles": 32}, "model": {"embed_dim": 32}}, [], ["x its LUT"]),
    ("16-bit activations, 12-bit weights, 16 particles", DEFAULT,
     {"data": {"n_particles": 16}, "quantization": {"act_bits": 16, "weight_bits": 12}}, [], ["x its DSP ("]),
    ("--fit cannot bring it within 5x", TINY, {}, ["--part", "xc7z007s", "--fit"], ["after --fit's search", "x its "]),
]


@pytest.mark.parametrize("case, base, changes, flags, names", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_model_far_beyond_its_part_is_refused_before_training(tmp_path, capsys, case, base, changes, flags,
                                                                  names):
    cfg = _config(tmp_path, base, changes)
    out = tmp_path / "out"
    assert main([str(cfg), "--out", str(out), "--no-csim", "-q", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synth: error: this model's estimate"), err
    assert "more than 5x the part" in err[0] and "--no-size-check" in err[0] and "before training" in err[0]
    assert all(n in err[0] for n in names), err
    assert sorted(os.listdir(tmp_path)) == ["model.yaml"]  # nothing written, nothing trained


# (case, base config, changed keys, flags)
ACCEPTED = [
    ("the test model", TINY, {}, []),
    ("the default example", DEFAULT, {}, []),
    ("the former default: 4.4x the LUT, within the margin", LARGE, {}, []),
    ("the issue's model with --no-size-check", DEFAULT, ISSUE, ["--no-size-check"]),
    ("the test model on an xc7z007s with --no-size-check", TINY, {}, ["--part", "xc7z007s", "--no-size-check"]),
    ("distributed arithmetic is not checked before training", DEFAULT,
     {**ISSUE, "hls": {"strategy": "distributed_arithmetic"}}, []),
]


@pytest.mark.parametrize("case, base, changes, flags", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_a_model_within_the_margin_or_with_the_flag_gets_past_the_check(tmp_path, capsys, case, base, changes,
                                                                          flags):
    cfg = _config(tmp_path, base, changes)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("not synth's\n")
    assert main([str(cfg), "--out", str(out), "--no-csim", "-q", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "estimate" not in err[0] and str(out) in err[0], err  # the output folder's refusal
    assert sorted(os.listdir(out)) == ["notes.txt"]


def test_the_help_documents_the_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--no-size-check" in capsys.readouterr().out
