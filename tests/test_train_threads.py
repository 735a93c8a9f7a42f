"""Training gives the same weights whatever TensorFlow's thread settings in the caller's environment: the N = 16
example's float twin, one epoch on 8,000 jets, trained in two fresh processes, one told to use 1 intra-op thread and
one 4. Before trigformer fixed the pool's size (models/__init__.py TRAIN_THREADS) the two digests differed (1 vs 2
threads, measured), so a YAML's firmware depended on the machine and a sweep point differed from `synth`."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import hashlib
import numpy as np
import trigformer  # first, as `synth` and the API do: it sets the TensorFlow environment
from trigformer.flow.config import load_config
from trigformer.flow.train import seed_everything, train
from trigformer.models.data import make_synthetic
from trigformer.models.hgq2.build import build_float

cfg = load_config("models/jet_tagger_n16.yaml")
cfg.training.epochs = 1
x, y = make_synthetic(8000, 16, cfg.data.features, seed=1)
seed_everything(42)
m = build_float(cfg)
train(m, x, y, cfg.training, 42, "float", False)
h = hashlib.sha256()
for w in m.get_weights():
    h.update(np.ascontiguousarray(w).tobytes())
print("DIGEST", h.hexdigest())
"""


def _digest(threads: str) -> str:
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads,
           "OMP_NUM_THREADS": threads}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("DIGEST ")]
    return line.split()[1]


def test_same_weights_whatever_the_thread_environment():
    assert _digest("1") == _digest("4")
