"""The report of a run: typed model (model.py), budget verdict and exit code (verdict.py), terminal (terminal.py) and
HTML (html.py) renderers, and `synth report DIR` (rerender.py)."""

from flow.report.html import render_html, roc_curve, write_html
from flow.report.model import Report
from flow.report.terminal import render_terminal
from flow.report.verdict import exit_code, judge_budget

__all__ = ["Report", "exit_code", "judge_budget", "render_html", "render_terminal", "roc_curve", "write_html"]
