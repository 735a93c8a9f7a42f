"""trigformer: hls_templates."""
