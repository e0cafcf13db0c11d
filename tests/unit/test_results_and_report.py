"""results.json against its schema, and the HTML report's escaping and language."""

from __future__ import annotations

import copy
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import jsonschema
import pytest

from conformance.campaign.results import (
    CampaignStatus,
    SutInfo,
    build_results,
    record_from_json,
    record_to_json,
    validate_results,
)
from conformance.campaign.verdicts import Attestation, CheckResult, Outcome, ScenarioRecord, Severity, Status
from conformance.report import render_html
from conformance.requirements import load_catalogues
from conformance.roles import Role

HOSTILE = '<script>alert("x")</script>'


def results(**overrides: Any) -> dict[str, Any]:
    check = CheckResult(
        name="tls_floor",
        requirements=("EXI PSC 24", "IG-SEC-01"),
        ok=False,
        severity=Severity.FAILURE,
        message=f"server said {HOSTILE}",
        title={"fr": "Plancher TLS", "en": "TLS floor"},
        evidence=(f"exchange {HOSTILE}",),
    )
    scenarios = [
        ScenarioRecord(
            nodeid=f"scenarios/consumer/test_x.py::test_{HOSTILE}",
            requirements=("EXI PSC 24", "IG-SEC-01"),
            outcome=Outcome.FAILED,
            checks=[check],
            duration_s=0.25,
            title=HOSTILE,
            sut_exchanges=2,
        ),
        ScenarioRecord(
            nodeid="scenarios/consumer/test_y.py::test_vacuous",
            requirements=("EXI PSC 16",),
            outcome=Outcome.NOT_RUN,
            detail="no check was evaluated",
        ),
    ]
    kwargs: dict[str, Any] = {
        "sut": SutInfo(Role.CONSUMER, f"Proxy {HOSTILE}", "https://127.0.0.1:8443", ("no_cnf",)),
        "catalogues": load_catalogues(),
        "scenarios": scenarios,
        "attestations": {"EXI PSC 01": Attestation("EXI PSC 01", HOSTILE, "2026-11-20", HOSTILE)},
        "started_at": "2026-11-22T06:00:00Z",
        "finished_at": "2026-11-22T06:00:05Z",
        "status": CampaignStatus(complete=False, errors=(f"SUT died: {HOSTILE}",)),
    }
    kwargs.update(overrides)
    return build_results(**kwargs)


def test_results_validate_against_the_shipped_schema() -> None:
    doc = results()
    validate_results(doc)
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts["EXI PSC 24"] == "fail"
    assert verdicts["EXI PSC 16"] == "not_tested"  # its only scenario did not run
    assert verdicts["EXI PSC 01"] == "attested"
    assert verdicts["EXI PSC 32"] == "not_tested"
    # one check enforcing two requirements appears once per requirement
    assert [c["requirement"] for c in doc["scenarios"][0]["checks"]] == ["EXI PSC 24", "IG-SEC-01"]


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["requirements"][0].update(verdict="passed"),
        lambda d: d["requirements"][0].update(id="EXI-PSC-1"),
        lambda d: d["scenarios"][1].update(outcome="ok"),
        lambda d: d.pop("finished_at"),
        lambda d: d["sut"].update(role="proxy"),
        lambda d: d["scenarios"][0].update(outcome="passed", checks=[]),  # a pass with no check
        lambda d: d["requirements"][1].update(verdict="attested"),  # EXI PSC 02: attested, no attestation
    ],
)
def test_schema_rejects_contract_breaches(breakage: Any) -> None:
    doc = copy.deepcopy(results())
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_results(doc)


def test_journal_round_trip_is_lossless() -> None:
    record = ScenarioRecord(
        nodeid="a::b",
        requirements=("EXI PSC 24",),
        outcome=Outcome.PASSED,
        checks=[CheckResult("c", ("EXI PSC 24",), True, Severity.WARNING, "m", {"fr": "f"}, ("e",))],
        duration_s=1.5,
        title="t",
        sut_exchanges=4,
        needs_sut=False,
        detail="d",
    )
    assert record_from_json(record_to_json(record)) == record


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_sut_controlled_text_is_escaped_everywhere() -> None:
    page = render_html(results(), "fr")
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    parsed = _Collect()
    parsed.feed(page)
    assert "script" not in parsed.tags  # no script element at all: the report runs no code
    assert any(HOSTILE in chunk for chunk in parsed.text)  # shown to the reader, as text


def test_report_is_self_contained_and_french_by_default() -> None:
    page = render_html(results(), "fr")
    assert '<html lang="fr">' in page and "Matrice des exigences" in page and "non conforme" in page
    assert "http://" not in page.split("<body>")[0] and "<link" not in page  # no external asset
    assert "Campagne incomplète" in page


def test_matrix_comes_first_and_lists_every_requirement() -> None:
    doc = results()
    page = render_html(doc, "en")
    assert page.index('id="matrix"') < page.index('id="scenarios"')
    for req in doc["requirements"]:
        assert f">{req['id']}</a></td>" in page.split('id="matrix"')[1].split("</table>")[0]
    assert "Requirement matrix" in page and "Conformance report" in page


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported report language"):
        render_html(results(), "de")


def test_cited_exchanges_are_summarised_beside_the_check() -> None:
    summary = {
        "counterpart": "psc",
        "direction": "to_harness",
        "method": "POST",
        "url": f"https://127.0.0.1:9443/token?x={HOSTILE}",
        "status": 400,
        "error": None,
    }
    doc = results(exchanges={f"exchange {HOSTILE}": summary, "unused": {**summary, "status": 200}})
    validate_results(doc)
    assert list(doc["exchanges"]) == [f"exchange {HOSTILE}"]  # only what a check cites
    page = render_html(doc, "fr")
    assert "psc: <strong>POST</strong>" in page and "→ <strong>HTTP 400</strong>" in page
    assert HOSTILE not in page


def _inconclusive_campaign() -> dict[str, Any]:
    session = CheckResult(
        "connect_answers_session",
        ("EDC-01",),
        False,
        Severity.FAILURE,
        f"HTTP 200, body not JSON {HOSTILE}",
        title={"fr": "session"},
        status=Status.FAILED,
        basis="OpenAPI API Conformité 1.0 (upstream)",
        strength="must",
    )
    blocked = CheckResult(
        "not_reached",
        ("IG-SEC-01",),
        False,
        Severity.FAILURE,
        "not judged: connect_answers_session did not hold",
        title={"fr": "non évaluée"},
        status=Status.INCONCLUSIVE,
        root_cause=f"connect_answers_session: {HOSTILE}",
        blocked_by="connect_answers_session",
    )
    scenarios = [
        ScenarioRecord("connexion::test_connect", ("EDC-01",), Outcome.FAILED, [session], sut_exchanges=1),
        ScenarioRecord(
            "transport::test_links",
            ("IG-SEC-01",),
            Outcome.INCONCLUSIVE,
            [replace(session, prerequisite=True), blocked],
            sut_exchanges=1,
        ),
    ]
    return results(scenarios=scenarios, status=CampaignStatus())


def test_inconclusive_requirements_carry_reason_and_root_cause() -> None:
    doc = _inconclusive_campaign()
    validate_results(doc)
    assert doc["schema_version"] == 2
    by_id = {r["id"]: r for r in doc["requirements"]}
    assert by_id["EDC-01"]["verdict"] == "fail" and by_id["IG-SEC-01"]["verdict"] == "inconclusive"
    (why,) = by_id["IG-SEC-01"]["inconclusive"]
    assert why["blocked_by"] == "connect_answers_session"
    assert why["failed_in"] == "connexion::test_connect"
    checks = doc["scenarios"][1]["checks"]
    assert checks[0]["prerequisite"] is True and checks[1]["status"] == "inconclusive"
    broken = copy.deepcopy(doc)
    del broken["requirements"][[r["id"] for r in doc["requirements"]].index("IG-SEC-01")]["inconclusive"]
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)  # an inconclusive verdict must say why


def test_report_shows_inconclusive_with_its_root_cause_escaped() -> None:
    page = render_html(_inconclusive_campaign(), "fr")
    assert "non concluant" in page and "cause première" in page and HOSTILE not in page
    assert "prérequis (ne vaut pas verdict)" in page and "Fondement" in page
    assert "inconclusive" in render_html(_inconclusive_campaign(), "en")


def test_requirement_entries_say_how_the_role_establishes_them() -> None:
    """A data provider logs nobody in: EXI PSC 09 is declared for it, judged on the wire for a proxy;
    each entry carries the reading of its role and the source's page."""
    provider = results(sut=SutInfo(Role.PROVIDER, "API", "https://127.0.0.1:8447", ()), scenarios=[])
    consumer = results(scenarios=[])
    validate_results(provider)
    by_id = {r["id"]: r for r in provider["requirements"]}
    assert by_id["EXI PSC 09"]["method"] == "declarative" and by_id["EXI PSC 09"]["verdict"] == "manual"
    assert "fournisseur de données" in by_id["EXI PSC 09"]["notes"]["fr"]
    assert {r["id"]: r for r in consumer["requirements"]}["EXI PSC 09"]["method"] == "automatic"
    assert by_id["IG-SEC-21"]["url"].startswith("https://interop.esante.gouv.fr/ig/securisation-transport/")
    html = render_html(provider, "en")
    assert "A data provider does not log the professional in" in html
