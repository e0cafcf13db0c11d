"""Report renderers: each reads the `results.json` document and nothing else."""

from conformance.report.html import render_html

__all__ = ["render_html"]
