"""Bring your own model: a trained stock Keras-2 or QKeras model becomes the same network out of trigformer's layers.

`ImportedModel(keras_model)` walks the user's functional graph once and refuses (UnsupportedLayer, naming the layer,
its class and the nearest supported alternative) anything trigformer cannot put into firmware, before any data is
read or anything trained. `build(qt, quantized)` then makes the equivalent model out of trigformer's layers with the
user's weights, the way models/builder.py builds one from model.yaml:

    InputLayer [tokens, features]        -> Input + QActivation cast to the input type
    Dense / EinsumDense / QDense          -> QTokenDense per token (3-D input) or QDense (2-D, the classifier),
                                             then a cast to the activation type (or quantized_relu for relu), unless
                                             a QActivation of the user's follows (then that one types the output)
    MultiHeadAttention                    -> QMultiHeadAttention (self- or cross-attention, value_dim, output_shape,
                                             use_bias); the EinsumDense kernels [d, heads, key_dim] become
                                             [d, heads*key_dim]; Keras scales the query by 1/sqrt(key_dim), which
                                             trigformer folds into the softmax's exp table (the same softmax)
    LayerNormalization (last axis)        -> QLayerNormalization
    Add                                   -> Add + cast to the activation type (unless a QActivation follows)
    Activation / ReLU (relu), QActivation -> QActivation (quantized_relu, or the user's quantizer, read as is)
    GlobalAverage/MaxPooling1D            -> TokenPooling (mean / max)
    Flatten followed by Dense             -> Flatten (hls4ml Reshape: no operation in io_parallel)
    Dropout and other inference no-ops    -> removed
    final Softmax (or Dense(softmax))     -> dropped (logits) or LUTSoftmax (model.final_softmax)
    trigformer's own layers               -> themselves (a saved trigformer model round-trips)

Weights: stock layers take the `quantization` section's weight type; QKeras layers keep their quantizers (read from
the layer; only fixed-point grids are accepted: quantized_bits with alpha 1 or None and quantized_relu).
"""

from __future__ import annotations

import inspect
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops import UnsupportedLayer

# The supported-layer table (README and messages): user layer -> trigformer layers.
SUPPORTED = (
    ("MultiHeadAttention", "QMultiHeadAttention: self-attention (query = key = value) or cross-attention (query and "
                           "key/value from different tensors, any token counts); any num_heads, key_dim, value_dim, "
                           "output_shape, use_bias; no attention mask, default attention_axes"),
    ("LayerNormalization", "QLayerNormalization, on the last axis of token tensors"),
    ("Dense, EinsumDense, QDense", "QTokenDense per token on [tokens, features] (EinsumDense: a 2-D kernel "
                                   "contracting the last axis, e.g. 'abc,cd->abd'), QDense on [features]"),
    ("Add", "Add (+ a cast to the activation type)"),
    ("Activation / QActivation (relu, linear), ReLU", "QActivation (quantized_relu or the user's quantizer)"),
    ("Dropout (and SpatialDropout1D, GaussianNoise, GaussianDropout, AlphaDropout)", "removed (inference)"),
    ("GlobalAveragePooling1D, GlobalMaxPooling1D", "TokenPooling (mean, max)"),
    ("Flatten followed by Dense", "Flatten (hls4ml Reshape; free in io_parallel) + QDense"),
    ("Softmax / Activation('softmax') / Dense(..., activation='softmax') as the model output",
     "dropped (logits are reported; model.final_softmax: drop) or LUTSoftmax (model.final_softmax: lut)"),
    ("trigformer's own layers (QTokenDense, QMultiHeadAttention, QLayerNormalization, QRMSNormalization, "
     "TokenPooling, LUTSoftmax)", "themselves (a saved trigformer model round-trips)"),
)

# Nearest supported alternative for layers people commonly have.
NEAREST = {
    "LSTM": "MultiHeadAttention (a Transformer block mixes the tokens instead of a recurrence)",
    "GRU": "MultiHeadAttention (a Transformer block mixes the tokens instead of a recurrence)",
    "SimpleRNN": "MultiHeadAttention (a Transformer block mixes the tokens instead of a recurrence)",
    "Bidirectional": "MultiHeadAttention (attention sees every token in both directions)",
    "QLSTM": "MultiHeadAttention", "QGRU": "MultiHeadAttention", "QSimpleRNN": "MultiHeadAttention",
    "Conv1D": "Dense applied per token (a kernel size of 1) followed by MultiHeadAttention to mix tokens",
    "QConv1D": "QDense applied per token (a kernel size of 1)",
    "Conv2D": "Dense applied per token on [tokens, features] inputs (e.g. particles x features)",
    "QConv2D": "QDense applied per token on [tokens, features] inputs",
    "DepthwiseConv1D": "Dense applied per token", "SeparableConv1D": "Dense applied per token",
    "BatchNormalization": "LayerNormalization (per token, last axis)",
    "QBatchNormalization": "LayerNormalization (per token, last axis)",
    "Attention": "MultiHeadAttention", "AdditiveAttention": "MultiHeadAttention",
    "Concatenate": "Add (residual sums), or one input tensor with the features side by side",
    "Multiply": "Add", "Subtract": "Add", "Average": "Add", "Maximum": "GlobalMaxPooling1D or Add",
    "Reshape": "Flatten followed by Dense", "Permute": "MultiHeadAttention over the token axis",
    "MaxPooling1D": "GlobalMaxPooling1D", "AveragePooling1D": "GlobalAveragePooling1D",
    "GlobalAveragePooling2D": "GlobalAveragePooling1D on [tokens, features]",
    "GlobalMaxPooling2D": "GlobalMaxPooling1D on [tokens, features]",
    "LeakyReLU": "ReLU", "PReLU": "ReLU", "ELU": "ReLU", "ThresholdedReLU": "ReLU",
    "Embedding": "Dense on the token features", "Masking": "no mask (padding particles are zero tokens)",
    "TFOpLambda": "a Keras layer (Add for +, Flatten for a reshape, GlobalAveragePooling1D for a mean)",
    "SlicingOpLambda": "GlobalAveragePooling1D / GlobalMaxPooling1D, or a separate model input",
    "Lambda": "a Keras layer of the supported table",
    "Functional": "one flat functional model (call the inner model's layers directly)",
    "Sequential": "one flat functional model (call the inner model's layers directly)",
}

NO_OPS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")
HANDLERS = {  # layer class -> ImportedModel method
    "Dense": "_dense", "EinsumDense": "_dense", "QDense": "_dense", "QTokenDense": "_dense",
    "MultiHeadAttention": "_mha", "QMultiHeadAttention": "_own_mha",
    "LayerNormalization": "_layernorm", "QLayerNormalization": "_own", "QRMSNormalization": "_own",
    "TokenPooling": "_own", "LUTSoftmax": "_own",
    "Add": "_add", "Activation": "_activation", "ReLU": "_activation", "Softmax": "_activation",
    "QActivation": "_qactivation", "GlobalAveragePooling1D": "_pool", "GlobalMaxPooling1D": "_pool",
    "Flatten": "_flatten",
}
HANDLED = {"InputLayer", *NO_OPS, *HANDLERS}
ACT_QUANTILE = 0.999  # calibration: the 99.9 % quantile of |value|, as input_scale_log2 uses
CALIBRATION_EVENTS = 2000


class ModelFileError(ValueError):
    """The model file cannot be read as a Keras model (exit 2)."""


def unsupported(layer, why: str = "", nearest: str | None = None) -> UnsupportedLayer:
    return UnsupportedLayer(unsupported_message(layer.name, type(layer).__name__, why, nearest))


def unsupported_message(name: str, cls: str, why: str = "", nearest: str | None = None) -> str:
    alt = nearest or NEAREST.get(cls) or "see the supported-layer table in the README"
    what = f": {why}" if why else " is not supported"
    return f"layer {name!r} ({cls}){what}; nearest supported: {alt}"


def load_model_file(path: Path):
    """A .keras / .h5 file or a SavedModel folder, with trigformer's and QKeras' layers known; compile=False."""
    import tensorflow as tf

    from trigformer.models.builder import custom_objects

    path = Path(path)
    inspect_model_file(path)  # before Keras deserializes anything: no code of the file ever runs
    try:
        kwargs = {"safe_mode": True} if path.suffix.lower() == ".keras" else {}
        return tf.keras.models.load_model(path, custom_objects=custom_objects(), compile=False, **kwargs)
    except Exception as e:  # unknown custom layers, a corrupt file, a Keras 3 file, ...
        msg = " ".join(str(e).split())
        if "Unknown layer" in msg:
            msg = msg.split(". Please ensure")[0] + " (custom layers are not supported: build the model from the " \
                  "supported Keras/QKeras layers, see the README)"
        raise ModelFileError(f"{path}: cannot load it as a Keras-2 model ({type(e).__name__}: {msg[:400]})") from None


# Verilog-2005 / SystemVerilog words a layer name must not be: the --rtl form names modules and signals after units.
_HDL_RESERVED = set("""always and assign automatic begin buf case casex casez cell config deassign default defparam
design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive endspecify endtable
endtask event for force forever fork function generate genvar if ifnone initial inout input instance integer join
large liblist library localparam macromodule medium module nand negedge nmos nor not notif0 notif1 or output
parameter pmos posedge primitive pull0 pull1 pulldown pullup rcmos real realtime reg release repeat rnmos rpmos
rtran rtranif0 rtranif1 scalared signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use vectored wait wand weak0 weak1 while wire wor xnor xor
logic bit byte int shortint longint string type typedef enum struct union always_ff always_comb always_latch
interface endinterface package endpackage import export class endclass""".split())
C_NAME_MAX = 40  # leaves room for the suffixes the flow and hls4ml append (_relu_table_t, _q2, ...) under C's 63


def c_name_problem(name: str, project: str | None = None) -> str | None:
    """Why a layer name cannot name C++ (types <name>_*_t, an input's variable and its bridge copy <name>_ap) and
    Verilog in the generated project; None if it can."""
    from trigformer.flow.config import _generated_clash

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or len(name) > C_NAME_MAX:
        return "not a C identifier"
    if name in _HDL_RESERVED:
        return "a Verilog keyword"
    if project is not None and project in (name, f"{name}_ap"):
        return "the project's top function"
    # the project name may not be "particles" because it names the input variable: as a layer name it is that input
    return None if name == "particles" else _generated_clash(name)


def c_names(names: list[str], project: str | None = None) -> dict[str, str]:
    """A safe, unique C++/Verilog identifier for every layer name, deterministic: a name that is already safe keeps
    it; any other becomes its ASCII letters, digits and _ (my-dense -> my_dense, head.1 -> head_1), with _l, _l2, ...
    appended until it is safe and unique (class -> class_l; a-b -> a_b_l when a_b is taken)."""
    out = {n: n for n in names if c_name_problem(n, project) is None}
    taken = set(out.values())
    for n in names:
        if n in out:
            continue
        ascii_n = unicodedata.normalize("NFKD", n).encode("ascii", "ignore").decode()
        base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]+", "_", ascii_n)).strip("_")[:C_NAME_MAX - 6] or "layer"
        if not base[0].isalpha():
            base = "l_" + base
        cand, i = base, 1
        while cand in taken or c_name_problem(cand, project) is not None:
            cand = f"{base}_l" if i == 1 else f"{base}_l{i}"
            i += 1
        out[n] = cand
        taken.add(cand)
    return out


def check_finite_weights(model, source: str) -> None:
    """NaN or inf in a weight would reach the firmware's tables and calibration (which reads NaN as 0): refused."""
    for layer in model.layers:
        for w in layer.weights:
            a = np.asarray(w.numpy())
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                bad = "NaN" if np.isnan(a).any() else "inf"
                raise ModelFileError(f"{source}: layer {layer.name!r}: weight {w.name!r} holds {bad} "
                                     f"({int((~np.isfinite(a)).sum())} of {a.size} values); a trained model's "
                                     "weights are finite")


# Model files are inspected before Keras deserializes them: Keras-2 runs a Lambda's marshalled bytecode while loading an
# .h5 or a SavedModel (only .keras has a safe mode). Entries that carry code (a function, its module) are refused.
CODE_KEYS = ("function", "function_type", "output_shape_type", "output_shape_module")
CODE_CLASSES = ("Lambda",)
# modules whose objects a config may name (the "module" entries Keras writes for its initializers and layers)
SAFE_MODULES = ("keras", "tf_keras", "tensorflow", "qkeras", "models", "builtins")


def inspect_model_file(path: Path) -> None:
    """Refuse (ModelFileError, naming the file and the layer) a Lambda, any entry that carries code, and any layer
    class that is neither Keras' own, QKeras' nor trigformer's, reading only the saved config: the `model_config`
    attribute of an .h5 (h5py), keras_metadata.pb of a SavedModel folder, config.json of a .keras archive."""
    configs = _saved_configs(path)
    if configs is None:
        return  # no config to read (a weights-only .h5, not a zip): Keras's own load refuses it without running code
    for config, layers in configs:
        _refuse_code(path, config, layers)


def _saved_configs(path: Path) -> list[tuple[object, bool]] | None:
    """(config, whether it describes layers) of each saved object: a SavedModel also keeps its metrics (`loss`,
    `accuracy`: Keras' Mean objects, walked for code but no layers)."""
    if path.is_dir():
        meta = path / "keras_metadata.pb"
        if not meta.is_file():
            raise ModelFileError(f"{path}: a SavedModel folder without keras_metadata.pb (not saved by Keras' "
                                 "model.save): its layers cannot be inspected before loading, so it is not loaded; "
                                 "save the model as .keras or .h5")
        from keras.protobuf import saved_metadata_pb2

        m = saved_metadata_pb2.SavedMetadata()
        try:
            m.ParseFromString(meta.read_bytes())
            return [(json.loads(n.metadata), n.identifier != "_tf_keras_metric") for n in m.nodes if n.metadata]
        except (Exception, RecursionError) as e:
            raise ModelFileError(f"{meta}: cannot read it ({type(e).__name__}); it is not loaded") from None
    try:
        if path.suffix.lower() == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
        else:
            import zipfile

            with zipfile.ZipFile(path) as z:
                raw = z.read("config.json")
    except Exception:
        return None
    if raw is None:
        return None
    try:
        return [(json.loads(raw.decode() if isinstance(raw, bytes) else raw), True)]
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path}: its saved model config is not JSON (or nests too deep); it is not loaded") \
            from None


def _refuse_code(path: Path, config, has_layers: bool = True) -> None:
    import tensorflow as tf

    from trigformer.models.builder import custom_objects

    known = set(custom_objects()) | HANDLED

    def walk(node, layer: str | None, depth: int = 0):
        if depth > 64:
            raise ModelFileError(f"{path}: its saved config nests deeper than 64 levels; it is not loaded")
        if isinstance(node, list):
            for item in node:
                walk(item, layer, depth + 1)
            return
        if not isinstance(node, dict):
            return
        cls = node.get("class_name")
        cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
        name = cfg.get("name", node.get("name"))
        if isinstance(cls, str) and isinstance(name, str):  # a layer (or an object inside one): name the layer
            layer = layer if layer and cls not in known and not hasattr(tf.keras.layers, cls) else f"{name!r} ({cls})"
        if cls in CODE_CLASSES:
            raise ModelFileError(f"{path}: layer {layer or repr(name)} carries Python code, and a model file's code "
                                 "is never run, so the file is not loaded; nearest supported: "
                                 f"{NEAREST.get(cls, 'a Keras layer of the supported table')}")
        code = [k for k in CODE_KEYS if node.get(k) is not None]
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] not in SAFE_MODULES:
            code.append(f"module {module!r}")
        if code:
            raise ModelFileError(f"{path}: layer {layer or '?'}: its config carries code ({', '.join(code)}), and a "
                                 "model file's code is never run, so the file is not loaded")
        for v in node.values():
            walk(v, layer, depth + 1)

    if isinstance(config, dict):  # load_model(compile=False) never deserializes the loss, metrics and optimizer
        config = {k: v for k, v in config.items() if k != "compile_config"}
    walk(config, None)
    if not has_layers:
        return
    # every layer is a class Keras, QKeras or trigformer defines: anything else is a custom layer (its code is the
    # user's), refused before Keras looks it up
    model_cfg = config.get("config") if isinstance(config, dict) else None
    layers = model_cfg.get("layers") if isinstance(model_cfg, dict) else None
    if isinstance(config, dict) and "class_name" in config and not isinstance(layers, list):
        layers = [config] if config.get("class_name") not in ("Functional", "Sequential", "Model") else []
    bad = [(lyr.get("config", {}).get("name", "?"), lyr.get("class_name")) for lyr in layers or []
           if isinstance(lyr, dict) and isinstance(lyr.get("class_name"), str)
           and lyr["class_name"] not in known and not hasattr(tf.keras.layers, lyr["class_name"])
           and lyr["class_name"] not in ("Functional", "Sequential", "Model")]
    if bad:
        n, cls = bad[0]
        raise ModelFileError(f"{path}: " + unsupported_message(
            n, cls, "a custom layer: trigformer does not load user code",
            "build the model from the supported Keras/QKeras layers (see the README)"))


# ---------------------------------------------------------------------------------------------------------------------
# QKeras quantizers: read, never guessed
# ---------------------------------------------------------------------------------------------------------------------
def read_quantizer(q, owner, what: str) -> FixedType:
    """The fixed-point type of a QKeras quantizer, or UnsupportedLayer when it is not a fixed-point grid."""
    name = type(q).__name__
    if name == "quantized_bits":
        alpha = q.alpha
        if isinstance(alpha, str) or (alpha is not None and float(np.max(np.abs(np.asarray(alpha) - 1))) != 0):
            raise unsupported(owner, f"{what} quantized_bits(alpha={alpha!r}) scales its grid by a float; "
                                     "firmware types need alpha=1 (or None)", "quantized_bits(bits, integer, alpha=1)")
        if q.symmetric:
            raise unsupported(owner, f"{what} quantized_bits(symmetric=1) drops the most negative value",
                              "quantized_bits(bits, integer, alpha=1)")
        if q.use_stochastic_rounding or getattr(q, "qnoise_factor", 1.0) != 1.0:
            raise unsupported(owner, f"{what} uses stochastic rounding or a qnoise_factor other than 1",
                              "quantized_bits(bits, integer, alpha=1)")
        return FixedType.from_qkeras(int(q.bits), int(q.integer), bool(q.keep_negative))
    if name == "quantized_relu":
        if q.use_sigmoid or q.negative_slope or getattr(q, "relu_upper_bound", None) is not None \
                or q.use_stochastic_rounding or getattr(q, "qnoise_factor", 1.0) != 1.0:
            raise unsupported(owner, f"{what} quantized_relu with a sigmoid, a negative slope, an upper bound or "
                                     "stochastic rounding", "quantized_relu(bits, integer)")
        return FixedType(int(q.bits), int(q.integer), False, "RND_CONV", "SAT")
    raise unsupported(owner, f"{what} {name} is not a fixed-point quantizer",
                      "quantized_bits(bits, integer, alpha=1) or quantized_relu(bits, integer)")


# ---------------------------------------------------------------------------------------------------------------------
# the graph
# ---------------------------------------------------------------------------------------------------------------------
def _history(t):
    h = t._keras_history
    return h.layer, h.node_index, h.tensor_index


def _key(t) -> tuple[str, int, int]:
    layer, node_index, tensor_index = _history(t)
    return layer.name, node_index, tensor_index


def _activation_name(act) -> str | object:
    """'linear', 'relu', 'softmax', ... or the QKeras quantizer object an activation argument holds."""
    import tensorflow as tf

    if act is None:
        return "linear"
    if hasattr(act, "bits") and hasattr(act, "get_config"):  # a QKeras quantizer as the activation
        return act
    try:
        name = tf.keras.activations.serialize(act)
    except Exception:
        return getattr(act, "__name__", str(act))
    return name if isinstance(name, str) else str(name)


@dataclass
class Tensor:
    """A mapped tensor: the new Keras tensor and the fixed-point type the firmware holds it in (None: untyped, the
    following QActivation types it)."""

    t: object
    type: FixedType | None


@dataclass
class _Build:
    qt: object
    quantized: bool  # trigformer's quantization (casts, quantized layers)
    final_softmax: str
    keep_user_quantizers: bool = False  # QKeras quantizers and trigformer layers as the user has them (mirror)
    memo: dict = field(default_factory=dict)
    weights: list = field(default_factory=list)  # (new layer, arrays)
    names: set = field(default_factory=set)
    rows: list = field(default_factory=list)  # the mapping table
    act_tensors: list = field(default_factory=list)  # (name, float tensor) of activation-typed tensors
    mha_layers: list = field(default_factory=list)  # (new layer, its inputs) for calibrating q/k/v/context
    inputs: list = field(default_factory=list)


class ImportedModel:
    """A user's trained Keras model and its mapping onto trigformer's layers (see the module docstring)."""

    def __init__(self, model, source: str = "a Keras model object", project: str | None = None):
        import tensorflow as tf

        self.user, self.source = model, source
        if not isinstance(model, tf.keras.Model):
            raise ModelFileError(f"{source}: not a Keras model (got {type(model).__name__})")
        if not getattr(model, "_is_graph_network", False):
            raise ModelFileError(f"{source}: a subclassed tf.keras.Model has no layer graph to map; build it with "
                                 "the functional API or Sequential (with an Input)")
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

    def float_outputs(self, x, final_softmax: str = "drop", batch_size: int = 1024) -> np.ndarray:
        """The user's model on x (particles), with a final softmax stripped (logits) unless final_softmax is lut."""
        import tensorflow as tf

        inputs = self.feed(x)
        if not self.ends_in_softmax or final_softmax == "lut":
            return self.user.predict(inputs, batch_size=batch_size, verbose=0)
        last = self.final_layer
        sub = tf.keras.Model(self.user.inputs, self._node(last).keras_inputs[0])
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
        import tensorflow as tf

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
            vals = tf.keras.Model(model.inputs, probes + [t for ins in mha_ins for t in ins]).predict(
                self.feed(x), batch_size=512, verbose=0)
            vals = list(vals) if isinstance(vals, (list, tuple)) else [vals]
            inputs_of_mha = vals[len(probes):]
            vals = vals[:len(probes)]
            for (layer, _), ins in zip(b.mha_layers, mha_ins):  # Q, K, V and the context, computed eagerly
                args = [inputs_of_mha.pop(0) for _ in ins]
                vals += [v.numpy() for v in layer.internals(args if len(args) > 1 else args[0])]
                names += [f"{self.user_names.get(layer.name, layer.name)}/{k}" for k in ("q", "k", "v", "context")]
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

    # ---- graph walking ----------------------------------------------------------------------------------------------
    def _node(self, layer):
        keys = getattr(self.user, "_network_nodes", set())
        nodes = [n for i, n in enumerate(layer._inbound_nodes) if f"{layer.name}_ib-{i}" in keys]
        if len(nodes) != 1:
            raise unsupported(layer, f"used {len(nodes)} times in the model (shared layers are not supported)",
                              "one layer per use")
        return nodes[0]

    def _count_consumers(self) -> dict:
        out: dict = {}
        for layer in self.user.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            for t in self._node(layer).keras_inputs:
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
        import tensorflow as tf

        self._walk(b)
        if b.quantized:
            self.rows = b.rows  # the mapping table with the types of the latest quantized build
        model = tf.keras.Model(b.inputs, b.memo["__output__"].t, name=self.user.name)
        for layer, arrays in b.weights:
            layer.set_weights([np.asarray(a, dtype=np.float32) for a in arrays])
        return model

    def _walk(self, b: _Build) -> _Build:
        import tensorflow as tf

        b.names = set(self.c_names.values())
        for t in self.user.inputs:
            layer = _history(t)[0]
            x = tf.keras.Input(tuple(t.shape[1:]), name=self._cn(layer))
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
            import tensorflow as tf

            return tf.keras.layers.ReLU(name=self._unique(b, name))(x) if relu else x
        from qkeras import QActivation
        from qkeras.quantizers import quantized_bits, quantized_relu

        q = quantized_relu(t.width, t.integer) if relu else quantized_bits(**t.qkeras_config())
        return QActivation(q, name=self._unique(b, name))(x)

    def _add_weights(self, b: _Build, layer, arrays):
        b.weights.append((layer, arrays))

    # ---- per class --------------------------------------------------------------------------------------------------
    def _map_layer(self, b: _Build, layer, node) -> Tensor:
        cls = type(layer).__name__
        ins = node.keras_inputs
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
        import tensorflow as tf

        cls = type(layer).__name__
        (t_in,) = node.keras_inputs
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
            new = tf.keras.layers.Dense(units, name=self._cn(layer))
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
                y = tf.keras.layers.ReLU(name=self._unique(b, f"{self._cn(layer)}_act"))(y)
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
            call = inspect.signature(type(layer).call).bind(layer, *node.call_args, **node.call_kwargs).arguments
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
        ins = [self._map(b, t) for t in node.keras_inputs]
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
        (x,) = [self._map(b, t) for t in node.keras_inputs]
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
        (t_in,) = node.keras_inputs
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
        import tensorflow as tf

        if len(node.keras_inputs) != 2:  # hls4ml's merge layers take two inputs
            raise unsupported(layer, f"adds {len(node.keras_inputs)} tensors; trigformer's Add (hls4ml's) takes two",
                              "chained Adds of two, e.g. Add()([Add()([a, b]), c]) (each casts to the activation "
                              "type)")
        ins = [self._map(b, t) for t in node.keras_inputs]
        shapes = {tuple(t.shape[1:]) for t in node.keras_inputs}
        if len(shapes) != 1:
            raise unsupported(layer, f"inputs of different shapes {sorted(shapes)} (broadcasting)",
                              "Add of tensors of the same shape")
        y = tf.keras.layers.Add(name=self._cn(layer))([i.t for i in ins])
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
        (t_in,) = node.keras_inputs
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
        (t_in,) = node.keras_inputs
        x = self._map(b, t_in)
        t = read_quantizer(layer.quantizer, layer, "quantizer")
        y = x.t
        if self._user_q(b):
            from qkeras import QActivation

            y = QActivation.from_config({**layer.get_config(), "name": self._cn(layer)})(x.t)
        elif type(layer.quantizer).__name__ == "quantized_relu":
            import tensorflow as tf

            y = tf.keras.layers.ReLU(name=self._cn(layer))(x.t)
        b.rows.append({"layer": layer.name, "class": "QActivation", "becomes": [f"QActivation ({t.ap_type})"]})
        return Tensor(y, t)

    def _pool(self, b: _Build, layer, node, final: bool) -> Tensor:
        (t_in,) = node.keras_inputs
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
        return Tensor(y, new.spec(int(t_in.shape[-2])).out_t)

    def _flatten(self, b: _Build, layer, node, final: bool) -> Tensor:
        import tensorflow as tf

        (t_in,) = node.keras_inputs
        consumers = self._consumers_of(layer)
        if not consumers or any(type(c).__name__ not in ("Dense", "QDense", "EinsumDense", "Dropout")
                                for c in consumers):
            raise unsupported(layer, "not followed by a Dense", "Flatten followed by Dense")
        x = self._map(b, t_in)
        y = tf.keras.layers.Flatten(name=self._cn(layer))(x.t)
        b.rows.append({"layer": layer.name, "class": "Flatten", "becomes": ["Flatten (hls4ml Reshape)"]})
        return Tensor(y, x.type)

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
