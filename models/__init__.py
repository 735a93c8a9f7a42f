"""trigformer models: fixed-point types, the ops (models/ops), builders and datasets.

The one place the TensorFlow environment is set: importing this package (flow imports it) before TensorFlow gives
deterministic, quiet TensorFlow. oneDNN reorders float reductions, so it is off unless the caller set it; the
intra-op thread pool has a fixed size, so training gives the same weights on any machine.
Third-party warnings a user of trigformer cannot act on are filtered here too, each by its message, category and
the module that warns (never a blanket ignore), with the reason beside it.
"""

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import warnings

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow splits a reduction by its intra-op thread pool, and its default pool is the machine's core count: the
# same seed trained different weights with 1 and 2 threads (tests/test_train_threads.py), so a YAML's firmware
# depended on the machine and a sweep point (1 thread per point) differed from the same YAML run by `synth`. Fixed
# here, whatever the caller's environment says (2: what this project's figures were produced with, on 2 cores; the
# inter-op pool and the cores actually available did not change the weights).
TRAIN_THREADS = 2
os.environ["TF_NUM_INTRAOP_THREADS"] = str(TRAIN_THREADS)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports TensorFlow with the process's stderr (file descriptor 2) sent to /dev/null, then restored.

    qkeras-v3 and tf_keras require the `tensorflow` wheel, which is built for GPUs: on a machine without a CUDA driver
    its C++ says so on import and on device discovery (`cudart_stub.cc`, `cuInit`), before TF_CPP_MIN_LOG_LEVEL
    applies and below Python's warnings. Nothing for a user of trigformer to act on. Exceptions still propagate
    (restored stderr); a TensorFlow imported before trigformer was the caller's, and is left alone."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: find the real spec, then this loader runs it
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        self.loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_to_devnull():
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # device discovery (cuInit) now, not at the first op
        module.__loader__ = module.__spec__.loader = self.loader  # the module looks as if imported plainly


class _stderr_to_devnull:
    def __enter__(self):
        sys.stderr.flush()
        self.saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowImport())


def quiet_third_party() -> None:
    """Register the filters (idempotent: warnings replaces an identical filter). Called on import and again by
    each synth run, for callers (pytest, notebooks) that reset the filters after importing us."""
    # QKeras layers' get_config hands their quantizers to keras.constraints.serialize, which warns on every save,
    # save_weights and to_json (hls4ml's conversion calls it) that they are not keras Constraints; the files load back
    # with QKeras' custom objects (models.builder / models.byom do so): nothing for the user to do
    warnings.filterwarnings("ignore", message=r"The `keras\.constraints\.serialize\(\)` API .*qkeras",
                            category=UserWarning, module=r"keras\.src\.constraints")
    # Keras calls the .h5 format legacy on model.save (through absl's logger): we write .h5 on purpose (flow.train)
    _drop_log_lines("absl", r"You are saving your model as an HDF5 file")
    # TensorFlow counts retracings per Python function across models: Keras 3 makes one predict function per model,
    # and a run predicts with several models (flow.train, models.byom) once each
    _drop_log_lines("tensorflow", r"\d+ out of the last \d+ calls to .* triggered tf\.function retracing")
    # Keras 3's convert_to_numpy (save_weights, get_weights) calls np.array on its own Variable, whose __array__
    # predates NumPy 2's `copy` keyword
    warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy keyword",
                            category=DeprecationWarning, module=r"keras\.src\.")
    # hls4ml re-spells the strategy of the pointwise layers it creates from our settings (stacklevel 3: the message)
    warnings.filterwarnings("ignore", message="Overriding attribute 'strategy'", category=UserWarning)


class _DropLines(logging.Filter):
    """Drops a logger's records whose message matches `pattern` (re.match)."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


def _drop_log_lines(logger: str, pattern: str) -> None:
    """Once per logger and pattern (quiet_third_party runs again on every synth)."""
    log = logging.getLogger(logger)
    if not any(isinstance(f, _DropLines) and f.pattern.pattern == pattern for f in log.filters):
        log.addFilter(_DropLines(pattern))


quiet_third_party()
