"""trigformer flow: CLI, config, conversion, build, reports."""

import os

# Deterministic, quiet TensorFlow: oneDNN reorders float reductions; must be set before TF is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
