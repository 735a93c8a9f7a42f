"""Compile and run small C++ programs against the ap_types headers shipped with hls4ml.

Binaries are cached by a sha256 of everything that determines them (source, flags, include directories, the g++
version and the hls4ml version whose headers are used), so a test suite that compiles the same harness twice pays for one compile.
Each binary has a verified record beside it (sim.cache: the binary's sha256 and the compiler version); a binary that
does not match it (damaged, replaced, truncated) is compiled again, with one warning naming it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

DEFAULT_FLAGS = ("-O2", "-std=c++14")


def ap_types_dir() -> Path:
    """The `ap_types` include directory of the installed hls4ml package (ap_fixed.h, ap_int.h, ...)."""
    import hls4ml

    d = Path(hls4ml.__file__).resolve().parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_fixed.h").is_file():
        raise RuntimeError(f"ap_types headers not found in the installed hls4ml package (looked in {d})")
    return d


def cache_dir() -> Path:
    from trigformer.sim import cache

    return cache.folder("gxx")


def _gxx() -> str:
    exe = shutil.which("g++")
    if exe is None:
        raise RuntimeError("g++ not found on PATH: install a C++ compiler (e.g. `apt-get install g++`) "
                           "to build the ap_fixed reference programs")
    return exe


@lru_cache(maxsize=None)
def _versions(exe: str) -> str:
    import hls4ml

    gxx = subprocess.run([exe, "--version"], check=True, capture_output=True, text=True).stdout
    return f"{gxx}\nhls4ml {getattr(hls4ml, '__version__', '?')}"


def compile_program(source: str, name: str, include_dirs=(), flags=DEFAULT_FLAGS) -> Path:
    """Compile `source` (one C++ translation unit) to an executable and return its path (cached).

    `-I <ap_types>` is always on the include path, before `include_dirs`.
    """
    gxx = _gxx()
    incs = [str(ap_types_dir())] + [str(Path(d).resolve()) for d in include_dirs]
    flags = [str(f) for f in flags]
    key = hashlib.sha256("\0".join([source, *flags, "--", *incs, "--", _versions(gxx)]).encode()).hexdigest()
    from trigformer.sim import cache

    out_dir = cache_dir()
    exe = out_dir / f"{name}-{key[:20]}"
    record, tool = exe.with_name(exe.name + ".json"), _versions(gxx)
    if exe.is_file() and os.access(exe, os.X_OK):
        rec = cache.read(record, tool, lambda r: isinstance(r, dict) and set(r) == {"sha256"})
        if rec is not None and rec["sha256"] == hashlib.sha256(exe.read_bytes()).hexdigest():
            return exe
        if rec is not None:
            cache.bad(exe, "the binary does not match its recorded sha256")
    src = out_dir / f"{name}-{key[:20]}.cpp"
    _write_atomic(src, source)  # kept next to the binary for debugging; atomic for concurrent test runs
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        cmd = [gxx, *flags, *(f"-I{d}" for d in incs), str(src), "-o", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"g++ failed to compile {name} ({src}):\n{' '.join(cmd)}\n{res.stderr}")
        os.replace(tmp, exe)  # atomic: a killed compile never leaves a half-written binary under the final name
        cache.write(record, tool, {"sha256": hashlib.sha256(exe.read_bytes()).hexdigest()})
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return exe


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run_program(exe, stdin_bytes: bytes = b"") -> bytes:
    """Run a compiled program, feeding `stdin_bytes`; return its stdout (raises CalledProcessError on failure)."""
    try:
        return subprocess.run([str(exe)], input=stdin_bytes, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as exc:
        exc.add_note(f"stderr of {exe}:\n{exc.stderr.decode(errors='replace')[-4000:]}")
        raise
