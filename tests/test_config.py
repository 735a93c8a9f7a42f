"""model.yaml validation: each class of error names the key (and the YAML line), exits 2, writes nothing.

Reference: the hand-written YAML snippets below and the key list of the issue's contract."""

from pathlib import Path

import pytest

from trigformer.flow.cli import main
from trigformer.flow.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "models" / "jet_tagger.yaml"


def write(tmp_path, text, name="m.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_example_has_every_contract_key_and_defaults_fill_the_rest(tmp_path):
    cfg = load_config(EXAMPLE)
    assert cfg.name == "jet_tagger" and cfg.model.embed_dim == 16 and cfg.hls.part == "xcvu9p"
    minimal = load_config(write(tmp_path, "name: only_name\n"))
    assert minimal.data.n_particles == 16 and minimal.quantization.softmax_table_size == 1024
    assert minimal.budget.latency_ns == 500 and minimal.verify.n_events == 1000
    # the II a 40 MHz trigger allows: a new event every 25 ns = 5 cycles of the default 5 ns clock (hand-derived)
    assert minimal.budget_ii() == 5 and minimal.budget.limits() == {"LUT": 0.7, "FF": 0.7, "DSP": 0.7, "BRAM_18K": 0.7}
    faster = load_config(write(tmp_path, "name: f\nhls:\n  clock_period_ns: 3.125\nbudget:\n  time_multiplexing: 6\n"))
    assert faster.budget_ii() == 48  # 6 x 25 ns / 3.125 ns


@pytest.mark.parametrize("text, key, line", [
    ("name: a\nmodel:\n  num_heads: two\n", "model.num_heads", 3),            # wrong type
    ("name: a\nmodel:\n  embed_dims: 16\n", "model.embed_dims", 3),          # unknown key (typo)
    ("name: a\nquantisation: {}\n", "quantisation", 2),                     # unknown section
    ("name: a\nmodel:\n  num_heads: 0\n", "model.num_heads", 3),             # zero heads
    ("name: a\nquantization:\n  act_bits: 4\n  act_int_bits: 4\n", "quantization.act_int_bits", 4),  # bits <= int bits
    ("name: a\nquantization:\n  softmax_table_size: 1000\n", "quantization.softmax_table_size", 3),  # not a power of 2
    ("name: 3jets\n", "name", 1),                                            # not a C identifier
    ("name: default\n", "name", 1),                                          # a C++ keyword
    ("seed: 1\n", "name", None),                                             # missing required key
    ("name: a\ndata:\n  source: hls4ml_jets\n", "data.path", 2),             # no path: its section's line
    ("name: a\nhls:\n  part: xcvu999\n", "hls.part", 3),                     # unknown part
    ("name: a\nverify:\n  n_events: 50000\n", "verify.n_events", 3),        # more than the test set
    ("name: a\nmodel:\n  norm: batchnorm\n", "model.norm", 3),               # not one of the choices
    ("name: a\nquantization:\n  input_scale_log2: [1, 2]\n", "quantization.input_scale_log2", 3),  # 2 for 3 features
])
def test_errors_name_the_key_and_line(tmp_path, text, key, line):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    msg = str(e.value)
    assert f": {key}:" in msg
    if line is not None:
        assert f"(line {line})" in msg


def test_missing_data_file_is_reported(tmp_path):
    p = write(tmp_path, "name: a\ndata:\n  source: hls4ml_jets\n  path: nowhere.h5\n")
    with pytest.raises(ConfigError, match=r"data\.path: nowhere\.h5 does not exist"):
        load_config(p)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_cli_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write(tmp_path, "name: bad\nmodel:\n  key_dim: -1\n")
    assert main([str(p)]) == 2
    err = capsys.readouterr().err
    assert "model.key_dim" in err and "line 3" in err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.yaml"]


def test_cli_refuses_existing_output_without_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main([str(EXAMPLE), "--out", str(out), "-q"]) == 2
    assert "--force" in capsys.readouterr().err
    assert [x.name for x in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"


def test_cli_vendor_flags_without_the_tool(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no vitis_hls here
    assert main([str(EXAMPLE), "--out", str(tmp_path / "o"), "--synth", "-q"]) == 2
    err = capsys.readouterr().err
    assert "vitis-run / vitis_hls not found on PATH" in err and "--synth" in err
    assert not (tmp_path / "o").exists()


def test_part_names_resolve():
    from trigformer.flow.parts import resolve_part

    assert resolve_part("xcvu9p")[0] == "xcvu9p-flga2104-2L-e"
    assert resolve_part("xcvu13p-flga2577-2-e")[1].short == "xcvu13p"
    with pytest.raises(KeyError):
        resolve_part("xc9999")
