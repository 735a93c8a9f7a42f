"""Keras layer: QDense applied to every token of [batch, n_tokens, features].

The same layer as QKeras' QDense (same weights, quantizers and forward pass); its own class name lets conversion
map it onto trigformer's per-token Dense instead of hls4ml's PointwiseConv1D."""

from __future__ import annotations

from qkeras import QDense


class QTokenDense(QDense):
    pass
