"""`results.json` (BRIEF §5): built from scenario records, in the shape of the shipped schema.

The document is language-neutral (titles carry both languages) so that every renderer, and
any auditor's script, reads the same facts. A campaign writes it without validating it (a third of a
second of CPU, two under load, in every run): the tests validate the documents the code builds, real
campaigns' included, and `psc-conformance verify` validates a bundle's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.campaign.journal import read_journal, record_from_json, record_to_json
from conformance.campaign.verdicts import (
    Attestation,
    CheckResult,
    Outcome,
    RequirementVerdict,
    ScenarioRecord,
    Status,
    Verdict,
    aggregate,
)
from conformance.campaign.waivers import Waiver, apply_waivers, run_date
from conformance.requirements import Catalogue
from conformance.roles import Role

SCHEMA_VERSION = 2  # 2: `inconclusive`, conditions with basis, strength and status


@dataclass(frozen=True)
class SutInfo:
    role: Role
    name: str
    base_url: str | None
    faults: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class CampaignStatus:
    """Whether the campaign ran to its end; a report is written either way."""

    complete: bool = True
    errors: tuple[str, ...] = ()
    selection: str | None = None  # the -k expression, when the run was narrowed
    notes: tuple[str, ...] = field(default_factory=tuple)


def build_results(
    *,
    sut: SutInfo,
    catalogues: Sequence[Catalogue],
    scenarios: Sequence[ScenarioRecord],
    attestations: Mapping[str, Attestation],
    started_at: str,
    finished_at: str,
    status: CampaignStatus | None = None,
    exchanges: Mapping[str, Mapping[str, Any]] | None = None,
    rerun: str | None = None,
    waivers: Mapping[str, Waiver] | None = None,
) -> dict[str, Any]:
    """`exchanges`: id -> summary of the evidence cited (`conformance.evidence.summary.summarize`);
    `rerun`: the command that re-runs this campaign against the same SUT (the report adds `-k`)."""
    status = status or CampaignStatus()
    requirements = [r for c in catalogues for r in c.requirements]
    verdicts = aggregate(requirements, sut.role, scenarios, attestations)
    requirement_entries = [_requirement_entry(v) for v in verdicts]
    # `waivers`: a waived failure keeps its verdict; its entry says so, and `summary.waived` counts it.
    waived = apply_waivers(requirement_entries, waivers, run_date(started_at)) if waivers else 0
    return {
        "schema_version": SCHEMA_VERSION,
        "harness": {"name": "psc-conformance", "version": __version__},
        "sut": {
            "role": sut.role.value,
            "name": sut.name,
            "base_url": sut.base_url,
            "faults": list(sut.faults),
            "variants": list(sut.variants),
        },
        "catalogues": [
            {
                "id": c.id,
                "title": c.title_in("fr"),
                "titles": dict(c.title),
                "version": c.version,
                "source": c.source,
                "url": c.url,
            }
            for c in catalogues
        ],
        "requirements": requirement_entries,
        "scenarios": [_scenario_entry(s) for s in scenarios],
        "summary": {
            "verdicts": dict(sorted(Counter(v.verdict.value for v in verdicts).items())),
            "outcomes": dict(sorted(Counter(s.outcome.value for s in scenarios).items())),
            "waived": waived,
        },
        "campaign": {
            "complete": status.complete,
            "errors": list(status.errors),
            "selection": status.selection,
            "notes": list(status.notes),
            "rerun": rerun,
        },
        "exchanges": _cited_exchanges(scenarios, exchanges or {}),
        "started_at": started_at,
        "finished_at": finished_at,
    }


def _cited_exchanges(
    scenarios: Sequence[ScenarioRecord], exchanges: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Summaries of the exchanges the checks cite, so a reader sees the evidence beside the verdict."""
    cited = {ref for s in scenarios for c in s.checks for ref in c.evidence}
    return {ref: dict(exchanges[ref]) for ref in sorted(cited) if ref in exchanges}


def _requirement_entry(v: RequirementVerdict) -> dict[str, Any]:
    req = v.requirement
    entry: dict[str, Any] = {
        "id": req.id,
        "catalogue": req.catalogue,
        "verdict": v.verdict.value,
        "scenarios": list(v.scenarios),
        "title": dict(req.title),
        "level": req.level.value,
        "method": (v.method or req.method).value,
        "applies_to": sorted(r.value for r in req.applies_to),
        "source": req.source,
        **({"url": req.url} if req.url else {}),
        # How the harness reads it, for this role (a data provider's login rules are declared).
        **({"notes": dict(v.notes)} if v.notes else {}),
        "checks_run": v.checks_run,
        "checks_failed": v.checks_failed,
        "checks_inconclusive": v.checks_inconclusive,
    }
    if v.blockages:
        entry["inconclusive"] = [
            {
                "scenario": b.scenario,
                "condition": b.condition,
                "reason": b.reason,
                "root_cause": b.root_cause or b.reason,
                "blocked_by": b.blocked_by or None,
                "failed_in": b.failed_in or None,
            }
            for b in v.blockages
        ]
    if v.attestation:
        a = v.attestation
        entry["attestation"] = {"by": a.by, "date": a.date, "evidence": a.evidence}
    return entry


def _scenario_entry(s: ScenarioRecord) -> dict[str, Any]:
    return {
        "nodeid": s.nodeid,
        "title": s.title,
        "outcome": s.outcome.value,
        "requirements": list(s.requirements),
        "checks": [
            {
                "requirement": rid,
                "ok": c.ok,
                "message": c.message,
                "name": c.name,
                "severity": c.severity.value,
                "title": dict(c.title),
                "evidence": list(c.evidence),
                **_condition_fields(c),
            }
            for c in s.checks
            for rid in c.requirements
        ],
        "duration_s": round(s.duration_s, 4),
        "sut_exchanges": s.sut_exchanges,
        "needs_sut": s.needs_sut,
        "detail": s.detail,
    }


def _condition_fields(c: CheckResult) -> dict[str, Any]:
    """What schema 2 adds to a check: how it was judged, on what basis, and what blocked it."""
    assert c.status is not None
    fields: dict[str, Any] = {
        "status": c.status.value,
        "basis": c.basis,
        "strength": c.strength,
        "prerequisite": c.prerequisite,
    }
    if c.status is Status.INCONCLUSIVE:
        fields["root_cause"] = c.root_cause or c.message
        fields["blocked_by"] = c.blocked_by or None
    return fields


@cache
def results_schema() -> dict[str, Any]:
    text = resources.files("conformance").joinpath("schemas/results.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_results(doc: Mapping[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` if the document breaks the published contract."""
    import jsonschema  # only where a document is checked: a campaign never loads it

    jsonschema.Draft202012Validator(results_schema()).validate(doc)


def write_results(doc: Mapping[str, Any], path: Path) -> None:
    """Write the document as built (indented: people read it); `validate_results` checks it."""
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def failed_requirements(doc: Mapping[str, Any]) -> list[str]:
    return [r["id"] for r in doc["requirements"] if r["verdict"] == Verdict.FAIL.value]


def scenario_outcomes(doc: Mapping[str, Any]) -> Counter[str]:
    return Counter(s["outcome"] for s in doc["scenarios"])


__all__ = [
    "CampaignStatus",
    "Outcome",
    "SutInfo",
    "build_results",
    "failed_requirements",
    "read_journal",
    "record_from_json",
    "record_to_json",
    "results_schema",
    "validate_results",
    "write_results",
]
