"""Contrat : les réponses de l'API Conformité respectent le document OpenAPI normatif.

Two passes. A tour of every operation (success and documented errors) with each answer validated
against `swagger/api-conformite.json` (status, media type, schema); and a negative-input pass
generated from the same document: every invalid /connect and /send body gets its documented
4xx and error descriptor, never a 5xx.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from conformance.checks import Check
from conformance.consumer_bench import ConsumerBench
from conformance.negative_inputs import NegativeCase, negative_cases
from conformance.openapi import OpenApiDocument, load_normative, load_upstream
from conformance.plugin import campaign_of

CONTRACT = Check(
    "api_conformite_response_matches_openapi",
    ("EDC-16",),
    fr="La réponse respecte le document OpenAPI de l'API Conformité (statut, type de média, schéma)",
    en="The answer fits the API Conformité OpenAPI document (status, media type, schema)",
)
NEGATIVE_INPUT = Check(
    "invalid_input_gets_documented_4xx",
    ("EDC-03", "EDC-16"),
    fr="Une entrée invalide reçoit l'erreur 4xx documentée avec son descripteur, jamais une 5xx",
    en="An invalid input gets the documented 4xx with its descriptor, never a 5xx",
)
SESSION_PRECONDITION = Check(
    "contract_tour_connects",
    ("EDC-01",),
    fr="La connexion du parcours réussit (prérequis)",
    en="The tour's connection succeeds (prerequisite)",
)


UPSTREAM_API_CONFORMITE = "API-Proxy-eSante.json"


@pytest.fixture(scope="module")
def document(request: pytest.FixtureRequest) -> OpenApiDocument:
    """Our normative document, or the upstream one unchanged when the campaign asks for it."""
    campaign = campaign_of(request.config)
    if campaign.swagger_dir is None:
        return load_normative("api-conformite")
    upstream = load_upstream(campaign.swagger_dir / UPSTREAM_API_CONFORMITE)
    for warning in upstream.warnings:
        note = f"OpenAPI {UPSTREAM_API_CONFORMITE}: {warning}"
        if note not in campaign.notes:
            campaign.notes.append(note)
    return upstream


def validate(document: OpenApiDocument, answer: httpx.Response) -> list[str]:
    request = answer.request
    operation = document.operation(request.method, request.url.path)
    if operation is None:
        return [f"{request.method} {request.url.path}: no such operation in the document"]
    problems = operation.validate_response(
        answer.status_code, answer.headers.get("Content-Type"), answer.content, headers=dict(answer.headers)
    )
    return [f"{request.method} {request.url.path} → {p}" for p in problems]


@pytest.mark.verifies("EDC-16", "EDC-01")
def test_every_operation_answers_per_the_contract(
    checks, consumer: ConsumerBench, document: OpenApiDocument
) -> None:
    """Parcours de toutes les opérations : chaque réponse respecte le contrat"""
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    with consumer.lps() as lps, consumer.lps() as stranger:
        connected = consumer.connect(lps)
        checks.require(SESSION_PRECONDITION, connected.status_code == 200, f"HTTP {connected.status_code}")
        session = connected.json()
        answers = [
            connected,
            consumer.connect(lps),  # 304 replay
            stranger.post("/connect", json={"nationalId": "x"}),  # 400
            consumer.connect(stranger, client_id="ans-odc-inconnu-edc-bas"),  # 404
            lps.post(consumer.send_path(), json=consumer.session_data(session)),  # relayed 200
            stranger.post(consumer.send_path(), json={}),  # 401 without a session
            lps.get("/traces", params={"start": start}),
            lps.get("/traces"),  # 400: start is required
            lps.delete("/disconnect"),
            lps.delete("/disconnect"),  # 401: the session is gone
        ]
    for answer in answers:
        problems = validate(document, answer)
        checks.record(
            CONTRACT,
            not problems,
            "; ".join(problems)
            or f"{answer.request.method} {answer.request.url.path} → {answer.status_code} fits the document",
            evidence=[answer.extensions.get("exchange_id", "")],
        )


def _connect_cases(consumer: ConsumerBench, document: OpenApiDocument) -> list[NegativeCase]:
    operation = document.operation("POST", "/connect")
    assert operation is not None
    body, pointer = operation.request_body() or ({}, "")
    schema, _ = document.resolve(body["content"]["application/json"]["schema"], pointer)
    return list(negative_cases(schema, consumer.connect_body()))


@pytest.mark.verifies("EDC-03", "EDC-16")
def test_invalid_connect_inputs_get_documented_errors(
    checks, consumer: ConsumerBench, document: OpenApiDocument, since: float
) -> None:
    """Passe d'entrées invalides sur /connect, générée depuis le contrat : 400 documentée, jamais 5xx"""
    operation = document.operation("POST", "/connect")
    assert operation is not None
    with consumer.lps() as lps:
        for case in _connect_cases(consumer, document):
            answer = lps.post("/connect", content=case.body, headers={"Content-Type": case.content_type})
            problems = validate(document, answer)
            expected = answer.status_code == 400 if case.invalid else answer.status_code < 500
            ok = expected and not problems
            checks.record(
                NEGATIVE_INPUT,
                ok,
                f"{case.name}: HTTP {answer.status_code}" + (f"; {'; '.join(problems)}" if problems else ""),
                evidence=[answer.extensions.get("exchange_id", "")],
            )
    started = consumer.observed("ciba.request", since=since)
    checks.record(
        NEGATIVE_INPUT,
        not started,
        f"{len(started)} CIBA request(s) reached PSC for invalid inputs",
        evidence=consumer.exchange_ids(started),
    )


@pytest.mark.verifies("EDC-16", "EDC-01")
def test_send_with_odd_inputs_never_breaks_the_proxy(
    checks, consumer: ConsumerBench, document: OpenApiDocument
) -> None:
    """Passe d'entrées inhabituelles sur /send : aucune erreur 5xx non documentée"""
    with consumer.lps() as lps:
        connected = consumer.connect(lps)
        checks.require(SESSION_PRECONDITION, connected.status_code == 200, f"HTTP {connected.status_code}")
        valid = consumer.session_data(connected.json())
        schema = {
            "type": "object",
            "required": list(valid),
            "properties": {k: {"type": "string"} for k in valid},
        }
        for case in negative_cases(schema, valid):
            answer = lps.post(
                consumer.send_path(), content=case.body, headers={"Content-Type": case.content_type}
            )
            problems = validate(document, answer)
            checks.record(
                CONTRACT,
                answer.status_code < 500 and not problems,
                f"{case.name}: HTTP {answer.status_code}" + (f"; {'; '.join(problems)}" if problems else ""),
                evidence=[answer.extensions.get("exchange_id", "")],
            )
        for path in ("/send/unknown-api/x", consumer.send_path("does/not/exist")):
            answer = lps.get(path)
            problems = validate(document, answer)
            checks.record(
                CONTRACT,
                answer.status_code < 500 and not problems,
                f"GET {path}: HTTP {answer.status_code}" + (f"; {'; '.join(problems)}" if problems else ""),
            )
