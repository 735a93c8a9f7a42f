"""`sweep.yaml`: what to scan, validated completely before anything runs.

    base: model.yaml                      # relative to the sweep file
    grid: {model.num_heads: [1, 2], quantization.act_bits: [8, 10]}    # cartesian product
    random: {n: 20, seed: 1, space: {model.embed_dim: {log2int: [4, 32]},
                                     training.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}}}
    synth_args: [--no-csim]               # flags for every point's `synth` run
    point_timeout_s: 3600                 # optional: kill a point after this long (recorded as failed)
    cluster: {type: local}                # or htcondor / slurm (dask-jobqueue), see spec_cluster

Points are grid × random samples (each random sample is combined with every grid point). `synth_args` may also be a
grid key whose values are lists of flags, which varies the flags per point. Every point's config goes through
flow.config.load_config, so a bad key or value is exit 2 naming `grid.<key>` (or `random.space.<key>`) before any
point runs. The point key is a hash of the validated config and the flags: reruns skip finished points.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random as _random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trigformer.flow import yamlio
from trigformer.flow.config import Config, ConfigError, load_config


# A sweep point is a whole synth run (minutes to hours): 10,000 of them is a very large scan already, and validating
# each costs ~2 ms, so a grid past the cap is refused before anything is expanded (override: --max-points N).
MAX_POINTS = 10_000


class SweepError(Exception):
    """A sweep.yaml problem (exit 2, nothing run); `str()` is the one-line message."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------------------------------------------- random space


class Dist(_Strict):
    """One random dimension; exactly one of the keys. Bounds are inclusive."""

    choice: list[Any] | None = Field(None, min_length=1)
    int_: tuple[int, int] | None = Field(None, alias="int")
    log2int: tuple[int, int] | None = Field(None, description="a power of two 2^k, k uniform; bounds powers of two")
    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("choice", "int_", "log2int", "uniform", "loguniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of choice, int, log2int, uniform, loguniform")
        lo_hi = getattr(self, given[0]) if given[0] != "choice" else None
        if lo_hi is not None and lo_hi[0] > lo_hi[1]:
            raise ValueError(f"lower bound {lo_hi[0]} > upper bound {lo_hi[1]}")
        if self.log2int and any(v < 1 or v & (v - 1) for v in self.log2int):
            raise ValueError(f"log2int bounds must be powers of two, got {list(self.log2int)}")
        if self.loguniform and self.loguniform[0] <= 0:
            raise ValueError("loguniform bounds must be > 0")
        return self

    def sample(self, rng: _random.Random) -> Any:
        """Only rng.random() is used: Python guarantees its sequence for a seed across versions."""
        u = rng.random()
        if self.choice is not None:
            return self.choice[min(int(u * len(self.choice)), len(self.choice) - 1)]
        if self.int_ is not None:
            lo, hi = self.int_
            return lo + min(int(u * (hi - lo + 1)), hi - lo)
        if self.log2int is not None:
            a, b = (int(math.log2(v)) for v in self.log2int)
            return 2 ** (a + min(int(u * (b - a + 1)), b - a))
        if self.uniform is not None:
            lo, hi = self.uniform
            return lo + u * (hi - lo)
        lo, hi = self.loguniform
        return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))


class RandomSpec(_Strict):
    n: int = Field(ge=1, description="samples (each combined with every grid point)")
    seed: int = 0
    space: dict[str, Dist] = Field(min_length=1)


# ---------------------------------------------------------------------------------------------------- cluster


class Adapt(_Strict):
    minimum_jobs: int = Field(0, ge=0)
    maximum_jobs: int = Field(ge=1)


class Scale(_Strict):
    jobs: int | None = Field(None, ge=1)
    adapt: Adapt | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.jobs is None) == (self.adapt is None):
            raise ValueError("give exactly one of jobs: N or adapt: {minimum_jobs, maximum_jobs}")
        return self


class LocalSpec(_Strict):
    type: Literal["local"] = "local"
    workers: int | None = Field(None, ge=1, description="default: --workers, else the usable cores")


class _JobQueueSpec(_Strict):
    """Keys passed to dask_jobqueue's cluster class unchanged (same names, same meaning); `scale` is ours."""

    cores: int = Field(ge=1, description="cores per job")
    memory: str = Field(description="memory per job, e.g. '8GB' (shared by its processes)")
    processes: int | None = Field(None, ge=1, description="Dask workers per job; default `cores`: one point per "
                                                          "worker process, one thread each")
    scale: Scale
    interface: str | None = None
    death_timeout: float | None = None
    local_directory: str | None = None
    log_directory: str | None = None
    job_name: str | None = None
    python: str | None = None
    shebang: str | None = None
    nanny: bool | None = None
    worker_extra_args: list[str] | None = None
    job_script_prologue: list[str] | None = None
    job_directives_skip: list[str] | None = None

    def cluster_kwargs(self) -> dict:
        kw = self.model_dump(exclude={"type", "scale"}, exclude_none=True)
        kw.setdefault("processes", self.cores)
        return kw


class HTCondorSpec(_JobQueueSpec):
    type: Literal["htcondor"]
    disk: str = Field(description="scratch disk per job, e.g. '4GB' (HTCondor needs it)")
    job_extra_directives: dict[str, Any] | None = Field(None, description="submit-file lines, e.g. +MaxRuntime: 7200")
    submit_command_extra: list[str] | None = None
    cancel_command_extra: list[str] | None = None


class SlurmSpec(_JobQueueSpec):
    type: Literal["slurm"]
    queue: str | None = Field(None, description="the partition (#SBATCH -p)")
    account: str | None = None
    walltime: str | None = Field(None, description="per job, HH:MM:SS")
    job_cpu: int | None = None
    job_mem: str | None = None
    job_extra_directives: list[str] | None = Field(None, description="extra #SBATCH lines, e.g. --qos=short")


CLUSTER_TYPES: dict[str, type[BaseModel]] = {"local": LocalSpec, "htcondor": HTCondorSpec, "slurm": SlurmSpec}


class SweepFile(_Strict):
    base: str
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    random: RandomSpec | None = None
    synth_args: list[str] = Field(default_factory=list)
    point_timeout_s: float | None = Field(None, gt=0)
    cluster: dict[str, Any] = Field(default_factory=lambda: {"type": "local"})


# ---------------------------------------------------------------------------------------------------- points


@dataclass
class Point:
    key: str
    varied: dict[str, Any]  # dotted key (or "synth_args") -> validated value
    config: dict  # the validated model.yaml, data paths made absolute
    synth_args: list[str]


@dataclass
class Sweep:
    path: Path
    base: Path
    points: list[Point]
    varied_keys: list[str]
    cluster: BaseModel
    point_timeout_s: float | None
    duplicates: int = 0
    budget: dict = field(default_factory=dict)


# Flags the sweep sets itself, and flags that override a config key (use the key, so results show it).
_OWN_FLAGS = {"--out", "--force", "-q", "--quiet"}
_CONFIG_FLAGS = {"--part": "hls.part", "--epochs": "training.epochs", "--clock": "hls.clock_period_ns",
                 "--backend": "hls.backend"}


def load_sweep(path: str | Path, max_points: int | None = None) -> Sweep:
    """Read and validate sweep.yaml and every point it makes; SweepError names the culprit key. More than
    `max_points` points (default MAX_POINTS) is refused before any point is expanded or validated."""
    path = Path(path)
    max_points = MAX_POINTS if max_points is None else max_points
    text = yamlio.read_text(path, SweepError, "sweep.yaml", typical="a few kB")
    raw, lines = yamlio.parse(path, text, SweepError, "sweep.yaml", "sweep.yaml needs 5")
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: expected a mapping with base, grid, random, synth_args, cluster")
    spec = _validate(SweepFile, raw, path, lines, ())
    cluster = _cluster_spec(spec.cluster, path, lines)
    base = (path.parent / spec.base) if not Path(spec.base).is_absolute() else Path(spec.base)
    if not base.is_file():
        raise SweepError(f"{_at(path, lines, ('base',))}base: {spec.base}: no such file (relative to the sweep file)")
    try:
        base_cfg = load_config(base)
    except ConfigError as e:
        raise SweepError(f"base model.yaml: {e}") from None

    grid = dict(spec.grid)
    space = dict(spec.random.space) if spec.random else {}
    n_points = math.prod(len(v) for v in grid.values()) * (spec.random.n if spec.random else 1)
    if n_points > max_points:
        sizes = " x ".join([str(len(v)) for v in grid.values()] + ([f"{spec.random.n} random"] if spec.random else []))
        raise SweepError(f"{path}: {n_points:,} points ({sizes}) is more than the cap of {max_points:,}; narrow the "
                         f"grid, or pass --max-points {n_points} to run them all")
    for section, keys in (("grid", grid), ("random.space", space)):
        for k, values in keys.items():
            if k == "synth_args":
                if section != "grid" or not all(isinstance(v, list) and all(isinstance(a, str) for a in v)
                                                for v in values):
                    raise SweepError(f"{_at(path, lines, (*section.split('.'), k))}{section}.{k}: "
                                     "a grid of flag lists, e.g. [[], [--no-csim]]")
                for v in values:
                    _check_flags(v, f"{section}.synth_args", path, lines)
                continue
            why = _schema_problem(k)
            if why:
                raise SweepError(f"{_at(path, lines, (*section.split('.'), k))}{section}.{k}: {why}")
            if section == "grid" and not values:
                raise SweepError(f"{_at(path, lines, ('grid', k))}grid.{k}: empty list of values")
    both = set(grid) & set(space)
    if both:
        raise SweepError(f"{path}: {', '.join(sorted(both))}: in both grid and random.space")
    _check_flags(spec.synth_args, "synth_args", path, lines)

    combos = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())] if grid else [{}]
    samples = [{}]
    if spec.random:
        samples = []
        for i in range(spec.random.n):  # one generator per sample: growing n keeps the earlier samples
            rng = _random.Random(f"{spec.random.seed}/{i}")
            samples.append({k: d.sample(rng) for k, d in space.items()})
    points: dict[str, Point] = {}
    n_total = 0
    for combo in combos:
        for sample in samples:
            n_total += 1
            values = {**combo, **sample}
            p = _make_point(base, values, spec.synth_args, path, lines, grid, space)
            points.setdefault(p.key, p)
    varied = [k for k in list(grid) + list(space)]
    budget = {**base_cfg.budget_dict(), "part": base_cfg.hls.part}
    return Sweep(path, base, list(points.values()), varied, cluster, spec.point_timeout_s,
                 duplicates=n_total - len(points), budget=budget)


def _make_point(base: Path, values: dict, common_args: list[str], path: Path, lines, grid, space) -> Point:
    overrides = {k: v for k, v in values.items() if k != "synth_args"}
    args = list(common_args) + list(values.get("synth_args", []))
    try:
        cfg = load_config(base, overrides)
    except ConfigError as e:
        key, msg = _split_config_error(str(e), base)
        blamed = next((k for k in overrides if key is not None and (key == k or key.startswith(k + "."))), None)
        if blamed is not None:
            section = "grid" if blamed in grid else "random.space"
            raise SweepError(f"{_at(path, lines, (*section.split('.'), blamed))}{section}.{blamed} = "
                             f"{overrides[blamed]!r}: {msg}") from None
        raise SweepError(f"{path}: the point {json.dumps(overrides, default=str)} is not a valid model.yaml: "
                         f"{e}") from None
    dump = json.loads(cfg.model_dump_json())
    model = dump["model"]
    for k in ("file", "final_softmax"):  # added later: left out when unset, so earlier sweeps keep their point keys
        if model.get(k) is None:
            model.pop(k, None)
    if model.get("file") is not None:  # a trained model file: its own architecture, its absolute path
        from trigformer.flow.config import ARCHITECTURE_KEYS, resolve_model_file

        for k in ARCHITECTURE_KEYS:
            model.pop(k, None)
        model["file"] = str(resolve_model_file(cfg, base).resolve())
    if dump["data"].get("path") is not None:  # the point's model.yaml lives elsewhere: make data paths absolute
        from trigformer.flow.config import resolve_data_paths

        paths = [str(p.resolve()) for p in resolve_data_paths(cfg, base)]
        dump["data"]["path"] = paths if isinstance(cfg.data.path, list) else paths[0]
    canonical = json.dumps({"config": dump, "synth_args": args}, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    varied = {k: (_get(dump, k) if k != "synth_args" else " ".join(v)) for k, v in values.items()}
    return Point(key, varied, dump, args)


def _get(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        d = d[part]
    return d


def _schema_problem(dotted: str) -> str | None:
    """Why `dotted` is not a model.yaml key (None when it is one)."""
    model: type[BaseModel] = Config
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        fields = model.model_fields
        where = ".".join(parts[:i]) or "model.yaml"
        if part not in fields:
            return f"no such model.yaml key ({where} has: {', '.join(fields)})"
        ann = fields[part].annotation
        if i < len(parts) - 1:
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                return f"{'.'.join(parts[:i + 1])} is a value, not a section"
            model = ann
    ann = fields[parts[-1]].annotation
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "a whole section; vary its keys (e.g. model.num_heads) instead"
    return None


def _split_config_error(msg: str, base: Path) -> tuple[str | None, str]:
    """flow.config messages read '<file> (line N): <dotted key>: <message>', or '<file> (command line): ...' for a
    value given as an override (which is how the sweep sets its points)."""
    m = re.match(rf"^{re.escape(str(base))}(?: \((?:line \d+|command line)\))?: ([\w.]+): (.*)$", msg, re.S)
    return (m.group(1), m.group(2)) if m else (None, msg)


def _check_flags(args: list[str], where: str, path: Path, lines) -> None:
    """Refuse flags the sweep sets or that override a config key; and flags synth does not know (when its parser
    is importable), so a typo is exit 2 before anything runs."""
    loc = _at(path, lines, tuple(where.split(".")))
    for a in args:
        flag = a.split("=", 1)[0]
        if flag in _OWN_FLAGS:
            raise SweepError(f"{loc}{where}: {flag} is set by the sweep (each point writes its own folder)")
        if flag in _CONFIG_FLAGS:
            raise SweepError(f"{loc}{where}: {flag} overrides a config key: vary {_CONFIG_FLAGS[flag]} in grid "
                             "instead (then the results show it)")
    try:
        from trigformer.flow.cli import _main_parser
    except ImportError:  # the CLI was restructured: the point itself will refuse an unknown flag (exit 2, recorded)
        return
    import contextlib
    import io

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _, unknown = _main_parser().parse_known_args(["model.yaml", *args])
    except SystemExit:
        raise SweepError(f"{loc}{where}: {err.getvalue().strip().splitlines()[-1]}") from None
    if unknown:
        raise SweepError(f"{loc}{where}: synth does not know {' '.join(unknown)} (see `synth --help`)")


def _cluster_spec(raw: dict, path: Path, lines) -> BaseModel:
    kind = raw.get("type", "local")
    if kind not in CLUSTER_TYPES:
        raise SweepError(f"{_at(path, lines, ('cluster', 'type'))}cluster.type: {kind!r}; one of "
                         f"{', '.join(CLUSTER_TYPES)}")
    return _validate(CLUSTER_TYPES[kind], {"type": kind, **raw}, path, lines, ("cluster",))


def _validate(model: type[BaseModel], raw: dict, path: Path, lines, prefix: tuple) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = prefix + tuple(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            accepted = ", ".join(f.alias or n for n, f in _model_at(model, loc[len(prefix):-1]).model_fields.items())
            msg = f"unknown key (accepted here: {accepted})"
            if prefix == ("cluster",):
                msg = f"unknown key for cluster type {raw.get('type')} (accepted: {accepted})"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ") + (f" (got {err['input']!r})" if "input" in err and
                                                             not isinstance(err["input"], dict) else "")
        raise SweepError(f"{_at(path, lines, loc)}{'.'.join(loc) or '(top level)'}: {msg}") from None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel]:
    """The pydantic model that holds the key at `loc` (dict entries like random.space.<key> are skipped)."""
    for part in loc:
        f = model.model_fields.get(part) or next((f for f in model.model_fields.values() if f.alias == part), None)
        if f is None:
            continue
        ann = f.annotation
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                model = cand
                break
            for sub in getattr(cand, "__args__", ()):  # dict[str, Dist]
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    model = sub
    return model


def _at(path: Path, lines, loc: tuple) -> str:
    for n in range(len(loc), 0, -1):
        if tuple(loc[:n]) in lines:
            return f"{path} (line {lines[tuple(loc[:n])]}): "
    return f"{path}: "
