"""The last line of a run, for a CI log to grep: verdict, judged forms, latency, tightest resource, output folder.

    synth: RESULT budget=met judged=rtl latency=155ns/200ns@II1(rtl) tightest=DSP:47.7%/70%(yosys) exit=0 out=firmware/x

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


def latency(report: dict) -> str:
    lat = report.get("latency") or {}
    if lat.get("ns") is None:
        return "none"
    limit = (report.get("budget") or {}).get("latency_ns")
    text = f"{_num(lat['ns'])}ns" + (f"/{_num(limit)}ns" if limit is not None else "")
    if lat.get("ii") is not None:
        text += f"@II{lat['ii']}"
    return text + (f"({lat['source']})" if lat.get("source") else "")


def tightest(report: dict) -> str:
    """The resource with the least margin: its fraction of the part against its limit (budget.max_fraction, else
    budget.fraction_limit, else the whole part)."""
    res = report.get("resources") or {}
    try:
        fr = fractions(report) if res else {}
    except Exception:  # an unknown part: no fractions rather than a failed summary
        fr = {}
    bud = report.get("budget") or {}
    limits = {k: (bud.get("max_fraction") or {}).get(k, bud.get("fraction_limit", 1.0)) or 1.0 for k in RESOURCES}
    rows = [(fr[k] / limits[k], k) for k in RESOURCES if fr.get(k) is not None]
    if not rows:
        return "none"
    _, k = max(rows)
    return f"{k}:{fr[k]:.1%}/{limits[k]:.0%}" + (f"({res['source']})" if res.get("source") else "")


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
