"""The error a model file that cannot be read raises (exit 2); its own module because both the loader and the legacy
reader it calls raise it."""


class ModelFileError(ValueError):
    """The model file cannot be read as a Keras model (exit 2)."""
