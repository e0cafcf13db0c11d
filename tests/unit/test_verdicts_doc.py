"""docs/verdicts.md lists every condition with its basis and strength, as the code declares them."""

from __future__ import annotations

from pathlib import Path

from conformance.campaign.conditions import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "verdicts.md"


def test_documented_conditions_are_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- conditions: generated -->\n") + len("<!-- conditions: generated -->\n")
    end = text.index("<!-- end of conditions -->")
    assert text[start:end] == markdown(), (
        "docs/verdicts.md is stale: regenerate its table with conformance.campaign.conditions.markdown()"
    )
