"""HGQ2 models of the shapes trigformer is tested and measured on (tests/test_hgq2.py, benchmarks/hgq2_anchor.py).

Quantizers follow HGQ2's usual set-up for L1 taggers: weights and biases `kbi` (saturating), activations `kif`
(wrapping), every quantizer heterogeneous (one bit width per element, learnt with the EBOPs penalty).
"""

from __future__ import annotations


def _scopes():
    from hgq.config import LayerConfigScope, QuantizerConfigScope

    return (QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM"),
            QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP"),
            LayerConfigScope(enable_ebops=True, beta0=1e-5))


def small_attention(n_tokens: int = 8, n_features: int = 3, d: int = 8, n_classes: int = 5, linformer: int = 0):
    """Embedding (QEinsumDense), one QMultiHeadAttention block (QLinformerAttention projecting keys and values to
    `linformer` tokens, if given) with a residual QAdd, a QDense, Flatten, QDense."""
    import keras
    from hgq.layers import QAdd, QDense, QEinsumDense, QLinformerAttention, QMultiHeadAttention

    a, b, c = _scopes()
    with a, b, c:
        inp = keras.Input((n_tokens, n_features))
        x = QEinsumDense("btf,fd->btd", output_shape=(n_tokens, d), bias_axes="d", activation="relu")(inp)
        attn = QLinformerAttention(num_heads=1, lin_kv_proj_dim=linformer, key_dim=d) if linformer else \
            QMultiHeadAttention(num_heads=1, key_dim=d)
        x = QAdd()([x, attn(x, x)])
        x = QDense(d, activation="relu")(x)
        out = QDense(n_classes)(keras.layers.Flatten()(x))
    return keras.Model(inp, out, name="hgq2_small_attention")


def anchor(n_tokens: int = 8, n_features: int = 3, n_classes: int = 5):
    """The shape of Laatu et al. (arXiv 2510.24784): N = 8 particles, d_model 16, one attention block (one head,
    key_dim 16) with residual, two residual MLP blocks 32 -> 16, Flatten head, no norm."""
    import keras
    from hgq.layers import QAdd, QDense, QEinsumDense, QMultiHeadAttention

    d = 16
    a, b, c = _scopes()
    with a, b, c:
        inp = keras.Input((n_tokens, n_features))
        x = QEinsumDense("btf,fd->btd", output_shape=(n_tokens, d), bias_axes="d")(inp)
        x = QAdd()([x, QMultiHeadAttention(num_heads=1, key_dim=d)(x, x)])
        for _ in range(2):
            h = QDense(32, activation="relu")(x)
            x = QAdd()([x, QDense(d)(h)])
        out = QDense(n_classes)(keras.layers.Flatten()(x))
    return keras.Model(inp, out, name="hgq2_anchor")


def heterogeneous(model, seed: int = 0, weight_bits=(3, 8), input_frac=(3, 7)):
    """Per-element bit widths drawn at random (seeded), so that a briefly trained model is already heterogeneous:
    every weight/bias quantizer's `b` (kbi) and every layer-input quantizer's `f` (kif) gets one integer per element.
    The softmax's own table quantizers are left as HGQ2 sets them (its table is homogeneous by default)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for v in model.variables:
        path = v.path
        lo_hi = weight_bits if path.endswith("/b") and "_kbi" in path else \
            input_frac if path.endswith("/f") and "_iq/" in path and "softmax" not in path else None
        if lo_hi is not None:
            v.assign(rng.integers(lo_hi[0], lo_hi[1] + 1, size=tuple(v.shape)).astype(v.dtype))
    return model


def train(model, x, y, epochs: int = 1, seed: int = 0):
    """A brief fit (Adam, logits), seeded; enough to move the bit widths away from their initial values."""
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
    return model
