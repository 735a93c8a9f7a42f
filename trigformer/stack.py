"""The Keras 3 stack's one known conflict, found and repaired: hgq2's `qkeras` shim.

hgq2 (PyPI `hgq2`) ships a compatibility package named `qkeras` (`qkeras/__init__.py`, `qkeras/qlayers/`,
`qkeras/quantizers/`, `qkeras/initializers/`) that maps QKeras-style layers onto HGQ2's. qkeras-v3 (PyPI
`qkeras-v3`, the QKeras team's Keras 3 port) installs the real `qkeras` into the same folder. Whichever pip
installs last owns `qkeras/__init__.py`, and the shim's *packages* `qkeras/qlayers/` and `qkeras/quantizers/`
shadow qkeras-v3's *modules* `qkeras/qlayers.py` and `qkeras/quantizers.py` in any order, so `import qkeras`
fails (`cannot import name 'get_auto_range_constraint_initializer'`) or silently gives HGQ2's layers.

The repair, from the two distributions' own file records (pip's RECORD, read with importlib.metadata; nothing is
guessed from names): delete the files hgq2 installed under `qkeras/` that qkeras-v3 does not also own, and, if a
file qkeras-v3 owns no longer has the hash its RECORD gives (hgq2 overwrote `qkeras/__init__.py`), reinstall
qkeras-v3's files (`pip install --force-reinstall --no-deps`). HGQ2 itself never imports the shim (checked on
hgq2 0.2.0), so nothing HGQ2 does is lost; only `import qkeras` as a QKeras-style front end to HGQ2 is.

    python trigformer/stack.py --fix     # what `make setup` runs after pip (a path, not -m: it imports nothing)
    python trigformer/stack.py           # report only: exit 1 if the shim is in the way

At run time, `problem()` names the conflict in one line when a QKeras import fails (models/ops/keras_common.py).
This file imports only the standard library: it must run where `import qkeras` is broken.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SHIM_DIST, QKERAS_DIST = "hgq2", "qkeras-v3"


def _files(dist: str) -> dict[str, metadata.PackagePath]:
    try:
        return {str(f): f for f in (metadata.distribution(dist).files or []) if str(f).startswith("qkeras/")}
    except metadata.PackageNotFoundError:
        return {}


def _hash_ok(f: metadata.PackagePath) -> bool:
    if f.hash is None:  # RECORD lists .pyc files without hashes
        return True
    path = Path(f.locate())
    if not path.is_file():
        return False
    digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, path.read_bytes()).digest()).rstrip(b"=").decode()
    return digest == f.hash.value


def shim_files() -> list[Path]:
    """hgq2's files under qkeras/ that qkeras-v3 does not own and that are on disk."""
    ours = _files(QKERAS_DIST)
    return sorted(p for name, f in _files(SHIM_DIST).items() if name not in ours and (p := Path(f.locate())).exists())


def overwritten() -> list[str]:
    """qkeras-v3's files whose content is not what qkeras-v3 installed (hgq2 wrote over them)."""
    return sorted(name for name, f in _files(QKERAS_DIST).items() if not _hash_ok(f))


def problem() -> str | None:
    """One line naming the conflict, or None when `import qkeras` is qkeras-v3's."""
    try:
        old = metadata.version("qkeras")  # QKeras 0.9 (Keras 2) installs the same qkeras/ folder
        return (f"QKeras {old} (Keras 2) is installed; trigformer needs {QKERAS_DIST} (Keras 3) in its place: `pip "
                f"uninstall qkeras`, then `make setup`")
    except metadata.PackageNotFoundError:
        pass
    if not _files(QKERAS_DIST):
        return f"{QKERAS_DIST} is not installed (`make setup` installs the pinned stack)"
    shim, bad = shim_files(), overwritten()
    if shim or bad:
        return (f"hgq2's `qkeras` shim is in the way of {QKERAS_DIST} ({len(shim)} shim files, {len(bad)} overwritten "
                f"qkeras-v3 files): run `python {Path(__file__).resolve()} --fix` (`make setup` does)")
    return None


def fix() -> list[str]:
    """Remove the shim and restore qkeras-v3's files; returns what was done, one line each."""
    done = []
    shim = shim_files()
    for p in shim:
        p.unlink()
    for d in sorted({p.parent for p in shim}, key=lambda d: -len(d.parts)):  # the shim's now empty folders
        for sub in [d, *d.parents]:
            if sub.name == "qkeras" or not sub.is_dir():
                break
            if any(x for x in sub.iterdir() if x.name != "__pycache__"):
                break
            for c in sub.glob("__pycache__/*"):
                c.unlink()
            for c in sub.glob("__pycache__"):
                c.rmdir()
            sub.rmdir()
    if shim:
        done.append(f"removed {len(shim)} files of hgq2's qkeras shim")
    if overwritten():
        version = metadata.version(QKERAS_DIST)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
                        f"{QKERAS_DIST}=={version}"], check=True)
        done.append(f"reinstalled {QKERAS_DIST} {version}'s files")
    return done


def main(argv: list[str]) -> int:
    if "--fix" in argv:
        for line in fix():
            print(f"setup: {line}")
    msg = problem()
    if msg:
        print(f"stack: {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
