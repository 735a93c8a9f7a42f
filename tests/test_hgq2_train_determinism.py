"""HGQ2 training from the keys is deterministic: the N = 16 example (models/jet_tagger_n16.yaml) trained for 2 epochs
(float twin, then HGQ2 with BetaPID aiming at the LUT target: 314 steps, the alkaid trace at the end of the warm-up)
in two fresh processes at once gives the same weights, bit widths included. With TensorFlow's graph optimizer on
during HGQ2 training (flow/train.py grappler_off says what was measured) a bit-width gradient differed in its last
bit within 3-109 steps in every pair measured, and the weights with it; the reference here is the other process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import hashlib
from pathlib import Path
import numpy as np
import trigformer  # first, as `synth` and the API do: it sets the TensorFlow environment
from trigformer.flow import data as data_stage
from trigformer.flow.config import load_config
from trigformer.flow.train import train_hgq2

path = Path("models/jet_tagger_n16.yaml")
cfg = load_config(path)
cfg.training.epochs = 2
ds = data_stage.prepare(cfg, path, False, trained_model=True).ds  # as flow/hgq2.py
t = train_hgq2(cfg, ds, False)
h = hashlib.sha256()
for v in t.fixed.weights:
    h.update(v.path.encode() + b"\\0" + np.ascontiguousarray(np.asarray(v.numpy())).tobytes())
print("STEPS", int(t.fixed.optimizer.iterations.numpy()))
print("DIGEST", h.hexdigest())
"""


@pytest.mark.slow
def test_hgq2_training_same_weights_in_two_processes():
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=1800) for p in procs]
    digests = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        lines = dict(x.split(" ", 1) for x in out.splitlines() if x.startswith(("STEPS ", "DIGEST ")))
        assert int(lines["STEPS"]) == 2 * 157  # 40,000 jets in batches of 256, two epochs
        digests.append(lines["DIGEST"])
    assert digests[0] == digests[1]
