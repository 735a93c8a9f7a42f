"""Stage: quantization-aware training of the quantized model and its float twin, and their test-set outputs."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigformer.flow.progress import stage


class WeightsError(ValueError):
    """--weights names something that cannot be loaded into this model (exit 2)."""


@dataclass
class Trained:
    fixed: object  # quantized Keras model, weights snapped to their grids
    float: object  # the float twin, trained the same way
    summary: dict  # per model: epochs, seconds, final loss/accuracy, or where the weights were loaded from
    logits: dict  # test-set outputs: float (twin), fixed (quantized Keras), float_same_weights (fixed's weights,
    # every activation, softmax and norm in float)
    accuracy: dict  # float, fixed, n_events
    import_check: dict | None = None  # a model file: its float outputs against the mapped network's, same weights


def seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # Python's, NumPy's and the backend's generators
    tf.config.experimental.enable_op_determinism()


@contextmanager
def grappler_off():
    """TensorFlow's graph optimizer (Grappler) off while the functions traced inside are built. With it, the same
    HGQ2 model, weights, data and seed did not train the same: per-step digests of the N = 16 example's first HGQ2
    epoch (157 steps, the float twin's weights loaded, two processes at a time) found the gradient of some
    quantizer's bit-width variables (`b`, `f`, `i`) different in the last bit after 3 to 109 steps in each of 11
    pairs: 1 or 2 threads per pool, PYTHONHASHSEED fixed or not, flush-to-zero set on the main thread, the
    arithmetic optimizer or either half of the other passes off. With PYTHONHASHSEED fixed the traced graph was the
    same in both processes, so the difference came from its optimization or execution; run eagerly, or with Grappler
    off, the pairs were identical over all 157 steps. Over 90 epochs such last-bit differences became different bit
    widths (three different N = 16 models from one YAML). With Grappler off HGQ2 training was also faster here (3
    epochs: 37 s instead of 49 s). The float twin and the uniform (QKeras) path keep Grappler: their repeats were
    identical (the float twin of those three runs; tests/test_synth_cli.py)."""
    import tensorflow as tf

    before = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def train(model, x, y: np.ndarray, tcfg, seed: int, label: str, progress: bool = True,
          from_logits: bool = True, callbacks: list | None = None) -> dict:
    """Adam + cosine-decayed learning rate, softmax cross-entropy on the logits (or on the probabilities of a model
    that ends in a softmax). x: an array, or one per model input. Returns a small history summary."""
    import keras

    seed_everything(seed)
    n = len(x[0]) if isinstance(x, list) else len(x)
    steps = int(np.ceil(n / tcfg.batch_size)) * tcfg.epochs
    lr = keras.optimizers.schedules.CosineDecay(tcfg.learning_rate, decay_steps=max(steps, 1), alpha=0.05)
    # jit_compile=False: XLA (Keras' "auto" picks it where a GPU is) would make the float arithmetic device-dependent
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), metrics=["accuracy"])
    t0 = time.perf_counter()
    with stage(f"train {label}", total=tcfg.epochs, unit="epochs") as st:
        callbacks = list(callbacks or []) + ([_epochs_callback(st)] if progress else [])
        hist = model.fit(batches(x, y, tcfg.batch_size, shuffle_seed=seed), epochs=tcfg.epochs, verbose=0,
                         shuffle=False, callbacks=callbacks)  # (the pipeline shuffles)
    return {"epochs": tcfg.epochs, "seconds": round(time.perf_counter() - t0, 1),
            "final_loss": float(hist.history["loss"][-1]), "final_train_accuracy": float(hist.history["accuracy"][-1])}


def _epochs_callback(st):
    """A Keras callback that counts epochs on the stage (flow.progress), with the loss and accuracy so far."""
    import keras

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            note = ", ".join(f"{k} {logs[k]:.3f}" for k in ("loss", "accuracy") if k in logs)
            if "ebops" in logs:  # an HGQ2 model: its resource proxy as training shrinks it
                note += f", EBOPs {logs['ebops']:,.0f}"
            st.update(epoch + 1, note=note)

    return Epochs()


def batches(x, y=None, batch_size: int = 1024, shuffle_seed: int | None = None):
    """The arrays as a tf.data pipeline of batches for fit and predict; with `shuffle_seed`, every epoch in a new
    order drawn from that seed. Keras 3's own array adapter slices with a parallel map, which TensorFlow 2.21
    rewrites under op determinism (seed_everything) into a node it then logs a C++ error about on every call."""
    import tensorflow as tf

    xs = tuple(x) if isinstance(x, list) else x  # (a list would be stacked into one tensor)
    ds = tf.data.Dataset.from_tensor_slices((xs,) if y is None else (xs, y))  # Keras reads (x,) / (x, y)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def predict(model, x) -> np.ndarray:
    """The model's outputs on x (an array, or one per model input) as float32 NumPy."""
    return np.asarray(model.predict(batches(x), verbose=0))


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def train_models(cfg, ds, weights: Path | None, progress: bool) -> Trained:
    """Build both models from the seed, train them (float first; QAT starts from it unless qat_init: scratch) or
    load --weights, snap the quantized weights to their grids, and predict the test set."""
    from trigformer.models.builder import build_model, snap_to_grid

    seed_everything(cfg.seed)  # initial weights come from the seed too
    fixed = build_model(cfg, quantized=True)
    seed_everything(cfg.seed)
    floatm = build_model(cfg, quantized=False)
    summary: dict = {}
    if weights is not None:
        summary["fixed"] = _load_weights(fixed, weights, "fixed")
        summary["float"] = _load_weights(floatm, weights, "float") if _has(weights, "float") \
            else train(floatm, ds.x_train, ds.y_train, cfg.training, cfg.seed, "float", progress)
    else:
        summary["float"] = train(floatm, ds.x_train, ds.y_train, cfg.training, cfg.seed, "float", progress)
        if cfg.training.qat_init == "float":  # float pre-training, then quantization-aware fine-tuning
            fixed.set_weights(floatm.get_weights())
        summary["fixed"] = train(fixed, ds.x_train, ds.y_train, cfg.training, cfg.seed, "fixed", progress)
        summary["fixed"]["initialized_from"] = cfg.training.qat_init
    snap_to_grid(fixed)
    same = build_model(cfg, quantized=False)  # the fixed model's weights with float arithmetic everywhere
    same.set_weights(fixed.get_weights())
    with stage("Keras predictions", note=f"{len(ds.y_test)} test events, 3 models"):
        logits = {"float": predict(floatm, ds.x_test), "fixed": predict(fixed, ds.x_test),
                  "float_same_weights": predict(same, ds.x_test)}
    acc = {"float": accuracy(logits["float"], ds.y_test), "fixed": accuracy(logits["fixed"], ds.y_test),
           "n_events": int(len(ds.y_test))}
    return Trained(fixed, floatm, summary, logits, acc)


def train_hgq2(cfg, ds, progress: bool) -> Trained:
    """quantization.mode hgq2 (models/hgq2/build.py): the float twin (Keras' own layers), then the HGQ2 model from
    the same seed, trained with HGQ2's EBOPs penalty (a fixed beta, or HGQ2's BetaPID aiming at lut_target), then
    calibrated on the training set (models/hgq2/build.py calibrate: HGQ2's trace_minmax)."""
    from trigformer.models.hgq2.build import build_float, build_hgq2, calibrate, ebops

    seed_everything(cfg.seed)
    floatm = build_float(cfg)
    seed_everything(cfg.seed)
    fixed = build_hgq2(cfg)
    summary: dict = {"float": train(floatm, ds.x_train, ds.y_train, cfg.training, cfg.seed, "float", progress)}
    init = {"initialized_from": cfg.training.qat_init}
    if cfg.training.qat_init == "float":  # HGQ2 then shrinks the bit widths of a trained network
        init["weights_from_float"] = _copy_float_weights(floatm, fixed)
    q = cfg.quantization
    calls = [_ebops_logger()]
    target = None
    if q.lut_target is not None:
        target = _lut_target(q.lut_target, q.beta, cfg.training.epochs)
        calls.insert(0, target)
    with grappler_off():
        summary["fixed"] = train(fixed, ds.x_train, ds.y_train, cfg.training, cfg.seed, "HGQ2 (heterogeneous)",
                                 progress, callbacks=calls)
    with stage("HGQ2 calibration (trace_minmax)", note=f"{len(ds.x_train)} training events"):
        summary["fixed"]["calibration"] = calibrate(fixed, ds.x_train)
    summary["fixed"].update({"quantization": "hgq2", "ebops": ebops(fixed), **init, "beta": q.beta if target is None
                             else {"controller": "hgq.utils.sugar.BetaPID", "start": q.beta, "final": target.beta},
                             **({"lut_target": target.report()} if target is not None else {})})
    with stage("Keras predictions", note=f"{len(ds.y_test)} test events, 2 models"):
        logits = {"float": predict(floatm, ds.x_test), "fixed": predict(fixed, ds.x_test)}
    logits["float_same_weights"] = logits["fixed"]  # (no float form of per-element quantizers)
    acc = {"float": accuracy(logits["float"], ds.y_test), "fixed": accuracy(logits["fixed"], ds.y_test),
           "n_events": int(len(ds.y_test))}
    return Trained(fixed, floatm, summary, logits, acc)


def _copy_float_weights(floatm, fixed) -> int:
    """The float twin's kernels and biases into the HGQ2 model, matched by variable path and shape (the two are
    built with the same layer names; HGQ2 has no key bias, and a Linformer's projections are laid out differently:
    those start from the seed). Returns how many variables were copied."""
    src = {v.path: v for v in floatm.weights}
    n = 0
    for v in fixed.weights:
        w = src.get(v.path)
        if w is not None and tuple(w.shape) == tuple(v.shape) and v.path.rsplit("/", 1)[-1] in ("kernel", "bias"):
            v.assign(w.numpy())
            n += 1
    return n


def _ebops_logger():
    from hgq.utils.sugar import FreeEBOPs

    return FreeEBOPs()  # logs["ebops"] every epoch (shown on the progress line)


def _lut_target(lut: int, beta0: float, epochs: int):
    """HGQ2's BetaPID on EBOPs, its target set from `lut` once, at the end of the warm-up: the model is traced by
    alkaid there and EBOPs are scaled by alkaid cost / EBOPs measured on it (EBOPs are bit operations, not LUTs).
    What the firmware then costs is measured after training (alkaid and Yosys), not assumed."""
    from hgq.utils.sugar import BetaPID

    from trigformer.models.hgq2.build import ebops

    warmup = max(1, epochs // 5)

    class LutTarget(BetaPID):
        def __init__(self):
            # gains for tens of epochs (HGQ2's defaults, i = 2e-3, suit thousands): in log10 space, a factor 3 above
            # the target raises beta ~3x at once and ~10x more over the next 10 epochs if it stays there
            super().__init__(target_ebops=float(lut), init_beta=max(beta0, 1e-8), warmup=warmup, p=1.0, i=0.2)
            self.lut, self.ratio = lut, None

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == self.warmup and self.ratio is None:
                from trigformer.models.hgq2.check import trace

                self.ratio = trace(self.model).cost / max(ebops(self.model), 1.0)
                self.target_ebops = self.lut / self.ratio
            super().on_epoch_begin(epoch, logs)

        def report(self) -> dict:
            return {"lut": self.lut, "warmup_epochs": self.warmup, "alkaid_cost_per_ebop": self.ratio,
                    "ebops_target": self.target_ebops if self.ratio is not None else None,
                    "note": "the EBOPs target is lut / (alkaid cost per EBOP of the model traced at the end of the "
                            "warm-up); the trained model's cost is measured after training"}

    return LutTarget()


def train_imported(cfg, ds, imported, qt, weights: Path | None, progress: bool) -> Trained:
    """A trained model file (models.byom): the quantized model is the same network out of trigformer's layers with
    the file's weights (post-training quantization), fine-tuned quantization-aware when training.epochs > 0 (or
    loaded from --weights); the float reference is the user's model itself, as trained."""
    final = cfg.model.final_softmax or "drop"
    seed_everything(cfg.seed)
    fixed = imported.build(qt, quantized=True, final_softmax=final)
    summary: dict = {"float": {"model": imported.source, "trained": "by the user (not retrained)"}}
    if weights is not None:
        summary["fixed"] = _load_weights(fixed, weights, "fixed")
    elif cfg.training.epochs > 0:
        summary["fixed"] = train(fixed, imported.feed(ds.x_train), ds.y_train, cfg.training, cfg.seed,
                                 "fixed (QAT fine-tuning)", progress, from_logits=final == "drop")
        summary["fixed"]["initialized_from"] = "the model file's weights"
    else:
        summary["fixed"] = {"epochs": 0, "method": "post-training quantization of the model file's weights"}
    from trigformer.models.builder import snap_to_grid

    snap_to_grid(fixed)
    x_test = imported.feed(ds.x_test)
    with stage("Keras predictions", note=f"{len(ds.y_test)} test events, the model file and 3 mapped models"):
        user, mapped, logits = _imported_predictions(imported, qt, final, fixed, ds, x_test)
    check = {"reference": "the model file's own outputs against the same network rebuilt from trigformer's layers "
                          "with the file's weights, computing as the file does (QKeras quantizers kept, the rest "
                          "in float): checks the mapping",
             "max_abs_diff": float(np.abs(user - mapped).max()),
             "argmax_agreement": float(np.mean(user.argmax(-1) == mapped.argmax(-1)))}
    acc = {"float": accuracy(logits["float"], ds.y_test), "fixed": accuracy(logits["fixed"], ds.y_test),
           "n_events": int(len(ds.y_test))}
    return Trained(fixed, imported.user, summary, logits, acc, check)


def _imported_predictions(imported, qt, final: str, fixed, ds, x_test):
    """The test-set outputs of a model file's run: the file's own, the mapped network's (same weights, computing as
    the file does) and the logits of the quantized model and of its float twin."""
    user = imported.float_outputs(ds.x_test, final)
    mirror = imported.build(qt, quantized=False, final_softmax=final, mirror=True)  # the user's model, rebuilt
    mapped = predict(mirror, x_test)
    same = imported.build(qt, quantized=False, final_softmax=final)
    same.set_weights(fixed.get_weights())  # fixed's weights, float arithmetic
    logits = {"float": user,
              "fixed": predict(fixed, x_test),
              "float_same_weights": predict(same, x_test)}
    return user, mapped, logits


def save_models(trained: Trained, keras_dir: Path) -> None:
    keras_dir.mkdir(parents=True, exist_ok=True)
    trained.fixed.save_weights(keras_dir / "fixed.weights.h5")
    trained.float.save_weights(keras_dir / "float.weights.h5")
    trained.fixed.save(keras_dir / "fixed.h5")  # QKeras' warnings on saving: filtered in models/__init__.py
    trained.float.save(keras_dir / "float.h5")  # a model file's float model is the user's own


def _has(path: Path, which: str) -> bool:
    return path.is_dir() and (path / "keras" / f"{which}.weights.h5").exists()


def _load_weights(model, path: Path, which: str) -> dict:
    """--weights: a previous output folder (keras/<which>.weights.h5) or one weights file for the quantized model."""
    f = path / "keras" / f"{which}.weights.h5" if path.is_dir() else path
    if not f.exists():
        raise WeightsError(f"--weights {path}: no {which} weights at {f}")
    try:
        model.load_weights(f)
    except Exception as e:  # shape mismatch or not a weights file: they belong to another model
        raise WeightsError(f"--weights {f}: does not fit this model ({type(e).__name__}: {e})") from None
    return {"loaded_from": str(f)}
