"""An op is one folder (issue 20): flow/, sim/ and trigformer's CLI/API never name an op. The source is scanned for
every name the registry knows (each op's kind, cost kind, norm choice, class name, Keras / hls4ml / BYOM classes)
as a string literal or an identifier; the few justified exceptions are listed below with their reason. A new op
that needs a line outside its folder and the registry fails here."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from trigformer.models.ops import OPS

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("flow", "sim", "trigformer")

# (file, name): why the name may appear there. Keep each justified; never add an op's own dispatch here.
ALLOWED = {
    ("flow/config.py", "layernorm"): "the documented default of model.norm (the choices come from the registry)",
    ("flow/config.py", "mha"): "the documented default of model.attention (the choices come from the registry)",
    ("flow/config.py", "flatten"): "model.pooling's value flatten (quantization.mode hgq2 builds keras' Flatten), "
                                   "not the Flatten glue op",
    ("flow/config.py", "relu"): "model.activation: the builder's FFN activation choice, not an op lookup",
    ("flow/config.py", "input"): "pydantic's error field 'input' and C identifier prefixes, not the Input op",
    ("flow/config.py", "activation"): "the model.activation key's name, not the Cast op's cost kind",
    ("flow/sweep/spec.py", "input"): "pydantic's error field 'input', not the Input op",
    ("flow/estimate.py", "dense"): "published hls4ml reports (estimate_data) are described in the cost-model format",
    ("flow/estimate.py", "softmax"): "published hls4ml reports (estimate_data): their softmax rows",
    ("flow/estimate.py", "activation"): "published hls4ml reports (estimate_data): their activation rows",
    ("flow/estimate.py", "input"): "published hls4ml reports (estimate_data): the input row",
}


def class_names() -> set[str]:
    """Op classes and the Keras / hls4ml / BYOM classes they map: searched as identifiers and string literals."""
    return {n for op in OPS for n in (op.__name__, *op.keras_classes, *op.hls_classes, *op.byom_handlers())}


def registry_names() -> set[str]:
    """Plus each op's kind, cost kind, norm choice and attention choice: searched as string literals (as identifiers they are plain
    words: set.add, np.flatten)."""
    names = class_names()
    for op in OPS:
        names |= {op.kind, op.cost_kind, op.norm_choice or "", op.attention_choice or ""}
    return names - {""}


def named(path: Path, names: set[str]) -> set[str]:
    """Registry names in `path` as a whole string literal, class names also as identifiers (comments and docstrings
    are prose)."""
    found = set()
    classes = class_names()
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.NAME and tok.string in classes:
            found.add(tok.string)
        elif tok.type == tokenize.STRING:
            body = tok.string.lstrip("rbfuRBFU")
            if body[:1] in "'\"" and not body.startswith(('"""', "'''")) and body[1:-1] in names:
                found.add(body[1:-1])
    return found


def test_flow_sim_and_cli_never_name_an_op():
    names = registry_names()
    bad = []
    for root in SCANNED:
        for path in sorted((ROOT / root).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            bad += [f"{rel}: {n}" for n in sorted(named(path, names)) if (rel, n) not in ALLOWED]
    assert not bad, "op names outside models/ops (make them attributes of the op):\n" + "\n".join(bad)


def test_the_scan_finds_a_planted_op_name(tmp_path):
    """The scanner itself: a branch on a kind and an imported op class are found, prose is not."""
    p = tmp_path / "x.py"
    p.write_text('"""A layernorm docstring."""\nfrom m import LayerNorm\nif k == "rmsnorm":  # mha\n    pass\n')
    assert named(p, registry_names()) == {"LayerNorm", "rmsnorm"}


def test_every_allowed_exception_is_still_needed():
    names = registry_names()
    for (rel, n), why in ALLOWED.items():
        assert n in named(ROOT / rel, names), f"{rel}: {n} no longer appears; drop the exception ({why})"
