"""trigformer flow: CLI, config, stages (data, train, firmware, C-simulation, verification, cost) and reports."""

import trigformer.models  # noqa: F401  (sets the TensorFlow environment before anything imports TensorFlow)
