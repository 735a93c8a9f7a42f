"""The report of one synth run as a typed object: what report.json holds, validated both ways.

`Report` is built once at the end of a run from the stages' results and written as report.json; `synth report DIR`
reads it back through the same model, so a corrupt or partial report.json is refused (exit 2) instead of being
half-rendered. Sections keep extra keys (per-layer tables, methods, vendor details) as plain data.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Accuracy(_Open):
    float_: float | None = Field(None, alias="float")
    fixed: float | None = None
    firmware: float | None = None
    n_events: int | None = None
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Latency(_Open):
    source: str
    cycles: int
    ns: float
    ii: int
    per_layer: list[dict] = Field(default_factory=list)


class Resources(_Open):
    source: str
    DSP: int | None = None
    LUT: int | None = None
    FF: int | None = None
    BRAM_18K: int | None = None
    fraction: dict[str, float] = Field(default_factory=dict)
    per_layer: list[dict] = Field(default_factory=list)


class Budget(_Open):
    met: bool
    judged: list[str] = Field(default_factory=list)  # the forms judged (older reports: empty)
    violations: list[str] = Field(default_factory=list)
    unchecked: list[str] = Field(default_factory=list)


class Verification(_Open):
    n_events: int


class Report(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    part: str
    backend: Literal["Vitis", "Vivado"]
    seed: int
    config: dict
    input_scaling: dict | None = None
    training: dict = Field(default_factory=dict)
    model: dict = Field(default_factory=dict)
    accuracy: Accuracy
    verification: Verification
    layers: list[dict]
    estimate: dict
    latency: Latency
    resources: Resources
    vendor: dict | None = None
    vendor_error: str | None = None
    budget: Budget
    forms: dict | None = None  # per firmware form produced (hls, rtl): latency, resources, budget (flow.report.forms)
    timings: dict = Field(default_factory=dict)
    implementation: dict = Field(default_factory=dict)  # per layer: reuse factor, strategy, and why if changed
    fit: dict | None = None  # synth --fit: settings chosen, points tried, advice
    rtl: dict | None = None  # synth --rtl: RTL latency, Yosys resources, co-simulation, trace check

    @field_validator("layers")
    @classmethod
    def _layers_named(cls, v: list[dict]) -> list[dict]:
        for row in v:
            if "name" not in row or "kind" not in row:
                raise ValueError("every layer needs a name and a kind")
        return v

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def read(cls, path: Path) -> Report:
        """Parse and validate report.json; ValueError (with the reason) when it is not a complete report."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a readable JSON report ({e})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a report (a JSON object is expected)")
        try:
            return cls.model_validate(data)
        except Exception as e:  # pydantic.ValidationError: name the first problem
            errs = getattr(e, "errors", lambda: [])()
            where = ".".join(str(p) for p in errs[0]["loc"]) if errs else "?"
            what = errs[0]["msg"] if errs else str(e)
            raise ValueError(f"{path}: incomplete or corrupt report ({where}: {what})") from None


def dumps(report: dict) -> str:
    """report.json text. Strict JSON: a non-finite number is a bug upstream, not something to write."""
    return json.dumps(_finite(report), indent=2, allow_nan=False) + "\n"


def _finite(o):
    if isinstance(o, float) and not math.isfinite(o):
        raise ValueError(f"non-finite number {o} in the report")
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file next to its destination and rename it into place (mode 0666 minus the umask, like open())."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
