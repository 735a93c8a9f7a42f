"""Packaging (issue 20): one top-level package, `trigformer`; no import cycles among its modules; nothing imports the
old top-level names (flow, models, sim, hls_templates).

The import graph is read from the source with `ast` (nothing is imported), so it sees every import, also those a run
never reaches. The wheel is built from a copy of the checkout (pip wheel, no dependencies, no build isolation: no
network) and its file list is compared with the source tree mapped as setup.py maps it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mapped() -> tuple[str, ...]:
    """setup.py's MAPPED (the folders that are trigformer.<folder>), read without running setup.py."""
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["MAPPED"]:
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py: no MAPPED")


MAPPED = _mapped()
OLD = re.compile(rf"^({'|'.join(MAPPED)})(\.|$)")
# Imports allowed to close a cycle, each run only inside a function (never while a module initializes), with why:
ALLOWED_BACK_EDGES = {
    # an op's trace finds the op of a layer kind in the registry, which imports every op
    ("trigformer.models.ops.dense.trace", "trigformer.models.ops"),
}


def _modules() -> dict[str, Path]:
    """Dotted name -> source file of every module of the trigformer namespace, in a source checkout."""
    mods = {}
    for top in (*MAPPED, "trigformer"):
        for f in sorted((REPO / top).rglob("*.py")):
            parts = f.relative_to(REPO).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            mods[".".join(parts if top == "trigformer" else ("trigformer", *parts))] = f
    return mods


def _imports(f: Path, package: str):
    """(imported name, whether at module level) of every import in f; relative imports resolved against package."""
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            local = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, not in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    p = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{p}.{base}" if base else p
                out.extend((f"{base}.{a.name}", not in_function) for a in child.names)  # a name or a submodule
            visit(child, local)

    visit(ast.parse(f.read_text(), str(f)), False)
    return out


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name):  # the deepest module of ours the name lies in (`from a.b import c`: a.b.c or a.b)
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges = {}
    for m, f in mods.items():
        package = m if f.name == "__init__.py" else m.rpartition(".")[0]
        edges[m] = {r for name, top in _imports(f, package) if (top or not module_level_only)
                    and (r := resolve(name)) and r != m}
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (a list of modules, first == last), or None."""
    state, stack = {}, []

    def dfs(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(edges[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (c := dfs(w)):
                return c
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(edges):
        if v not in state and (c := dfs(v)):
            return c
    return None


def test_the_graph_reader_finds_a_planted_cycle():
    """The checker itself: a two-module cycle is found, an acyclic chain is not."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert "trigformer.flow.options" in _graph(False)["trigformer.flow.cli"]  # `from trigformer.flow.options import`


def test_no_import_cycle_at_module_level():
    """The imports that run while a module initializes form no cycle (a cycle there means a partly initialized
    module, and an import order that decides whether a run works)."""
    assert _cycle(_graph(module_level_only=True)) is None


def test_no_import_cycle_with_function_local_imports():
    """Function-local imports (deferred to keep `synth --help` and the C-simulation child fast) form no cycle either,
    but for the listed back edges: the layering stays one-way (the CLI uses the sweep, the sweep reads the options)."""
    edges = _graph(module_level_only=False)
    for a, b in ALLOWED_BACK_EDGES:
        assert b in edges[a], f"{a} -> {b} is allowed but no longer exists: remove it from ALLOWED_BACK_EDGES"
        edges[a].discard(b)
    assert _cycle(edges) is None


def _sources() -> list[Path]:
    return sorted({*REPO.glob("*.py"), *(f for d in (*MAPPED, "trigformer", "tests", "benchmarks")
                                          for f in (REPO / d).rglob("*.py"))})


def test_nothing_imports_the_old_top_level_names():
    """No import statement, child-process command (`-m flow.cli`), code run in a child or entry point names flow,
    models, sim or hls_templates as a top-level package: only the trigformer namespace."""
    code_in_string = re.compile(rf"(^|\n|;)\s*(from|import)\s+({'|'.join(MAPPED)})\b")
    bad = []
    for f in _sources():
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if OLD.match(a.name)]
            elif isinstance(node, ast.ImportFrom) and not node.level and OLD.match(node.module or ""):
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                s = node.value  # code for a child, or a module name ("flow.cli", "flow.cli:main")
                if code_in_string.search(s) or (re.fullmatch(r"\w+(\.\w+)+(:\w+)?", s) and OLD.match(s)):
                    names = [s]
            bad += [f"{f.relative_to(REPO)}:{node.lineno}: {n!r}" for n in names]
    for f in (REPO / "pyproject.toml", REPO / "Makefile", REPO / "README.md", REPO / "ARCHITECTURE.md"):
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(rf"(-m |\"|^\s*(from|import) )({'|'.join(MAPPED)})[.:\s]", line) and "trigformer." not in line:
                bad.append(f"{f.name}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: pip builds in the tree, and a stale build/ there would leak into the wheel
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                            ".pytest_cache", "firmware", "work_cache"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = (tmp / "dist").glob("trigformer-*.whl")
    return whl


def test_the_wheel_holds_one_top_level_package_with_its_data(wheel):
    """Only trigformer/ and the dist-info at the top; every module and data file (headers, tb.cpp, the example
    YAMLs, the estimate's JSON) of the mapped folders is in it, under trigformer/; the entry point is namespaced."""
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"trigformer", wheel.name.split("-py")[0] + ".dist-info"}
    shipped = (".py", ".h", ".cpp", ".yaml", ".json", ".tcl")
    want = {f"trigformer/{p.relative_to(REPO).as_posix()}" for d in MAPPED for p in (REPO / d).rglob("*")
            if p.is_file() and p.suffix in shipped and "__pycache__" not in p.parts}
    want |= {f"trigformer/{p.name}" for p in (REPO / "trigformer").glob("*.py")}
    assert want - set(names) == set()
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "synth = trigformer.flow.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_installed_wheel_has_no_old_top_level_names(wheel, tmp_path):
    """Unpacked alone on the path (no site-packages: the project's dependencies are absent), `import flow` finds
    nothing and `import trigformer` fails only on a missing dependency, never on one of its own modules."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import sys; sys.path.insert(0, sys.argv[1])\n"
             "for name in ('flow', 'models', 'sim', 'hls_templates', 'trigformer'):\n"
             "    try:\n        __import__(name); print(name, 'ok')\n"
             "    except ModuleNotFoundError as e:\n        print(name, 'missing', e.name)\n")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(site)], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert {k: got[k] for k in MAPPED} == {k: f"missing {k}" for k in MAPPED}, r.stdout + r.stderr
    status, _, missing = got["trigformer"].partition(" ")
    assert status == "ok" or not missing.split(".")[0].startswith("trigformer"), got["trigformer"]
