"""`model.yaml`: the contract between physicists' tools and trigformer.

Every key except `name` has a default. Validation errors become one `ConfigError` naming the key (dotted path) and,
where the key appears in the file, its YAML line. Nothing is written before validation passes.
"""

from __future__ import annotations

import keyword
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from trigformer.flow import yamlio
from trigformer.models.ops import ATTENTIONS, NORMS

FEATURES = ("pt_rel", "eta_rel", "phi_rel", "delta_r", "log_pt_rel")

# Limits of bad input (issue 9). Each is a bound past which a value can only be a mistake or would crash later.
MAX_YAML_BYTES, MAX_YAML_DEPTH = yamlio.MAX_YAML_BYTES, yamlio.MAX_YAML_DEPTH  # the strict reader: flow/yamlio.py
MAX_NAME_LENGTH = 63  # C99 5.2.4.1: 63 significant initial characters in an internal identifier
SEED_LIMIT = 2**32  # np.random.seed and tf.keras.utils.set_random_seed take 0 <= seed < 2**32
# x * 2**k on float32 features: the features are |x| <= ~10 (pt_rel <= 1, angles < 1, log_pt_rel >= -10) and carry
# information down to ~2**-20; the input type has at most 24 bits and 16 integer bits. Beyond +-32 every feature
# saturates or rounds to zero, whatever the type ("auto" picks within -8..16), and 2**k*x stays far from float32 limits.
SCALE_LOG2_LIMIT = 32
MAX_EVENTS = 10_000_000  # per data.n_train / data.n_test; the public hls4ml jet dataset has under a million jets
# The feature arrays x_train + x_test are (n_train + n_test) * n_particles * features float32; the run holds a few
# copies (loading, scaling, Keras), so 2 GiB of features keeps the whole run within ~10 GB of memory.
MAX_FEATURE_BYTES = 2 << 30
# budget: an L1 trigger's whole latency is a few us (12.5 us at the HL-LHC) and its event period 25 ns; beyond 10 ms
# or 10**6 cycles between events a value is a unit mistake, and II = period * TM / clock must stay an exact integer
MAX_BUDGET_NS = 1e7
MAX_II = 10**6


NormChoice = Literal[(*NORMS, "none")]  # model.norm: each op's norm_choice (models/ops registry), or none
AttentionChoice = Literal[tuple(ATTENTIONS)]  # model.attention: each op's attention_choice (models/ops registry)


class ConfigError(Exception):
    """A model.yaml problem; `str()` is the one-line message shown to the user."""

    def __init__(self, msg: str):
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(msg)))  # one line, whatever a value or library put in it


def _reject_booleans(v):
    """Booleans only where a key is one: pydantic's lax mode would read true as 1 for a number."""
    for item in v if isinstance(v, list) else [v]:
        if isinstance(item, bool):
            raise ValueError(f"got the boolean {str(item).lower()}: YAML reads unquoted true/false/yes/no/on/off "
                             "as booleans, and this key is not a boolean")
    return v


class _Section(BaseModel):
    # allow_inf_nan=False: NaN and +-inf are refused for every float (and int) field before any bound is checked
    model_config = ConfigDict(extra="forbid", strict=False, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, v, info):
        if cls.model_fields[info.field_name].annotation is bool:
            return v
        return _reject_booleans(v)


class DataConfig(_Section):
    source: Literal["synthetic", "hls4ml_jets"] = "synthetic"
    path: str | list[str] | None = None
    n_particles: int = Field(16, ge=2, le=150)
    features: list[str] = Field(default_factory=lambda: ["pt_rel", "eta_rel", "phi_rel"], min_length=1)
    n_train: int = Field(40000, ge=10, le=MAX_EVENTS)
    n_test: int = Field(10000, ge=10, le=MAX_EVENTS)

    @field_validator("path", mode="before")
    @classmethod
    def _paths(cls, v):
        if v is None:
            return v
        if isinstance(v, list) and not v:
            raise ValueError("empty list: give an .h5 file, a folder or a list of them")
        for p in v if isinstance(v, list) else [v]:
            if not isinstance(p, str):
                raise ValueError(f"must be a path (an .h5 file or a folder) or a list of them, got {p!r}")
            if not p.strip() or "\0" in p:
                raise ValueError(f"empty path or a path with a NUL character: {p!r}")
        return v

    @field_validator("features")
    @classmethod
    def _known_features(cls, v: list[str]) -> list[str]:
        for f in v:
            if f not in FEATURES:
                raise ValueError(f"unknown feature {f!r}; available: {', '.join(FEATURES)}")
        if len(set(v)) != len(v):
            raise ValueError("features must not repeat")
        return v


# The model keys that describe an architecture trigformer builds; a model file brings its own.
ARCHITECTURE_KEYS = ("embed_dim", "num_heads", "key_dim", "num_blocks", "ffn_dim", "norm", "pooling", "activation",
                     "attention", "linformer_k", "mlp_blocks")
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")  # or a SavedModel folder (saved_model.pb inside)


class ModelConfig(_Section):
    file: str | None = Field(None, description="a trained Keras-2 / QKeras model: .keras, .h5 or a SavedModel folder")
    final_softmax: Literal["drop", "lut"] | None = Field(
        None, description="a model file's final softmax: dropped (the firmware gives logits) or a LUT softmax")
    embed_dim: int = Field(16, ge=1, le=256)
    num_heads: int = Field(2, ge=1, le=16)
    key_dim: int = Field(8, ge=1, le=128)
    num_blocks: int = Field(2, ge=1, le=8)
    ffn_dim: int = Field(32, ge=1, le=512)
    norm: NormChoice = "layernorm"  # pyright: ignore[reportInvalidTypeForm]
    attention: AttentionChoice = "mha"  # pyright: ignore[reportInvalidTypeForm]
    linformer_k: int | None = Field(None, ge=1, le=150, description="attention linformer: the k < data.n_particles "
                                                                    "tokens keys and values are projected to")
    pooling: Literal["mean", "max", "flatten"] = "mean"  # flatten: quantization.mode hgq2 only
    activation: Literal["relu", "linear"] = "relu"
    mlp_blocks: int = Field(1, ge=1, le=8, description="residual MLPs after each attention (quantization.mode hgq2)")
    classes: list[str] = Field(default_factory=lambda: ["g", "q", "W", "Z", "t"], min_length=2)

    @field_validator("file", mode="before")
    @classmethod
    def _file(cls, v):
        if v is not None and (not isinstance(v, str) or not v.strip() or "\0" in v):
            raise ValueError(f"must be the path of a .keras or .h5 file or of a SavedModel folder, got {v!r}")
        return v


# Integer-bit counts, or `auto` (calibrated from a trained model's weights and the data: see the README).
INT_BITS_KEYS = {"weight_int_bits": 8, "act_int_bits": 16, "input_int_bits": 16}  # key: largest value


class QuantConfig(_Section):
    # uniform: one QKeras-style type per tensor (the keys below); hgq2: HGQ2 learns one bit width per element,
    # starting from those keys, under its resource penalty (EBOPs; models/hgq2/build.py)
    mode: Literal["uniform", "hgq2"] = "uniform"
    beta: float = Field(1e-6, ge=0, le=1, description="hgq2: EBOPs penalty (the start value when lut_target is set)")
    lut_target: int | None = Field(None, ge=100, description="hgq2: the LUT count training aims for (HGQ2's BetaPID)")
    weight_bits: int = Field(8, ge=2, le=16)
    weight_int_bits: int | Literal["auto"] = 0
    act_bits: int = Field(10, ge=2, le=24)
    act_int_bits: int | Literal["auto"] = 4
    softmax_table_size: int = Field(1024, ge=16, le=65536)
    # Added keys (defaults documented in the README):
    input_bits: int = Field(12, ge=2, le=24)
    input_int_bits: int | Literal["auto"] = 4
    input_scale_log2: Literal["auto"] | int | list[int] = Field(
        "auto", description="features are multiplied by 2**k before the firmware (a binary-point shift)")
    prob_bits: int = Field(10, ge=2, le=18, description="softmax output: ap_ufixed<prob_bits, 1>")
    table_bits: int = Field(18, ge=6, le=24, description="width of exp / reciprocal / rsqrt table entries")
    softmax_input_range: float = Field(8.0, description="exp table covers x - max(x) in [-range, 0]; power of 2")
    layernorm_table_size: int = Field(1024, ge=16, le=65536)
    attention_bits: int | None = Field(None, ge=2, le=24, description="q/k/v/context inside attention; act_bits")

    @field_validator("softmax_table_size", "layernorm_table_size")
    @classmethod
    def _pow2(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"must be a power of 2 (the table index is a bit slice), got {v}")
        return v

    @field_validator(*INT_BITS_KEYS, mode="before")
    @classmethod
    def _int_bits_or_auto(cls, v, info: ValidationInfo):
        if v == "auto":
            return v
        _reject_booleans(v)
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"not a finite number (got {v!r})")
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int):
            raise ValueError(f"must be an integer or auto, got {v!r}")
        hi = INT_BITS_KEYS[info.field_name]
        if not 0 <= v <= hi:
            raise ValueError(f"must be between 0 and {hi} (or auto), got {v}")
        return v

    @field_validator("input_scale_log2", mode="before")
    @classmethod
    def _scale(cls, v):
        if v == "auto":
            return v
        _reject_booleans(v)
        for k in v if isinstance(v, list) else [v]:
            if isinstance(k, float) and not math.isfinite(k):
                raise ValueError(f"not a finite number (got {k!r})")
            if not isinstance(k, int):
                raise ValueError(f"must be auto, an integer or a list of integers (one per feature), got {v!r}")
            if not -SCALE_LOG2_LIMIT <= k <= SCALE_LOG2_LIMIT:
                raise ValueError(f"{k} is outside -{SCALE_LOG2_LIMIT}..{SCALE_LOG2_LIMIT}: features (|x| <= ~10) "
                                 "times 2**k would saturate or round to zero in any input type of <= 24 bits")
        return v

    @field_validator("softmax_input_range")
    @classmethod
    def _range_pow2(cls, v: float) -> float:
        if v <= 0 or 2.0 ** round(math.log2(v)) != v:
            raise ValueError(f"must be a power of 2 (e.g. 4, 8, 16), got {v}")
        if not 1 <= v <= 64:
            raise ValueError(f"must be between 1 and 64, got {v}: below 1 the table's floor exp(-range) > 0.37 is no "
                             "softmax; above 32 every extra entry is 0 (exp(-17) < 2**-24, the finest table entry)")
        return v

    @model_validator(mode="after")
    def _bits(self):
        for total, integer in (("weight_bits", "weight_int_bits"), ("act_bits", "act_int_bits"),
                               ("input_bits", "input_int_bits"),
                               ("attention_bits", "act_int_bits")):
            t, i = getattr(self, total), getattr(self, integer)
            if t is not None and i is not None and i != "auto" and i >= t:
                raise _KeyError(integer, f"{integer} ({i}) must be smaller than {total} ({t}): one bit is the sign")
        return self


class TrainConfig(_Section):
    # None: 20 for a model built from the keys, 0 (post-training quantization only) for a model file
    epochs: int | None = Field(None, ge=0, le=10000)
    qat_init: Literal["float", "scratch"] = Field("float", description="start QAT from the trained float twin")
    batch_size: int = Field(256, ge=1, le=1 << 20)
    learning_rate: float = Field(1e-3, gt=0, le=1)


class HLSConfig(_Section):
    backend: Literal["Vitis", "Vivado"] = "Vitis"
    part: str = "xcvu9p"
    clock_period_ns: float = Field(5.0, ge=0.5, le=100)  # AMD fabric tops out near 1 GHz (1 ns)
    io_type: Literal["io_parallel"] = "io_parallel"
    # distributed_arithmetic: every constant-weight product as alkaid's shift-and-add graph (models/ops/da.py); the
    # other layers keep their kernels at the latency strategy. Fully parallel: reuse_factor 1 (II = 1) only.
    strategy: Literal["latency", "resource", "distributed_arithmetic"] = "latency"
    reuse_factor: int = Field(1, ge=1, le=4096)
    # where every variable x variable product goes, the same in the Verilog, the HLS C++, the estimate and --fit:
    # lut, dsp (DSP48E2 when both operands have >= 2 bits) or auto (LUTs when both operands have <= 4 bits)
    multipliers: Literal["auto", "lut", "dsp"] = "auto"
    # the HLS project's C++: kernels (trigformer's nnet_tf_*.h and hls4ml's layers) or trace (every RTL unit as the
    # straight-line C++ of its alkaid trace, the operations the Verilog performs: sim/rtl/hls.py). trace needs
    # reuse_factor 1 and strategy latency or distributed_arithmetic (no hardware shared)
    form: Literal["kernels", "trace"] = "kernels"


RESOURCE_KEYS = ("LUT", "FF", "DSP", "BRAM_18K")


class BudgetConfig(_Section):
    """The trigger's budget. II: a new event every bunch_crossing_ns (25 ns at the LHC's 40 MHz); with
    time-multiplexing TM one board sees every TM-th event, so the firmware may take TM x 25 ns per event. The default
    II is floor(bunch_crossing_ns * time_multiplexing / clock_period_ns): 5 at 200 MHz without time-multiplexing.
    Resources: at most max_fraction of each resource of the part (routing and the rest of the trigger need room)."""

    latency_ns: float = Field(500.0, gt=0)
    bunch_crossing_ns: float = Field(25.0, gt=0)
    time_multiplexing: int = Field(1, ge=1, le=1024)
    ii: int | None = Field(None, ge=1)
    max_fraction: float | dict[str, float] = 0.7
    # synth --fit aims below the limits by this relative margin: `band` (the estimate's held-out error band, median
    # per metric: flow.estimate.error_band) or a number (0.2: 20 % below every limit; 0: no margin)
    fit_margin: Literal["band"] | float = "band"

    @field_validator("fit_margin", mode="before")
    @classmethod
    def _margin(cls, v):
        if v == "band":
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 10:  # NaN fails the range too
            raise ValueError(f"`band` or a relative margin in [0, 10], got {v!r}")
        return float(v)

    @field_validator("latency_ns", "bunch_crossing_ns")
    @classmethod
    def _time(cls, v: float) -> float:
        if v > MAX_BUDGET_NS:
            raise ValueError(f"{v:g} ns is more than {MAX_BUDGET_NS:g} ns (10 ms), far beyond any trigger's latency "
                             "or event period: give nanoseconds (25 for the LHC's bunch crossing)")
        return v

    @field_validator("ii")
    @classmethod
    def _ii(cls, v):
        if v is not None and v > MAX_II:
            raise ValueError(f"{v} cycles is more than {MAX_II} (5 ms between events at 200 MHz), far beyond any "
                             "trigger: give the cycles between accepted events (5 at 200 MHz and 25 ns)")
        return v

    @field_validator("max_fraction", mode="before")
    @classmethod
    def _fraction_values(cls, v):
        if isinstance(v, dict):
            if not v:
                raise ValueError("an empty mapping limits nothing: give one fraction for every resource (0.7) or "
                                 f"one per resource ({{LUT: 0.6, DSP: 0.8}}; the others are then 1.0)")
            for k, f in v.items():
                if isinstance(f, bool) or not isinstance(f, (int, float)):
                    raise ValueError(f"{k}: a fraction of the part is a number in (0, 1], got {f!r}")
        return v

    @field_validator("max_fraction")
    @classmethod
    def _fractions(cls, v):
        values = v if isinstance(v, dict) else {"all": v}
        for k, f in values.items():
            if k != "all" and k not in RESOURCE_KEYS:
                raise ValueError(f"unknown resource {k!r}; expected one of {', '.join(RESOURCE_KEYS)}")
            if not 0 < f <= 1:
                raise ValueError(f"a fraction of the part must be in (0, 1], got {f}")
        return v

    def limits(self) -> dict[str, float]:
        v = self.max_fraction
        return {k: (v.get(k, 1.0) if isinstance(v, dict) else v) for k in RESOURCE_KEYS}


class VerifyConfig(_Section):
    n_events: int = Field(1000, ge=1)


class RTLConfig(_Section):
    """`synth --rtl`: the network as pipelined Verilog (alkaid), co-simulated (Verilator) and synthesized (Yosys)."""

    # delay units (da4ml 0.5.2's: adders) per stage; unset: derived from hls.clock_period_ns (sim/rtl/timing.py)
    latency_cutoff: float | None = Field(None, ge=1, le=64)
    cosim: bool = True  # Verilator co-simulation of verify.n_events events
    # system: yosys on PATH (native, faster); yowasp: the PyPI WebAssembly build; auto: system if present, else yowasp
    yosys: Literal["auto", "system", "yowasp", "none"] = "auto"
    jobs: int | None = Field(None, ge=1, le=256)  # parallel Verilator/Yosys jobs (default: the usable cores)
    interpreter_events: int = Field(32, ge=0, le=100_000)  # events the trace's interpreter checks against the emulator


class Config(_Section):
    name: str
    seed: int = Field(42, ge=0, lt=SEED_LIMIT)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    quantization: QuantConfig = Field(default_factory=QuantConfig)
    training: TrainConfig = Field(default_factory=TrainConfig)
    hls: HLSConfig = Field(default_factory=HLSConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    rtl: RTLConfig = Field(default_factory=RTLConfig)

    @field_validator("name")
    @classmethod
    def _c_identifier(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) or keyword.iskeyword(v):
            raise ValueError(f"must be a C identifier (letters, digits, _; not starting with a digit), got {v!r}")
        if len(v) > MAX_NAME_LENGTH:
            raise ValueError(f"at most {MAX_NAME_LENGTH} characters (C's limit for significant identifier characters; "
                             f"it also names files and folders), got {len(v)}")
        clash = _generated_clash(v)
        if clash:
            raise ValueError(f"{v!r} would clash with the generated C++ project: {clash}")
        return v

    def _check_mode(self) -> None:
        """quantization.mode and the keys only one mode has (an attention's own keys: its op's config_problem)."""
        m, q = self.model, self.quantization
        if q.mode == "hgq2":
            if m.file is not None:
                raise _KeyError("quantization.mode", "hgq2 trains a model built from the keys; a model file brings "
                                                     "its own quantization (an HGQ2 .keras file is recognised as "
                                                     "such without this key)")
            if m.norm != "none":
                raise _KeyError("model.norm", f"{m.norm} with quantization.mode hgq2: HGQ2 0.2.0 has no norm layer "
                                              "alkaid traces; use norm: none")
            if self.hls.reuse_factor != 1 or self.hls.strategy == "resource":
                raise _KeyError("hls.reuse_factor", "quantization.mode hgq2 writes the model fully parallel (II = 1) "
                                                    "from its alkaid trace: reuse_factor 1, strategy latency")
            return
        # by value, not by presence: a full config written back (a sweep's points, report.json) holds every key
        for key, given in (("quantization.beta", q.beta != type(q).model_fields["beta"].default),
                           ("quantization.lut_target", q.lut_target is not None),
                           ("model.mlp_blocks", m.mlp_blocks != 1), ("model.pooling", m.pooling == "flatten")):
            if given:
                raise _KeyError(key, "needs quantization.mode: hgq2 (with uniform quantization it is not "
                                     "available)")

    @model_validator(mode="after")
    def _combinations(self, info: ValidationInfo):
        m, d = self.model, self.data
        # a trained model comes as model.file, or as a Keras model object handed to trigformer.synth
        byom = m.file is not None or bool((info.context or {}).get("model_object"))
        if byom:
            given = [k for k in ARCHITECTURE_KEYS if k in m.model_fields_set]
            if given:
                what = "model.file" if m.file is not None else "a Keras model object"
                raise _KeyError(f"model.{given[0]}",
                                f"{what} cannot be combined with the architecture key model.{given[0]}: the trained "
                                f"model brings its own architecture (drop model.{given[0]}, or drop {what} to "
                                "build the model from the keys)")
        else:
            if m.final_softmax is not None:
                raise _KeyError("model.final_softmax", "applies only to a trained model (model.file): a model built "
                                                       "from the keys has no softmax")
            for k in INT_BITS_KEYS:
                if getattr(self.quantization, k) == "auto":
                    raise _KeyError(f"quantization.{k}", "auto calibrates the ranges of a trained model: it needs "
                                                         "model.file (a model built from the keys is trained with "
                                                         "fixed types; give an integer)")
            if self.training.epochs == 0:
                raise _KeyError("training.epochs", "0 trains nothing: a model built from the keys needs >= 1 "
                                                   "(0 is for model.file: post-training quantization only)")
        self._check_mode()
        if self.training.epochs is None:
            self.training.epochs = 0 if byom else 20
        if byom:  # a trained model's ranges are known: integer bits not given are calibrated
            for k in INT_BITS_KEYS:
                if k not in self.quantization.model_fields_set:
                    setattr(self.quantization, k, "auto")
        if len(m.classes) != len(set(m.classes)):
            raise _KeyError("model.classes", "class names must be unique")
        for choice, op in ATTENTIONS.items():  # the keys of an attention that is not the chosen one
            given = [k for k in op.config_keys if getattr(m, k) is not None]
            if choice != m.attention and given:
                raise _KeyError(f"model.{given[0]}", f"applies only with model.attention: {choice}")
        problem = None if byom else ATTENTIONS[m.attention].config_problem(m, d.n_particles)
        if problem:  # what the chosen attention needs of the other keys (its op says)
            raise _KeyError(*problem)
        if d.source == "hls4ml_jets":
            if d.path is None:
                raise _KeyError("data.path", "source hls4ml_jets needs data.path (.h5 file, list of files or folder)")
            if len(m.classes) != 5:
                raise _KeyError("model.classes", "the hls4ml jet dataset has 5 classes (g, q, W, Z, t)")
        if d.source == "synthetic" and m.classes != ["g", "q", "W", "Z", "t"] and len(m.classes) != 5:
            raise _KeyError("model.classes", "the synthetic jets have 5 classes (g, q, W, Z, t)")
        _check_part(self.hls.part)
        if self.hls.strategy == "distributed_arithmetic" and self.hls.reuse_factor != 1:
            raise _KeyError("hls.reuse_factor", f"{self.hls.reuse_factor} with strategy distributed_arithmetic: "
                                                "the DA kernels are fully parallel shift-and-add graphs (II = 1), so "
                                                "the reuse factor must be 1 (to share hardware, use strategy latency "
                                                "or resource with a reuse factor, or synth --fit)")
        if self.hls.form == "trace" and (self.hls.reuse_factor != 1 or self.hls.strategy == "resource"):
            raise _KeyError("hls.form", "trace writes every layer fully parallel (II = 1) from its alkaid trace: it "
                                        "needs hls.reuse_factor 1 and strategy latency or distributed_arithmetic "
                                        "(to share hardware, use form kernels)")
        b = self.budget
        if b.ii is None and b.bunch_crossing_ns * b.time_multiplexing / self.hls.clock_period_ns > MAX_II:
            key = ("budget.time_multiplexing" if "time_multiplexing" in b.model_fields_set
                   else "budget.bunch_crossing_ns")
            raise _KeyError(key, f"the II it gives, {b.bunch_crossing_ns:g} ns x {b.time_multiplexing} / "
                                 f"{self.hls.clock_period_ns:g} ns clock, is more than {MAX_II} cycles between "
                                 "events (far beyond any trigger); give budget.ii or a smaller period")
        n_bytes = (d.n_train + d.n_test) * d.n_particles * len(d.features) * 4
        if n_bytes > MAX_FEATURE_BYTES:
            raise _KeyError("data.n_train", f"(n_train + n_test) * n_particles * features * 4 bytes = "
                                            f"{n_bytes / 2**30:.1f} GiB of float32 features; the limit is "
                                            f"{MAX_FEATURE_BYTES / 2**30:.0f} GiB (the run holds a few copies)")
        scale = self.quantization.input_scale_log2
        if isinstance(scale, list) and len(scale) != len(d.features):
            raise _KeyError("quantization.input_scale_log2",
                            f"{len(scale)} values for {len(d.features)} features ({', '.join(d.features)})")
        if self.verify.n_events > d.n_test:
            raise _KeyError("verify.n_events", f"{self.verify.n_events} exceeds data.n_test ({d.n_test})")
        return self

    # Derived quantities, in one place.
    @property
    def n_features(self) -> int:
        return len(self.data.features)

    def budget_ii(self) -> int:
        b = self.budget
        if b.ii is not None:
            return b.ii
        return max(1, int(b.bunch_crossing_ns * b.time_multiplexing / self.hls.clock_period_ns + 1e-9))

    def budget_dict(self) -> dict:
        """The budget the report is judged against (flow.report.verdict.judge_budget)."""
        b = self.budget
        why = (f"budget.ii" if b.ii is not None else
               f"floor({b.bunch_crossing_ns:g} ns x {b.time_multiplexing} / {self.hls.clock_period_ns:g} ns clock)")
        return {"latency_ns": b.latency_ns, "ii": self.budget_ii(), "ii_from": why, "max_fraction": b.limits(),
                "fit_margin": b.fit_margin}


# C++ keywords and names the generated project already uses: the top function is named after the model.
_CPP_RESERVED = set("""alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield
decltype default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template this
thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq
main nnet myproject hls ap_fixed ap_int ap_uint ap_ufixed std""".split())


# Identifiers that the generated project (firmware/<name>.cpp/.h, defines.h, parameters.h, weights/*.h, nnet_utils/,
# <name>_test.cpp, <name>_bridge.cpp) declares globally or has in scope where it calls the top function <name>, so
# that `void <name>(input_t[], result_t[])` does not compile: locals of the testbench's main() and the bridge's
# parameter (the Keras input layer, "particles" in models/builder.py) and its copy `particles_ap`, and what the C
# library makes lower-case macros or global objects there (listed with g++ -dM -E and the extern declarations of those
# files; glibc, g++ 12). Each was checked by compiling a generated project renamed to it.
_GENERATED_NAMES = set("""particles particles_ap main argc argv fin fpr fout iline pline e cstr current in pr i
alloca assert assert_perror errno issubnormal math_errhandling offsetof stdin stdout stderr strdupa
strndupa pthread_cleanup_push pthread_cleanup_pop pthread_cleanup_push_defer_np pthread_cleanup_pop_restore_np
be16toh be32toh be64toh htobe16 htobe32 htobe64 htole16 htole32 htole64 le16toh le32toh le64toh
daylight getdate_err program_invocation_name program_invocation_short_name signgam timezone tzname""".split())
# The per-layer globals hls4ml and trigformer's ops (models/ops/*/hls.py: add_weights_variable, config structs) name
# <prefix><layer index>[_suffix], and the top function's arguments and their bridge copies (layerN_out for every N: the
# output's index is known only after conversion). This is every such name in the generated projects of the built and
# the imported models (tests/test_adversarial_inputs.py::test_generated_identifiers_are_exactly_the_refused_ones
# checks them against g++), so `jet8`, `mha16` or `tagger_v2` are free.
_INDEXED_PREFIXES = ("layer", "config", "relu_config", "w", "b", "weight", "bias", "input", "qk", "qb", "kk", "kb",
                     "vk", "vb", "ok", "ob", "gn", "bn", "exp_table", "inv_table", "rsqrt_table")
_INDEXED_NAME = re.compile(rf"(?:{'|'.join(_INDEXED_PREFIXES)})\d+"
                           r"(?:_(?:out|out_ap|index|q|k|v|o|softmax))?")


def _generated_clash(name: str) -> str | None:
    """Why `name` cannot be the top function of the generated HLS project (None if it can)."""
    if name in _CPP_RESERVED:
        return "a C++ keyword or a namespace/type of the HLS libraries"
    if name in _GENERATED_NAMES:
        return "the testbench, the Python bridge or the C library already use this name"
    if name.startswith("_") or "__" in name:
        return "names starting with _ or containing __ are reserved for the C/C++ implementation"
    if not re.search(r"[a-z]", name):
        return "names without a lower-case letter are macros there (DEFINES_H_, CHECKPOINT, AP_SAT, ...)"
    if name.endswith("_t") or name.startswith("ap_"):
        return "its types end in _t (input_t, result_t, layer2_t, embed_accum_t) and ap_types' names start with ap_"
    if _INDEXED_NAME.fullmatch(name):
        return ("hls4ml names the layers' weights, configs and variables <prefix><layer index> (w2, b2, qk5, "
                "config6, config6_softmax, layer20_out, exp_table6); choose another prefix (net2) or add letters "
                "(w2net)")
    return None


def _check_part(part: str) -> None:
    """hls.part: a short name of flow.parts.PARTS, or that device's full AMD part name (device, package and pins,
    speed grade, temperature grade: xcvu9p-flga2104-2L-e; 7-series: xc7z020clg400-1, temperature inside the code)."""
    from trigformer.flow.parts import PARTS

    key = part.strip().lower()
    device = next((s for s in sorted(PARTS, key=len, reverse=True) if key.startswith(s)), None)
    if device is None:
        raise _KeyError("hls.part", f"unknown part {part!r}; known: {', '.join(PARTS)} "
                                    "(or give a full part name such as xcvu9p-flga2104-2L-e)")
    rest = key[len(device):]
    if device.startswith("xc7"):  # xc7z020clg400-1: package and pins, speed grade (temperature inside the code)
        pattern, fields = r"[ilq]?[a-z]{2,4}\d{3,4}-[1-3](l|li|il)?", "package and pins, speed grade"
    else:  # xcvu9p-flga2104-2L-e: package and pins, speed grade, temperature grade, maybe an engineering sample
        pattern, fields = (r"-[a-z]{2,4}\d{3,4}-[1-3](l|lv|lp|h|hv|m|mp)?-[eicmq](-es\d)?",
                           "package and pins, speed grade, temperature grade")
    if rest and not re.fullmatch(pattern, rest):
        raise _KeyError("hls.part", f"{part!r} is not a valid full part name for {device}: expected {fields} as in "
                                    f"{PARTS[device].full}, or just {device}")


class _KeyError(ValueError):
    """Raised inside validators to blame a specific dotted key rather than the section."""

    def __init__(self, key: str, msg: str):
        super().__init__(msg)
        self.key, self.msg = key, msg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None, context: dict | None = None) -> Config:
    """Read and validate model.yaml; raise ConfigError with a message naming the key (and YAML line).
    `context`: {"model_object": True} when trigformer.synth was handed a Keras model (then model.file is not needed
    and the architecture keys are refused as with model.file)."""
    path = Path(path)
    raw, lines = _parse(path, _read_text(path))
    if raw is None:
        raise ConfigError(f"{path}: the file is empty (no keys); expected a mapping of keys (name, data, model, ...)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (name, data, model, ...), got {type(raw).__name__}")
    return _validate(raw, lines, str(path), path, overrides, context)


def config_from_dict(raw: dict, overrides: dict[str, Any] | None = None, context: dict | None = None,
                     base_dir: str | Path | None = None, label: str = "config") -> Config:
    """Validate a model.yaml given as a Python mapping (trigformer.synth). Relative paths (data.path, model.file)
    are taken from `base_dir` (default: the current folder). Errors name the dotted key as for a file."""
    import copy

    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: expected a mapping of keys (name, data, model, ...), got {type(raw).__name__}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return _validate(copy.deepcopy(raw), {}, label, base / "model.yaml", overrides, context)


def _validate(raw: dict, lines, label: str, cfg_path: Path, overrides, context) -> Config:
    """`cfg_path`: where relative paths are taken from (its folder)."""
    overrides = overrides or {}
    for dotted, value in overrides.items():  # command-line options win over the file
        *parents, leaf = dotted.split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
        if isinstance(node, dict):
            node[leaf] = value
    try:
        cfg = Config.model_validate(raw, context=context or {})
    except ValidationError as e:
        err = e.errors()[0]
        ctx_err = err.get("ctx", {}).get("error")
        loc = [str(p) for p in err["loc"]]
        if isinstance(ctx_err, _KeyError):
            loc, msg = loc + ctx_err.key.split("."), ctx_err.msg  # section validators name keys relative to it
        else:
            msg = _message(err)
        key = ".".join(loc) if loc else "(top level)"
        line = _nearest_line(lines, loc)
        where = " (command line)" if key in overrides else f" (line {line})" if line else ""
        raise ConfigError(f"{label}{where}: {key}: {msg}") from None
    _check_files(cfg, cfg_path, lines, label)
    return cfg


def _read_text(path: Path) -> str:
    return yamlio.read_text(path, ConfigError, "model.yaml", MAX_YAML_BYTES)


def _parse(path: Path, text: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """(the YAML's Python value, line of each key path): flow.yamlio's strict reader, shared with sweep.yaml."""
    return yamlio.parse(path, text, ConfigError, "model.yaml", "model.yaml needs 3")


def _message(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (see the README for the accepted keys)"
    if err["type"] == "missing":
        return "required key is missing"
    if err["type"] == "finite_number":
        return f"not a finite number (got {err.get('input')!r})"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        msg += f" (got {err.get('input')!r})"
    if err["type"] in ("int_parsing", "int_type", "float_parsing", "bool_parsing", "string_type", "int_from_float",
                       "literal_error", "float_type", "list_type"):
        msg += f" (got {err.get('input')!r})"
    return msg


def _check_files(cfg: Config, cfg_path: Path, lines: dict[tuple[str, ...], int], label: str | None = None) -> None:
    """model.file must exist, and data.path of hls4ml_jets: every file is checked here, before anything is written
    or trained (models.data)."""
    label = label or str(cfg_path)
    if cfg.model.file is not None:
        line = _nearest_line(lines, ["model", "file"])
        where = f" (line {line})" if line else ""
        full = resolve_model_file(cfg, cfg_path)
        why = model_file_problem(full)
        if why:
            raise ConfigError(f"{label}{where}: model.file: {cfg.model.file}: {why}")
    if cfg.data.source != "hls4ml_jets":
        return
    line = _nearest_line(lines, ["data", "path"])
    where = f" (line {line})" if line else ""
    paths = cfg.data.path if isinstance(cfg.data.path, list) else [cfg.data.path]
    for p in paths:
        full = (cfg_path.parent / p) if not Path(p).is_absolute() else Path(p)
        if not full.exists():
            raise ConfigError(f"{label}{where}: data.path: {p} does not exist (relative paths are taken from the "
                              "YAML's folder)")
    from trigformer.models.data import check_hls4ml_jets

    d = cfg.data
    try:
        check_hls4ml_jets(resolve_data_paths(cfg, cfg_path), d.features, d.n_train + d.n_test)
    except (ValueError, OSError) as e:  # models.data.DataError, FileNotFoundError: the message names the file
        raise ConfigError(f"{label}{where}: data.path: {e}") from None


def resolve_model_file(cfg: Config, cfg_path: Path) -> Path:
    p = Path(cfg.model.file)
    return p if p.is_absolute() else cfg_path.parent / p


def model_file_problem(path: Path) -> str | None:
    """Why `path` cannot be a model file (None if it can): a .keras / .h5 file or a SavedModel folder."""
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            return "a folder without saved_model.pb is not a SavedModel (give a .keras or .h5 file or a SavedModel)"
        return None
    if not path.exists():
        return "no such file or folder (relative paths are taken from the YAML's folder)"
    if path.suffix.lower() not in MODEL_FILE_SUFFIXES:
        return (f"not a Keras model file ({', '.join(MODEL_FILE_SUFFIXES)}) or a SavedModel folder "
                f"(got a {path.suffix or 'suffix-less'} file)")
    if not path.is_file():
        return "not a regular file"
    return None


def resolve_data_paths(cfg: Config, cfg_path: Path) -> list[Path]:
    paths = cfg.data.path if isinstance(cfg.data.path, list) else [cfg.data.path]
    return [(cfg_path.parent / p) if not Path(p).is_absolute() else Path(p) for p in paths]


def _nearest_line(lines: dict[tuple[str, ...], int], loc: list[str]) -> int | None:
    for n in range(len(loc), 0, -1):
        if tuple(loc[:n]) in lines:
            return lines[tuple(loc[:n])]
    return None
