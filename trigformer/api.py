"""`trigformer.synth`: the synth flow as a function. The `synth` command line calls it."""

from __future__ import annotations

import re
from pathlib import Path

from trigformer.flow.config import ConfigError
from trigformer.flow.pipeline import Options, Result
from trigformer.flow.pipeline import synth as _synth


def synth(config_or_path=None, model=None, *, part: str | None = None, out=None, force: bool = False,
          weights=None, epochs: int | None = None, csim: bool = True, backend: str | None = None,
          clock: float | None = None, vendor_synth: bool = False, cosim: bool = False, vsynth: bool = False,
          fit: bool = False, rtl: bool = False, progress=True, overrides: dict | None = None,
          size_check: bool = True) -> Result:
    """Run the whole flow (data, quantization, HLS project, C-simulation, emulator, estimate, report).

    config_or_path: a model.yaml path; a trained model file (.keras, .h5 or a SavedModel folder: defaults and the
        embedded jets, data.n_particles from the model's input); a mapping with model.yaml's content (relative
        paths from the current folder); or None with `model`.
    model: a trained tf.keras.Model (stock Keras-2 or QKeras layers, see the README's table) used instead of
        model.file; with config None, the defaults as for a model file.
    The keyword arguments are synth's command-line options (`overrides`: {"dotted.key": value}, like the command
    line's overrides of model.yaml keys; `size_check=False` is --no-size-check).
    progress: True prints a line per long step (rich on a terminal, timestamped lines otherwise); False is quiet;
        a callable receives every flow.progress.Event (stage, kind start/progress/heartbeat/end, done, total,
        unit, elapsed_s, note, ok) and nothing is printed. Either way the events go to the logging logger
        "trigformer" (INFO: starts, ends, heartbeats; DEBUG: every progress update).

    Returns a Result (report, out_dir, messages, exit_code). Bad input raises ConfigError (or flow.pipeline.
    UsageError, flow.outdir.OutputError, flow.train.WeightsError) before anything is written.
    """
    source = None
    base = None
    if isinstance(config_or_path, dict):
        config = config_or_path
    elif config_or_path is None:
        if model is None:
            raise ConfigError("trigformer.synth: give a model.yaml, a model file, a config mapping or model=")
        config, source = shortcut_config(None, model), "the Keras model given to trigformer.synth"
    else:
        path = Path(config_or_path)
        if is_model_file(path):
            if model is not None:
                raise ConfigError(f"{path}: a model file and model= at once; give one of them")
            model, source = _load(path), str(path)
            config = shortcut_config(path, model)
        else:
            config = path
    opts = Options(config=config, part=part, out=Path(out) if out is not None else None, force=force,
                   weights=Path(weights) if weights is not None else None, epochs=epochs, csim=csim, backend=backend,
                   clock=clock, vendor_synth=vendor_synth, cosim=cosim, vsynth=vsynth, fit=fit, rtl=rtl,
                   progress=progress, size_check=size_check,
                   extra_overrides=dict(overrides or {}), model=model, model_source=source, config_base=base)
    return _synth(opts)


def is_model_file(path: Path) -> bool:
    """A trained model rather than a model.yaml: a .keras / .h5 file or a SavedModel folder."""
    from trigformer.flow.config import MODEL_FILE_SUFFIXES

    path = Path(path)
    return path.suffix.lower() in MODEL_FILE_SUFFIXES or (path.is_dir() and (path / "saved_model.pb").is_file())


def _load(path: Path):
    from trigformer.flow.config import model_file_problem
    from trigformer.models.byom import ModelFileError, load_model_file

    why = model_file_problem(path)
    if why:
        raise ConfigError(f"{path}: {why}")
    try:
        return load_model_file(path)
    except ModelFileError as e:
        raise ConfigError(str(e)) from None


def shortcut_config(path: Path | None, model) -> dict:
    """model.yaml for `synth model.keras`: every default (the embedded jets with their 3 features), the name from
    the file (or the model), data.n_particles from the model's input (the largest of several)."""
    from trigformer.flow.config import Config

    shapes = [tuple(t.shape) for t in getattr(model, "inputs", None) or []]
    where = str(path) if path is not None else "the Keras model"
    tokens = [s[1] for s in shapes if len(s) == 3 and s[1] is not None]
    if not shapes or len(tokens) != len(shapes):
        raise ConfigError(f"{where}: the model's inputs {[s[1:] for s in shapes]} are not [tokens, features]; "
                          "trigformer feeds jets of particles (tokens) with their features")
    n_feat = Config.model_fields["data"].default_factory().features
    bad = [s for s in shapes if s[2] != len(n_feat)]
    if bad:
        raise ConfigError(f"{where}: an input has {bad[0][2]} features per token; the embedded jets used by default "
                          f"have {len(n_feat)} ({', '.join(n_feat)}): write a model.yaml with data.features "
                          "(and model.file)")
    cfg = {"name": _name_for(path.stem if path is not None else getattr(model, "name", "") or "model"),
           "data": {"n_particles": int(max(tokens))}}
    if path is not None:
        cfg["model"] = {"file": str(path)}
    return cfg


def _name_for(stem: str) -> str:
    """A valid project name (C identifier, no clash with the generated C++) from a file name: accents dropped
    (ünïcödé -> unicode), other characters _, a clash resolved by a suffix; `model` when nothing is left."""
    import keyword
    import unicodedata

    from trigformer.flow.config import MAX_NAME_LENGTH, _generated_clash

    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9]+", "_", ascii_stem).strip("_")[:MAX_NAME_LENGTH - 4] or "model"
    if base[0].isdigit():
        base = "m_" + base
    for name in (base, f"{base}_net", "trigformer_model"):
        if name.isidentifier() and not keyword.iskeyword(name) and not _generated_clash(name):
            return name
    return "trigformer_model"
