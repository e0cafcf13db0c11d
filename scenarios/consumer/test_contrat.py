"""Contrat : les réponses de l'API Conformité respectent son contrat OpenAPI.

Every answer is read against two documents: the upstream contract (ANS's "API proxy e-Santé" 1.0,
read leniently where it is defective; the project's statement of it, `swagger/api-conformite-baseline.json`,
unless `--swagger DIR` gives the upstream file itself) — a departure fails EDC-16 — and the
project's stricter `swagger/api-conformite.json`, whose additions only warn.

Three passes: a tour of every operation (success and documented refusals); invalid /connect bodies
generated from the project's document, each sent by a new LPS (no cookie, so no 304 can hide the
answer); unusual /send bodies and routes within a session.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.plugin import campaign_of
from conformance.negative_inputs import NegativeCase, negative_cases
from conformance.openapi import baseline_of, load_baseline, load_normative, load_upstream
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import connect_answers_session, error_descriptor_is_json
from conformance.roles.consumer.conditions.contrat import (
    Contracts,
    answer_fits_project_contract,
    answer_fits_upstream_contract,
    connect_input_refused_as_documented,
    malformed_connect_refused,
    unusual_input_no_server_error,
)

UPSTREAM_API_CONFORMITE = "API-Proxy-eSante.json"


@pytest.fixture(scope="module")
def contracts(request: pytest.FixtureRequest) -> Contracts:
    """The upstream contract (the file given by --swagger, or the project's baseline of it) and ours."""
    campaign = campaign_of(request.config)
    if campaign.swagger_dir is None:
        upstream = load_baseline()
    else:
        document = load_upstream(campaign.swagger_dir / UPSTREAM_API_CONFORMITE)
        for warning in document.warnings:
            note = f"OpenAPI {UPSTREAM_API_CONFORMITE}: {warning}"
            if note not in campaign.notes:
                campaign.notes.append(note)
        upstream = baseline_of(document)
    return Contracts(upstream=upstream, ours=load_normative("api-conformite"))


def _against_the_contract(checks: CheckRecorder, contracts: Contracts, answer: httpx.Response | None) -> None:
    checks.evaluate(answer_fits_upstream_contract, contracts, answer)
    checks.evaluate(answer_fits_project_contract, contracts, answer)


def _lps_calls(consumer: ConsumerBench, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    """One call from a new LPS, which holds no cookie."""
    with consumer.lps() as lps:
        return consumer.call(lps, method, path, **kwargs).answer


# -- the tour -------------------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-16")
def test_refusals_answer_per_the_contract(
    checks: CheckRecorder, consumer: ConsumerBench, contracts: Contracts
) -> None:
    """Refus documentés (entrée invalide, client inconnu, pas de session) : réponses conformes au contrat"""
    answers = [
        _lps_calls(consumer, "POST", "/connect", json={"nationalId": "x"}),  # fields missing
        _lps_calls(
            consumer, "POST", "/connect", json=consumer.connect_body(client_id="ans-odc-inconnu-edc-bas")
        ),
        _lps_calls(consumer, "POST", consumer.send_path(), json={}),  # no session
        _lps_calls(consumer, "GET", "/traces"),  # start is required
        _lps_calls(consumer, "DELETE", "/disconnect"),  # no session
    ]
    for answer in answers:
        _against_the_contract(checks, contracts, answer)


@pytest.mark.verifies("EDC-16")
def test_session_operations_answer_per_the_contract(
    checks: CheckRecorder, consumer: ConsumerBench, contracts: Contracts
) -> None:
    """Parcours d'une session (connexion, rejeu, appel, traces, fin) : réponses conformes au contrat"""
    identity = consumer.fresh_identity()
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    with consumer.lps() as lps:
        connected = consumer.open_session(lps, national_id=identity.national_id)
        checks.prerequisite(connect_answers_session, connected)
        assert connected.session is not None
        data = consumer.session_data(connected.session, national_id=identity.national_id)
        calls = [
            consumer.call(
                lps, "POST", "/connect", json=consumer.connect_body(national_id=identity.national_id)
            ),
            consumer.call(lps, "POST", consumer.send_path(), json=data),  # relayed
            consumer.call(lps, "GET", "/traces", params={"start": start}),
            consumer.call(lps, "DELETE", "/disconnect"),
            consumer.call(lps, "DELETE", "/disconnect"),  # the session is gone
        ]
    for answer in (connected.answer, *(c.answer for c in calls)):
        _against_the_contract(checks, contracts, answer)


# -- invalid and unusual inputs -------------------------------------------------------------------------


def _connect_cases(consumer: ConsumerBench, contracts: Contracts, national_id: str) -> list[NegativeCase]:
    """Generated from the project's Connection schema, the strictest statement of a valid body."""
    schema = contracts.ours.schema("Connection")
    assert schema is not None, "swagger/api-conformite.json has no Connection schema"
    return list(negative_cases(schema, consumer.connect_body(national_id=national_id)))


@pytest.mark.verifies("EDC-03", "EDC-16")
def test_invalid_connect_inputs_get_documented_errors(
    checks: CheckRecorder, consumer: ConsumerBench, contracts: Contracts
) -> None:
    """Passe d'entrées invalides sur /connect, générée depuis le contrat, chacune par un nouveau LPS"""
    identity = consumer.fresh_identity()
    for case in _connect_cases(consumer, contracts, identity.national_id):
        since = time.time()
        answer = _lps_calls(
            consumer, "POST", "/connect", content=case.body, headers={"Content-Type": case.content_type}
        )
        authentications = consumer.observed("ciba.received", since=since)  # accepted or not
        if case.kind == "structure":
            checks.evaluate(malformed_connect_refused, case, answer, authentications)
            checks.evaluate(error_descriptor_is_json.bound("EDC-03"), answer, (400,), case.name)
        elif case.kind == "schema":
            checks.evaluate(connect_input_refused_as_documented, case, answer, authentications)
        else:
            checks.evaluate(unusual_input_no_server_error, case.name, answer, authentications)
        _against_the_contract(checks, contracts, answer)


@pytest.mark.verifies("EDC-16")
def test_send_with_odd_inputs_never_breaks_the_proxy(
    checks: CheckRecorder, consumer: ConsumerBench, contracts: Contracts
) -> None:
    """Passe d'entrées inhabituelles sur /send : réponses conformes au contrat, sans erreur 5xx"""
    identity = consumer.fresh_identity()
    with consumer.lps() as lps:
        connected = consumer.open_session(lps, national_id=identity.national_id)
        checks.prerequisite(connect_answers_session, connected)
        assert connected.session is not None
        valid = consumer.session_data(connected.session, national_id=identity.national_id)
        schema = {
            "type": "object",
            "required": list(valid),
            "properties": {k: {"type": "string"} for k in valid},
        }
        tried: list[tuple[str, httpx.Response | None]] = []
        for case in negative_cases(schema, valid):
            sent = consumer.call(
                lps,
                "POST",
                consumer.send_path(),
                content=case.body,
                headers={"Content-Type": case.content_type},
            )
            tried.append((f"POST /send {case.name}", sent.answer))
        for path in ("/send/unknown-api/x", consumer.send_path("does/not/exist")):
            tried.append((f"GET {path}", consumer.call(lps, "GET", path).answer))
    for case_name, answer in tried:
        checks.evaluate(unusual_input_no_server_error, case_name, answer)
        _against_the_contract(checks, contracts, answer)
