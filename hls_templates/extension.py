"""hls4ml 1.3.0 extension: trigformer's ops -> hls4ml layers -> `nnet::tf_*` HLS functions.

Registered once (`register()`, idempotent) for the Vivado and Vitis backends through hls4ml's public extension API.
Each op with its own C++ (models/ops/*/hls.py) brings a layer class, its Keras parsers, a config-struct and a call
template and its headers; this module only hands them to hls4ml. No hls4ml code is patched.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
COMMON_HEADERS = (HERE / "nnet_tf_common.h",)
BACKENDS = ("Vivado", "Vitis")


def headers() -> list[Path]:
    """nnet_tf_common.h and every header of an op folder (layers and building blocks such as rsqrt/)."""
    import models.ops

    return [*COMMON_HEADERS, *sorted(Path(models.ops.__file__).parent.glob("*/*.h"))]


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


_REGISTERED: dict = {}


def register():
    """Register our layers with hls4ml (idempotent). Returns the hls4ml layer classes by name."""
    if _REGISTERED:
        return _REGISTERED
    import hls4ml
    from hls4ml.converters import register_keras_v2_layer_handler
    from hls4ml.model.layers import register_layer

    from models.ops import with_hls_parts

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
    _REGISTERED.update({p.LAYER.__name__: p.LAYER for p in parts})
    return _REGISTERED
