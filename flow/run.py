"""What a `synth` run is asked (Options) and what it returns (Result), shared by flow/pipeline.py and the flows it
hands a model to (flow/hgq2.py), which must not import the pipeline back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class UsageError(Exception):
    """Bad request (exit 2, nothing written)."""


class ToolFailure(Exception):
    """A third-party tool failed on this model where no partial result can be written (exit 1, one message)."""


@dataclass
class Options:
    config: Path | dict  # model.yaml, or its content as a mapping (trigformer.synth)
    part: str | None = None
    out: Path | None = None
    force: bool = False
    weights: Path | None = None
    epochs: int | None = None
    csim: bool = True
    backend: str | None = None
    clock: float | None = None
    vendor_synth: bool = False
    cosim: bool = False
    vsynth: bool = False
    fit: bool = False
    rtl: bool = False
    progress: object = True  # True: stage lines (flow.progress); False: quiet; a callable: gets every Event
    size_check: bool = True  # refuse a model whose estimate is far beyond the part, before training (flow.sizecheck)
    extra_overrides: dict = field(default_factory=dict)
    model: object = None  # a trained Keras model object (trigformer.synth(..., model=...))
    model_source: str | None = None  # how to name `model` in messages and the report
    config_base: Path | None = None  # where relative paths of a mapping config are taken from (default: cwd)


@dataclass
class Result:
    report: dict
    out_dir: Path
    messages: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """synth's exit code for this result: 0; 1 wrong or failed (csim/RTL != emulator, a tool failed); 4 budget
        not met, everything verified (flow.report.verdict)."""
        from trigformer.flow.report import exit_code

        return exit_code(self.report)


def config_path(opts: Options) -> Path:
    """The path relative data.path and model.file are taken from (its folder)."""
    if isinstance(opts.config, dict):
        return Path(opts.config_base or Path.cwd()) / "model.yaml"
    return Path(opts.config)


def label(opts: Options) -> str:
    return "config" if isinstance(opts.config, dict) else str(opts.config)
