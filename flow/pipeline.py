"""`synth`: model.yaml -> data -> trained QKeras Transformer -> HLS project -> csim + emulator -> cost -> report.

A trained model (model.file, or a Keras model object handed to trigformer.synth) replaces the training from the
keys: it is loaded and mapped onto trigformer's layers before anything else (models.byom), calibrated where integer
bits are `auto`, quantized (and fine-tuned when training.epochs > 0), then goes through the same stages.

Stages, each returning a typed result (upstream first):
    config (flow.config) -> data (flow.data) -> models (flow.train) -> firmware (flow.firmware: convert, write,
    emulator; C-simulation) -> verification (flow.verify: comparisons only) -> cost (flow.cost: estimate, vendor)
    -> report (flow.report: one Report, the budget verdict and the exit code).
Everything is built in a temporary sibling folder and moved into place at the end (flow.outdir).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from trigformer.flow.config import Config, ConfigError, load_config
from trigformer.flow.report.files import html_extra, render_outputs, write_outputs  # noqa: F401 (re-exported)
from trigformer.flow.run import Options, Result, UsageError, config_path, label  # noqa: F401 (re-exported)


def load(opts: Options) -> Config:
    from trigformer.flow.config import config_from_dict

    overrides = dict(opts.extra_overrides)
    for key, val in (("hls.part", opts.part), ("hls.backend", opts.backend), ("hls.clock_period_ns", opts.clock),
                     ("training.epochs", opts.epochs)):
        if val is not None:
            overrides[key] = val
    context = {"model_object": opts.model is not None}
    if isinstance(opts.config, dict):
        return config_from_dict(opts.config, overrides, context, base_dir=opts.config_base)
    return load_config(opts.config, overrides, context)


def import_model(cfg: Config, opts: Options):
    """The trained model (model.file or opts.model) mapped onto trigformer's layers, or None for a model built from
    the keys. Everything a run needs from it is checked here: loadable, every layer supported, inputs fed by the
    data section, one score per class. Raises ConfigError (exit 2)."""
    if opts.model is None and cfg.model.file is None:
        return None
    from trigformer.flow.config import resolve_model_file
    from trigformer.models.byom import ImportedModel, ModelFileError, load_model_file
    from trigformer.models.ops import UnsupportedLayer

    where = label(opts)
    key = "model.file" if cfg.model.file is not None else "model"
    try:
        if opts.model is not None:
            source = opts.model_source or (cfg.model.file or "the Keras model given to trigformer.synth")
            imported = ImportedModel(opts.model, source, cfg.name)
        else:
            path = resolve_model_file(cfg, config_path(opts))
            imported = ImportedModel(load_model_file(path), cfg.model.file, cfg.name)
    except (UnsupportedLayer, ModelFileError) as e:
        raise ConfigError(f"{where}: {key}: {e}") from None
    d = cfg.data
    for name, n, f in imported.input_shapes:
        if f != len(d.features):
            raise ConfigError(f"{where}: data.features: the model's input {name!r} has {f} features per token; "
                              f"data.features gives {len(d.features)} ({', '.join(d.features)})")
        if n > d.n_particles:
            raise ConfigError(f"{where}: data.n_particles: the model's input {name!r} takes {n} tokens; "
                              f"data.n_particles is {d.n_particles} (set it to {n})")
    if imported.n_outputs != len(cfg.model.classes):
        raise ConfigError(f"{where}: model.classes: the model gives {imported.n_outputs} scores per event; the data "
                          f"has {len(cfg.model.classes)} classes ({', '.join(cfg.model.classes)})")
    if cfg.model.final_softmax == "lut" and not imported.ends_in_softmax:
        raise ConfigError(f"{where}: model.final_softmax: lut, but the model does not end in a softmax")
    return imported


def provisional(cfg: Config) -> dict:
    """Stand-ins for `auto` integer bits (the defaults) where a plan is needed before calibration."""
    from trigformer.flow.config import INT_BITS_KEYS, QuantConfig

    defaults = QuantConfig()
    return {k: getattr(defaults, k) for k in INT_BITS_KEYS if getattr(cfg.quantization, k) == "auto"}


def calibrate(cfg: Config, imported, x_train) -> tuple[Config, dict, dict]:
    """Resolve the `auto` integer bits of a model file from its weights and the training data. Returns the config
    with them set, the extra QuantTypes fields (gamma_int_bits) and the report section."""
    from trigformer.flow.config import INT_BITS_KEYS
    from trigformer.models.quant import QuantTypes

    keys = [k for k in INT_BITS_KEYS if getattr(cfg.quantization, k) == "auto"]
    if not keys:
        return cfg, {}, {}
    qt = QuantTypes.from_config(cfg.quantization, **provisional(cfg))
    values, section = imported.calibrate(x_train, qt, cfg.model.final_softmax or "drop", keys)
    cfg = cfg.model_copy(deep=True)
    for k in keys:
        setattr(cfg.quantization, k, values[k])
    extra = {"gamma_int_bits": values["gamma_int_bits"]} if values.get("gamma_int_bits") is not None else {}
    return cfg, extra, {"auto": keys, **section}


def output_dir(cfg: Config, opts: Options) -> Path:
    return Path(opts.out) if opts.out else Path("firmware") / cfg.name


def synth(opts: Options) -> Result:
    """The whole flow. Raises ConfigError / UsageError / OutputError (exit 2) before writing anything."""
    from trigformer.flow.outdir import Output

    from trigformer.flow.convert import check_plan

    cfg = load(opts)
    out = output_dir(cfg, opts)
    from trigformer.flow.hgq2 import synth as synth_hgq2, wants_hgq2

    if wants_hgq2(cfg, opts):  # an HGQ2 model: alkaid's trace and RTL are its firmware (flow/hgq2.py)
        return synth_hgq2(cfg, opts, out)
    imported = import_model(cfg, opts)
    check_plan(cfg, imported, provisional(cfg))
    if opts.rtl:
        from trigformer.flow.rtl import check_tools
        from trigformer.sim.cache import CacheError
        from trigformer.sim.rtl.verilator import ToolMissing

        if imported is not None and len(imported.input_shapes) > 1:
            raise UsageError(f"--rtl: the RTL flow takes models with one input; {imported.source} has "
                             f"{len(imported.input_shapes)} ({', '.join(n for n, _, _ in imported.input_shapes)})")

        try:
            check_tools(cfg.rtl)
        except (ToolMissing, CacheError) as e:
            raise UsageError(f"--rtl: {e}") from None
    if cfg.hls.form == "trace" and opts.fit:
        raise UsageError("--fit chooses reuse factors, hls.form trace writes every layer at reuse factor 1: use "
                         "hls.form kernels with --fit")
    if cfg.hls.form == "trace" and imported is not None and len(imported.input_shapes) > 1:
        raise UsageError(f"hls.form trace takes models with one input (the RTL units); {imported.source} has "
                         f"{len(imported.input_shapes)}")
    if cfg.hls.strategy == "distributed_arithmetic" or cfg.hls.form == "trace":
        try:
            import alkaid  # noqa: F401
        except ImportError:
            raise UsageError(f"hls.{'form: trace' if cfg.hls.form == 'trace' else 'strategy: distributed_arithmetic'}"
                             " needs alkaid (pip install alkaid; `make setup` installs it)") from None
    if opts.weights is not None and not Path(opts.weights).exists():
        raise UsageError(f"--weights {opts.weights}: no such file or folder")
    if opts.vendor_synth or opts.cosim or opts.vsynth:
        from trigformer.flow.vendor import missing_tool_message

        why = missing_tool_message(cfg.hls.backend, opts.vsynth)
        if why:
            raise UsageError(f"--synth/--cosim/--vsynth: {why} Without them synth still C-simulates, emulates and "
                             "reports the labelled estimate.")
    from trigformer.flow.progress import reporting
    from trigformer.models import quiet_third_party

    quiet_third_party()
    if opts.size_check and imported is None:
        from trigformer.flow.sizecheck import too_large

        why = too_large(cfg, opts.fit)
        if why:
            raise UsageError(why)
    with reporting(opts.progress), Output(out, opts.force) as o:
        result = _run(cfg, opts, o.work, out, imported)
        o.commit()
    result.out_dir = out
    return result


def _run(cfg: Config, opts: Options, work: Path, final: Path, imported=None) -> Result:
    from trigformer.flow import cost as cost_stage
    from trigformer.flow import data as data_stage
    from trigformer.flow import firmware
    from trigformer.flow import train as train_stage
    from trigformer.flow.parts import resolve_part
    from trigformer.flow.convert import implementation
    from trigformer.flow.report import judge_budget
    from trigformer.flow.report.forms import apply as apply_forms
    from trigformer.flow.progress import stage
    from trigformer.flow.verify import verify

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with stage("data"):  # tqdm's bar of the jet generation would be \r-lines in a log: the stage says it
        data = data_stage.prepare(cfg, config_path(opts), False, trained_model=imported is not None)
    ds = data.ds
    timings["data_s"] = round(time.perf_counter() - t0, 1)
    part_full, _ = resolve_part(cfg.hls.part)
    weights = Path(opts.weights) if opts.weights else None

    calibration: dict = {}
    if imported is None:
        trained = train_stage.train_models(cfg, ds, weights, opts.progress)
        feed = (lambda x: x)  # noqa: E731
    else:
        from trigformer.models.quant import QuantTypes

        t0 = time.perf_counter()
        with stage("calibration (auto integer bits)"):
            cfg, extra, calibration = calibrate(cfg, imported, ds.x_train)
        if calibration:
            timings["calibration_s"] = round(time.perf_counter() - t0, 1)
            data.scaling["input_type"] = QuantTypes.from_config(cfg.quantization).input_t.ap_type
        trained = train_stage.train_imported(cfg, ds, imported, QuantTypes.from_config(cfg.quantization, **extra),
                                             weights, opts.progress)
        feed = imported.feed
    with stage("save Keras models"):
        train_stage.save_models(trained, work / "keras")

    fit_result = None
    if opts.fit:
        t0 = time.perf_counter()
        with stage("fit (reuse factors, strategies)"):
            fit_result = fit_settings(cfg, trained.fixed, part_full, work)
        timings["fit_s"] = round(time.perf_counter() - t0, 1)
    overrides = fit_result.settings if fit_result else None

    n = min(cfg.verify.n_events, len(ds.x_test))
    x_test = feed(ds.x_test)
    x_verify = feed(ds.x_test[:n])
    t0 = time.perf_counter()
    with stage("convert (hls4ml project, emulator)"):
        fw = firmware.build(cfg, trained.fixed, part_full, work, x_verify, overrides)
    timings["convert_write_s"] = round(time.perf_counter() - t0, 1)
    csim = None
    if opts.csim:
        t0 = time.perf_counter()
        csim = firmware.csim(fw.hls_model, x_verify)
        timings["csim_compile_and_run_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    with stage("emulator", note=f"{len(ds.y_test)} test events, compared with Keras and the C-simulation"):
        ver = verify(fw.emulator, x_test, ds.y_test, trained.logits, cfg.verify.n_events, csim, "--no-csim")
    if trained.import_check is not None:
        ver.section["import_check"] = trained.import_check
    timings["emulator_and_compare_s"] = round(time.perf_counter() - t0, 2)

    rtl_result = None
    if opts.rtl:
        from trigformer.flow.rtl import run as run_rtl

        from trigformer.flow.rtl import RTLResult

        t0 = time.perf_counter()
        try:
            rtl_result = run_rtl(cfg, fw.emulator, x_verify, work / "rtl", part_full)
        except Exception as e:  # noqa: BLE001 -- the RTL form is an extra: its failure is reported, the run kept
            msg = f"{type(e).__name__}: {str(e)[:400]}"
            rtl_result = RTLResult({"failed": msg, "resources": {"failed": msg}}, [f"--rtl failed: {msg}"])
        timings["rtl_s"] = round(time.perf_counter() - t0, 1)
        ver.messages.extend(rtl_result.messages)

    vendor_error = None
    if opts.vendor_synth or opts.cosim or opts.vsynth:
        with stage(f"vendor tool ({cfg.hls.backend} HLS)"):
            vendor_error = cost_stage.run_vendor_tool(work, cfg.hls.backend, opts.cosim, opts.vsynth)
    c = cost_stage.cost(fw.layers, work, cfg.hls.backend, cfg.hls.clock_period_ns, part_full, vendor_error,
                        fw.traced, cfg.hls.multipliers, cfg.rtl.latency_cutoff)

    report = {"name": cfg.name, "part": part_full, "backend": cfg.hls.backend, "seed": cfg.seed,
              "config": json.loads(cfg.model_dump_json()), "input_scaling": data.scaling,
              "training": trained.summary,
              "model": {"parameters": int(trained.fixed.count_params()), "layers": [l.name for l in trained.fixed.layers],
                        **(model_section(cfg, imported) if imported is not None else {})},
              "accuracy": {**trained.accuracy, "firmware": float(np.mean(np.argmax(ver.firmware_logits, -1) == ds.y_test))},
              "verification": ver.section, "layers": fw.layers, "estimate": c.estimate,
              "vendor": c.vendor, "vendor_error": c.vendor_error, "timings": timings, "hls_form": cfg.hls.form,
              "implementation": implementation(fw.layers, trained.fixed, cfg, overrides)}
    if rtl_result is not None:
        sec = rtl_result.section
        report["rtl"] = sec
        from trigformer.flow.report.text import estimate_vs_rtl_rows

        sec["vs_estimate"] = estimate_vs_rtl_rows({"estimate": c.estimate, "rtl": sec})
    if fit_result is not None:
        report["fit"] = fit_result.section()
    if calibration:
        report["calibration"] = calibration
    apply_forms(report)  # report["forms"] and the primary latency / resources, decided once
    report["budget"] = judge_budget(report, cfg.budget_dict())
    predictions = {"y_true": ds.y_test, "float": trained.logits["float"], "fixed": trained.logits["fixed"],
                   "firmware": ver.firmware_logits, "float_same_weights": trained.logits["float_same_weights"]}
    firmware.finalize(work, final)
    return Result(write_outputs(report, predictions, work), work, ver.messages)


def model_section(cfg: Config, imported) -> dict:
    """report.json["model"] of a trained model: where it came from, its inputs and how each layer was mapped."""
    return {"source": imported.source, "final_softmax": cfg.model.final_softmax or "drop",
            "inputs": [{"name": name, "tokens": n, "features": f,
                        "fed": f"the {n} leading particles (highest pT first)"} for name, n, f in imported.input_shapes],
            "mapping": imported.rows}


def fit_settings(cfg: Config, fixed, part_full: str, work: Path):
    """`--fit`: describe the layers (an unwritten conversion) and search the per-layer settings (flow.fit)."""
    import shutil

    from trigformer.flow.convert import convert, layer_descriptions
    from trigformer.flow.fit import fit

    probe_dir = work / ".fit-probe"
    try:
        layers = layer_descriptions(convert(fixed, cfg, probe_dir, part_full, trace=False), cfg)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    return fit(layers, cfg.hls.clock_period_ns, part_full, cfg.budget_dict(), cfg.hls.strategy)


__all__ = ["Options", "Result", "synth", "ConfigError", "UsageError"]
