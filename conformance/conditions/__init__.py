"""The conditions of every campaign, by theme; `catalogue()` lists them all (docs/verdicts.md).

`base` holds the model (a condition: requirements, basis, strength, precondition, judge); each
other module holds the conditions of one theme, written once and evaluated by scenarios.
"""

from __future__ import annotations

import importlib
import pkgutil

from conformance.conditions.base import (
    Condition,
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
    registered,
)


def catalogue() -> list[Condition]:
    """Every condition of the harness, theme by theme (importing each theme module registers it)."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    ours = [c for c in registered() if c.module.startswith(f"{__name__}.")]  # not a test's own
    return sorted(ours, key=lambda c: (c.theme, c.name))


STRENGTH_WORDS = {
    Strength.MUST: "MUST → fail",
    Strength.SHOULD: "SHOULD → warning",
    Strength.READING: "project reading → warning",
}


def markdown() -> str:
    """The table of every condition with its basis, as docs/verdicts.md shows it (kept in sync by a test)."""
    lines = [
        "| theme | condition | requirements | strength | basis | judged only if |",
        "|---|---|---|---|---|---|",
    ]
    for c in catalogue():
        cells = [
            c.theme,
            f"`{c.name}`",
            ", ".join(c.requirements),
            STRENGTH_WORDS[c.strength],
            c.basis,
            c.precondition or "—",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "Condition",
    "Judgement",
    "Strength",
    "catalogue",
    "condition",
    "failed",
    "inconclusive",
    "judged",
    "markdown",
    "passed",
]
