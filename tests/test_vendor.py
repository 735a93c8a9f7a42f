"""flow/vendor.py: tool discovery, the exact build command lines, and report parsing through hls4ml's parser.

Fixtures (tests/fixtures/vendor/), with the top function renamed myproject -> jet_tagger to exercise a project
not called "myproject":
* vivado/: csynth .xml/.rpt, vivado_synth.rpt and vivado_hls.app are hls4ml's own test fixtures
  (fastmachinelearning/hls4ml test/pytest/test_report/, real Vivado HLS / Vivado 2020.1 output for Dense(5) on
  xc7z020), trimmed (interface tables and unused report sections removed). The cosim report is constructed in the
  xsim cosim.rpt table format (as quoted in public HLS project READMEs) that hls4ml's parse_vivado_report reads
  ('|   Verilog|      Pass| lat min| avg| max| II min| avg| max| total|').
* vitis/: constructed: the same csynth.xml schema with Vitis HLS's <DSP> tag (hls4ml's parser maps DSP48E -> DSP
  for that reason), an hls.app project file, and made-up numbers; no cosim / vsynth reports.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from trigformer.flow import vendor
from trigformer.flow.vendor import VendorToolMissing, find_tool, parse_vendor_reports, run_vendor

FIX = Path(__file__).parent / "fixtures" / "vendor"


def test_parse_vivado_with_cosim_and_vsynth():
    rep = parse_vendor_reports(FIX / "vivado", "Vivado")
    lat, res = rep["latency"], rep["resources"]
    assert lat["source"] == "cosim" and lat["status"] == "Pass"
    assert (lat["cycles"], lat["best_cycles"], lat["ii"]) == (12, 11, 9)  # cosim max latency / max interval
    assert lat["ns"] == pytest.approx(60.0) and lat["clock_ns"] == 5.0 and lat["estimated_clock_ns"] == 4.049
    assert [(d["cycles"], d["ii"]) for d in lat["per_layer"]] == [(7, 7), (2, 1)]
    assert res["source"] == "vsynth"
    assert (res["LUT"], res["FF"], res["DSP"], res["BRAM_18K"]) == (1526, 2428, 66, 0)
    assert res["csynth"] == {"DSP": 73, "LUT": 2532, "FF": 7969, "BRAM_18K": 0, "URAM": 0}
    assert res["fraction"]["DSP"] == pytest.approx(66 / 220)
    assert [(d["DSP"], d["LUT"], d["FF"]) for d in res["per_layer"]] == [(73, 2134, 7860), (0, 256, 84)]
    assert res["per_layer"][0]["name"].startswith("dense_array")


def test_parse_csynth_only(tmp_path):
    prj = tmp_path / "prj"
    shutil.copytree(FIX / "vivado", prj)
    (prj / "vivado_synth.rpt").unlink()
    (prj / "jet_tagger_prj/solution1/sim/report/jet_tagger_cosim.rpt").unlink()
    rep = parse_vendor_reports(prj, "Vivado")
    assert rep["latency"]["source"] == "csynth"
    assert (rep["latency"]["cycles"], rep["latency"]["ii"], rep["latency"]["ns"]) == (10, 8, 50.0)
    assert rep["resources"]["source"] == "csynth"
    assert (rep["resources"]["DSP"], rep["resources"]["LUT"], rep["resources"]["FF"]) == (73, 2532, 7969)
    assert rep["resources"]["available"]["DSP"] == 220


def test_parse_vitis_dsp_tag():
    rep = parse_vendor_reports(FIX / "vitis", "Vitis")
    assert rep["latency"] == {"source": "csynth", "cycles": 14, "best_cycles": 14, "ii": 1, "clock_ns": 5.0,
                              "estimated_clock_ns": 4.372, "ns": 70.0}
    res = rep["resources"]
    assert (res["DSP"], res["LUT"], res["FF"], res["BRAM_18K"], res["URAM"]) == (1210, 96544, 20311, 4, 0)
    assert res["fraction"]["DSP"] == pytest.approx(1210 / 6840)
    assert "per_layer" not in res  # no .rpt in this fixture


def test_no_report_gives_none(tmp_path):
    assert parse_vendor_reports(tmp_path, "Vitis") is None  # no project.tcl
    (tmp_path / "project.tcl").write_text('set project_name "x"\nset backend "vitis"\n')
    assert parse_vendor_reports(tmp_path, "Vitis") is None  # no csynth report yet


def _fake_tool(folder: Path, name: str) -> None:
    exe = folder / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_find_tool_and_missing_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tool("Vitis") is None and find_tool("Vivado") is None
    (tmp_path / "build_prj.tcl").write_text("exit\n")
    with pytest.raises(VendorToolMissing) as e:
        run_vendor(tmp_path, "Vivado")
    assert "vivado_hls" in str(e.value) and str(tmp_path) in str(e.value)
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(VendorToolMissing, match="vitis-run / vitis_hls"):
        run_vendor(tmp_path, "Vitis")
    _fake_tool(tmp_path, "vitis_hls")
    assert find_tool("Vitis") == str(tmp_path / "vitis_hls")
    _fake_tool(tmp_path, "vitis-run")
    assert find_tool("Vitis") == str(tmp_path / "vitis-run")  # what hls4ml 1.3.0 itself calls
    with pytest.raises(ValueError):
        find_tool("Quartus")


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def fake_run(cmd, cwd=None, check=False):
        calls.append((cmd, Path(cwd)))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(vendor.subprocess, "run", fake_run)
    return calls


def test_run_vivado_command_line(tmp_path, monkeypatch, recorded):
    _fake_tool(tmp_path, "vivado_hls")
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "build_prj.tcl").write_text("exit\n")
    run_vendor(tmp_path, "Vivado", csim=False, synth=True, cosim=True)
    assert recorded == [([str(tmp_path / "vivado_hls"), "-f", "build_prj.tcl",
                          "reset=False csim=False synth=True cosim=True validation=False export=False vsynth=False "
                          "fifo_opt=False"], tmp_path)]


def test_run_vitis_command_line_and_build_opt(tmp_path, monkeypatch, recorded):
    _fake_tool(tmp_path, "vitis-run")
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "build_prj.tcl").write_text("exit\n")
    run_vendor(tmp_path, "Vitis", csim=True, synth=True)
    assert recorded == [([str(tmp_path / "vitis-run"), "--tcl", "build_prj.tcl", "--mode", "hls"], tmp_path)]
    assert (tmp_path / "build_opt.tcl").read_text() == (
        "array set opt {\n    reset      0\n    csim       1\n    synth      1\n    cosim      0\n"
        "    validation 0\n    export     0\n    vsynth     0\n    fifo_opt   0\n}\n")
    os.remove(tmp_path / "vitis-run")  # an older Vitis HLS: same script, options still from build_opt.tcl
    _fake_tool(tmp_path, "vitis_hls")
    run_vendor(tmp_path, "Vitis")
    assert recorded[-1][0] == [str(tmp_path / "vitis_hls"), "-f", "build_prj.tcl"]


def test_vsynth_needs_vivado_and_failures_raise(tmp_path, monkeypatch, recorded):
    _fake_tool(tmp_path, "vivado_hls")
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "build_prj.tcl").write_text("exit\n")
    with pytest.raises(VendorToolMissing, match="vivado "):
        run_vendor(tmp_path, "Vivado", vsynth=True)
    assert recorded == []
    monkeypatch.setattr(vendor.subprocess, "run", lambda cmd, cwd=None, check=False:
                        subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(vendor.VendorBuildFailed, match="exited with code 1"):
        run_vendor(tmp_path, "Vivado")
    with pytest.raises(FileNotFoundError):
        run_vendor(tmp_path / "nowhere", "Vivado")
