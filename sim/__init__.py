"""trigformer: sim."""
