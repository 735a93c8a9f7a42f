"""hls.strategy: distributed_arithmetic (models/ops/da.py) beyond the C-simulation sweep of tests/test_hls.py
(DA_SHAPES there: csim == emulator on every layer, the C++ kernels == the traces' kernels): a hand-checked kernel,
the config's refusal of a reuse factor, the estimate's DA figures (hand-derived), --fit trading DA against sharing,
and synth end to end with --rtl, written again byte for byte by a second run in a fresh process.

References: hand-computed sums and cost-model arithmetic, g++ (csim) and Verilator (RTL) through synth, and a second
independent process for determinism."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from trigformer.flow.cli import main
from trigformer.flow.config import Config
from trigformer.flow.convert import convert, layer_descriptions
from trigformer.flow.estimate import estimate
from trigformer.flow.fit import fit
from trigformer.models.builder import build_model, snap_to_grid
from trigformer.models.fixed import FixedType

pytest.importorskip("alkaid")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
DA = "distributed_arithmetic"


def test_a_kernel_is_shifts_and_adds_of_the_exact_sum():
    """y = x0 * 1 + x1 * 0.5 + 0.25 (x: ap_fixed<8,4>): one adder (x1 shifted) and one constant addition, depth 1,
    and alkaid's exact interpreter gives the hand-computed sums at the extremes; the C++ is hls4ml's DA form."""
    from trigformer.models.ops.da import figures, generate
    from trigformer.models.ops.trace_common import Product

    w_t = FixedType(8, 2)  # raw 64 = 1.0, 32 = 0.5, 16 = 0.25
    p = Product("", np.array([[64], [32]]), w_t, np.array([16]), w_t, FixedType(8, 4), 3)
    k = p.kernel()
    f = figures(k)
    assert (f["adders"], f["const_adds"], f["var_mults"], f["depth"]) == (1, 1, 0, 1.0)
    for x0, x1 in ((1.5, -2.0), (7.9375, 7.9375), (-8.0, -8.0), (-8.0, 7.9375)):
        assert float(k(np.array([x0, x1]))[0]) == x0 + x1 / 2 + 0.25
    code, figs = generate([p], 7)
    assert "void dense_da_7(inp_t model_inp[2], out_t model_out[1])" in code and "#pragma HLS INLINE" in code
    assert "bit_shift<-1>(v1)" in code and " * " not in code
    assert figs == [{"name": "dense_da_7", "product": "", "instances": 3, **f}]


def test_a_kernel_keeps_da4ml_0_5_2s_adder_depth():
    """A 24 x 16 product of 6-bit weights w[i, j] = (7i + 13j + ij) mod 63 - 31 on ap_fixed<10,5> inputs (an attention
    output projection's shape): da4ml 0.5.2, which the pipelining's delay unit and the 39-cycle default example come
    from, solved it with hls4ml's hard_dc 2 in 7 adder levels (measured with da4ml 0.5.2's own trace latencies).
    alkaid counts hard_dc in its own carry-chain delay and at 2 gives 8 levels; trigformer's setting must not."""
    from trigformer.models.ops.da import figures
    from trigformer.models.ops.trace_common import Product

    i, j = np.meshgrid(np.arange(24), np.arange(16), indexing="ij")
    w = (7 * i + 13 * j + i * j) % 63 - 31
    p = Product("_o", w, FixedType(6, 0), None, None, FixedType(10, 5), 8)
    assert figures(p.kernel())["depth"] <= 7.0


def test_the_cpp_of_a_kernel_is_the_exact_integer_product():
    """A random 5 x 3 product with biases (odd widths, weights of both signs, zeros): the C++ alkaid writes for it,
    compiled by g++ with ap_fixed, gives x @ W + b computed on NumPy integers for random and extreme inputs."""
    from trigformer.models.ops.da import generate
    from trigformer.models.ops.trace_common import Product
    from gxx import compile_program, run_program

    rng = np.random.default_rng(5)
    w_t, b_t, in_t = FixedType(5, 1), FixedType(7, 3), FixedType(7, 3)
    w = rng.integers(-16, 16, size=(5, 3))
    w[1, 2] = 0
    b = rng.integers(-64, 64, size=3)
    code, _ = generate([Product("", w, w_t, b, b_t, in_t, 1)], 4)
    xs = np.vstack([rng.integers(-64, 64, size=(20, 5)), np.full((1, 5), -64), np.full((1, 5), 63)])
    want = xs @ w * 2.0 ** -(in_t.frac + w_t.frac) + b * 2.0**-b_t.frac  # exact in float64 (< 2**30)
    rows = "".join("  { ap_fixed<7,3> x[5] = {" + ", ".join(str(v * 2.0**-in_t.frac) for v in x) + "};"
                   " ap_fixed<40,20> y[3]; dense_da_4<ap_fixed<7,3>, ap_fixed<40,20> >(x, y);"
                   ' for (int j = 0; j < 3; j++) std::printf("%.12f\\n", y[j].to_double()); }\n' for x in xs)
    src = '#include <cstdio>\n#include "vitis_bitshift.hh"\n' + code + "int main() {\n" + rows + "}\n"
    inc = Path(__import__("alkaid").__file__).parent / "codegen" / "hls" / "source"
    out = run_program(compile_program(src, "da_kernel", include_dirs=[inc])).decode().split()
    assert np.array_equal(np.array([float(v) for v in out]).reshape(-1, 3), want)


def test_a_reuse_factor_is_refused_naming_the_key(tmp_path, capsys):
    p = tmp_path / "m.yaml"
    p.write_text("name: a\nhls:\n  strategy: distributed_arithmetic\n  reuse_factor: 2\n")
    assert main([str(p), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert ": hls.reuse_factor:" in err and "(line 4)" in err and "II = 1" in err
    assert not (tmp_path / "out").exists()


def test_estimate_of_a_da_layer_is_hand_derived():
    """A per-token Dense of 16 tokens whose kernel alkaid costs 100 with adder depth 9, accumulator 24 bits, 5 ns:
    LUT 16 x 100, no DSP; adders of 0.45 + 0.025 x 24 = 1.05 ns, four per 4.375 ns cycle (5 ns less 12.5 %), so 9
    chained adders take 3 cycles (4 + 4 + 1), the last one ending on the layer's output register."""
    layer = {"name": "embed", "kind": "token_dense", "n_tokens": 16, "n_in": 3, "n_out": 8, "in_bits": 12,
             "out_bits": 10, "accum_bits": 24, "strategy": DA, "reuse_factor": 1,
             "da": [{"name": "dense_da_2", "product": "", "instances": 16, "cost": 100.0, "depth": 9.0}]}
    inp = {"name": "x", "kind": "input", "n_tokens": 16, "n_out": 3, "out_bits": 12}
    e = estimate([inp, layer], 5.0, "xcvu9p", band=False)
    row = e["resources"]["per_layer"][1]
    assert (row["LUT"], row["DSP"], row["LUT_da"]) == (1600, 0, 1600)
    assert e["resources"]["da_lut"] == 1600 and "alkaid" in e["resources"]["da_lut_method"]
    assert e["latency"]["per_layer"][1]["cycles"] == 3 and e["latency"]["ii"] == 1
    with pytest.raises(ValueError, match="without alkaid figures"):
        estimate([inp, {**layer, "da": None}], 5.0, "xcvu9p", band=False)


@pytest.fixture(scope="module")
def tiny_da(tmp_path_factory):
    """The tiny model converted with strategy distributed_arithmetic (not written): its layer descriptions and the
    products its emulator (the traces) computes."""
    from trigformer.sim.emulator import Emulator

    model = {"embed_dim": 8, "num_heads": 2, "key_dim": 4, "num_blocks": 1, "ffn_dim": 12}
    cfg = Config.model_validate({"name": "tinyda", "data": {"n_particles": 8}, "hls": {"strategy": DA}, "model": model})
    tf.keras.utils.set_random_seed(1)
    keras_model = build_model(cfg)
    snap_to_grid(keras_model)
    hls = convert(keras_model, cfg, tmp_path_factory.mktemp("da"), "xcvu9p-flga2104-2L-e", trace=False)
    return cfg, layer_descriptions(hls, cfg), Emulator.from_hls_model(hls, keras_model)


def test_estimate_uses_alkaid_figures_of_the_traced_kernels(tiny_da):
    """Every constant-weight layer carries the figures of the kernels its trace computes (alkaid's cost and depth),
    the estimate charges them as LUT (cost x tokens) and no DSP; the other layers keep their strategy."""
    from trigformer.models.ops import BY_KIND
    from trigformer.models.ops.da import figures

    _, layers, emu = tiny_da
    by_name = {l["name"]: l for l in layers}
    types = {n.name: n.out_t for n in emu.nodes}
    e = estimate(layers, 5.0, "xcvu9p", band=False)
    rows = {r["name"]: r for r in e["resources"]["per_layer"]}
    da_layers = [n for n in emu.nodes if BY_KIND[n.kind].da_capable]
    assert [n.name for n in da_layers] == ["embed", "b0_mha", "b0_ffn1", "b0_ffn2", "head"]
    for n in da_layers:
        d = by_name[n.name]
        assert d["strategy"] == DA
        tokens = n.size // n.arrays["w"].shape[1] if "w" in n.arrays else 0
        products = BY_KIND[n.kind].products(n.spec, n.arrays, [types[i] for i in n.inputs], tokens)
        assert [{k: f[k] for k in ("cost", "depth", "instances")} for f in d["da"]] == \
            [{**{k: figures(p.kernel())[k] for k in ("cost", "depth")}, "instances": p.instances} for p in products]
        assert rows[n.name]["LUT_da"] == int(np.ceil(sum(f["cost"] * f["instances"] for f in d["da"])))
        if n.kind != "mha":  # the attention keeps its Q.K^T and P.V products (DSP or LUT by width)
            assert rows[n.name]["DSP"] == 0 and rows[n.name]["LUT"] == rows[n.name]["LUT_da"]
    assert by_name["b0_ln1"]["strategy"] == "latency" and "da" not in by_name["b0_ln1"]


def test_fit_may_leave_da_for_sharing_but_never_shares_a_da_layer(tiny_da):
    """From DA everywhere (II 1), a LUT limit the DA point exceeds: --fit finds a point that meets it; a layer it
    leaves at DA keeps reuse 1, one it shares (reuse > 1) is latency or resource."""
    _, layers, _ = tiny_da
    start = estimate(layers, 5.0, "xcvu9p", band=False)
    lut = start["resources"]["fraction"]["LUT"]
    budget = {"latency_ns": 5000.0, "ii": 8, "max_fraction": {"LUT": lut * 0.5, "FF": 1.0, "DSP": 1.0, "BRAM_18K": 1.0}}
    res = fit(layers, 5.0, "xcvu9p", budget, DA)
    assert res.feasible and res.estimate["resources"]["fraction"]["LUT"] <= lut * 0.5
    assert res.tried[0]["LUT"] == round(lut, 4)  # the start: every weighted layer DA
    assert all(s["reuse_factor"] == 1 for s in res.settings.values() if s["strategy"] == DA)
    assert any(s["reuse_factor"] > 1 for s in res.settings.values())


def test_synth_end_to_end_with_rtl_and_byte_identical_in_a_second_process(tmp_path, monkeypatch):
    """synth with strategy distributed_arithmetic and --rtl: csim == emulator on every layer, Verilator == emulator
    on every unit (the RTL replays the kernels the HLS is written from), the report names the DA layers. A second
    run in a fresh process (no solver cache), from the same weights, writes byte-identical firmware/."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg.update(name="tinyda", hls={"strategy": DA}, rtl={"yosys": "none"},
               budget={"latency_ns": 100000, "max_fraction": 1.0})
    p = tmp_path / "tinyda.yaml"
    p.write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    code = main([str(p), "--rtl", "--out", "a", "-q"])
    r = json.loads((tmp_path / "a" / "report.json").read_text())
    assert code == 0, r.get("budget")
    v = r["verification"]["csim_vs_emulator"]
    assert v["bit_exact_fraction"] == 1.0 and v["mismatched_values"] == 0
    assert {row["layer"] for row in v["per_layer"]} >= {"embed", "b0_mha", "b0_ffn1", "b0_ffn2", "head"}
    c = r["rtl"]["cosim"]
    assert c["mismatched_values"] == 0 and c["bit_exact_fraction"] == 1.0 and r["rtl"]["trace_vs_emulator"][
        "mismatched_values"] == 0
    impl = r["implementation"]
    assert {k for k, s in impl.items() if s["strategy"] == DA} == {"embed", "b0_mha", "b0_ffn1", "b0_ffn2", "head"}
    assert r["estimate"]["resources"]["da_lut"] > 0
    assert "nnet::dense_da_" in (tmp_path / "a" / "firmware" / "tinyda.cpp").read_text()  # the classifier
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "trigformer.flow.cli", str(p), "--out", "b", "--weights", "a", "--no-csim", "-q"],
                   cwd=tmp_path, env=env, check=False, capture_output=True)
    assert (tmp_path / "b" / "report.json").exists()
    _assert_same(filecmp.dircmp(tmp_path / "a" / "firmware", tmp_path / "b" / "firmware"))


def _assert_same(cmp) -> None:
    assert not (cmp.diff_files or cmp.left_only or cmp.right_only or cmp.funny_files), \
        (cmp.left, cmp.diff_files, cmp.left_only, cmp.right_only)
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    assert not mismatch and not errors, (cmp.left, mismatch, errors)
    for sub in cmp.subdirs.values():
        _assert_same(sub)
