"""Quantization-aware training (and the float twin, trained the same way)."""

from __future__ import annotations

import time

import numpy as np


def seed_everything(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(model, x: np.ndarray, y: np.ndarray, tcfg, seed: int, label: str, progress: bool = True) -> dict:
    """Adam + cosine-decayed learning rate, softmax cross-entropy on the logits. Returns a small history summary."""
    import tensorflow as tf

    seed_everything(seed)
    steps = int(np.ceil(len(x) / tcfg.batch_size)) * tcfg.epochs
    lr = tf.keras.optimizers.schedules.CosineDecay(tcfg.learning_rate, decay_steps=max(steps, 1), alpha=0.05)
    model.compile(optimizer=tf.keras.optimizers.Adam(lr),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callbacks = []
    if progress:
        from tqdm.keras import TqdmCallback

        callbacks.append(TqdmCallback(verbose=0, desc=f"train {label}", leave=True))
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=tcfg.batch_size, epochs=tcfg.epochs, shuffle=True, verbose=0,
                     callbacks=callbacks)
    return {"epochs": tcfg.epochs, "seconds": round(time.perf_counter() - t0, 1),
            "final_loss": float(hist.history["loss"][-1]), "final_train_accuracy": float(hist.history["accuracy"][-1])}


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == y))
