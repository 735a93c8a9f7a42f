"""Dense applied to every token: keras.py (QTokenDense), hls.py + nnet_tf_dense.h (strategies: latency, resource,
distributed_arithmetic with the kernel of models/ops/da.py), the integer arithmetic and cost model of
models/ops/dense (the same matrix product, token by token)."""

from __future__ import annotations

from trigformer.models.ops.base import OpDef
from trigformer.models.ops.common import raw_on_grid
from trigformer.models.ops.dense import Dense
from trigformer.models.ops.dense.spec import DenseSpec


class TokenDense(OpDef):
    kind = "token_dense"
    cost_kind = "token_dense"
    keras_classes = ("QTokenDense",)
    hls_classes = ("TFTokenDense",)
    spec_class = DenseSpec
    package = __name__
    da_capable = True

    @classmethod
    def plan_types(cls, layer, in_types, qt, model):
        types = Dense.plan_types(layer, in_types, qt, model)
        return {layer.name: types[layer.name]}  # no separate linear activation: the layer casts its own result

    @classmethod
    def params(cls, layer, keras_model):
        from trigformer.models.fixed import FixedType

        def t(name):
            return FixedType.from_hls4ml(layer.types[name].precision)

        spec = DenseSpec(FixedType.parse(layer.get_attr("weight_type")), FixedType.parse(layer.get_attr("bias_type")),
                         t("accum_t"))
        return spec, {"w": raw_on_grid(layer.get_attr("kernel_data"), spec.weight_t),
                      "b": raw_on_grid(layer.get_attr("bias_data"), spec.bias_t)}

    run = staticmethod(Dense.run)
    trace = staticmethod(Dense.trace)

    products = Dense.products

    @classmethod
    def describe(cls, layer) -> dict:
        from trigformer.models.ops import da
        from trigformer.models.ops.common import split_units

        strategy = str(layer.get_attr("strategy", "latency")).lower()
        reuse = layer.get_attr("reuse_factor")
        if strategy == da.STRATEGY:
            return {"strategy": strategy, "tokens_parallel": layer.get_attr("n_tokens"), "iterations": 1,
                    **da.describe(layer)}
        if strategy == "resource":
            block, iterations = split_units(layer.get_attr("n_out"), reuse)
            return {"strategy": strategy, "out_block": block, "iterations": iterations}
        tokens, iterations = split_units(layer.get_attr("n_tokens"), reuse)
        return {"strategy": strategy, "tokens_parallel": tokens, "iterations": iterations}

    @staticmethod
    def cost(layer, path, res):
        from trigformer.models.ops.tokendense.cost import cost

        return cost(layer, path, res)
