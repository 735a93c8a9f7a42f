"""flow/report.py: budget verdicts, report.html content, terminal rendering of full and partial reports."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rich.console import Console

from trigformer.flow.estimate import estimate
from trigformer.flow.report import judge_budget, render_terminal, roc_curve, write_html


def _layers():
    d = {"n_tokens": 1, "in_bits": 10, "out_bits": 10, "weight_bits": 8, "accum_bits": 20, "strategy": "latency",
         "reuse_factor": 1}
    return [{"name": "input", "kind": "input", "n_tokens": 1, "n_in": 8, "n_out": 8},
            {**d, "name": "fc1", "kind": "dense", "n_in": 8, "n_out": 16, "n_weights": 144, "n_nonzero_weights": 144},
            {**d, "name": "relu1", "kind": "activation", "n_in": 16, "n_out": 16, "activation": "relu"},
            {**d, "name": "out", "kind": "dense", "n_in": 16, "n_out": 5, "n_weights": 85, "n_nonzero_weights": 85}]


def full_report():
    est = estimate(_layers(), 5.0, "xcvu9p")
    return {"name": "jet_tagger", "part": "xcvu9p-flga2104-2L-e", "backend": "Vitis", "clock_ns": 5.0,
            "accuracy": {"float": 0.7512, "fixed": 0.7498, "firmware": 0.7498},
            "verification": {"n_events": 1000,
                             "csim_vs_emulator": {"bit_exact_fraction": 0.998, "mismatched_values": 2},
                             "keras_fixed_vs_emulator": {"bit_exact_fraction": 1.0}},
            "latency": est["latency"], "resources": est["resources"], "estimate": est}


def test_budget_met_and_latency_violation():
    rep = full_report()
    ok = judge_budget(rep, {"latency_ns": 1000, "ii": 1})
    assert ok["met"] and ok["violations"] == [] and ok["latency_ns"] == 1000 and ok["ii"] == 1
    rep["estimate"]["latency"] = {**rep["latency"], "ns": 1200.0}
    bad = judge_budget(rep, {"latency_ns": 1000, "ii": 1})
    assert not bad["met"] and bad["judged"] == ["hls"]
    assert bad["violations"] == ["hls (estimate) latency 1200 ns > budget 1000 ns"]


def test_budget_ii_and_part_overflow():
    rep = full_report()
    del rep["estimate"]  # a report of vendor figures alone
    rep["latency"] = {"source": "csynth", "cycles": 40, "ns": 200.0, "ii": 4}
    rep["resources"] = {"source": "csynth", "DSP": 8000, "LUT": 10, "FF": 10, "BRAM_18K": 0,
                        "part": "xcvu9p-flga2104-2L-e"}  # no fraction given: computed from flow.parts
    v = judge_budget(rep, {"latency_ns": 1000, "ii": 1})["violations"]
    assert "hls (csynth) II 4 > budget 1" in v
    assert any(s.startswith("hls (csynth) DSP 8,000 = 117.0% of xcvu9p") and s.endswith("does not fit") for s in v)
    assert len(v) == 2
    rep["resources"]["DSP"] = 4000  # 58 % of the part: fits, but not under a 50 % limit
    tight = judge_budget(rep, {"latency_ns": 1000, "ii": 4}, part_fraction_limit=0.5)
    assert tight["violations"] == ["hls (csynth) DSP 4,000 = 58.5% of xcvu9p-flga2104-2L-e > limit 50%"]


def test_budget_without_results_is_not_met():
    out = judge_budget({"name": "x"}, {"latency_ns": 1000, "ii": 1})
    assert not out["met"] and out["violations"] == [] and len(out["unchecked"]) == 3


def test_a_verdict_with_a_missing_figure_says_what_was_not_checked():
    """An HGQ2 run without Yosys: the RTL form has a latency within budget and no resource counts. Not met, and the
    line says why instead of 'Budget NOT met: rtl (pipeline) met'."""
    from trigformer.flow.report.verdict import verdict_line

    rep = {"forms": {"rtl": {"latency": {"source": "rtl", "cycles": 39, "ns": 195.0, "ii": 1}}}}
    bud = judge_budget(rep, {"latency_ns": 200, "ii": 1})
    assert not bud["met"] and bud["violations"] == []
    assert verdict_line(bud) == ("Budget NOT met: not checked: resources: no estimate or report; "
                                 "rtl: no resource counts")


def test_roc_matches_known_values():
    fpr, tpr, auc = roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert auc == pytest.approx(0.75)  # the classic sklearn example
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert roc_curve(np.array([0, 1, 0, 1]), np.array([1, 1, 1, 1]))[2] == pytest.approx(0.5)  # all tied


def test_html_has_plots_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    n, k = 400, 5
    y = rng.integers(0, k, n)
    sf = rng.random((n, k)) + np.eye(k)[y]
    sf /= sf.sum(1, keepdims=True)
    sw = np.round(sf * 512) / 512  # firmware: quantized scores
    rep = full_report()
    rep["budget"] = judge_budget(rep, {"latency_ns": 1, "ii": 1})
    out = write_html(rep, tmp_path / "sub" / "report.html",
                     {"y_true": y, "scores_float": sf, "scores_firmware": sw, "class_names": ["g", "q", "W", "Z", "t"]})
    text = out.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 5  # latency, resources, part fractions, ROC, differences
    assert all(i.startswith("iVBORw0KGgo") for i in images)  # PNG signature
    for label in ("Per-layer latency hls (estimate)", "Per-layer resources hls (estimate)",
                  "Resource use against the part hls (estimate)", "latency, hls (estimate)", "LUT, hls (estimate)",
                  "Budget NOT met: hls (estimate) latency", "ROC curves, float vs firmware",
                  "Float - firmware output differences", "jet_tagger", "99.8% of 1000 events bit-exact",
                  "csim vs emulator", "NOT met", "latency", "estimate error", "AUC one-vs-rest", "<td>W</td>"):
        assert label in text, label
    assert re.search(r"hls \(estimate\)</th><td class=''>\d+ cycles = [\d.]+ ns, II 1", text)
    assert "&gt; budget 1 ns" in text  # the violation message, HTML-escaped
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left behind


def test_html_partial_report(tmp_path):
    out = write_html({"name": "empty"}, tmp_path / "r.html")
    text = out.read_text()
    assert "data:image/png" not in text and "No results yet." in text
    vendor_rep = {"name": "v", "latency": {"source": "csynth", "cycles": 14, "ns": 70.0, "ii": 1},
                  "resources": {"source": "csynth", "DSP": 10, "LUT": 100, "FF": 100, "BRAM_18K": 0,
                                "fraction": {"DSP": 0.1, "LUT": 0.1, "FF": 0.1, "BRAM_18K": 0.0}}}
    text = write_html(vendor_rep, tmp_path / "v.html").read_text()
    assert "(estimate)" not in text and "(csynth)" in text
    assert text.count("data:image/png;base64,") == 1  # only the part-fraction chart has data


def _render(rep) -> str:
    con = Console(record=True, width=140, color_system=None)
    render_terminal(rep, console=con)
    return con.export_text()


def test_terminal_full_and_partial():
    rep = full_report()
    rep["budget"] = judge_budget(rep, {"latency_ns": 1, "ii": 1})
    text = _render(rep)
    for s in ("jet_tagger", "xcvu9p", "0.7512", "csim vs emulator", "99.8% of 1000 events bit-exact",
              "keras fixed vs emulator", "(estimate)", "VIOLATION", "fc1", "relu1", "estimate error"):
        assert s in text, s
    text = _render({"name": "bare"})
    assert "bare" in text and "no verification yet" in text and "not run" in text
    assert "no estimate or report" in text
    only_lat = _render({"name": "x", "latency": {"source": "cosim", "cycles": 12, "ns": 60.0, "ii": 9}})
    assert "Latency hls (cosim): 12 cycles = 60 ns, II 9" in only_lat and "(estimate)" not in only_lat
    flat = _render({"name": "f", "verification": {"n_events": 10, "bit_exact": 10, "source": "csim"},
                    "accuracy": {"fixed": 0.5}})
    assert "10/10 (100.0%)" in flat and "0.5000" in flat
    skipped = _render({"name": "s", "verification": {"n_events": 10, "csim_vs_emulator": {"skipped": "--no-csim"}}})
    assert "skipped (--no-csim)" in skipped


def test_the_rtl_comparisons_are_in_the_verification_table(tmp_path):
    """The terminal and report.html list the RTL form's comparisons next to the C-simulation's: the trace check,
    Verilator's with the latency it measured, a failed one in red; the HGQ2 flow's against HGQ2 Keras."""
    rep = full_report()
    rep["rtl"] = {"trace_vs_emulator": {"n_events": 32, "mismatched_values": 0},
                  "cosim": {"n_events": 1000, "mismatched_values": 3, "measured_latency_cycles": 7}}
    text = _render(rep)
    assert re.search(r"alkaid trace vs emulator\s*│\s*32 events, every value equal", text)
    assert re.search(r"RTL \(Verilator\) vs emulator\s*│\s*1000 events, 3 values differ; latency measured 7 cycles", text)
    write_html(rep, tmp_path / "r.html")
    assert "1000 events, 3 values differ; latency measured 7 cycles" in (tmp_path / "r.html").read_text()
    hgq2 = _render({"name": "h", "rtl": {"trace_vs_keras": {"n_events": 2504, "mismatched_values": 0},
                                          "cosim": {"failed": "verilator: exit 1"}}})
    assert "alkaid trace vs HGQ2 Keras" in hgq2 and "RTL (Verilator) vs HGQ2 Keras" in hgq2
    assert "FAILED: verilator: exit 1" in hgq2


def _two_forms(lut_est: int, lut_rtl: int) -> dict:
    """An --rtl report: the HLS project by the estimate, the RTL form by Yosys (hand-set counts on the xcvu9p)."""
    rep = full_report()
    rep["estimate"]["resources"] = {**rep["estimate"]["resources"], "LUT": lut_est}
    rep["rtl"] = {"latency": {"source": "rtl", "cycles": 7, "ns": 35.0, "ii": 1},
                  "resources": {"source": "yosys", "LUT": lut_rtl, "FF": 100, "DSP": 3, "BRAM_18K": 0,
                                "part": "xcvu9p-flga2104-2L-e"}}
    from trigformer.flow.report.forms import apply

    return apply(rep)


def test_every_form_is_judged_and_named():
    """The budget is met only if every form meets it; each verdict names its form and source. 70 % of the xcvu9p's
    1,182,240 LUTs is 827,568: 1,336,518 LUTs (113.0 %) is over, 463,698 (39.2 %) under."""
    budget = {"latency_ns": 1000, "ii": 1, "max_fraction": {"LUT": 0.7, "FF": 0.7, "DSP": 0.7, "BRAM_18K": 0.7}}
    rep = _two_forms(1_336_518, 463_698)
    assert rep["latency"]["source"] == "rtl" and rep["resources"]["source"] == "yosys"  # primary: the RTL form
    assert rep["forms"]["hls"]["resources"]["fraction"]["LUT"] == pytest.approx(1_336_518 / 1_182_240)
    bud = judge_budget(rep, budget)
    assert bud["judged"] == ["hls", "rtl"] and not bud["met"]
    assert bud["violations"] == ["hls (estimate) LUT 1,336,518 = 113.0% of xcvu9p-flga2104-2L-e does not fit"]
    assert rep["forms"]["hls"]["budget"]["met"] is False and rep["forms"]["rtl"]["budget"]["met"] is True
    rep["budget"] = bud
    text = _render(rep)
    assert "Budget NOT met: hls (estimate) LUT 1,336,518 = 113.0%" in text and "; rtl (yosys) met" in text
    assert "Latency hls (estimate):" in text and "Latency rtl (pipeline): 7 cycles = 35 ns, II 1" in text
    assert "rtl (yosys)" in text and "39.2%" in text and "113.0%" in text
    ok = _two_forms(800_000, 463_698)
    bud = judge_budget(ok, budget)
    assert bud["met"] and bud["violations"] == []
    ok["budget"] = bud
    assert "Budget met: hls (estimate), rtl (yosys)" in _render(ok)
    over_rtl = _two_forms(800_000, 900_000)
    bud = judge_budget(over_rtl, budget)
    assert not bud["met"] and bud["violations"][0].startswith("rtl (yosys) LUT 900,000")


def test_a_fit_that_found_nothing_is_over_budget_whatever_the_forms_say():
    """Every form within the budget, but --fit found no setting within its margin: not met, exit 4."""
    from trigformer.flow.report import exit_code

    budget = {"latency_ns": 1000, "ii": 1, "max_fraction": {"LUT": 0.7, "FF": 0.7, "DSP": 0.7, "BRAM_18K": 0.7}}
    rep = _two_forms(800_000, 463_698)
    rep["verification"]["csim_vs_emulator"] = {"bit_exact_fraction": 1.0, "mismatched_values": 0}
    rep["fit"] = {"feasible": False, "advice": "shrink the model"}
    rep["budget"] = judge_budget(rep, budget)
    assert not rep["budget"]["met"] and rep["forms"]["hls"]["budget"]["met"] and rep["forms"]["rtl"]["budget"]["met"]
    assert exit_code(rep) == 4
    rep["verification"]["csim_vs_emulator"] = {"mismatched_values": 3, "first_mismatching_layer": "fc1"}
    assert exit_code(rep) == 1  # wrong beats over budget
