"""The installed stack is the Keras 3 one, and hgq2's `qkeras` shim is repaired whichever order pip installs in.

The repair (trigformer/stack.py) is checked in throw-away venvs holding only the two conflicting distributions
(installed with --no-deps from the registry), against qkeras-v3's own file record."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

STACK = Path(__file__).resolve().parents[1] / "trigformer" / "stack.py"
PINS = {l.split("==")[0].lower(): l.split("==")[1] for l in
        (Path(__file__).resolve().parents[1] / "constraints.txt").read_text().splitlines() if "==" in l}


def test_this_environment_is_the_keras3_stack():
    import keras
    import qkeras

    assert keras.__version__ == PINS["keras"]
    assert Path(qkeras.__file__).parent.joinpath("qlayers.py").is_file()
    assert not Path(qkeras.__file__).parent.joinpath("qlayers").exists(), "hgq2's shim package is still there"
    from qkeras import QDense

    assert QDense.__module__ == "qkeras.qlayers"  # qkeras-v3's module, not hgq2's shim package
    assert subprocess.run([sys.executable, str(STACK)]).returncode == 0


def _qkeras_files(site: Path) -> set[str]:
    return {str(p.relative_to(site)) for p in (site / "qkeras").rglob("*.py")}


def _record_py(site: Path) -> set[str]:
    rec = next(site.glob("qkeras_v3-*.dist-info")) / "RECORD"
    names = (line.split(",")[0] for line in rec.read_text().splitlines())
    return {f for f in names if f.startswith("qkeras/") and f.endswith(".py")}  # it also ships tests/, docs/


@pytest.mark.parametrize("order", [("qkeras-v3", "hgq2"), ("hgq2", "qkeras-v3")])
def test_the_shim_is_repaired_in_either_install_order(tmp_path, order):
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    pins = {"qkeras-v3": PINS["qkeras-v3"], "hgq2": PINS["hgq2"]}
    for dist in order:
        r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", f"{dist}=={pins[dist]}"],
                           capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"the package registry is not reachable: {r.stderr.strip().splitlines()[-1:]}")
    site = next((env / "lib").glob("python*/site-packages"))
    assert _qkeras_files(site) != _record_py(site)  # the conflict is real
    broken = subprocess.run([py, str(STACK)], capture_output=True, text=True)
    assert broken.returncode == 1 and "shim" in broken.stderr
    fixed = subprocess.run([py, str(STACK), "--fix"], capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stderr
    assert _qkeras_files(site) == _record_py(site)  # exactly qkeras-v3's files, byte-checked by the second run
    assert subprocess.run([py, str(STACK)]).returncode == 0
