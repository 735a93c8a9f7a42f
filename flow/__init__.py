"""trigformer: flow."""
