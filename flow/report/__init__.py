"""The report of a run: typed model (model.py), budget verdict and exit code (verdict.py), terminal (terminal.py) and
HTML (html.py) renderers, and `synth report DIR` (rerender.py)."""

from trigformer.flow.report.html import render_html, roc_curve, write_html
from trigformer.flow.report.model import Report
from trigformer.flow.report.terminal import render_terminal
from trigformer.flow.report.verdict import exit_code, judge_budget

__all__ = ["Report", "exit_code", "judge_budget", "render_html", "render_terminal", "roc_curve", "write_html"]
