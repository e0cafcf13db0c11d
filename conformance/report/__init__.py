"""Report renderers and the run's artefacts: each reads the `results.json` document and nothing else.

`render_html` is imported when called, so that `verify` and `diff` (which read a run, not render it)
do not depend on the renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def render_html(doc: Mapping[str, Any], lang: str = "fr") -> str:
    """report.html for a results.json document (see `conformance.report.html`)."""
    from conformance.report.html import render_html as render

    return render(doc, lang)


__all__ = ["render_html"]
