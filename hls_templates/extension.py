"""hls4ml 1.3.0 extension: trigformer's ops -> hls4ml layers -> `nnet::tf_*` HLS functions.

Registered once (`register()`, idempotent) for the Vivado and Vitis backends through hls4ml's public extension API.
Each op with its own C++ (models/ops/*/hls.py) brings a layer class, its Keras parsers, a config-struct and a call
template and its headers; this module only hands them to hls4ml, plus one optimizer pass that writes the
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


def _templates(hls_parts, includes: list[str]):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    out = []
    for part in hls_parts:
        cls = part.LAYER

        class Config(LayerConfigTemplate):
            def __init__(self, cls=cls):
                super().__init__(cls)

            def format(self, node, part=part):
                return part.config(node)

        class Function(FunctionCallTemplate):
            def __init__(self, cls=cls):
                super().__init__(cls, include_header=includes)

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
    import hls4ml
    from hls4ml.converters import register_keras_v2_layer_handler
    from hls4ml.model.layers import register_layer

    from trigformer.models.ops import with_hls_parts

    parts = [op.part("hls") for op in with_hls_parts()]
    for part in parts:
        for keras_name, parser in part.PARSERS.items():
            register_keras_v2_layer_handler(keras_name, parser)
        register_layer(part.LAYER.__name__, part.LAYER)
    hdrs = headers()
    templates = _templates(parts, [f"nnet_utils/{h.name}" for h in hdrs])
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
