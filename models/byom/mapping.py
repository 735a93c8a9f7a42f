"""The per-class mapping: each supported Keras/QKeras class (byom.classes.HANDLERS) onto trigformer's layers."""

from __future__ import annotations

import inspect

import numpy as np

from trigformer.models.byom.classes import HANDLERS, NO_OPS, unsupported
from trigformer.models.byom.graph import Tensor, _Build, _key
from trigformer.models.byom.quantizers import _activation_name, read_quantizer
from trigformer.models.fixed import FixedType


class PerClass:
    """ImportedModel's per-class methods (a mixin: they call the graph walk's _map, _cast, _unique)."""

    def _map_layer(self, b: _Build, layer, node) -> Tensor:
        cls = type(layer).__name__
        ins = node.input_tensors
        if cls in NO_OPS:
            return self._map(b, ins[0])
        final = layer is self.final_layer
        handler = getattr(self, HANDLERS.get(cls, ""), None)
        if handler is None:
            raise unsupported(layer)
        return handler(b, layer, node, final)

    def _token_input(self, layer, t, what="input"):
        if len(t.shape) != 3:
            raise unsupported(layer, f"its {what} has shape {tuple(t.shape[1:])}; it needs tokens [tokens, features]")

    def _final_softmax(self, b: _Build, layer, x: Tensor, name: str) -> Tensor:
        """The model's final softmax: dropped (logits), or trigformer's LUT softmax."""
        cls = type(layer).__name__
        b.rows.append({"layer": layer.name, "class": cls if cls in ("Softmax", "Activation") else
                       f"{cls} (its softmax activation)",
                       "becomes": ["softmax dropped (logits)"] if b.final_softmax == "drop" else ["LUTSoftmax"]})
        if b.final_softmax == "drop":
            return x
        from trigformer.models.ops.softmax.keras import LUTSoftmax

        qt = b.qt
        y = LUTSoftmax(in_type=x.type.ap_type, out_type=qt.prob_t.ap_type, table_size=qt.softmax_table_size,
                       input_range=qt.softmax_input_range, table_bits=qt.table_bits, quantized=b.quantized,
                       name=self._unique(b, name))(x.t)
        return Tensor(y, qt.prob_t)

    def _dense_weights(self, layer, quantize: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(kernel [n_in, n_out], bias [n_out], zeros without one) of a Dense / EinsumDense / QDense."""
        kernel = np.asarray(layer.kernel.numpy(), dtype=np.float64)
        bias_var = getattr(layer, "bias", None)
        bias = np.asarray(bias_var.numpy(), np.float64) if bias_var is not None else np.zeros(kernel.shape[-1])
        if quantize and hasattr(layer, "kernel_quantizer_internal") and layer.kernel_quantizer_internal:
            kernel = np.asarray(layer.kernel_quantizer_internal(kernel.astype(np.float32)), np.float64)
            if bias_var is not None and layer.bias_quantizer_internal:
                bias = np.asarray(layer.bias_quantizer_internal(bias.astype(np.float32)), np.float64)
        return kernel, bias.reshape(-1)

    def _check_einsum(self, layer, t):
        c = layer.get_config()
        eq = c["equation"].replace(" ", "")
        try:
            lhs, out = eq.split("->")
            x_ax, k_ax = lhs.split(",")
        except ValueError:
            raise unsupported(layer, f"equation {eq!r}") from None
        ok = (len(k_ax) == 2 and x_ax[-1] == k_ax[0] and out == x_ax[:-1] + k_ax[1] and len(x_ax) == len(t.shape)
              and "." not in eq and c.get("bias_axes") in (None, "", k_ax[1]))
        if not ok:
            raise unsupported(layer, f"equation {eq!r} (bias_axes {c.get('bias_axes')!r}) is not a Dense on the last "
                                     "axis", "EinsumDense('abc,cd->abd', bias_axes='d') or Dense")

    def _dense(self, b: _Build, layer, node, final: bool) -> Tensor:
        import keras

        cls = type(layer).__name__
        (t_in,) = node.input_tensors
        x = self._map(b, t_in)
        if cls == "EinsumDense":
            self._check_einsum(layer, t_in)
        if len(t_in.shape) not in (2, 3):
            raise unsupported(layer, f"input of shape {tuple(t_in.shape[1:])}", "Dense on [tokens, features]")
        act = _activation_name(getattr(layer, "activation", None))
        if act == "softmax" and not final:
            raise unsupported(layer, "softmax activation inside the network (only a final softmax is supported)",
                              "a linear or relu Dense; softmax only as the output")
        if isinstance(act, str) and act not in ("linear", "relu", "softmax"):
            raise unsupported(layer, f"activation {act!r}", "activation='relu' or 'linear'")
        kernel, bias = self._dense_weights(layer)
        units = kernel.shape[-1]
        qkeras = cls in ("QDense", "QTokenDense")
        if qkeras:
            w_t = read_quantizer(layer.kernel_quantizer_internal, layer, "kernel_quantizer") \
                if layer.kernel_quantizer_internal else None
            if w_t is None:
                raise unsupported(layer, "QDense without a kernel_quantizer computes with float weights",
                                  "QDense(kernel_quantizer=quantized_bits(bits, integer, alpha=1), ...)")
            if layer.use_bias and not layer.bias_quantizer_internal:
                raise unsupported(layer, "QDense without a bias_quantizer adds a float bias",
                                  "QDense(..., bias_quantizer=quantized_bits(bits, integer, alpha=1))")
            b_t = read_quantizer(layer.bias_quantizer_internal, layer, "bias_quantizer") if layer.use_bias else w_t
        else:
            w_t = b_t = b.qt.weight_t
        token = len(t_in.shape) == 3
        if b.quantized or (qkeras and self._user_q(b)):
            from qkeras import QDense

            from trigformer.models.ops.keras_common import weight_quantizer
            from trigformer.models.ops.tokendense.keras import QTokenDense

            new = (QTokenDense if token else QDense)(units, kernel_quantizer=weight_quantizer(w_t),
                                                     bias_quantizer=weight_quantizer(b_t), name=self._cn(layer))
        else:
            new = keras.layers.Dense(units, name=self._cn(layer))
        y = new(x.t)
        self._add_weights(b, new, [kernel, bias])
        becomes = [("QTokenDense" if token else "QDense") + f" ({w_t.ap_type} weights)"]
        consumers = self._consumers_of(layer)
        if isinstance(act, str) and act == "relu":
            y = self._cast(b, y, b.qt.relu_t, f"{self._cn(layer)}_relu", relu=True)
            out = Tensor(y, b.qt.relu_t)
            becomes.append(f"QActivation (quantized_relu: {b.qt.relu_t.ap_type})")
            b.act_tensors.append((layer.name, y))
        elif not isinstance(act, str):  # a QKeras quantizer as the activation argument
            a_t = read_quantizer(act, layer, "activation")
            from qkeras import QActivation

            if self._user_q(b):
                y = QActivation(act.__class__.from_config(act.get_config()),
                                name=self._unique(b, f"{self._cn(layer)}_act"))(y)
            elif type(act).__name__ == "quantized_relu":
                y = keras.layers.ReLU(name=self._unique(b, f"{self._cn(layer)}_act"))(y)
            out = Tensor(y, a_t)
            becomes.append(f"QActivation ({a_t.ap_type})")
        elif len(consumers) == 1 and type(consumers[0]).__name__ == "QActivation" and not final:
            out = Tensor(y, None)  # the user's QActivation types the output
        else:
            y = self._cast(b, y, b.qt.act_t, f"{self._cn(layer)}_q")
            out = Tensor(y, b.qt.act_t)
            becomes.append(f"QActivation ({b.qt.act_t.ap_type})")
            b.act_tensors.append((layer.name, y))
        b.rows.append({"layer": layer.name, "class": cls, "becomes": becomes})
        if act == "softmax":
            return self._final_softmax(b, layer, out, f"{self._cn(layer)}_softmax")
        return out

    def _mha(self, b: _Build, layer, node, final: bool) -> Tensor:
        c = layer.get_config()
        try:
            args = node.arguments  # Keras 3: the call's positional and keyword arguments
            call = inspect.signature(type(layer).call).bind(layer, *args.args, **args.kwargs).arguments
        except TypeError as e:
            raise unsupported(layer, f"called with arguments Keras does not take ({e})") from None
        if call.get("attention_mask") is not None:
            raise unsupported(layer, "an attention mask is given", "MultiHeadAttention without attention_mask (padded "
                                                                   "particles are zero tokens)")
        if call.get("use_causal_mask"):
            raise unsupported(layer, "use_causal_mask=True (a masked attention)", "MultiHeadAttention without a mask")
        if call.get("return_attention_scores"):
            raise unsupported(layer, "return_attention_scores=True", "MultiHeadAttention returning its output only")
        query, value, key = call.get("query"), call.get("value"), call.get("key")
        if key is not None and _key(key) != _key(value):
            raise unsupported(layer, "key and value are different tensors",
                              "MultiHeadAttention(query, value) with key = value (self- or cross-attention)")
        for what, t in (("query", query), ("value", value)):
            self._token_input(layer, t, what)
        axes = c.get("attention_axes")
        if axes not in (None, (1,), [1], 1, (-2,), [-2], -2):
            raise unsupported(layer, f"attention_axes={axes!r}", "the default attention_axes (the token axis)")
        out_shape = c.get("output_shape")
        if isinstance(out_shape, (list, tuple)):
            if len(out_shape) != 1:
                raise unsupported(layer, f"output_shape={out_shape!r}", "an integer output_shape")
            out_shape = out_shape[0]
        q_in = self._map(b, query)
        kv_in = q_in if _key(value) == _key(query) else self._map(b, value)
        cross = kv_in is not q_in
        qt = b.qt
        from trigformer.models.ops.mha.keras import QMultiHeadAttention

        new = QMultiHeadAttention(c["num_heads"], c["key_dim"], out_shape, value_dim=c.get("value_dim"),
                                  use_bias=c.get("use_bias", True), weight_type=qt.weight_t.ap_type,
                                  act_type=qt.act_t.ap_type, prob_type=qt.prob_t.ap_type, qkv_type=qt.qkv_t.ap_type,
                                  table_size=qt.softmax_table_size, input_range=qt.softmax_input_range,
                                  table_bits=qt.table_bits, quantized=b.quantized, name=self._cn(layer))
        ins = [q_in.t, kv_in.t] if cross else q_in.t
        y = new(ins)
        arrays = []
        for sub in (layer._query_dense, layer._key_dense, layer._value_dense, layer._output_dense):
            k = sub.kernel.numpy()
            k = k.reshape(-1, k.shape[-1]) if sub is layer._output_dense else k.reshape(k.shape[0], -1)
            arrays.append(k)
            if new.use_bias:
                arrays.append(sub.bias.numpy().reshape(-1))
        self._add_weights(b, new, arrays)
        b.mha_layers.append((new, ins))
        b.act_tensors.append((layer.name, y))
        b.rows.append({"layer": layer.name, "class": "MultiHeadAttention",
                       "becomes": [f"QMultiHeadAttention ({'cross' if cross else 'self'}-attention; the query's "
                                   "1/sqrt(key_dim) scale folded into the softmax table)"]})
        return Tensor(y, qt.act_t)

    def _own_mha(self, b: _Build, layer, node, final: bool) -> Tensor:
        ins = [self._map(b, t) for t in node.input_tensors]
        cfg = {**layer.get_config(), "quantized": self._user_q(b, layer), "name": self._cn(layer)}
        new = type(layer).from_config(cfg)
        y = new([i.t for i in ins] if len(ins) > 1 else ins[0].t)
        self._add_weights(b, new, layer.get_weights())
        if len(ins) == 1:
            b.mha_layers.append((new, ins[0].t))
        b.rows.append({"layer": layer.name, "class": type(layer).__name__, "becomes": [type(layer).__name__]})
        return Tensor(y, FixedType.parse(cfg["act_type"]))

    def _own(self, b: _Build, layer, node, final: bool) -> Tensor:
        """trigformer's own single-input layers: the same layer (quantized or its float twin)."""
        (x,) = [self._map(b, t) for t in node.input_tensors]
        new = type(layer).from_config({**layer.get_config(), "quantized": self._user_q(b, layer),
                                        "name": self._cn(layer)})
        y = new(x.t)
        self._add_weights(b, new, layer.get_weights())
        cls = type(layer).__name__
        b.rows.append({"layer": layer.name, "class": cls, "becomes": [cls]})
        if cls == "TokenPooling":
            return Tensor(y, new.spec(int(x.t.shape[-2])).out_t)
        return Tensor(y, new.out_t)  # LUTSoftmax, QLayerNormalization, QRMSNormalization

    def _layernorm(self, b: _Build, layer, node, final: bool) -> Tensor:
        (t_in,) = node.input_tensors
        c = layer.get_config()
        axis = c["axis"] if isinstance(c["axis"], (list, tuple)) else [c["axis"]]
        if len(t_in.shape) != 3:
            raise unsupported(layer, f"on a {len(t_in.shape) - 1}-D input {tuple(t_in.shape[1:])}; trigformer "
                                     "normalises tokens", "LayerNormalization per token, before the pooling")
        if [a % 3 for a in axis] != [2]:
            raise unsupported(layer, f"axis={c['axis']!r}", "LayerNormalization(axis=-1)")
        x = self._map(b, t_in)
        if x.type is None:
            raise unsupported(layer, "its input has no fixed-point type", "a QActivation before it")
        qt = b.qt
        from trigformer.models.ops.layernorm.keras import QLayerNormalization

        new = QLayerNormalization(in_type=x.type.ap_type, out_type=qt.act_t.ap_type, gamma_type=qt.gamma_t.ap_type,
                                  table_size=qt.layernorm_table_size, table_bits=qt.table_bits,
                                  epsilon=c["epsilon"], quantized=b.quantized, name=self._cn(layer))
        y = new(x.t)
        d = int(t_in.shape[-1])
        gamma = layer.gamma.numpy() if c.get("scale", True) else np.ones(d)
        beta = layer.beta.numpy() if c.get("center", True) else np.zeros(d)
        self._add_weights(b, new, [gamma, beta])
        b.act_tensors.append((layer.name, y))
        b.rows.append({"layer": layer.name, "class": "LayerNormalization",
                       "becomes": [f"QLayerNormalization (gamma/beta {qt.gamma_t.ap_type})"]})
        return Tensor(y, qt.act_t)

    def _add(self, b: _Build, layer, node, final: bool) -> Tensor:
        import keras

        if len(node.input_tensors) != 2:  # hls4ml's merge layers take two inputs
            raise unsupported(layer, f"adds {len(node.input_tensors)} tensors; trigformer's Add (hls4ml's) takes two",
                              "chained Adds of two, e.g. Add()([Add()([a, b]), c]) (each casts to the activation "
                              "type)")
        ins = [self._map(b, t) for t in node.input_tensors]
        shapes = {tuple(t.shape[1:]) for t in node.input_tensors}
        if len(shapes) != 1:
            raise unsupported(layer, f"inputs of different shapes {sorted(shapes)} (broadcasting)",
                              "Add of tensors of the same shape")
        y = keras.layers.Add(name=self._cn(layer))([i.t for i in ins])
        consumers = self._consumers_of(layer)
        becomes = ["Add"]
        if len(consumers) == 1 and type(consumers[0]).__name__ == "QActivation" and not final:
            out = Tensor(y, None)
        else:
            y = self._cast(b, y, b.qt.act_t, f"{self._cn(layer)}_q")
            out = Tensor(y, b.qt.act_t)
            becomes.append(f"QActivation ({b.qt.act_t.ap_type})")
            b.act_tensors.append((layer.name, y))
        b.rows.append({"layer": layer.name, "class": "Add", "becomes": becomes})
        return out

    def _activation(self, b: _Build, layer, node, final: bool) -> Tensor:
        cls = type(layer).__name__
        (t_in,) = node.input_tensors
        x = self._map(b, t_in)
        if cls == "ReLU":
            c = layer.get_config()
            if c.get("max_value") is not None or c.get("negative_slope") or c.get("threshold"):
                raise unsupported(layer, "ReLU with max_value, negative_slope or threshold", "ReLU()")
            act = "relu"
        elif cls == "Softmax":
            axis = layer.get_config().get("axis", -1)
            if axis not in (-1, len(t_in.shape) - 1, [-1]):
                raise unsupported(layer, f"softmax over axis {axis}", "a final Softmax over the classes")
            act = "softmax"
        else:
            act = _activation_name(layer.activation)
        if act == "linear":
            b.rows.append({"layer": layer.name, "class": cls, "becomes": ["removed (linear)"]})
            return x
        if act == "softmax":
            if not final:
                raise unsupported(layer, "softmax inside the network (only a final softmax is supported)",
                                  "relu, or a softmax as the model output")
            return self._final_softmax(b, layer, x, self._cn(layer))
        if act != "relu":
            raise unsupported(layer, f"activation {act!r}", "relu (Activation('relu') or ReLU())")
        b.names.discard(self._cn(layer))  # the QActivation (or the float twin's ReLU) takes the layer's name
        y = self._cast(b, x.t, b.qt.relu_t, self._cn(layer), relu=True)
        b.act_tensors.append((layer.name, y))
        b.rows.append({"layer": layer.name, "class": cls,
                       "becomes": [f"QActivation (quantized_relu: {b.qt.relu_t.ap_type})"]})
        return Tensor(y, b.qt.relu_t)

    def _qactivation(self, b: _Build, layer, node, final: bool) -> Tensor:
        (t_in,) = node.input_tensors
        x = self._map(b, t_in)
        q = _qactivation_quantizer(layer)
        t = read_quantizer(q, layer, "quantizer")
        y = x.t
        if self._user_q(b):
            from qkeras import QActivation

            y = QActivation.from_config({**layer.get_config(), "name": self._cn(layer)})(x.t)
        elif type(q).__name__ == "quantized_relu":
            import keras

            y = keras.layers.ReLU(name=self._cn(layer))(x.t)
        b.rows.append({"layer": layer.name, "class": "QActivation", "becomes": [f"QActivation ({t.ap_type})"]})
        return Tensor(y, t)

    def _pool(self, b: _Build, layer, node, final: bool) -> Tensor:
        (t_in,) = node.input_tensors
        c = layer.get_config()
        self._token_input(layer, t_in)
        if c.get("data_format", "channels_last") != "channels_last" or c.get("keepdims"):
            raise unsupported(layer, "channels_first or keepdims=True", f"{type(layer).__name__}() over the tokens")
        x = self._map(b, t_in)
        if x.type is None:
            raise unsupported(layer, "its input has no fixed-point type", "a QActivation before it")
        from trigformer.models.ops.pooling.keras import TokenPooling

        mode = "mean" if "Average" in type(layer).__name__ else "max"
        new = TokenPooling(mode, in_type=x.type.ap_type, quantized=b.quantized, name=self._cn(layer))
        y = new(x.t)
        b.rows.append({"layer": layer.name, "class": type(layer).__name__, "becomes": [f"TokenPooling ({mode})"]})
        return Tensor(y, new.spec(int(x.t.shape[-2])).out_t)  # the mapped tensor's static token count

    def _flatten(self, b: _Build, layer, node, final: bool) -> Tensor:
        import keras

        (t_in,) = node.input_tensors
        consumers = self._consumers_of(layer)
        if not consumers or any(type(c).__name__ not in ("Dense", "QDense", "EinsumDense", "Dropout")
                                for c in consumers):
            raise unsupported(layer, "not followed by a Dense", "Flatten followed by Dense")
        x = self._map(b, t_in)
        y = keras.layers.Flatten(name=self._cn(layer))(x.t)
        b.rows.append({"layer": layer.name, "class": "Flatten", "becomes": ["Flatten (hls4ml Reshape)"]})
        return Tensor(y, x.type)


def _qactivation_quantizer(layer):
    """A QActivation's quantizer object: qkeras-v3 keeps it in `activation` (QKeras 0.9 also had `quantizer`)."""
    q = getattr(layer, "quantizer", None) or layer.activation
    if isinstance(q, str):
        from qkeras.utils import get_quantizer

        q = get_quantizer(q)
    return q
