"""Keras/QKeras Transformer -> hls4ml ModelGraph -> HLS project.

Every precision is set explicitly (hls4ml's "auto" inference is not used): weights from the QKeras quantizers,
accumulators exact (`dot_accum_t`), results from the QActivation that follows each layer, our layers' internal
types from their op specs (`models.ops`). After conversion `check_types` verifies that hls4ml's passes kept them, so nothing can
round or overflow behind the emulator's back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trigformer.hls_templates.extension import register
from trigformer.models.fixed import FixedType
from trigformer.models.ops import BY_COST_KIND, UnsupportedLayer, for_hls, for_keras
from trigformer.models.ops.common import PARALLEL_KEYS, inbound_layers
from trigformer.models.quant import QuantTypes


class PlanError(ValueError):
    """The model cannot be planned: a layer is unsupported or one of its derived types is too wide (exit 2)."""

    def __init__(self, msg: str, too_wide: bool = False):
        super().__init__(msg)
        self.too_wide = too_wide  # a derived width beyond what the integer arithmetic holds


def _precision(t: FixedType) -> str:
    return t.ap_type


def layer_types(model, qt: QuantTypes) -> dict[str, dict[str, FixedType]]:
    """Planned hls4ml precisions per layer name: {'result': ..., 'accum': ..., 'weight': ..., 'bias': ...}.
    Each layer's op plans its own types (models/ops); a layer no op supports is refused here, before conversion."""
    plan: dict[str, dict[str, FixedType]] = {}
    out_t: dict[str, FixedType] = {}  # type of each layer's output tensor, by Keras layer name
    for layer in model.layers:
        inbound = inbound_layers(layer._inbound_nodes[0])
        in_types = [out_t[i.name] for i in inbound if i.name in out_t]
        try:
            op = for_keras(layer)
        except UnsupportedLayer as e:
            raise PlanError(str(e)) from None
        try:
            types = op.plan_types(layer, in_types, qt, model)
        except ValueError as e:  # a derived width beyond what the arithmetic holds
            raise PlanError(f"layer {layer.name}: {e}", too_wide=True) from None
        plan.update(types)
        out_t[layer.name] = types[layer.name]["result"]
    return plan


def _plan(cfg, imported, provisional: dict | None) -> None:
    qt = QuantTypes.from_config(cfg.quantization, **(provisional or {}))
    if imported is None:
        from trigformer.models.builder import build_model

        model = build_model(cfg, quantized=True)
    else:
        model = imported.build(qt, quantized=True, final_softmax=cfg.model.final_softmax or "drop")
    layer_types(model, qt)


def check_plan(cfg, imported=None, provisional: dict | None = None) -> None:
    """Build the quantized model of a config (or of a trained model file: `imported`, models.byom) and plan its types,
    before anything is trained or written: a derived width the arithmetic cannot hold is a config error (raised as
    ConfigError) naming quantization.act_bits and the widest value that works with the other settings, when a
    narrower act_bits is the way out. `provisional`: stand-ins for integer bits still `auto` (calibrated later)."""
    from trigformer.flow.config import ConfigError

    try:
        _plan(cfg, imported, provisional)
    except PlanError as e:
        best = widest_act_bits(cfg, imported, provisional) if e.too_wide else None
        if best is None:
            raise ConfigError(f"quantization: {e}") from None
        raise ConfigError(f"quantization.act_bits: {cfg.quantization.act_bits} is too wide for {e}; at most {best} "
                          "works with the other settings") from None


def widest_act_bits(cfg, imported, provisional: dict | None) -> int | None:
    """The largest act_bits below the configured one whose types can be planned (binary search: wider is never
    easier), or None if none can."""
    q = cfg.quantization
    int_bits = (provisional or {}).get("act_int_bits", q.act_int_bits)
    lo, hi = max(2, int_bits + 1 if isinstance(int_bits, int) else 2), q.act_bits - 1
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        trial = cfg.model_copy(deep=True)
        trial.quantization.act_bits = mid
        try:
            _plan(trial, imported, provisional)
        except ValueError:  # PlanError, or a combination the types refuse
            hi = mid - 1
            continue
        best, lo = mid, mid + 1
    return best


STRATEGY_NAMES = {"latency": "Latency", "resource": "Resource", "distributed_arithmetic": "distributed_arithmetic"}


def layer_settings(model, cfg, overrides: dict[str, dict] | None = None) -> dict[str, dict]:
    """Per layer: the reuse factor and strategy it gets, and why when that differs from what was asked.
    `overrides` (from `synth --fit`): {layer: {"reuse_factor": R, "strategy": s}}. distributed_arithmetic applies to
    the layers with constant-weight products (the ops' `da_capable`); the others keep the latency strategy."""
    out = {}
    for layer in model.layers:
        want = {"reuse_factor": cfg.hls.reuse_factor, "strategy": cfg.hls.strategy, **(overrides or {}).get(layer.name, {})}
        s = for_keras(layer).settings(layer, dict(want), cfg.hls.backend)
        if s["strategy"] == "distributed_arithmetic" and s["reuse_factor"] != 1:
            raise ValueError(f"{layer.name}: distributed_arithmetic needs reuse factor 1, got {s['reuse_factor']}")
        out[layer.name] = s
    return out


def implementation(layers: list[dict], model, cfg, overrides: dict[str, dict] | None = None) -> dict[str, dict]:
    """report.json["implementation"]: per layer of the written firmware (`layers`: `layer_descriptions`, read from
    the converted hls4ml layers, so what their C++ config structs hold), the reuse factor and strategy it got, its II
    where the reuse factor sets one, and why either differs from what was asked (`model`'s layers and `cfg` /
    `overrides`, as `layer_settings`)."""
    asked = layer_settings(model, cfg, overrides)
    out = {}
    for d in layers:
        op = BY_COST_KIND[d["kind"]]
        if op.graph_input:
            continue
        want = asked.get(d["name"], {})
        entry = {"reuse_factor": d["reuse_factor"], "strategy": d["strategy"]}
        notes = [want["note"]] if want.get("note") else []
        requested = (overrides or {}).get(d["name"], {}).get("reuse_factor", cfg.hls.reuse_factor)
        if d.get("iterations") is not None:  # trigformer's layers: ceil(units / R) units per iteration
            entry["ii"] = d["iterations"]
            entry["parallel"] = next((d[k] for k in PARALLEL_KEYS if d.get(k) is not None), None)
            if d["iterations"] != d["reuse_factor"]:
                notes.append(f"II {d['iterations']}, not {d['reuse_factor']}: the layer's units of work split into "
                             f"{d['iterations']} iterations of {entry['parallel']} (ceil(units / reuse) per iteration)")
        elif op.ii(d) is not None:
            entry["ii"] = op.ii(d)
        if d["reuse_factor"] != requested:
            entry["requested"] = requested
        if notes:
            entry["note"] = "; ".join(notes)
        out[d["name"]] = entry
    return out


def hls_config(model, cfg, qt: QuantTypes, trace: bool = True, overrides: dict | None = None) -> dict:
    import hls4ml

    register()
    conf = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=cfg.hls.backend,
                                                default_precision=qt.act_t.ap_type)
    conf["Model"]["Strategy"] = STRATEGY_NAMES[cfg.hls.strategy] if cfg.hls.strategy != "distributed_arithmetic" \
        else "Latency"
    conf["Model"]["ReuseFactor"] = cfg.hls.reuse_factor
    conf["Model"]["Multipliers"] = cfg.hls.multipliers  # models/ops/hls_common.py mul_impl
    settings = layer_settings(model, cfg, overrides)
    plan = layer_types(model, qt)
    for name, types in plan.items():
        s = settings.get(name.removesuffix("_linear"), {"reuse_factor": cfg.hls.reuse_factor, "strategy": "latency"})
        strategy = "latency" if name not in settings and s["strategy"] == "distributed_arithmetic" else s["strategy"]
        lc = conf["LayerName"].setdefault(name, {})
        lc["Precision"] = {k: _precision(v) for k, v in types.items()}
        lc["ReuseFactor"] = s["reuse_factor"]
        lc["Strategy"] = STRATEGY_NAMES[strategy]  # a Dense's split-off linear activation: no product
        lc["Trace"] = trace
    return conf


def convert(model, cfg, out_dir: Path, part_full: str, trace: bool = True, overrides: dict | None = None):
    """Build the hls4ml ModelGraph for `model` in `out_dir` (not yet written). `overrides`: per-layer reuse factor and
    strategy (`synth --fit`)."""
    import hls4ml

    qt = QuantTypes.from_config(cfg.quantization)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=hls_config(model, cfg, qt, trace, overrides), output_dir=str(out_dir),
        project_name=cfg.name, backend=cfg.hls.backend, part=part_full, clock_period=cfg.hls.clock_period_ns,
        io_type=cfg.hls.io_type, allow_da_fallback=False, allow_v2_fallback=False)  # Keras 3: every layer handled
    check_types(hls_model, layer_types(model, qt))
    return hls_model


def check_types(hls_model, plan: dict[str, dict[str, FixedType]]) -> None:
    """Every planned type (results and op-internal ones) must survive hls4ml's optimizer passes; raise if one
    changed, or if hls4ml created a layer trigformer did not plan."""
    for layer in hls_model.get_layers():
        if layer.name not in plan:
            raise RuntimeError(f"hls4ml created layer {layer.name} ({layer.class_name}) that trigformer did not plan")
        for var, want in plan[layer.name].items():
            if var in ("weight", "bias"):
                continue  # weights are checked on their grids by the emulator (raw_on_grid)
            if var == "result":
                got = FixedType.from_hls4ml(layer.get_output_variable().type.precision)
            elif f"{var}_t" in layer.types:
                got = FixedType.from_hls4ml(layer.types[f"{var}_t"].precision)
            else:
                raise RuntimeError(f"{layer.name}: planned type {var} is not a type of the hls4ml layer")
            if got != want:
                raise RuntimeError(f"hls4ml changed the {var} type of {layer.name}: planned {want}, got {got}")


def layer_descriptions(hls_model, cfg) -> list[dict]:
    """Per-layer sizes and widths in dataflow order, for the latency/resource estimate."""
    out = []
    for layer in hls_model.get_layers():
        res = FixedType.parse(layer.get_output_variable().type.precision.definition_cpp())
        shape = layer.get_output_variable().shape
        d = {"name": layer.name, "n_tokens": int(shape[0]) if len(shape) > 1 else 1, "n_out": int(shape[-1]),
             "out_bits": res.width, "strategy": str(layer.get_attr("strategy", "latency")).lower(),
             "reuse_factor": int(layer.get_attr("reuse_factor", 1)), "table_entries": 0, "table_bits": 0,
             "multipliers": cfg.hls.multipliers}  # the binding of its variable products (costmodel.var_on_dsp)
        op = for_hls(layer)
        if not op.graph_input:
            inp = layer.get_input_variable()
            d["n_in"] = int(inp.shape[-1])
            d["in_bits"] = FixedType.parse(inp.type.precision.definition_cpp()).width
        weights = {k: v for k, v in layer.weights.items() if "table" not in k}
        if weights:
            w = next(iter(weights.values()))
            d["weight_bits"] = FixedType.parse(w.type.precision.definition_cpp()).width
            arrays = [np.asarray(v.data) for k, v in weights.items() if "bias" not in k and k not in ("beta",)]
            d["n_weights"] = int(sum(a.size for a in arrays))
            d["n_nonzero_weights"] = int(sum(np.count_nonzero(a) for a in arrays))
        tables = [v for k, v in layer.weights.items() if "table" in k]
        if tables:
            d["table_entries"] = int(sum(np.asarray(t.data).size for t in tables))
            d["table_bits"] = max(FixedType.parse(t.type.precision.definition_cpp()).width for t in tables)
        if "accum_t" in layer.types:
            d["accum_bits"] = FixedType.parse(layer.types["accum_t"].precision.definition_cpp()).width
        d["kind"] = op.cost_kind or op.kind
        d.update(op.describe(layer))  # op-specific fields (parallel units, tables without their copies, ...)
        out.append(d)
    return out

