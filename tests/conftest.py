import os

# Before any test module imports TensorFlow: deterministic kernels, no oneDNN reordering, quiet logs.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
