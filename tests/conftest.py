import trigformer.models  # noqa: F401  (sets the TensorFlow environment before any test module imports TensorFlow)
