"""Adversarial inputs (issue 9, "Bad input: exit 2, one message naming the key, nothing written").

Table-driven: every case is (class, id, setup, substrings). `synth` runs in-process through `trigformer.flow.cli.main`; each case
must return exit code 2 with exactly one `synth: error:` line on stderr that contains the substrings (the dotted key,
and for duplicates both YAML lines), no traceback, and nothing written: neither `--out` nor any of its parents, and no
other change under the test's folder. Two or more values per class, since the issue says the same classes will be
retried with other values.

Reference: the issue's list of classes; the limits are the ones documented in flow/config.py (MAX_* constants) and
the hls4ml jet layout that models/data.py reads (jetConstituentList [N, P, 16], jets [N, 59] with one-hot j_g..j_t).
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest

from trigformer.flow.cli import main
from trigformer.flow.config import load_config

DEADLINE_S = 30  # every case stops at validation; an alias bomb or a started run must not hang the suite


@dataclass
class Case:
    cls: str
    id: str
    setup: Callable[[Path], tuple[Path, list[str]]]  # (work folder) -> (model.yaml, extra argv)
    expect: tuple[str, ...]  # substrings of the one error line: the dotted key first
    code: int = 2


def yaml_case(cls, id, text, *expect, args=()):
    def setup(work):
        p = work / "m.yaml"
        p.write_text(text)
        return p, list(args)
    return Case(cls, id, setup, expect)


def bytes_case(cls, id, data, *expect):
    def setup(work):
        p = work / "m.yaml"
        p.write_bytes(data)
        return p, []
    return Case(cls, id, setup, expect)


# ---------------------------------------------------------------- hls4ml jet files

N_FILE = 30  # events per generated file
LABEL_COLS = slice(53, 58)
PT, ETA, DR = 6, 8, 13  # j1_ptrel, j1_etarel, j1_deltaR in the public particle layout


def jets_arrays(n=N_FILE, seed=0):
    """A valid file's content: pT-ordered constituents (some padding) and one-hot labels at 53..57."""
    rng = np.random.default_rng(seed)
    cons = rng.normal(0, 0.3, (n, 150, 16)).astype(np.float32)
    mult = rng.integers(2, 150, n)  # at least two real particles and at least one padding slot
    pt = rng.random((n, 150)).astype(np.float32)
    pt[np.arange(150) >= mult[:, None]] = 0
    cons[:, :, PT] = pt
    cons[pt == 0] = 0
    jets = np.full((n, 59), 0.25, np.float32)
    jets[:, LABEL_COLS] = np.eye(5, dtype=np.float32)[np.arange(n) % 5]
    return cons, jets


def write_jets(path, cons=None, jets=None):
    """A file in the public layout, with jetFeatureNames (labels found by name) and no particleFeatureNames."""
    if cons is None:
        cons, jets = jets_arrays()
    with h5py.File(path, "w") as f:
        f["jetConstituentList"] = cons
        f["jets"] = jets
        jet_names = [f"j_feat{i}" for i in range(59)]
        jet_names[53:58] = ["j_g", "j_q", "j_w", "j_z", "j_t"]
        f["jetFeatureNames"] = np.array([n.encode() for n in jet_names])
    return path


def h5_yaml(path_value, n_train=10, n_test=10, features="[pt_rel, eta_rel, phi_rel]"):
    return (f"name: a\ndata:\n  source: hls4ml_jets\n  path: {path_value}\n  features: {features}\n"
            f"  n_train: {n_train}\n  n_test: {n_test}\nverify:\n  n_events: 10\n")


def h5_case(id, make, path_value, *expect, **yaml_kw):
    """`make(data_folder)` writes the files; the YAML points at `path_value` relative to work/."""
    def setup(work):
        (work / "data").mkdir()
        make(work / "data")
        p = work / "m.yaml"
        p.write_text(h5_yaml(path_value, **yaml_kw))
        return p, []
    return Case("h5-files", id, setup, ("data.path",) + expect)


def _modified(fn):
    """data/jets.h5 written from fn(cons, jets) -> (cons, jets) applied to a valid file's arrays."""
    def make(d):
        write_jets(d / "jets.h5", *fn(*jets_arrays()))
    return make


def _set_cons(index, value):
    def fn(cons, jets):
        cons = cons.copy()
        cons[index] = value
        return cons, jets
    return fn


def _truncate(fraction):
    def make(d):
        p = write_jets(d / "jets.h5")
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * fraction)])
    return make


def _two_files(d):
    write_jets(d / "a.h5")
    write_jets(d / "b.h5", *jets_arrays(seed=1))


def _h5_with(**datasets):
    def make(d):
        with h5py.File(d / "jets.h5", "w") as f:
            for key, value in datasets.items():
                if isinstance(value, str) and value == "group":
                    f.create_group(key)
                else:
                    f[key] = value
    return make


cons_ok, jets_ok = jets_arrays()
two_hot = jets_ok.copy()
two_hot[3, 53:55] = 1
no_hot = jets_ok.copy()
no_hot[7, 53:58] = 0
half_hot = jets_ok.copy()
half_hot[2, 53:58] = [0.5, 0.5, 0, 0, 0]

H5_CASES = [
    h5_case("not-hdf5-text", lambda d: (d / "jets.h5").write_text("jet,pt\n1,2\n"), "data/jets.h5", "HDF5"),
    h5_case("not-hdf5-npy", lambda d: np.save(d / "jets.npy", cons_ok) or (d / "jets.npy").rename(d / "jets.h5"),
            "data/jets.h5", "data/jets.h5", "HDF5"),
    h5_case("truncated-half", _truncate(0.5), "data/jets.h5", "data/jets.h5"),
    h5_case("truncated-header", _truncate(0.02), "data/jets.h5", "data/jets.h5"),
    h5_case("missing-jets", _h5_with(jetConstituentList=cons_ok), "data/jets.h5", "'jets'"),
    h5_case("missing-constituents", _h5_with(jets=jets_ok), "data/jets.h5", "'jetConstituentList'"),
    h5_case("renamed-datasets", _h5_with(constituents=cons_ok, labels=jets_ok), "data/jets.h5", "jetConstituentList"),
    h5_case("jets-is-a-group", _h5_with(jetConstituentList=cons_ok, jets="group"), "data/jets.h5", "'jets'"),
    h5_case("constituents-2d", _h5_with(jetConstituentList=cons_ok[:, :, 0], jets=jets_ok), "data/jets.h5",
            "jetConstituentList"),
    h5_case("constituents-too-few-columns", _h5_with(jetConstituentList=cons_ok[:, :, :5], jets=jets_ok),
            "data/jets.h5", "jetConstituentList"),
    h5_case("constituents-strings", _h5_with(jetConstituentList=np.full((N_FILE, 150, 16), b"x"), jets=jets_ok),
            "data/jets.h5", "jetConstituentList"),
    h5_case("jets-1d", _h5_with(jetConstituentList=cons_ok, jets=jets_ok[:, 53]), "data/jets.h5", "jets is"),
    h5_case("jets-too-few-columns", _h5_with(jetConstituentList=cons_ok, jets=jets_ok[:, :40]), "data/jets.h5", "jets"),
    h5_case("jets-fewer-rows", _h5_with(jetConstituentList=cons_ok, jets=jets_ok[:20]), "data/jets.h5", "jets"),
    h5_case("particle-names-without-ptrel",
            _h5_with(jetConstituentList=cons_ok, jets=jets_ok,
                     particleFeatureNames=np.array([f"x{i}".encode() for i in range(16)])),
            "data/jets.h5", "j1_ptrel"),
    h5_case("labels-two-hot", _modified(lambda c, j: (c, two_hot)), "data/jets.h5", "one-hot"),
    h5_case("labels-all-zero", _modified(lambda c, j: (c, no_hot)), "data/jets.h5", "one-hot"),
    h5_case("labels-half", _modified(lambda c, j: (c, half_hot)), "data/jets.h5", "one-hot"),
    h5_case("nan-pt", _modified(_set_cons((4, 0, PT), np.nan)), "data/jets.h5", "j1_ptrel", "not a finite number"),
    h5_case("inf-eta", _modified(_set_cons((5, 0, ETA), np.inf)), "data/jets.h5", "j1_etarel",
            "not a finite number"),
    h5_case("neg-inf-deltar", _modified(_set_cons((6, 1, DR), -np.inf)), "data/jets.h5", "j1_deltaR",
            "not a finite number", features="[pt_rel, delta_r]"),
    h5_case("too-few-events", lambda d: write_jets(d / "jets.h5"), "data/jets.h5", "30 events", n_train=25, n_test=10),
    h5_case("too-few-events-folder", _two_files, "data", "60 events", n_train=50, n_test=15),
    h5_case("empty-folder", lambda d: None, "data", "no *.h5 files"),
    h5_case("folder-without-h5", lambda d: (d / "jets.csv").write_text("1,2\n"), "data", "no *.h5 files"),
    h5_case("empty-list", lambda d: write_jets(d / "jets.h5"), "[]", "empty list"),
    h5_case("empty-string", lambda d: write_jets(d / "jets.h5"), "''", "empty"),
    h5_case("duplicate-in-list", lambda d: write_jets(d / "jets.h5"), "[data/jets.h5, data/jets.h5]",
            "data/jets.h5", "twice"),
    h5_case("duplicate-other-spelling", lambda d: write_jets(d / "jets.h5"), "[data/jets.h5, ./data/../data/jets.h5]",
            "data/jets.h5", "twice"),
    h5_case("duplicate-folder-and-file", _two_files, "[data, data/b.h5]", "b.h5", "twice"),
    h5_case("folder-holds-h5-directory", lambda d: (write_jets(d / "a.h5"), (d / "b.h5").mkdir()), "data",
            "b.h5", "not a regular file"),
    h5_case("device-not-file", lambda d: None, "/dev/null", "/dev/null", "not a regular file"),
    h5_case("list-with-bad-second-file", lambda d: (write_jets(d / "a.h5"), (d / "b.h5").write_text("x")),
            "[data/a.h5, data/b.h5]", "b.h5", "HDF5"),
]
# ---------------------------------------------------------------- the table

BILLION_LAUGHS = "name: a\nlol0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))

CASES: list[Case] = [
    # --- YAML: duplicate keys (the key and both lines)
    yaml_case("yaml-duplicate", "top-level-key", "name: a\nseed: 1\nseed: 2\n", "seed", "lines 2 and 3"),
    yaml_case("yaml-duplicate", "repeated-section", "name: a\nmodel:\n  embed_dim: 8\nhls:\n  part: xcvu9p\n"
              "model:\n  num_heads: 1\n", "model", "lines 2 and 6"),
    yaml_case("yaml-duplicate", "nested-key", "name: a\nmodel:\n  embed_dim: 8\n  num_heads: 1\n  embed_dim: 16\n",
              "model.embed_dim", "lines 3 and 5"),
    yaml_case("yaml-duplicate", "flow-mapping", "name: a\ntraining: {epochs: 3, epochs: 4}\n", "training.epochs",
              "lines 2 and 2"),
    yaml_case("yaml-duplicate", "name-twice", "name: a\nname: b\n", "name", "lines 1 and 2"),
    yaml_case("yaml-duplicate", "merge-key", "name: a\nmodel:\n  <<: {embed_dim: 8}\n  embed_dim: 16\n",
              "model", "merge"),
    # --- YAML: not UTF-8
    bytes_case("yaml-encoding", "latin1", "name: a\n# caf\xe9\n".encode("latin-1"), "m.yaml", "not UTF-8", "line 2"),
    bytes_case("yaml-encoding", "utf16", "name: a\n".encode("utf-16"), "m.yaml", "not UTF-8"),
    bytes_case("yaml-encoding", "binary", bytes(range(256)) * 4, "m.yaml", "not UTF-8"),
    # --- YAML: aliases, anchors, bombs, nesting
    yaml_case("yaml-alias", "recursive-alias", "name: a\ndata:\n  features: &f [pt_rel, *f]\n", "data.features",
              "alias"),
    yaml_case("yaml-alias", "self-mapping", "name: a\nmodel: &m {embed_dim: 8, sub: *m}\n", "model", "alias"),
    yaml_case("yaml-alias", "billion-laughs", BILLION_LAUGHS, "lol0", "anchor"),
    yaml_case("yaml-alias", "plain-alias", "name: a\nseed: &s 3\ntraining:\n  epochs: *s\n", "seed", "anchor"),
    yaml_case("yaml-alias", "deep-nesting", "name: a\nseed: " + "[" * 5000 + "]" * 5000 + "\n", "seed", "deep"),
    yaml_case("yaml-alias", "deep-mapping", "name: a\nmodel: " + "{a: " * 300 + "1" + "}" * 300 + "\n", "model",
              "deep"),
    # --- YAML: the document is not a mapping
    yaml_case("yaml-document", "empty", "", "m.yaml", "empty"),
    yaml_case("yaml-document", "only-comments", "# nothing here\n\n", "m.yaml", "empty"),
    yaml_case("yaml-document", "null", "null\n", "m.yaml", "empty"),
    yaml_case("yaml-document", "list", "- name: a\n- seed: 1\n", "m.yaml", "mapping", "list"),
    yaml_case("yaml-document", "scalar", "jet_tagger\n", "m.yaml", "mapping", "str"),
    yaml_case("yaml-document", "number", "42\n", "m.yaml", "mapping", "int"),
    yaml_case("yaml-document", "two-documents", "name: a\n---\nname: b\n", "m.yaml", "single document"),
    yaml_case("yaml-document", "nul-character", "name: a\x00\n", "m.yaml", "not valid YAML", "line 1"),
    yaml_case("yaml-document", "escape-character", "name: a\nseed: 1\x1b[2J\n", "m.yaml", "not valid YAML", "line 2"),
    # --- YAML: the file itself
    Case("yaml-file", "directory", lambda w: ((w / "d.yaml").mkdir() or w / "d.yaml", []), ("d.yaml", "directory")),
    Case("yaml-file", "device", lambda w: (Path("/dev/zero"), []), ("/dev/zero", "not a regular file")),
    Case("yaml-file", "too-large", lambda w: ((w / "m.yaml").write_text("name: a\n" + "#" * (2 << 20) + "\n")
                                             and w / "m.yaml", []), ("m.yaml", "larger than")),
    # --- booleans where a number is expected (YAML true/false/yes/no/on/off)
    yaml_case("bool-number", "seed-true", "name: a\nseed: true\n", "seed", "line 2", "boolean"),
    yaml_case("bool-number", "embed-false", "name: a\nmodel:\n  embed_dim: false\n", "model.embed_dim", "boolean"),
    yaml_case("bool-number", "lr-yes", "name: a\ntraining:\n  learning_rate: yes\n", "training.learning_rate",
              "boolean"),
    yaml_case("bool-number", "latency-on", "name: a\nbudget:\n  latency_ns: on\n", "budget.latency_ns", "boolean"),
    yaml_case("bool-number", "fit-margin-on", "name: a\nbudget:\n  fit_margin: on\n", "budget.fit_margin", "True"),
    yaml_case("non-finite", "fit-margin-nan", "name: a\nbudget:\n  fit_margin: .nan\n", "budget.fit_margin", "[0, 10]"),
    yaml_case("range", "fit-margin-word", "name: a\nbudget:\n  fit_margin: wide\n", "budget.fit_margin", "band",
              "'wide'"),
    yaml_case("range", "fit-margin-negative", "name: a\nbudget:\n  fit_margin: -0.1\n", "budget.fit_margin",
              "[0, 10]"),
    yaml_case("bool-number", "optional-int", "name: a\nquantization:\n  attention_bits: true\n",
              "quantization.attention_bits", "boolean"),
    yaml_case("bool-number", "scale-true", "name: a\nquantization:\n  input_scale_log2: true\n",
              "quantization.input_scale_log2", "boolean"),
    yaml_case("bool-number", "scale-list-item", "name: a\nquantization:\n  input_scale_log2: [1, true, 2]\n",
              "quantization.input_scale_log2", "boolean"),
    yaml_case("bool-number", "n-events-off", "name: a\nverify:\n  n_events: off\n", "verify.n_events", "boolean"),
    # --- NaN / inf
    yaml_case("non-finite", "lr-nan", "name: a\ntraining:\n  learning_rate: .nan\n", "training.learning_rate",
              "not a finite number"),
    yaml_case("non-finite", "lr-string-nan", "name: a\ntraining:\n  learning_rate: nan\n", "training.learning_rate",
              "not a finite number"),
    yaml_case("non-finite", "clock-inf", "name: a\nhls:\n  clock_period_ns: .inf\n", "hls.clock_period_ns",
              "not a finite number"),
    yaml_case("non-finite", "clock-cli-nan", "name: a\n", "hls.clock_period_ns", "not a finite number",
              args=["--clock", "nan"]),
    yaml_case("non-finite", "latency-inf", "name: a\nbudget:\n  latency_ns: .inf\n", "budget.latency_ns",
              "not a finite number"),
    yaml_case("non-finite", "latency-overflow", "name: a\nbudget:\n  latency_ns: 1.0e+400\n", "budget.latency_ns",
              "not a finite number"),
    yaml_case("non-finite", "range-inf", "name: a\nquantization:\n  softmax_input_range: .inf\n",
              "quantization.softmax_input_range", "not a finite number"),
    yaml_case("non-finite", "range-nan", "name: a\nquantization:\n  softmax_input_range: .NaN\n",
              "quantization.softmax_input_range", "not a finite number"),
    yaml_case("non-finite", "int-field-inf", "name: a\nmodel:\n  embed_dim: -.inf\n", "model.embed_dim",
              "not a finite number"),
    yaml_case("non-finite", "scale-inf", "name: a\nquantization:\n  input_scale_log2: .inf\n",
              "quantization.input_scale_log2", "not a finite number"),
    yaml_case("non-finite", "scale-list-nan", "name: a\nquantization:\n  input_scale_log2: [0, .nan, 0]\n",
              "quantization.input_scale_log2", "not a finite number"),
    # --- numbers out of range
    yaml_case("seed-range", "negative", "name: a\nseed: -1\n", "seed", "line 2"),
    yaml_case("seed-range", "2**32", f"name: a\nseed: {2**32}\n", "seed"),
    yaml_case("seed-range", "huge", f"name: a\nseed: {10**30}\n", "seed"),
    yaml_case("scale-range", "int-large", "name: a\nquantization:\n  input_scale_log2: 1000\n",
              "quantization.input_scale_log2"),
    yaml_case("scale-range", "int-small", "name: a\nquantization:\n  input_scale_log2: -200\n",
              "quantization.input_scale_log2"),
    yaml_case("scale-range", "list-item", f"name: a\nquantization:\n  input_scale_log2: [0, {2**70}, 0]\n",
              "quantization.input_scale_log2"),
    yaml_case("scale-range", "float", "name: a\nquantization:\n  input_scale_log2: 2.5\n",
              "quantization.input_scale_log2"),
    yaml_case("events-range", "n-train-1e12", f"name: a\ndata:\n  n_train: {10**12}\n", "data.n_train", "line 3"),
    yaml_case("events-range", "n-test-1e9", f"name: a\ndata:\n  n_test: {10**9}\nverify:\n  n_events: 10\n",
              "data.n_test"),
    yaml_case("events-range", "memory", "name: a\ndata:\n  n_particles: 150\n  features: [pt_rel, eta_rel, phi_rel, "
              "delta_r, log_pt_rel]\n  n_train: 5000000\n", "data.n_train", "GiB"),
    yaml_case("events-range", "batch-huge", f"name: a\ntraining:\n  batch_size: {10**20}\n", "training.batch_size"),
    yaml_case("float-range", "range-2**40", f"name: a\nquantization:\n  softmax_input_range: {2.0**40}\n",
              "quantization.softmax_input_range"),
    yaml_case("float-range", "range-2**-20", f"name: a\nquantization:\n  softmax_input_range: {2.0**-20}\n",
              "quantization.softmax_input_range"),
    yaml_case("float-range", "clock-tiny", "name: a\nhls:\n  clock_period_ns: 1.0e-300\n", "hls.clock_period_ns"),
    yaml_case("float-range", "clock-0.1", "name: a\nhls:\n  clock_period_ns: 0.1\n", "hls.clock_period_ns"),
    # --- name: clashes with the generated C++ and lengths
    *(yaml_case("name", f"clash-{n}", f"name: {n}\n", "name", "line 1") for n in (
        "input_t", "result_t", "layer2_t", "model_default_t", "embed_accum_t", "w2", "b2", "config2",
        "config6_softmax", "layer20_out", "exp_table6", "particles", "argv", "fin", "i", "errno", "timezone", "alloca",
        "_hidden", "a__b", "TINY_H_", "DEFINES_H_", "CHECKPOINT", "ap_fixed_base", "nnet")),
    *(yaml_case("name", f"generated-{n}", f"name: {n}\n", "name", "line 1", "hls4ml") for n in (
        "w3", "qk5", "config5_q", "layer3_out_ap", "rsqrt_table8", "relu_config10", "weight16", "layer16_index")),
    yaml_case("name", "bridge-input-copy", "name: particles_ap\n", "name", "bridge"),
    yaml_case("name", "too-long-64", f"name: {'x' * 64}\n", "name", "63"),
    yaml_case("name", "too-long-300", f"name: {'j' * 300}\n", "name", "63"),
    yaml_case("name", "unicode", "name: jét\n", "name"),
    # --- budget: bounds (the II and the times), and max_fraction's values (issue 18)
    yaml_case("budget-bound", "ii-1e12", "name: a\nbudget:\n  ii: 1.0e+12\n", "budget.ii", "line 3", "cycles"),
    yaml_case("budget-bound", "ii-int-1e12", "name: a\nbudget:\n  ii: 1000000000000\n", "budget.ii", "cycles"),
    yaml_case("budget-bound", "ii-2e6", "name: a\nbudget:\n  ii: 2000000\n", "budget.ii", "cycles"),
    yaml_case("budget-bound", "latency-1e12", "name: a\nbudget:\n  latency_ns: 1.0e+12\n", "budget.latency_ns",
              "10 ms"),
    yaml_case("budget-bound", "crossing-1e300", "name: a\nbudget:\n  bunch_crossing_ns: 1.0e+300\n",
              "budget.bunch_crossing_ns", "10 ms"),
    yaml_case("budget-bound", "crossing-max-float-tm", "name: a\nbudget:\n  bunch_crossing_ns: 1.7e+308\n"
              "  time_multiplexing: 1024\n", "budget.bunch_crossing_ns"),
    yaml_case("budget-bound", "derived-ii-tm", "name: a\nbudget:\n  bunch_crossing_ns: 5.0e+6\n"
              "  time_multiplexing: 1000\n", "budget.time_multiplexing", "cycles"),
    yaml_case("budget-bound", "derived-ii-fast-clock", "name: a\nhls:\n  clock_period_ns: 0.5\nbudget:\n"
              "  bunch_crossing_ns: 1.0e+6\n", "budget.bunch_crossing_ns", "cycles"),
    yaml_case("budget-fraction", "lut-true", "name: a\nbudget:\n  max_fraction: {LUT: true}\n",
              "budget.max_fraction", "LUT", "True"),
    yaml_case("budget-fraction", "dsp-false", "name: a\nbudget:\n  max_fraction:\n    DSP: false\n",
              "budget.max_fraction", "DSP"),
    yaml_case("budget-fraction", "ff-yes", "name: a\nbudget:\n  max_fraction: {LUT: 0.5, FF: yes}\n",
              "budget.max_fraction", "FF"),
    yaml_case("budget-fraction", "empty-mapping", "name: a\nbudget:\n  max_fraction: {}\n", "budget.max_fraction",
              "empty"),
    yaml_case("budget-fraction", "string-value", "name: a\nbudget:\n  max_fraction: {LUT: '0.5'}\n",
              "budget.max_fraction", "LUT"),
    yaml_case("budget-fraction", "null-value", "name: a\nbudget:\n  max_fraction: {BRAM_18K: null}\n",
              "budget.max_fraction", "BRAM_18K"),
    yaml_case("budget-fraction", "list-value", "name: a\nbudget:\n  max_fraction: {LUT: [0.5]}\n",
              "budget.max_fraction", "LUT"),
    yaml_case("budget-fraction", "scalar-true", "name: a\nbudget:\n  max_fraction: true\n", "budget.max_fraction",
              "boolean"),
    # --- part names
    # --- hls.multipliers (auto | lut | dsp) and the RTL stage limit it works with
    yaml_case("multipliers", "unknown", "name: a\nhls:\n  multipliers: fabric\n", "hls.multipliers", "line 3"),
    yaml_case("multipliers", "case", "name: a\nhls:\n  multipliers: LUT\n", "hls.multipliers"),
    yaml_case("multipliers", "boolean", "name: a\nhls:\n  multipliers: yes\n", "hls.multipliers"),
    yaml_case("multipliers", "list", "name: a\nhls:\n  multipliers: [lut, dsp]\n", "hls.multipliers"),
    yaml_case("float-range", "cutoff-below-one-adder", "name: a\nrtl:\n  latency_cutoff: 0.5\n", "rtl.latency_cutoff"),
    yaml_case("part", "cli-garbage", "name: a\n", "hls.part", args=["--part", "xcvu9p-garbage!!"]),
    yaml_case("part", "cli-dash", "name: a\n", "hls.part", args=["--part", "xcvu9p-"]),
    yaml_case("part", "cli-suffix", "name: a\n", "hls.part", args=["--part", "xcvu9pxyz"]),
    yaml_case("part", "yaml-no-speed", "name: a\nhls:\n  part: xcvu9p-flga2104\n", "hls.part", "line 3"),
    yaml_case("part", "yaml-empty-package", "name: a\nhls:\n  part: xcvu9p--2-e\n", "hls.part"),
    yaml_case("part", "yaml-trailing-dash", "name: a\nhls:\n  part: xcvu9p-flga2104-2L-e-\n", "hls.part"),
    yaml_case("part", "yaml-bad-temperature", "name: a\nhls:\n  part: xcvu9p-flga2104-2L-z\n", "hls.part"),
    yaml_case("part", "7series-no-speed", "name: a\nhls:\n  part: xc7z020clg400\n", "hls.part"),
    yaml_case("part", "7series-dashes", "name: a\nhls:\n  part: xc7z020-clg400-1\n", "hls.part"),
    yaml_case("part", "yaml-space", "name: a\nhls:\n  part: xcvu9p flga2104-2-e\n", "hls.part"),
    # --- hls4ml jet files
    *H5_CASES,
]


def _unreadable_yaml(work):
    p = work / "m.yaml"
    p.write_text("name: a\n")
    p.chmod(0)
    return p, []


if os.geteuid() != 0:  # root reads mode-000 files; the monkeypatched case below covers it then
    CASES.append(Case("yaml-file", "unreadable", _unreadable_yaml, ("m.yaml", "ermission")))


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in sorted(root.rglob("*"))}


@contextmanager
def _deadline(seconds):
    def fire(*_):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run_case(tmp_path, capsys, monkeypatch, setup, code=2):
    work = tmp_path / "work"
    work.mkdir()
    cfg, args = setup(work)
    monkeypatch.chdir(work)

    def started(*a, **k):
        raise AssertionError("the bad input was accepted: the run started")
    import trigformer.flow.pipeline

    monkeypatch.setattr(flow.pipeline, "_run", started, raising=False)  # never train on a bad input
    before = _snapshot(tmp_path)
    out = tmp_path / "new" / "deeper" / "out"
    capsys.readouterr()
    try:
        with _deadline(DEADLINE_S):
            rc = main([str(cfg), "--out", str(out), "-q", *args])
    except BaseException as e:  # noqa: BLE001 - any escape is a traceback for the user
        pytest.fail(f"synth raised {type(e).__name__}: {e}")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == code, err
    assert len(lines) == 1 and lines[0].startswith("synth: error: "), err
    assert not (tmp_path / "new").exists(), "--out or its parents were created"
    assert _snapshot(tmp_path) == before, "something was written"
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.cls}:{c.id}" for c in CASES])
def test_bad_input_exit_2_one_line_names_key_writes_nothing(case, tmp_path, capsys, monkeypatch):
    line = _run_case(tmp_path, capsys, monkeypatch, case.setup, case.code)
    for s in case.expect:
        assert s in line, f"{s!r} not in {line!r}"


def test_unreadable_yaml_even_as_root(tmp_path, capsys, monkeypatch):
    """Root ignores file modes, so the permission error is injected where the file is opened."""
    real_open = Path.open

    def deny(self, *a, **k):
        if self.name == "m.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *a, **k)

    def setup(work):
        (work / "m.yaml").write_text("name: a\n")
        monkeypatch.setattr(Path, "open", deny)
        return work / "m.yaml", []
    line = _run_case(tmp_path, capsys, monkeypatch, setup)
    assert "m.yaml" in line and "Permission denied" in line


def test_unreadable_h5_even_as_root(tmp_path, capsys, monkeypatch):
    real_file = h5py.File

    def deny(name, *a, **k):
        if str(name).endswith("jets.h5"):
            raise PermissionError(13, "Unable to synchronously open file (Permission denied)")
        return real_file(name, *a, **k)

    def setup(work):
        (work / "data").mkdir()
        write_jets(work / "data" / "jets.h5")
        (work / "m.yaml").write_text(h5_yaml("data/jets.h5"))
        monkeypatch.setattr(h5py, "File", deny)
        return work / "m.yaml", []
    line = _run_case(tmp_path, capsys, monkeypatch, setup)
    assert "data.path" in line and "jets.h5" in line and "Permission denied" in line


def test_alias_bomb_is_refused_fast(tmp_path):
    """Reference: the classic 10**9-element billion laughs; refusing anchors makes it linear in the file size."""
    import time

    p = tmp_path / "m.yaml"
    p.write_text(BILLION_LAUGHS)
    t0 = time.perf_counter()
    with _deadline(DEADLINE_S), pytest.raises(Exception, match="anchor"):
        load_config(p)
    assert time.perf_counter() - t0 < 2


# ---------------------------------------------------------------- what must still be accepted


@pytest.mark.parametrize("text, check", [
    ("name: a\ntraining:\n  learning_rate: 1e-3\n", lambda c: c.training.learning_rate == 1e-3),  # YAML 1.1 string
    ("name: a\nbudget:\n  latency_ns: 500\n", lambda c: c.budget.latency_ns == 500.0),  # an int for a float
    ("name: a\nseed: 0\n", lambda c: c.seed == 0),
    (f"name: a\nseed: {2**32 - 1}\n", lambda c: c.seed == 2**32 - 1),
    ("name: a\nquantization:\n  input_scale_log2: [-32, 0, 32]\n", lambda c: c.quantization.input_scale_log2[2] == 32),
    ("name: a\nquantization:\n  softmax_input_range: 4\n", lambda c: c.quantization.softmax_input_range == 4.0),
    ("name: four_heads_32\n", lambda c: c.name == "four_heads_32"),  # used by test_hls
    ("name: h5tiny\n", lambda c: c.name == "h5tiny"),  # used by test_synth_cli
    ("name: JetTagger\n", lambda c: c.name == "JetTagger"),
    *((f"name: {n}\n", lambda c, n=n: c.name == n) for n in (  # names ending in a number (issue 18)
        "tagger_v2", "jet8", "mha16", "heldout_h1", "b0_mha", "w2net", "net2", "v2", "layer", "config", "n_elem1")),
    ("name: a\nbudget:\n  ii: 1000000\n", lambda c: c.budget_ii() == 10**6),
    ("name: a\nbudget:\n  max_fraction: {LUT: 1}\n", lambda c: c.budget.limits()["LUT"] == 1.0),
    ("name: a\nbudget:\n  max_fraction: {LUT: 0.6}\n", lambda c: c.budget.limits() == {  # others: whole part
        "LUT": 0.6, "FF": 1.0, "DSP": 1.0, "BRAM_18K": 1.0}),
    ("name: a\nbudget:\n  bunch_crossing_ns: 25\n  time_multiplexing: 1024\n", lambda c: c.budget_ii() == 5120),
    (f"name: {'x' * 63}\n", lambda c: len(c.name) == 63),
    ("\ufeffname: a\n", lambda c: c.name == "a"),  # a UTF-8 byte-order mark
    ("name: a\ndata:\n  n_train: 10000000\n  n_particles: 8\n  features: [pt_rel]\n",
     lambda c: c.data.n_train == 10**7),
])
def test_valid_values_still_load(tmp_path, text, check):
    p = tmp_path / "m.yaml"
    p.write_text(text)
    assert check(load_config(p))


@pytest.mark.parametrize("part", [
    "xcvu9p", "XCVU9P", "xcvu9p-flga2104-2L-e", "xcvu9p-flgb2104-2-i", "XCVU13P-FLGA2577-2-E",
    "xcvu9p-flga2104-2L-e-es1",
    "xcu250-figd2104-2L-e", "xczu9eg-ffvb1156-2-e", "xcku115-flvb2104-1-c", "xcku15p-ffva1760-1LV-i",
    "xc7z020clg400-1", "xc7vx690tffg1927-2", "xc7vx690tffg1761-2L", "xc7z020iclg400-1L",
])
def test_valid_part_names_still_load(tmp_path, part):
    p = tmp_path / "m.yaml"
    p.write_text(f"name: a\nhls:\n  part: {part}\n")
    assert load_config(p).hls.part == part


def test_valid_hls4ml_files_still_load(tmp_path):
    """A file, a folder of two and a list of two pass the checks (the loader itself is tested in test_data.py);
    NaN in the other features of padding slots (pt_rel = 0) is accepted: the loader zeroes those rows."""
    (tmp_path / "data").mkdir()
    _two_files(tmp_path / "data")
    for value, need in (("data/a.h5", 30), ("data", 60), ("[data/b.h5, data/a.h5]", 60)):
        p = tmp_path / "m.yaml"
        p.write_text(h5_yaml(value, n_train=need - 10, n_test=10))
        assert load_config(p).data.n_train == need - 10
    cons, jets = jets_arrays()
    cons[:, -1, ETA] = np.nan  # slot 149 is padding in every event (at most 149 real particles)
    write_jets(tmp_path / "data" / "a.h5", cons, jets)
    p.write_text(h5_yaml("data/a.h5"))
    assert load_config(p).data.source == "hls4ml_jets"


# ---------------------------------------------------------------- project names against g++ (issue 18)


@pytest.mark.slow  # about 3 min on 2 shared cores: a generated project and five g++ syntax checks
def test_generated_identifiers_are_exactly_the_refused_ones(tmp_path):
    """Reference: g++. A tiny project is generated (--no-csim); every identifier its C++ declares at global scope or
    in the scopes that call the top function (digits included) is either refused as a name or, renamed to it
    (-D<name>=<candidate>, which renames exactly the top function's token), still compiles. Names the issue found
    wrongly refused compile; names the rule refuses as hls4ml's do not."""
    import re
    import subprocess
    from pathlib import Path as P

    import yaml

    from trigformer.flow.config import _generated_clash

    cfg = yaml.safe_load((P(__file__).parent / "configs" / "tiny.yaml").read_text())
    cfg["name"] = "tiny"
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    assert main([str(tmp_path / "t.yaml"), "--part", "xcvu9p", "--out", str(out), "-q", "--no-csim",
                 "--epochs", "1"]) in (0, 1)
    files = [out / "tiny_test.cpp", out / "tiny_bridge.cpp", out / "firmware" / "tiny.cpp"]
    ids = set()
    for f in [*files, *(out / "firmware").glob("*.h"), *(out / "firmware" / "weights").glob("*.h")]:
        text = re.sub(r"//[^\n]*|/\*.*?\*/", " ", f.read_text(), flags=re.S)
        text = re.sub(r'"(?:\\.|[^"\\])*"|^\s*#[^\n]*', " ", text, flags=re.M)
        ids |= set(re.findall(r"\b[A-Za-z_]\w*\b", text))
    shapes = {}  # one candidate per shape (digits -> N): w3 and w9 clash alike
    for i in sorted(ids - {"tiny"}):
        if re.search(r"\d", i) and not _generated_clash(i):
            shapes.setdefault(re.sub(r"\d+", "N", i), i)
    assert len(shapes) <= 3, shapes  # struct members (n_elemN); anything more is a new generated name to look at

    def compiles(name: str) -> bool:
        cmd = ["g++", "-fsyntax-only", "-std=c++14", f"-I{out / 'firmware'}", f"-I{out / 'firmware' / 'ap_types'}",
               f"-Dtiny={name}", *map(str, files)]
        return subprocess.run(cmd, cwd=out, capture_output=True).returncode == 0

    for name in ("tagger_v2", "heldout_h1", *shapes.values()):
        assert compiles(name), name
    # refused: g++ confirms these clash (a weight array; the output variable, a local of the testbench: layerN_out is
    # refused for every N because the output's index is known only after conversion; inner layerN_out are locals of
    # the top function, which may shadow its name)
    output = re.search(r"result_t (\w+)\[", (out / "firmware" / "tiny.h").read_text()).group(1)
    for name in ("w3", output, output + "_ap"):
        assert _generated_clash(name) and not compiles(name), name
