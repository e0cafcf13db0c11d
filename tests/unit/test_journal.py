"""The campaign journal: the plan written before any scenario runs, the records cut where the run was
stopped, and the scenarios that did not end reported `not_run`, speaking for no requirement."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.campaign.journal import (
    JOURNAL,
    PLAN,
    not_run_records,
    read_journal,
    read_plan,
    record_to_json,
    write_plan,
)
from conformance.campaign.results import CampaignStatus, SutInfo, build_results, validate_results
from conformance.campaign.verdicts import CheckResult, Outcome, ScenarioRecord, Severity
from conformance.requirements import load_catalogues
from conformance.roles import Role

MARKER = "verifies"


@dataclass
class Mark:
    args: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class Scenario:
    """What `write_plan` reads of a pytest item."""

    def __init__(self, nodeid: str, *requirements: str, doc: str | None = None, sut: bool = True) -> None:
        self.nodeid = nodeid
        self.mark = Mark(requirements, {"sut": sut}) if requirements else None

        def obj() -> None: ...

        obj.__doc__ = doc
        self.obj = obj

    def get_closest_marker(self, name: str) -> Mark | None:
        return self.mark if name == MARKER else None


def passed(nodeid: str, requirement: str) -> ScenarioRecord:
    check = CheckResult(
        name="c",
        requirements=(requirement,),
        ok=True,
        severity=Severity.FAILURE,
        message="ok",
        title={"fr": "c"},
    )
    return ScenarioRecord(nodeid, (requirement,), Outcome.PASSED, [check], sut_exchanges=1)


def test_the_plan_holds_the_selected_scenarios_only(tmp_path: Path) -> None:
    items = [
        Scenario("a.py::test_one", "EXI PSC 24", doc="First line.\n\nMore."),
        Scenario("a.py::helper"),  # no `verifies` marker: not a scenario
        Scenario("b.py::test_two", "HARNESS-01", "HARNESS-02", sut=False),
    ]
    write_plan(tmp_path, items, MARKER)  # type: ignore[arg-type]
    plan = read_plan(tmp_path)
    assert plan is not None
    assert [(p.nodeid, p.requirements, p.title, p.needs_sut) for p in plan] == [
        ("a.py::test_one", ("EXI PSC 24",), "First line.", True),
        ("b.py::test_two", ("HARNESS-01", "HARNESS-02"), "", False),
    ]
    assert not list(tmp_path.glob("*.tmp")), "written whole, then renamed"


def test_no_plan_when_the_campaign_stopped_before_choosing(tmp_path: Path) -> None:
    assert read_plan(tmp_path) is None
    (tmp_path / PLAN).write_text('{"scenarios": [', encoding="utf-8")
    assert read_plan(tmp_path) is None


def test_records_after_the_stop_and_a_torn_line_are_not_kept(tmp_path: Path) -> None:
    journal = tmp_path / JOURNAL
    first, second = passed("a.py::test_one", "EXI PSC 24"), passed("a.py::test_two", "EXI PSC 16")
    line = json.dumps(record_to_json(first)) + "\n"
    journal.write_text(
        line + json.dumps(record_to_json(second)) + "\n" + '{"nodeid": "torn', encoding="utf-8"
    )
    assert [r.nodeid for r in read_journal(journal)] == ["a.py::test_one", "a.py::test_two"]
    at_stop = len(line.encode())  # the first record written, the second not begun
    assert read_journal(journal, upto=at_stop) == [first]
    assert read_journal(journal, upto=1) == [first], "begun before the stop: its scenario had ended"
    assert read_journal(journal, upto=0) == []
    assert read_journal(tmp_path / "none.jsonl") == []


def test_planned_scenarios_without_a_record_are_not_run_and_speak_for_nothing(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        [Scenario("a.py::test_one", "EXI PSC 24"), Scenario("a.py::test_two", "EXI PSC 16")],  # type: ignore[list-item]
        MARKER,
    )
    plan = read_plan(tmp_path)
    assert plan is not None
    ended = [passed("a.py::test_one", "EXI PSC 24")]
    why = "not run, or not to its end: the campaign was interrupted by SIGTERM before its end"
    records = ended + not_run_records(plan, ended, why)
    assert [(r.nodeid, r.outcome, r.requirements) for r in records[1:]] == [
        ("a.py::test_two", Outcome.NOT_RUN, ("EXI PSC 16",))
    ]
    doc = build_results(
        sut=SutInfo(Role.CONSUMER, "proxy", None),
        catalogues=load_catalogues(),
        scenarios=records,
        attestations={},
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:05Z",
        status=CampaignStatus(complete=False, errors=("interrupted",)),
    )
    validate_results(doc)
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts["EXI PSC 24"] == "pass"
    assert verdicts["EXI PSC 16"] == "not_tested"
    (entry,) = [s for s in doc["scenarios"] if s["outcome"] == "not_run"]
    assert entry["detail"] == why
