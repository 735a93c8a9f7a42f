"""trigformer models: fixed-point types, the ops (models/ops), builders and datasets.

The one place the TensorFlow environment is set: importing this package (flow imports it) before TensorFlow gives
deterministic, quiet TensorFlow. oneDNN reorders float reductions, so it is off unless the caller set it.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
