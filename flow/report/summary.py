"""The last line of a run, for a CI log to grep: verdict, judged forms, latency, tightest resource, output folder.

    synth: RESULT budget=not_met judged=hls,rtl latency=195ns/200ns@II1(rtl) tightest=LUT:94.9%/70%(hls:estimate) exit=4 out=x

With report.json["forms"], latency is the slowest form's and the tightest resource is over every form, each named
(`form:source`): the figure that decides the verdict, not only the primary one.

Every field is `key=value` without spaces (`out=` last: a path may have them); a figure that was not computed is
`none`, never filled in. `parse` reads the line back.
"""

from __future__ import annotations

import re

from trigformer.flow.report.verdict import RESOURCES, fractions

PREFIX = "synth: RESULT "


def verdict(report: dict) -> str:
    """met | not_met | unchecked | none (no budget judged)."""
    bud = report.get("budget")
    if not bud:
        return "none"
    if bud.get("violations"):
        return "not_met"
    if bud.get("met"):
        return "met"
    return "unchecked" if bud.get("unchecked") else "not_met"


def judged(report: dict) -> str:
    """The forms the verdict judged (budget.judged where the report says so), else the sources of the figures."""
    forms = (report.get("budget") or {}).get("judged")
    if isinstance(forms, dict):
        forms = list(forms)
    if isinstance(forms, str):
        forms = [forms]
    if not forms:
        forms = [s for s in ((report.get("latency") or {}).get("source"), (report.get("resources") or {}).get("source"))
                 if s]
    seen = list(dict.fromkeys(str(f) for f in forms))
    return ",".join(seen) or "none"


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _forms(report: dict) -> dict:
    """report.json["forms"] (one entry per form produced), or {} for a report written before forms."""
    forms = report.get("forms")
    return {k: v for k, v in forms.items() if isinstance(v, dict)} if isinstance(forms, dict) else {}


def _label(form: str | None, source: str | None) -> str:
    """`(rtl:yosys)`, `(hls:estimate)`; `(rtl)` where the source is the form's own name."""
    parts = [p for p in dict.fromkeys((form, source)) if p]
    return f"({':'.join(parts)})" if parts else ""


def latency(report: dict) -> str:
    """The slowest judged form's latency (every form must meet the budget), else the report's primary figure."""
    rows = [(f["latency"]["ns"], name, f["latency"]) for name, f in _forms(report).items()
            if (f.get("latency") or {}).get("ns") is not None]
    form, lat = (max(rows, key=lambda r: r[0])[1:] if rows else (None, report.get("latency") or {}))
    if lat.get("ns") is None:
        return "none"
    limit = (report.get("budget") or {}).get("latency_ns")
    text = f"{_num(lat['ns'])}ns" + (f"/{_num(limit)}ns" if limit is not None else "")
    if lat.get("ii") is not None:
        text += f"@II{lat['ii']}"
    return text + _label(form, lat.get("source"))


def tightest(report: dict) -> str:
    """The resource with the least margin over every form (its fraction of the part against its limit:
    budget.max_fraction, else budget.fraction_limit, else the whole part), else over the report's primary figures."""
    bud = report.get("budget") or {}
    limits = {k: (bud.get("max_fraction") or {}).get(k, bud.get("fraction_limit", 1.0)) or 1.0 for k in RESOURCES}
    candidates = [(name, f.get("resources") or {}) for name, f in _forms(report).items()]
    if not candidates:
        res = report.get("resources") or {}
        try:
            fr = fractions(report) if res else {}
        except Exception:  # an unknown part: no fractions rather than a failed summary
            fr = {}
        candidates = [(None, {**res, "fraction": fr})]
    rows = [(fr[k] / limits[k], k, name, res) for name, res in candidates for fr in [res.get("fraction") or {}]
            for k in RESOURCES if fr.get(k) is not None]
    if not rows:
        return "none"
    _, k, name, res = max(rows, key=lambda r: r[0])
    return f"{k}:{res['fraction'][k]:.1%}/{limits[k]:.0%}" + _label(name, res.get("source"))


def result_line(report: dict, out_dir, exit_code: int | None = None) -> str:
    fields = [f"budget={verdict(report)}", f"judged={judged(report)}", f"latency={latency(report)}",
              f"tightest={tightest(report)}"]
    if exit_code is not None:
        fields.append(f"exit={exit_code}")
    fields.append(f"out={out_dir}")
    return PREFIX + " ".join(fields)


FIELD = re.compile(r"(\w+)=(\S+)")


def parse(line: str) -> dict[str, str]:
    """The fields of a RESULT line (out= takes the rest of the line)."""
    if not line.startswith(PREFIX):
        raise ValueError(f"not a RESULT line: {line!r}")
    body = line[len(PREFIX):]
    head, _, out = body.partition(" out=")
    fields = dict(FIELD.findall(head))
    fields["out"] = out
    return fields
