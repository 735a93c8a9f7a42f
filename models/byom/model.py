"""ImportedModel: a user's trained Keras model, checked and mapped once, built into trigformer's layers."""

from __future__ import annotations

import numpy as np

from trigformer.models.byom.calibration import Calibration
from trigformer.models.byom.classes import HANDLED, unsupported
from trigformer.models.byom.graph import Tensor, _Build, _history, _key
from trigformer.models.byom.loading import ModelFileError, check_finite_weights
from trigformer.models.byom.mapping import PerClass
from trigformer.models.byom.names import c_names
from trigformer.models.byom.quantizers import _activation_name
from trigformer.models.fixed import FixedType
from trigformer.models.ops import UnsupportedLayer


class ImportedModel(PerClass, Calibration):
    """A user's trained Keras model and its mapping onto trigformer's layers (trigformer.models.byom's docstring)."""

    def __init__(self, model, source: str = "a Keras model object", project: str | None = None):
        import keras
        from keras.src.models.functional import Functional

        if not isinstance(model, keras.Model):
            raise ModelFileError(f"{source}: not a Keras 3 model (got {type(model).__module__}."
                                 f"{type(model).__name__}; a Keras-2 model: save it as .h5 and give the file)")
        if isinstance(model, keras.Sequential):  # its layer graph is the functional model it wraps
            model = getattr(model, "_functional", None) or model
        if not isinstance(model, Functional):
            raise ModelFileError(f"{source}: a subclassed keras.Model (or a Sequential without an Input) has no layer "
                                 "graph to map; build it with the functional API or Sequential with an Input")
        self.user, self.source = model, source
        bad = [layer for layer in model.layers if type(layer).__name__ not in HANDLED]
        if bad:  # named before anything else, in the model's layer order
            e = unsupported(bad[0])
            if len(bad) > 1:
                e = UnsupportedLayer(f"{e}; also unsupported: "
                                     + ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in bad[1:]))
            raise e
        if len(model.outputs) != 1:
            raise ModelFileError(f"{source}: {len(model.outputs)} outputs; trigformer maps models with one output "
                                 "(the class scores)")
        check_finite_weights(model, source)
        # the firmware's names of the layers: safe, unique C++ identifiers (the report maps them back)
        self.c_names = c_names([layer.name for layer in model.layers], project)
        self.user_names = {c: u for u, c in self.c_names.items()}
        self._consumers = self._count_consumers()
        self.input_shapes = []
        for t in model.inputs:
            shape = tuple(t.shape)
            if len(shape) != 3 or shape[1] is None or shape[2] is None:
                raise unsupported(_history(t)[0], f"input of shape {shape[1:]}: trigformer takes token inputs "
                                                  "[tokens, features] of fixed size, e.g. (16, 3)",
                                  "an Input((n_particles, n_features))")
            self.input_shapes.append((_history(t)[0].name, int(shape[1]), int(shape[2])))
        out = tuple(model.outputs[0].shape)
        if len(out) != 2:
            raise ModelFileError(f"{source}: output of shape {out[1:]}; synth needs class scores [classes] (logits "
                                 "or a softmax): pool the tokens (GlobalAveragePooling1D) and add a Dense head")
        self.n_outputs = int(out[1])
        self.final_layer = _history(model.outputs[0])[0]
        self.ends_in_softmax = self._is_softmax(self.final_layer)
        # map once with provisional types: every unsupported layer is refused here, before data or training
        from trigformer.models.quant import QuantTypes

        self.rows = self._walk(_Build(QuantTypes(), True, "drop")).rows

    # ---- the public part --------------------------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return self.input_shapes[0][2]

    @property
    def max_tokens(self) -> int:
        return max(n for _, n, _ in self.input_shapes)

    def feed(self, x):
        """Model inputs from particles x [events, n_particles, features]: input i gets the n_i leading particles
        (highest pT first). One array for a single-input model, else a list in the model's input order."""
        xs = [x[:, :n] for _, n, _ in self.input_shapes]
        return xs[0] if len(xs) == 1 else xs

    def build(self, qt, quantized: bool = True, final_softmax: str = "drop", mirror: bool = False):
        """The equivalent model out of trigformer's layers, with the user's weights. quantized: the QAT model (the
        user's QKeras quantizers kept); else the float twin (the same layers computing in float). mirror: the
        user's model as it is, rebuilt from trigformer's layers (QKeras quantizers and trigformer layers as given,
        everything else in float) - what the mapping check compares with the user's own outputs."""
        return self._model(_Build(qt, quantized and not mirror, final_softmax, quantized or mirror))

    def _user_q(self, b: _Build, layer=None) -> bool:
        """Whether a layer the user quantized (QKeras, a trigformer layer) computes quantized in this build."""
        if b.quantized:
            return True
        if b.keep_user_quantizers:
            return bool(layer.get_config().get("quantized", True)) if layer is not None else True
        return False

    # ---- graph walking ----------------------------------------------------------------------------------------------
    def _node(self, layer):
        keys = self.user._nodes  # Keras 3 keys a model's nodes by f"{id(layer)}_ib-{index}"
        nodes = [n for i, n in enumerate(layer._inbound_nodes) if f"{id(layer)}_ib-{i}" in keys]
        if len(nodes) != 1:
            raise unsupported(layer, f"used {len(nodes)} times in the model (shared layers are not supported)",
                              "one layer per use")
        return nodes[0]

    def _count_consumers(self) -> dict:
        out: dict = {}
        for layer in self.user.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            for t in self._node(layer).input_tensors:
                out.setdefault(_key(t), []).append(layer)
        return out

    def _consumers_of(self, layer) -> list:
        return [c for k, cs in self._consumers.items() if k[0] == layer.name for c in cs]

    def _is_softmax(self, layer) -> bool:
        cls = type(layer).__name__
        if cls == "Softmax":
            return True
        if cls in ("Activation", "Dense", "EinsumDense", "QDense"):
            return _activation_name(getattr(layer, "activation", None)) == "softmax"
        return False

    def _model(self, b: _Build):
        import keras

        self._walk(b)
        if b.quantized:
            self.rows = b.rows  # the mapping table with the types of the latest quantized build
        model = keras.Model(b.inputs, b.memo["__output__"].t, name=self.user.name)
        for layer, arrays in b.weights:
            layer.set_weights([np.asarray(a, dtype=np.float32) for a in arrays])
        return model

    def _walk(self, b: _Build) -> _Build:
        import keras

        b.names = set(self.c_names.values())
        for t in self.user.inputs:
            layer = _history(t)[0]
            x = keras.Input(tuple(t.shape[1:]), name=self._cn(layer))
            b.inputs.append(x)
            cast = self._cast(b, x, b.qt.input_t, f"{self._cn(layer)}_q")
            b.memo[_key(t)] = Tensor(cast, b.qt.input_t)
            b.rows.append({"layer": layer.name, "class": "InputLayer",
                           "becomes": ["Input", f"QActivation ({b.qt.input_t.ap_type})"]})
        b.memo["__output__"] = self._map(b, self.user.outputs[0])
        for row in b.rows:  # the user's name stays the row's key; the firmware's is added where it differs
            if self.c_names.get(row["layer"], row["layer"]) != row["layer"]:
                row["firmware_name"] = self.c_names[row["layer"]]
        return b

    def _map(self, b: _Build, t) -> Tensor:
        key = _key(t)
        if key not in b.memo:
            layer = _history(t)[0]
            b.memo[key] = self._map_layer(b, layer, self._node(layer))
        return b.memo[key]

    def _cn(self, layer) -> str:
        """The firmware's (C++-safe) name of a user layer."""
        return self.c_names[layer.name]

    def _unique(self, b: _Build, name: str) -> str:
        base, i = name, 1
        while name in b.names:
            i += 1
            name = f"{base}{i}"
        b.names.add(name)
        return name

    def _cast(self, b: _Build, x, t: FixedType, name: str, relu: bool = False):
        """QActivation to `t` (a quantized_relu when relu); the float twin keeps only the relu."""
        if not b.quantized:
            import keras

            return keras.layers.ReLU(name=self._unique(b, name))(x) if relu else x
        from qkeras import QActivation
        from qkeras.quantizers import quantized_bits, quantized_relu

        q = quantized_relu(t.width, t.integer) if relu else quantized_bits(**t.qkeras_config())
        return QActivation(q, name=self._unique(b, name))(x)

    def _add_weights(self, b: _Build, layer, arrays):
        b.weights.append((layer, arrays))
