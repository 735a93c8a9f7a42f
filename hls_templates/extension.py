"""hls4ml 1.3.0 extension: trigformer's ops -> hls4ml layers -> `nnet::tf_*` HLS functions.

Registered once (`register()`, idempotent) for the Vivado and Vitis backends through hls4ml's public extension API.
Each op with its own C++ (models/ops/*/hls.py) brings a layer class, its Keras parsers, a config-struct and a call
template and its headers; this module only hands them to hls4ml (the parsers to its Keras 2 or, wrapped as handler
classes by hls_templates/keras_v3.py, its Keras 3 frontend), plus one optimizer pass that writes the
distributed-arithmetic kernels (models/ops/da.py). No hls4ml code is patched.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
COMMON_HEADERS = (HERE / "nnet_tf_common.h",)
BACKENDS = ("Vivado", "Vitis")


def headers() -> list[Path]:
    """nnet_tf_common.h and every header of an op folder (layers and building blocks such as rsqrt/)."""
    from trigformer.models import ops

    return [*COMMON_HEADERS, *sorted(Path(ops.__file__).parent.glob("*/*.h"))]


def includes(op, hdrs: list[Path]) -> list[str]:
    """The headers the call of `op`'s layer includes: every header, but the headers of ops that are included only
    where they are used (`OpDef.header_everywhere` False: ops added after the Keras 2 reference firmware of
    tests/test_keras3_frontend.py, so a project without them keeps its parameters.h byte for byte) only by their own
    layer."""
    from trigformer.models.ops import with_hls_parts

    def folder(o) -> Path:
        return Path(o.part("hls").__file__).parent

    own_only = {folder(o) for o in with_hls_parts() if not o.header_everywhere} - {folder(op)}
    return [f"nnet_utils/{h.name}" for h in hdrs if h.parent not in own_only]


def _templates(ops, hdrs: list[Path]):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    out = []
    for op in ops:
        part, incl = op.part("hls"), includes(op, hdrs)
        cls = part.LAYER

        class Config(LayerConfigTemplate):
            def __init__(self, cls=cls):
                super().__init__(cls)

            def format(self, node, part=part):
                return part.config(node)

        class Function(FunctionCallTemplate):
            def __init__(self, cls=cls, incl=incl):
                super().__init__(cls, include_header=incl)

            def format(self, node, part=part):
                p = self._default_function_params(node)
                return part.call(node, p, lambda name: node.get_weights(name).name)

        Config.__name__, Function.__name__ = f"{cls.__name__}Config", f"{cls.__name__}Function"
        out += [Config, Function]
    return out


def _da_pass():
    """The optimizer pass of hls.strategy distributed_arithmetic: for every layer with that strategy whose op has
    constant-weight products (models/ops/da.py), the alkaid kernels as a `Source` attribute, which hls4ml's writer
    puts into firmware/nnet_utils/nnet_code_gen.h. It runs at the end of `vivado:init_layers` (the Vitis flow
    includes it), so hls4ml's own DA codegen, later in `vivado:optimize`, finds hls4ml's Dense (the classifier)
    already generated and only its DA template (call, no weight arrays) applies."""
    from hls4ml.model.optimizer import OptimizerPass
    from hls4ml.model.types import Source

    from trigformer.models.ops import for_hls
    from trigformer.models.ops.da import STRATEGY, generate

    class TrigformerDistributedArithmetic(OptimizerPass):
        def match(self, node):
            if str(node.get_attr("strategy", "")).lower() != STRATEGY or "da_codegen" in node.attributes:
                return False
            if not for_hls(node).da_capable:
                raise ValueError(f"{node.name} ({node.class_name}) has no constant-weight product for the "
                                 f"{STRATEGY} strategy")
            return True

        def transform(self, model, node):
            code, figs = generate(for_hls(node).da_products(node), node.index)
            node.set_attr("da_codegen", Source(code))
            node.set_attr("da_figures", figs)
            node.set_attr("strategy", STRATEGY)  # the exact name hls4ml's DA passes compare with
            return False  # the graph is unchanged

    return TrigformerDistributedArithmetic


DA_PASS, DA_FLOW = "trigformer_distributed_arithmetic", "vivado:init_layers"

_REGISTERED: dict = {}


def register():
    """Register our layers with hls4ml (idempotent). Returns the hls4ml layer classes by name."""
    if _REGISTERED:
        return _REGISTERED
    from importlib.metadata import version

    import hls4ml
    from hls4ml.converters import register_keras_v2_layer_handler
    from hls4ml.model.layers import register_layer

    from trigformer.hls_templates import keras_v3
    from trigformer.models.ops import with_hls_parts

    parts = [op.part("hls") for op in with_hls_parts()]
    parsers = {k: v for part in parts for k, v in part.PARSERS.items()}
    # the installed Keras's major version, read without importing Keras: a C-simulation child imports trigformer
    # and must not pay for TensorFlow (10 s)
    if int(version("keras").split(".")[0]) >= 3:  # hls4ml's Keras 3 frontend: handler classes, QKeras' included
        for keras_name, parser in {**keras_v3.qkeras_parsers(), **parsers}.items():
            keras_v3.handler(keras_name, parser)
    else:
        for keras_name, parser in parsers.items():
            register_keras_v2_layer_handler(keras_name, parser)
    for part in parts:
        register_layer(part.LAYER.__name__, part.LAYER)
    hdrs = headers()
    templates = _templates(with_hls_parts(), hdrs)
    for backend_name in BACKENDS:
        backend = hls4ml.backends.get_backend(backend_name)
        for tmpl in templates:
            backend.register_template(tmpl)
        for h in hdrs:
            backend.register_source(h)
    # one pass in the init flow both backends run (the Vitis flow requires vivado:init_layers)
    hls4ml.backends.get_backend("Vivado").register_pass(DA_PASS, _da_pass(), flow=DA_FLOW)
    _REGISTERED.update({p.LAYER.__name__: p.LAYER for p in parts})
    return _REGISTERED
