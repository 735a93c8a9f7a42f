"""Formatting shared by the terminal and HTML renderers (labels, source tags, per-layer merging)."""

from __future__ import annotations


def tag(section: dict | None) -> str:
    src = (section or {}).get("source")
    return "(estimate)" if src == "estimate" else f"({src})" if src else ""


def verification_rows(ver: dict) -> list[tuple[str, str, bool | None]]:
    """(label, text, ok) per bit-exactness comparison; ok is None for skipped ones."""
    out = []
    n = ver.get("n_events")
    if n and ver.get("bit_exact") is not None:
        out.append((f"bit-exact {tag(ver)}".strip(), f"{ver['bit_exact']}/{n} ({ver['bit_exact'] / n:.1%})",
                    ver["bit_exact"] == n))
    for key, sub in ver.items():
        if not isinstance(sub, dict):
            continue
        label = key.replace("_vs_", " vs ").replace("_", " ")
        if sub.get("bit_exact_fraction") is not None:
            f = sub["bit_exact_fraction"]
            of = f" of {n} events" if n else ""
            out.append((label, f"{f:.1%}{of} bit-exact", f == 1.0))
        elif sub.get("failed"):
            out.append((label, f"FAILED: {sub['failed']}", False))
        elif sub.get("skipped"):
            out.append((label, f"skipped ({sub['skipped']})", None))
    return out


def expected_error(report: dict) -> str | None:
    return report.get("expected_error") or (report.get("estimate") or {}).get("expected_error")


def per_layer_rows(report: dict) -> list[dict]:
    """Latency and resource per-layer rows merged by name, in order of first appearance."""
    rows: dict[str, dict] = {}
    for sec in ("latency", "resources"):
        for r in (report.get(sec) or {}).get("per_layer") or []:
            rows.setdefault(r["name"], {"name": r["name"]}).update({k: v for k, v in r.items() if k != "name"})
    return list(rows.values())
