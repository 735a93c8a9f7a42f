"""hls.form: trace (sim/rtl/hls.py): the HLS project's C++ is every RTL unit's alkaid trace, one function per unit.

References: g++ ap_fixed (C-simulation of the written project) against the NumPy emulator on every unit's output,
the units the RTL form makes (sim/rtl.units, independent of the writer), and alkaid's opcode count of the traces."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from trigformer.flow.config import Config
from trigformer.flow.firmware import csim, write_project
from trigformer.flow.verify import compare_layers
from trigformer.models.builder import build_model, snap_to_grid
from trigformer.models.data import make_synthetic

pytest.importorskip("alkaid")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
N_EVENTS = 300


def tiny_cfg(**hls) -> Config:
    raw = yaml.safe_load(TINY.read_text())
    raw["hls"] = {"form": "trace", **hls}
    return Config.model_validate(raw)


@pytest.fixture(scope="module", params=["lut", "auto"])
def project(request, tmp_path_factory):
    """The tiny model written in the traced form (saturating weights and inputs); C-simulated only by the slow test."""
    cfg = tiny_cfg(multipliers=request.param)
    tf.keras.utils.set_random_seed(2)
    model = build_model(cfg, quantized=True)
    model.set_weights([w * 2.5 for w in model.get_weights()])  # into saturation
    snap_to_grid(model)
    x, _ = make_synthetic(N_EVENTS, cfg.data.n_particles, cfg.data.features, seed=11)
    x[: N_EVENTS // 10] *= 8.0
    work = tmp_path_factory.mktemp(f"trace_{request.param}")
    hls_model, emu = write_project(cfg, model, "xcvu9p-flga2104-2L-e", work, x[:10])
    return dict(cfg=cfg, emu=emu, x=x, hls_model=hls_model, work=work,
                code=(work / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text(),
                top=(work / "firmware" / f"{cfg.name}.cpp").read_text())


@pytest.mark.slow  # g++ of the straight-line traced C++: minutes even for the tiny model (README: HLS forms)
def test_csim_of_the_traced_project_equals_the_emulator_on_every_unit(project):
    """Saturating weights (x2.5) and inputs (a tenth x8): every unit's 300 events bit-exact. With da4ml 0.5.2's
    generator 1 of 19,200 b0_ln2 values was one LSB low (a rounding constant written at 32 of its 41 fraction bits:
    test_a_rounding_constant_of_41_fraction_bits_is_written_exactly)."""
    from trigformer.sim.rtl import units

    p = project
    if p["cfg"].hls.multipliers != "lut":
        pytest.skip("one C-simulation: the policy changes pragmas only")
    res = csim(p["hls_model"], p["x"])
    assert res.ok, res.error
    y_emu, emu_trace = p["emu"].run(p["x"], trace=True)
    rows, bad_events = compare_layers(p["emu"], emu_trace, res.trace, N_EVENTS)
    assert not [r for r in rows if r["mismatched_values"]], rows
    assert not bad_events.any()
    lasts = {g[-1].name for g in units(p["emu"].nodes)}
    assert {r["layer"] for r in rows} == lasts  # one traced output per unit
    last = p["emu"].nodes[-1]
    assert np.array_equal(last.out_t.quantize(np.asarray(res.outputs)), y_emu)


def test_one_traced_function_per_unit_called_from_the_top(project):
    from trigformer.sim.rtl import units

    p = project
    groups = units(p["emu"].nodes)
    defined = re.findall(r"void (tf_unit_\d+)\(", p["code"])
    called = re.findall(r"nnet::(tf_unit_\d+)\(", p["top"])
    assert len(defined) == len(groups) and sorted(called) == sorted(defined)
    assert "nnet::tf_" not in re.sub(r"nnet::tf_unit_\d+", "", p["top"])  # no kernel (nnet_tf_*.h) call is left


def test_every_variable_product_is_bound_by_the_policy(project):
    """The trace's products (alkaid opcode 7) each carry one BIND_OP; with lut all are fabric (Verilog: 0 DSP)."""
    from trigformer.sim.rtl import trace_unit, units
    from trigformer.sim.rtl.timing import _width, on_dsp

    p = project
    nodes = p["emu"].nodes
    types, sizes = {n.name: n.out_t for n in nodes}, {n.name: n.size for n in nodes}
    mults = dsp = 0
    for g in units(nodes):
        comb, _ = trace_unit(g, types, sizes)
        for op in comb.ops:
            if op.opcode == 7:
                mults += 1
                dsp += on_dsp(*(_width(comb.ops[a].qint) for a in op.addr), p["cfg"].hls.multipliers)
    products = re.findall(r"^\s*\S+ v(\d+) = v\d+ \* v\d+;", p["code"], flags=re.M)
    binds = re.findall(r"BIND_OP variable=v\d+ op=mul impl=(\w+)", p["code"])
    assert mults > 0 and len(products) == mults == len(binds)
    assert binds.count("dsp") == dsp
    if p["cfg"].hls.multipliers == "lut":
        assert set(binds) == {"fabric"}


@pytest.mark.parametrize("hls", ["reuse_factor: 2", "strategy: resource"])
def test_trace_form_without_reuse_factor_1_is_exit_2_naming_the_key(hls, tmp_path, capsys):
    from trigformer.flow.cli import main

    p = tmp_path / "m.yaml"
    p.write_text(f"name: a\nhls:\n  form: trace\n  {hls}\n")
    assert main([str(p), "--out", str(tmp_path / "out"), "-q"]) == 2
    assert ": hls.form:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_fit_with_the_trace_form_is_exit_2(tmp_path, capsys):
    from trigformer.flow.cli import main

    p = tmp_path / "m.yaml"
    p.write_text("name: a\nhls:\n  form: trace\n")
    assert main([str(p), "--fit", "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "hls.form trace" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_forms_hls_and_rtl_report_the_same_variable_products(project, tmp_path):
    """The traced form's estimate (sim/rtl/hls.py) and the RTL form's manifest (sim/rtl generate: bind_products)
    count the same products with the same bindings, and forms.* carry them; the latency is the RTL's convention."""
    from trigformer.flow.report.forms import forms_of
    from trigformer.sim import rtl
    from trigformer.sim.rtl.hls import TRACE_UNITS_ATTR, estimate

    p = project
    cfg = p["cfg"]
    traced = getattr(p["hls_model"], TRACE_UNITS_ATTR)
    est = estimate(traced, p["emu"].nodes[0].name, cfg.hls.clock_period_ns, "xcvu9p", cfg.hls.multipliers)
    design = rtl.generate(p["emu"], tmp_path / "rtl", cfg.name, cfg.hls.clock_period_ns, trace=False,
                          multipliers=cfg.hls.multipliers)
    report = {"part": "xcvu9p-flga2104-2L-e", "hls_form": "trace", "estimate": est,
              "rtl": {"units": design.manifest()["units"], "latency": {"source": "rtl", "cycles": design.latency}}}
    forms = forms_of(report)
    assert forms["hls"]["variable_products"] == forms["rtl"]["variable_products"]
    assert sum(forms["hls"]["variable_products"].values()) == sum(l.var_mults for l in design.layers) > 0
    assert est["resources"]["DSP"] == sum(l.dsp_mults for l in design.layers)
    if cfg.hls.multipliers == "lut":
        assert est["resources"]["DSP"] == 0
    assert est["latency"]["cycles"] == design.latency and est["latency"]["ii"] == 1
    assert "traced form" in forms["hls"]["design"]


def test_a_two_input_unit_reads_each_argument_and_computes_by_hand():
    """y = a0 * a1 + b (a: ap_fixed<8,4>, b: ap_fixed<6,2>, two arguments): the function reads in0[0], in0[1] and
    in1[0], binds its product by the policy, and g++ gives the hand-computed sums at the extremes."""
    from alkaid.trace import trace

    from trigformer.models.fixed import FixedType
    from trigformer.models.ops.trace_common import new_inputs
    from trigformer.sim.rtl.hls import unit_code
    from gxx import compile_program, run_program

    a, b = np.asarray(new_inputs(FixedType(8, 4), 2)).ravel(), np.asarray(new_inputs(FixedType(6, 2), 1)).ravel()
    code = unit_code(trace([*a, *b], [a[0] * a[1] + b[0]]), "tf_unit_9", [2, 1], "lut")
    assert "= in0[0];" in code and "= in0[1];" in code and "= in1[0];" in code and "impl=fabric" in code
    cases = ((1.5, -2.25, 0.75), (7.9375, 7.9375, 1.9375), (-8.0, -8.0, -2.0), (-8.0, 7.9375, 0.0625))
    src = ('#include "ap_fixed.h"\n#include <cstdio>\nnamespace nnet {\n' + code + "}\nint main() {\n"
           + "".join(f"  {{ ap_fixed<8,4> a[2] = {{{x}, {y}}}; ap_fixed<6,2> b[1] = {{{z}}}; ap_fixed<24,12> r[1];\n"
                     f"    nnet::tf_unit_9(a, b, r); std::printf(\"%.10f\\n\", r[0].to_double()); }}\n"
                     for x, y, z in cases) + "}\n")
    out = run_program(compile_program(src, "traced_unit")).decode().split()
    assert [float(v) for v in out] == [x * y + z for x, y, z in cases]


def test_a_rounding_constant_of_41_fraction_bits_is_written_exactly():
    """RND_CONV of a 41-fraction-bit value to 21 (trace_common.cast: x + (2**-22 - 2**-41) + kept LSB * 2**-41, as
    the LayerNorm's d * r -> norm_t): g++ of the traced unit equals the reference rounding and alkaid's interpreter
    just above the tie, where the constant's last bits decide. da4ml 0.5.2's generator typed a constant with at most
    32 fraction bits (its _const_f), so the C++ added 2**-22 - 2**-32 and rounded such values one LSB down: the
    b0_ln2 defect the slow test above recorded (README: the two HLS forms)."""
    from alkaid.trace import trace

    from trigformer.models.fixed import FixedType
    from trigformer.models.ops.trace_common import cast, new_inputs
    from trigformer.sim.rtl.hls import unit_code
    from gxx import compile_program, run_program

    in_t, out_t = FixedType(47, 6), FixedType(24, 3, True, "RND_CONV", "SAT")  # [-4, 4): saturates too
    x = np.asarray(new_inputs(in_t, 1)).ravel()
    comb = trace(list(x), [cast(x[0], out_t)])
    assert any(op.opcode == 4 for op in comb.ops)  # the constant addition
    code = unit_code(comb, "tf_unit_9", [1], "lut")
    half, ulp = 2.0**-22, 2.0**-41
    cases = [half + ulp, half + 2 * ulp, half + 300 * ulp, 3 * half + ulp, -(half + 2 * ulp), half, 3 * half,
             -3 * half, 3.5 + 3 * half + ulp, 31.5, -32.0]
    src = ('#include "ap_fixed.h"\n#include "vitis_bitshift.hh"\n#include <cstdio>\nnamespace nnet {\n' + code
           + "}\nint main() {\n"
           + "".join(f"  {{ ap_fixed<47,6> a[1] = {{{v!r}}}; ap_fixed<24,3> r[1]; nnet::tf_unit_9(a, r);"
                     f' std::printf("%.17g\\n", r[0].to_double()); }}\n' for v in cases) + "}\n")
    inc = Path(__import__("alkaid").__file__).parent / "codegen" / "hls" / "source"
    got = np.array([float(v) for v in run_program(compile_program(src, "traced_rnd_conv", [inc])).decode().split()])
    want = out_t.quantize(np.array(cases)) * 2.0**-out_t.frac
    assert np.array_equal(np.ravel(comb.predict(np.array(cases)[:, None])), want)  # the trace is right
    assert np.array_equal(got, want), np.flatnonzero(got != want)
