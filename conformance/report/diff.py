"""What changed between two campaigns: requirement by requirement, old verdict → new verdict.

A vendor re-submitting after fixes, and a CI job guarding against regressions, both ask the same
question: did anything get worse? The answer is a ranking of verdicts, so that "worse" is a rule
anyone can check, not a judgement of this tool. Pure functions over two `results.json` documents:
reading and validating the files is the command line's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from conformance.campaign.verdicts import Verdict

# Worst first. A verdict's rank says how much the run tells in the SUT's favour: a failure is the
# worst news, a pass the best; `not_tested`, `manual` and `attested` sit between because they say
# nothing against the SUT but prove less than the wire does.
VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.FAIL,
    Verdict.INCONCLUSIVE,
    Verdict.WARNING,
    Verdict.NOT_TESTED,
    Verdict.MANUAL,
    Verdict.ATTESTED,
    Verdict.PASS,
)
# `not_applicable` has no rank: a requirement that stops (or starts) applying changed role or
# catalogue, which is neither progress nor regression of the SUT.
_RANK: dict[str, int] = {verdict.value: rank for rank, verdict in enumerate(VERDICT_ORDER)}


class Direction(StrEnum):
    WORSE = "worse"
    BETTER = "better"
    CHANGED = "changed"  # to or from not_applicable
    ADDED = "added"  # the requirement is only in the new run
    REMOVED = "removed"  # the requirement is only in the old run


# The order in which changes are listed: what a reader must act on first.
_GROUP_ORDER = (Direction.WORSE, Direction.BETTER, Direction.CHANGED, Direction.ADDED, Direction.REMOVED)


@dataclass(frozen=True)
class Change:
    """One requirement whose verdict differs; `old`/`new` is None where the run does not list it."""

    id: str
    catalogue: str
    old: str | None
    new: str | None
    direction: Direction

    @property
    def newly_fails(self) -> bool:
        """A failure the old run did not have, whatever the direction says (e.g. added, or from n/a)."""
        return self.new == Verdict.FAIL.value and self.old != Verdict.FAIL.value

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "catalogue": self.catalogue,
            "old": self.old,
            "new": self.new,
            "direction": self.direction.value,
        }


@dataclass(frozen=True)
class RunDiff:
    """The comparison of two runs; `old`/`new` are their identities (see `run_identity`)."""

    old: Mapping[str, Any]
    new: Mapping[str, Any]
    changes: tuple[Change, ...]
    warnings: tuple[str, ...]
    compared: int  # requirements present in both runs

    @property
    def worse(self) -> int:
        return sum(1 for c in self.changes if c.direction is Direction.WORSE)

    @property
    def better(self) -> int:
        return sum(1 for c in self.changes if c.direction is Direction.BETTER)

    @property
    def regressed(self) -> bool:
        """What fails a CI gate: something got worse, or a requirement fails that did not before."""
        return any(c.direction is Direction.WORSE or c.newly_fails for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": dict(self.old),
            "new": dict(self.new),
            "changes": [c.to_json() for c in self.changes],
            "worse": self.worse,
            "better": self.better,
            "compared": self.compared,
            "warnings": list(self.warnings),
        }


def direction(old: str, new: str) -> Direction:
    """How a verdict change reads. A new failure is always worse, even from `not_applicable`."""
    if old == new:
        raise ValueError(f"no change: {old}")
    if new == Verdict.FAIL.value:
        return Direction.WORSE
    if old not in _RANK or new not in _RANK:
        return Direction.CHANGED
    return Direction.WORSE if _RANK[new] < _RANK[old] else Direction.BETTER


def compare(
    old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], *, old_source: str = "", new_source: str = ""
) -> RunDiff:
    """Compare two valid `results.json` documents; `*_source` names where each came from."""
    old_verdicts = _requirements(old_doc)
    new_verdicts = _requirements(new_doc)
    changes: list[Change] = []
    for rid, (catalogue, new) in new_verdicts.items():
        if rid not in old_verdicts:
            changes.append(Change(rid, catalogue, None, new, Direction.ADDED))
        elif (old := old_verdicts[rid][1]) != new:
            changes.append(Change(rid, catalogue, old, new, direction(old, new)))
    changes += [
        Change(rid, catalogue, old, None, Direction.REMOVED)
        for rid, (catalogue, old) in old_verdicts.items()
        if rid not in new_verdicts
    ]
    # Stable sort: within a group, the new run's catalogue order (removed ones: the old run's).
    changes.sort(key=lambda c: _GROUP_ORDER.index(c.direction))
    return RunDiff(
        old=run_identity(old_doc, old_source),
        new=run_identity(new_doc, new_source),
        changes=tuple(changes),
        warnings=tuple(_warnings(old_doc, new_doc)),
        compared=len(old_verdicts.keys() & new_verdicts.keys()),
    )


def _requirements(doc: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """id -> (catalogue, verdict), in document order."""
    return {r["id"]: (r["catalogue"], r["verdict"]) for r in doc["requirements"]}


def run_identity(doc: Mapping[str, Any], source: str = "") -> dict[str, Any]:
    """What says which campaign a document is: the SUT, the harness, the referential and the dates."""
    campaign = doc.get("campaign", {})
    return {
        "source": source,
        "sut": dict(doc["sut"]),
        "harness_version": doc["harness"]["version"],
        "catalogues": {c["id"]: c["version"] for c in doc["catalogues"]},
        "started_at": doc["started_at"],
        "finished_at": doc["finished_at"],
        "complete": campaign.get("complete", True),
        "selection": campaign.get("selection"),
    }


def _warnings(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any]) -> list[str]:
    """Why some changes may not be the SUT's doing. Faults, variants and base URL are not compared:
    they are what a comparison is for, and the embedded reference SUTs change port on every run."""
    warnings: list[str] = []

    def differs(read: Callable[[Mapping[str, Any]], object], message: str) -> None:
        old, new = read(old_doc), read(new_doc)
        if old != new:
            warnings.append(message.format(old=old, new=new))

    differs(lambda d: d["sut"]["role"], "the two runs judged different roles ({old} → {new})")
    differs(lambda d: d["sut"]["name"], "the two runs judged different SUTs ({old!r} → {new!r})")
    differs(lambda d: d["harness"]["version"], "the harness version changed ({old} → {new})")
    old_catalogues = {c["id"]: c["version"] for c in old_doc["catalogues"]}
    for catalogue in new_doc["catalogues"]:
        before = old_catalogues.get(catalogue["id"])
        if before is not None and before != catalogue["version"]:
            warnings.append(
                f"catalogue {catalogue['id']} changed version: {before} → {catalogue['version']}; "
                "some changes may come from the referential, not the SUT"
            )
    for label, doc in (("old", old_doc), ("new", new_doc)):
        campaign = doc.get("campaign", {})
        if not campaign.get("complete", True):
            errors = "; ".join(campaign.get("errors", [])) or "no reason recorded"
            warnings.append(f"the {label} campaign did not complete: {errors}")
        if campaign.get("selection"):
            warnings.append(
                f"the {label} run was narrowed with -k {campaign['selection']!r}: "
                "what it did not select is not_tested"
            )
    return warnings


def render_text(diff: RunDiff) -> str:
    """One line per changed requirement, worse first, then a count line a CI log can be grepped for."""
    lines = [f"old: {_describe(diff.old)}", f"new: {_describe(diff.new)}"]
    lines += [f"warning: {w}" for w in diff.warnings]
    lines.append("")
    width = max((len(c.id) for c in diff.changes), default=0)
    lines += [_change_line(c, width) for c in diff.changes]
    if not diff.changes:
        lines.append("no verdict changed")
    lines += ["", _count_line(diff)]
    return "\n".join(lines) + "\n"


def _describe(identity: Mapping[str, Any]) -> str:
    sut = identity["sut"]
    parts = [f"{sut['role']} {sut['name']!r}"]
    for key in ("faults", "variants"):
        if sut.get(key):
            parts.append(f"{key} {', '.join(sut[key])}")
    parts.append(f"started {identity['started_at']}")
    source = identity["source"]
    return (f"{source} — " if source else "") + ", ".join(parts)


def _change_line(change: Change, width: int) -> str:
    old, new = change.old or "—", change.new or "—"
    return f"{change.id.ljust(width)}  {old} → {new}  ({change.direction.value})"


def _count_line(diff: RunDiff) -> str:
    counts = {d: sum(1 for c in diff.changes if c.direction is d) for d in _GROUP_ORDER}
    text = ", ".join(f"{counts[d]} {d.value}" for d in _GROUP_ORDER)
    newly_failing = [c.id for c in diff.changes if c.newly_fails and c.direction is not Direction.WORSE]
    if newly_failing:
        text += f"; fails now: {', '.join(newly_failing)}"
    noun = "requirement" if diff.compared == 1 else "requirements"
    return f"{text} ({diff.compared} {noun} in both runs)"


__all__ = [
    "VERDICT_ORDER",
    "Change",
    "Direction",
    "RunDiff",
    "compare",
    "direction",
    "render_text",
    "run_identity",
]
