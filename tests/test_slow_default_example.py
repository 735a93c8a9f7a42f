"""The default example's acceptance figures (full 20-epoch training, ~3 min): run with `make test-all` or
`pytest -m slow`. Reference: the float twin trained in the same run, and the compiled C-simulation."""

import json
from pathlib import Path

import pytest

from flow.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_default_example_accuracy_and_bit_exactness(tmp_path):
    out = tmp_path / "jet_tagger"
    code = main([str(REPO / "models" / "jet_tagger.yaml"), "--part", "xcvu9p", "--out", str(out), "-q"])
    r = json.loads((out / "report.json").read_text())
    acc, ver = r["accuracy"], r["verification"]
    assert abs(acc["fixed"] - acc["float"]) <= 0.02  # foundation issue: within 2 points
    assert abs(acc["firmware"] - acc["float"]) <= 0.01  # conversion issue: within 1 point
    assert 0.4 < acc["float"] < 0.95  # non-trivial task: well above chance (0.2), clearly below 100 %
    assert ver["csim_vs_emulator"]["bit_exact_fraction"] == 1.0 and ver["n_events"] == 1000
    assert code == (0 if r["budget"]["met"] else 1)
