"""The campaign's journal: what it set out to run, and each scenario's record as it ended.

Both are written while the campaign goes, in the run's directory, so that a campaign cut short
(Ctrl-C, SIGTERM, a killed process) can still be reported in full by `psc-conformance run`: the
scenarios that ended from `scenarios.jsonl`, and those that did not as `not_run`, from the plan
`scenarios.planned.json` written once collection is over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from conformance.campaign.verdicts import CheckResult, Outcome, ScenarioRecord, Severity, Status

JOURNAL = "scenarios.jsonl"
PLAN = "scenarios.planned.json"

if TYPE_CHECKING:  # pytest is the campaign process's; `run` and `verify` read journals without it
    import pytest


@dataclass(frozen=True)
class PlannedScenario:
    """What the report needs of a scenario that may never run: who it is and what it verifies."""

    nodeid: str
    requirements: tuple[str, ...]
    title: str = ""
    needs_sut: bool = True


def write_plan(output: Path, items: Iterable[pytest.Item], marker: str) -> None:
    """Write the selected scenarios (the items carrying `marker`) before any of them runs.

    Written whole or not at all (a temporary file renamed), so that a run killed at this very moment
    leaves no half plan behind.
    """
    planned = planned_scenarios(items, marker)
    document = {
        "scenarios": [
            {
                "nodeid": p.nodeid,
                "requirements": list(p.requirements),
                "title": p.title,
                "needs_sut": p.needs_sut,
            }
            for p in planned
        ]
    }
    scratch = output / (PLAN + ".tmp")
    scratch.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(scratch, output / PLAN)


def planned_scenarios(items: Iterable[pytest.Item], marker: str) -> list[PlannedScenario]:
    """The scenarios among `items`: those carrying `marker`."""
    return [_planned(item, marker) for item in items if item.get_closest_marker(marker) is not None]


def _planned(item: pytest.Item, marker: str) -> PlannedScenario:
    mark = item.get_closest_marker(marker)
    assert mark is not None
    doc = getattr(getattr(item, "obj", None), "__doc__", None) or ""
    return PlannedScenario(
        nodeid=item.nodeid,
        requirements=tuple(mark.args),
        title=doc.strip().splitlines()[0] if doc.strip() else "",
        needs_sut=bool(mark.kwargs.get("sut", True)),
    )


def read_plan(output: Path) -> list[PlannedScenario] | None:
    """The scenarios the campaign set out to run; None when it stopped before choosing them."""
    try:
        document = json.loads((output / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [
        PlannedScenario(
            nodeid=entry["nodeid"],
            requirements=tuple(entry["requirements"]),
            title=entry.get("title", ""),
            needs_sut=entry.get("needs_sut", True),
        )
        for entry in document["scenarios"]
    ]


def not_run_records(
    plan: Sequence[PlannedScenario], ended: Sequence[ScenarioRecord], why: str
) -> list[ScenarioRecord]:
    """A `not_run` record for each planned scenario that has no record of its own, in plan order.

    `not_run` speaks for no requirement (`ScenarioRecord.counts`), so the verdicts are those of the
    scenarios that ended, and the report lists the others with `why`.
    """
    done = {record.nodeid for record in ended}
    return [
        ScenarioRecord(
            nodeid=p.nodeid,
            requirements=p.requirements,
            outcome=Outcome.NOT_RUN,
            title=p.title,
            needs_sut=p.needs_sut,
            detail=why,
        )
        for p in plan
        if p.nodeid not in done
    ]


def record_to_json(record: ScenarioRecord) -> dict[str, Any]:
    """One line of the campaign journal: a scenario record, lossless, unlike `results.json`."""
    return {
        "nodeid": record.nodeid,
        "requirements": list(record.requirements),
        "outcome": record.outcome.value,
        "checks": [
            {
                "name": c.name,
                "requirements": list(c.requirements),
                "ok": c.ok,
                "severity": c.severity.value,
                "message": c.message,
                "title": dict(c.title),
                "evidence": list(c.evidence),
                "status": c.status.value if c.status else None,
                "basis": c.basis,
                "strength": c.strength,
                "prerequisite": c.prerequisite,
                "root_cause": c.root_cause,
                "blocked_by": c.blocked_by,
            }
            for c in record.checks
        ],
        "duration_s": record.duration_s,
        "title": record.title,
        "sut_exchanges": record.sut_exchanges,
        "needs_sut": record.needs_sut,
        "detail": record.detail,
    }


def record_from_json(data: Mapping[str, Any]) -> ScenarioRecord:
    return ScenarioRecord(
        nodeid=data["nodeid"],
        requirements=tuple(data["requirements"]),
        outcome=Outcome(data["outcome"]),
        checks=[
            CheckResult(
                name=c["name"],
                requirements=tuple(c["requirements"]),
                ok=c["ok"],
                severity=Severity(c["severity"]),
                message=c["message"],
                title=c.get("title", {}),
                evidence=tuple(c.get("evidence", ())),
                status=Status(c["status"]) if c.get("status") else None,
                basis=c.get("basis", ""),
                strength=c.get("strength", ""),
                prerequisite=c.get("prerequisite", False),
                root_cause=c.get("root_cause", ""),
                blocked_by=c.get("blocked_by", ""),
            )
            for c in data["checks"]
        ],
        duration_s=data["duration_s"],
        title=data.get("title", ""),
        sut_exchanges=data.get("sut_exchanges", 0),
        needs_sut=data.get("needs_sut", True),
        detail=data.get("detail", ""),
    )


def read_journal(path: Path, *, upto: int | None = None) -> list[ScenarioRecord]:
    """Scenario records of a campaign, including one cut short (a torn last line is dropped).

    `upto`: only the records whose line starts within the journal's first `upto` bytes, its size when
    the campaign was asked to stop. A record is written once its scenario has ended, so those are the
    scenarios that ended before the stop.
    """
    records: list[ScenarioRecord] = []
    if not path.exists():
        return records
    start = 0
    for line in path.read_bytes().splitlines(keepends=True):
        if upto is not None and start >= upto:
            break
        start += len(line)
        try:
            records.append(record_from_json(json.loads(line)))
        except (ValueError, KeyError):
            continue
    return records


# -- the SUT answered its health check: `run` says so before the first scenario ----------------------

SUT_READY: Final = "sut-ready.json"  # written by the campaign plugin once an external SUT answered


def write_sut_ready(output: Path, health_url: str) -> None:
    """Tell `run` the external SUT answered its health check (the plugin calls it, before any scenario).

    Written whole or not at all (renamed), so that the parent never reads half of it.
    """
    scratch = output / (SUT_READY + ".tmp")
    scratch.write_text(json.dumps({"health_url": health_url}) + "\n", encoding="utf-8")
    os.replace(scratch, output / SUT_READY)


def read_sut_ready(output: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads((output / SUT_READY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document
