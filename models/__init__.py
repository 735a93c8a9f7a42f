"""trigformer models: fixed-point types, the ops (models/ops), builders and datasets.

The one place the TensorFlow environment is set: importing this package (flow imports it) before TensorFlow gives
deterministic, quiet TensorFlow. oneDNN reorders float reductions, so it is off unless the caller set it.
Third-party warnings a user of trigformer cannot act on are filtered here too, each by its message, category and
the module that warns (never a blanket ignore), with the reason beside it.
"""

import os
import warnings

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def quiet_third_party() -> None:
    """Register the filters (idempotent: warnings replaces an identical filter). Called on import and again by
    each synth run, for callers (pytest, notebooks) that reset the filters after importing us."""
    # QKeras layers' get_config hands their quantizers to keras.constraints.serialize, which warns on every save,
    # save_weights and to_json (hls4ml's conversion calls it) that they are not keras Constraints; the files load back
    # with QKeras' custom objects (models.builder / models.byom do so): nothing for the user to do
    warnings.filterwarnings("ignore", message=r"The `keras\.constraints\.serialize\(\)` API .*qkeras",
                            category=UserWarning, module=r"keras\.src\.constraints")
    # Keras calls the .h5 format legacy on model.save: we write both .h5 and .weights.h5 on purpose (flow.train)
    # (its stacklevel points at the caller: matched by the message alone)
    warnings.filterwarnings("ignore", message=r"You are saving your model as an HDF5 file via `model\.save\(\)`",
                            category=UserWarning)
    # hls4ml re-spells the strategy of the pointwise layers it creates from our settings (stacklevel 3: the message)
    warnings.filterwarnings("ignore", message="Overriding attribute 'strategy'", category=UserWarning)


quiet_third_party()
