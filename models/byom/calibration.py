"""Calibration of the `auto` integer bits from the user's float model, and its float outputs (logits)."""

from __future__ import annotations

import math

import numpy as np

from trigformer.models.byom.graph import _Build

ACT_QUANTILE = 0.999  # calibration: the 99.9 % quantile of |value|, as input_scale_log2 uses
CALIBRATION_EVENTS = 2000


class Calibration:
    """ImportedModel's calibration (a mixin: it reads the model's graph and mapping)."""

    def float_outputs(self, x, final_softmax: str = "drop", batch_size: int = 1024) -> np.ndarray:
        """The user's model on x (particles), with a final softmax stripped (logits) unless final_softmax is lut."""
        import keras

        inputs = self.feed(x)
        if not self.ends_in_softmax or final_softmax == "lut":
            return self.user.predict(inputs, batch_size=batch_size, verbose=0)
        last = self.final_layer
        sub = keras.Model(self.user.inputs, self._node(last).input_tensors[0])
        h = sub.predict(inputs, batch_size=batch_size, verbose=0)
        if type(last).__name__ in ("Softmax", "Activation"):
            return h
        kernel, bias = self._dense_weights(last, quantize=True)  # the final Dense(activation="softmax")
        return (h.astype(np.float64) @ kernel + bias).astype(np.float32)

    def calibrate(self, x, qt_fixed, final_softmax: str = "drop", keys=("weight_int_bits", "act_int_bits",
                                                                          "input_int_bits")) -> tuple[dict, dict]:
        """Integer bits for the `auto` keys: ({key: bits}, report). Weights: the largest |weight| of the layers the
        quantization section types (and of the LayerNorm gammas/betas, kept apart); activations: the 99.9 % quantile
        of |value| of every activation-typed tensor of the float twin (the user's weights) on up to 2000 training
        events, largest over tensors, Q/K/V/context included; inputs: the 99.9 % quantile of the non-zero |features|
        fed to the model. bits = max(0, ceil(log2(v))), at most total bits - 1."""
        import keras

        out, rep = {}, {}
        q = qt_fixed
        if "weight_int_bits" in keys:
            w_max, w_from, g_max, g_from = self._weight_ranges()
            out["weight_int_bits"] = _int_bits(w_max, q.weight_bits)
            out["gamma_int_bits"] = max(1, _int_bits(g_max, q.weight_bits)) if g_from else None
            rep["weight_int_bits"] = {"value": out["weight_int_bits"], "largest_abs_weight": w_max,
                                      "layer": w_from, "rule": "max(0, ceil(log2(max |weight|)))"}
            if g_from:
                rep["gamma_int_bits"] = {"value": out["gamma_int_bits"], "largest_abs_gamma_beta": g_max,
                                         "layer": g_from, "rule": "max(1, ceil(log2(max |gamma|, |beta|)))"}
        x = np.asarray(x[:CALIBRATION_EVENTS])
        if "act_int_bits" in keys:
            b = _Build(q, False, final_softmax)
            model = self._model(b)
            probes = [t for _, t in b.act_tensors]
            names = [n for n, _ in b.act_tensors]
            mha_ins = [ins if isinstance(ins, list) else [ins] for _, ins in b.mha_layers]
            if not probes and not mha_ins:  # every tensor is typed by the user's quantizers: nothing to calibrate
                out["act_int_bits"] = q.act_int_bits
                rep["act_int_bits"] = {"value": q.act_int_bits, "tensors": 0, "rule": "no tensor takes the "
                                       "activation type (the model's quantizers type every one): the default kept"}
                keys = [k for k in keys if k != "act_int_bits"]
        if "act_int_bits" in keys:
            vals = keras.Model(model.inputs, probes + [t for ins in mha_ins for t in ins]).predict(
                self.feed(x), batch_size=512, verbose=0)
            vals = list(vals) if isinstance(vals, (list, tuple)) else [vals]
            inputs_of_mha = vals[len(probes):]
            vals = vals[:len(probes)]
            for (layer, _), ins in zip(b.mha_layers, mha_ins):  # Q, K, V and the context, computed eagerly
                args = [inputs_of_mha.pop(0) for _ in ins]
                vals += [v.numpy() for v in layer.internals(args if len(args) > 1 else args[0])]
                names += [f"{self.user_names.get(layer.name, layer.name)}/{k}" for k in layer.INTERNALS]
            qs = [float(np.quantile(np.abs(v), ACT_QUANTILE)) for v in vals]
            i = int(np.argmax(qs))
            out["act_int_bits"] = _int_bits(qs[i], q.act_bits)
            rep["act_int_bits"] = {"value": out["act_int_bits"], "quantile": ACT_QUANTILE, "largest": qs[i],
                                   "tensor": names[i], "tensors": len(qs), "events": int(len(x)),
                                   "rule": "max(0, ceil(log2(largest 99.9 % quantile of |activation|)))"}
        if "input_int_bits" in keys:
            fed = self.feed(x)
            flat = np.abs(np.concatenate([a.reshape(-1) for a in (fed if isinstance(fed, list) else [fed])]))
            v = float(np.quantile(flat[flat > 0], ACT_QUANTILE)) if np.any(flat > 0) else 0.0
            out["input_int_bits"] = _int_bits(v, q.input_bits)
            rep["input_int_bits"] = {"value": out["input_int_bits"], "quantile": ACT_QUANTILE, "largest": v,
                                     "rule": "max(0, ceil(log2(99.9 % quantile of non-zero |feature|)))"}
        return out, rep


    def _weight_ranges(self) -> tuple[float, str | None, float, str | None]:
        """(largest |weight| typed by the quantization section, its layer, largest |gamma|, |beta|, its layer)."""
        w_max, w_from, g_max, g_from = 0.0, None, 0.0, None
        for layer in self.user.layers:
            cls = type(layer).__name__
            if cls not in ("Dense", "EinsumDense", "MultiHeadAttention", "LayerNormalization"):
                continue
            v = max((float(np.abs(w.numpy()).max()) for w in layer.weights if np.size(w)), default=0.0)
            if cls == "LayerNormalization":
                if g_from is None or v > g_max:
                    g_max, g_from = v, layer.name
            elif w_from is None or v > w_max:
                w_max, w_from = v, layer.name
        return w_max, w_from, g_max, g_from



def _int_bits(v: float, bits: int) -> int:
    """Integer bits (sign excluded, as QKeras counts them) whose range reaches v: max(0, ceil(log2 v)), at most
    bits - 1 (one bit is the sign)."""
    if not v > 0 or not math.isfinite(v):
        return 0
    return int(min(max(0, math.ceil(math.log2(v))), bits - 1))
