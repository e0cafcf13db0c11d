"""The token-exchange conditions of the provider role, on hand-built answers and PSC observations."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from conformance.campaign.conditions import Strength
from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.evidence.calls import Call, Failure
from conformance.evidence.model import TO_HARNESS, Exchange
from conformance.roles.provider.conditions.echange import (
    AtPsc,
    api_token_lifetime_1_to_4_hours,
    exchange_answer_complete,
    invalid_exchange_request_refused,
    psc_introspection_post_form_token,
    psc_introspection_provider_credentials,
    psc_introspection_published_endpoint,
    psc_introspection_tls_auth_cli,
    subject_token_introspected_before_issue,
    token_sha256,
    unallowed_scope_not_granted,
    unusable_subject_token_refused,
    valid_exchange_issues_token,
)

ACCESS = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT = "psc.subject.token"
PROVIDER = "fd-provider"
PROVIDER_SUBJECT = "CN=fd-provider,OU=S1,O=Test"
INTROSPECT = "/realm/protocol/openid-connect/token/introspect"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def answered(status: int, body: Any = None, headers: dict[str, str] | None = None, end: float = 10.0) -> Call:
    answer = (
        httpx.Response(status, json=body, headers=headers) if body is not None else httpx.Response(status)
    )
    return Call(answer, 9.0, end)


def no_answer(error: str, failure: Failure = Failure.TIMEOUT) -> Call:
    return Call(None, 9.0, 10.0, error, failure)


def success(**changes: Any) -> dict[str, Any]:
    body = {"access_token": "a.b.c", "issued_token_type": ACCESS, "token_type": "Bearer", "expires_in": 14400}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def observation(kind: str, at: float = 9.5, client_id: str | None = PROVIDER, **data: Any) -> Observation:
    return Observation("psc", kind, client_id, f"{kind} seen", data, exchange_id=f"x-{kind}", at=at)


def introspection(at: float = 9.5, **data: Any) -> Observation:
    fields = {
        "token_sha256": token_sha256(SUBJECT),
        "method": "tls_client_auth",
        "tls_version": "TLSv1.3",
        "certificate_subject": PROVIDER_SUBJECT,
        "active": True,
    }
    return observation("introspection", at, **{**fields, **data})


def request(
    path: str = INTROSPECT, method: str = "POST", media: str = "application/x-www-form-urlencoded"
) -> Exchange:
    headers = [("Content-Type", media)] if media else []
    return Exchange("psc", TO_HARNESS, method, f"https://psc{path}", 9.4, request_headers=headers, id="r1")


def at_psc(*observations: Observation, requests: tuple[Exchange, ...] | None = None) -> AtPsc:
    if requests is None:
        requests = (request(),) if observations else ()
    return AtPsc(
        subject_sha256=token_sha256(SUBJECT),
        answered_at=10.0,
        observations=observations,
        requests=requests,
        published=frozenset({INTROSPECT, "/realm/protocol/openid-connect/token"}),
        introspection_path=INTROSPECT,
        client_subjects={PROVIDER_SUBJECT: PROVIDER},
    )


# -- the valid exchange ---------------------------------------------------------------------------------


def test_valid_exchange_issues_token() -> None:
    assert valid_exchange_issues_token(answered(200, success(), NO_STORE))
    refused = valid_exchange_issues_token(answered(400, {"error": "invalid_grant"}))
    assert refused.status is Status.FAILED and "invalid_grant" in refused.message
    assert valid_exchange_issues_token(no_answer("ReadTimeout: timed out")).inconclusive


def test_exchange_answer_complete_accepts_what_the_rfcs_allow() -> None:
    # token_type is case-insensitive (RFC 6749 §7.1), scope may be left out (§5.1), no-store among others.
    headers = {"Cache-Control": "no-cache, no-store"}
    assert exchange_answer_complete(answered(200, success(token_type="bearer"), headers))


@pytest.mark.parametrize(
    ("body", "headers", "said"),
    [
        (success(), {}, "lacks no-store"),
        (success(issued_token_type=None), NO_STORE, "issued_token_type None"),
        (success(issued_token_type="urn:ietf:params:oauth:token-type:jwt"), NO_STORE, "issued_token_type"),
        (success(token_type="DPoP"), NO_STORE, "token_type 'DPoP'"),
        (success(expires_in=None), NO_STORE, "expires_in None"),
        (success(expires_in="3600"), NO_STORE, "expires_in '3600'"),
    ],
)
def test_exchange_answer_complete_fails_an_incomplete_answer(
    body: dict[str, Any], headers: dict[str, str], said: str
) -> None:
    judgement = exchange_answer_complete(answered(200, body, headers))
    assert judgement.status is Status.FAILED and said in judgement.message


def test_exchange_answer_complete_needs_json() -> None:
    call = Call(httpx.Response(200, text='{"access_token": "x"}', headers=NO_STORE), 9.0, 10.0)
    judgement = exchange_answer_complete(call)
    assert judgement.status is Status.FAILED and "Content-Type" in judgement.message


def test_exchange_answer_complete_inconclusive_without_a_token() -> None:
    assert exchange_answer_complete(answered(400, {"error": "invalid_grant"})).inconclusive


@pytest.mark.parametrize(("lifetime", "ok"), [(3600, True), (14400, True), (300, False), (86400, False)])
def test_api_token_lifetime(lifetime: int, ok: bool) -> None:
    judgement = api_token_lifetime_1_to_4_hours(answered(200, success(expires_in=lifetime), NO_STORE))
    assert bool(judgement) is ok
    assert api_token_lifetime_1_to_4_hours.strength is Strength.SHOULD


def test_api_token_lifetime_read_from_the_token_without_expires_in() -> None:
    token = jwt.encode({"iat": 1000, "exp": 1000 + 7200}, "k" * 32, algorithm="HS256")
    judgement = api_token_lifetime_1_to_4_hours(answered(200, success(access_token=token, expires_in=None)))
    assert judgement and "exp - iat" in judgement.message
    assert api_token_lifetime_1_to_4_hours(answered(200, success(expires_in=None))).inconclusive
    assert api_token_lifetime_1_to_4_hours(answered(400, {"error": "invalid_grant"})).inconclusive


# -- the introspection at PSC ---------------------------------------------------------------------------


def test_introspected_before_issue() -> None:
    issued = answered(200, success(), NO_STORE)
    assert subject_token_introspected_before_issue(issued, at_psc(introspection()))
    assert subject_token_introspected_before_issue(issued, at_psc()).status is Status.FAILED
    late = subject_token_introspected_before_issue(issued, at_psc(introspection(at=10.5)))
    assert late.status is Status.FAILED and "after the answer" in late.message
    other = subject_token_introspected_before_issue(issued, at_psc(introspection(token_sha256="other")))
    assert other.status is Status.FAILED


def test_no_token_issued_is_never_issued_without_introspection() -> None:
    refused = answered(400, {"error": "invalid_grant"})
    assert subject_token_introspected_before_issue(refused, at_psc()).inconclusive


def test_published_endpoint() -> None:
    assert psc_introspection_published_endpoint(at_psc(introspection()))
    stray = at_psc(introspection(), requests=(request(), request(path="/realm/custom/validate")))
    judgement = psc_introspection_published_endpoint(stray)
    assert judgement.status is Status.FAILED and "/realm/custom/validate" in judgement.message
    assert psc_introspection_published_endpoint(at_psc()).inconclusive


@pytest.mark.parametrize(
    ("psc", "said"),
    [
        (at_psc(introspection(), observation("introspection_request.query_parameters")), "query_parameters"),
        (at_psc(introspection(), requests=(request(media="application/json"),)), "application/json"),
        (at_psc(observation("introspection_request.token_missing")), "token_missing"),
    ],
)
def test_post_form_token_fails(psc: AtPsc, said: str) -> None:
    judgement = psc_introspection_post_form_token(psc)
    assert judgement.status is Status.FAILED and said in judgement.message


def test_post_form_token() -> None:
    assert psc_introspection_post_form_token(at_psc(introspection()))
    assert psc_introspection_post_form_token(at_psc()).inconclusive


def test_provider_credentials() -> None:
    assert psc_introspection_provider_credentials(at_psc(introspection()), PROVIDER)
    as_lps = at_psc(introspection(), observation("introspection", client_id="lps-1", token_sha256="t"))
    judgement = psc_introspection_provider_credentials(as_lps, PROVIDER)
    assert judgement.status is Status.FAILED and "'lps-1'" in judgement.message
    bad_secret = at_psc(observation("client_auth.bad_secret", endpoint="introspection"))
    assert psc_introspection_provider_credentials(bad_secret, PROVIDER).status is Status.FAILED
    assert psc_introspection_provider_credentials(at_psc(), PROVIDER).inconclusive
    # Refused for the missing certificate: a matter of EXI PSC 24, not of whose credentials.
    no_cert = at_psc(observation("client_auth.no_certificate", endpoint="introspection"))
    assert psc_introspection_provider_credentials(no_cert, PROVIDER).inconclusive


def test_tls_auth_cli() -> None:
    assert psc_introspection_tls_auth_cli(at_psc(introspection()))
    # client_secret_basic with the certificate presented: documented by ANS, still mutual TLS.
    basic = at_psc(
        introspection(method="client_secret_basic"),
        observation("client_auth.basic", endpoint="introspection"),
    )
    assert psc_introspection_tls_auth_cli(basic)
    no_cert = at_psc(observation("client_auth.no_certificate", endpoint="introspection"))
    assert psc_introspection_tls_auth_cli(no_cert).status is Status.FAILED
    old = psc_introspection_tls_auth_cli(at_psc(introspection(tls_version="TLSv1.1")))
    assert old.status is Status.FAILED and "TLSv1.1" in old.message
    stranger = psc_introspection_tls_auth_cli(at_psc(introspection(certificate_subject="CN=x")))
    assert stranger.status is Status.FAILED and "outside the test IGC-Santé" in stranger.message
    assert psc_introspection_tls_auth_cli(at_psc()).inconclusive


# -- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", [unusable_subject_token_refused, invalid_exchange_request_refused])
def test_oauth_refusal(refusal: Any) -> None:
    for code in (
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
    ):
        assert refusal(answered(400, {"error": code, "error_description": "no"}), "case")
    assert refusal(answered(401, {"error": "invalid_client"}), "case")
    failing = [
        answered(200, success(), NO_STORE),  # a token
        answered(401, {"error": "invalid_grant"}),  # 401 only for invalid_client
        answered(400, {"error": "token_inactive"}),  # not a registered code
        answered(400),  # no JSON error object
        answered(500, {"error": "server_error"}),
        answered(400, {"error": "invalid_grant", "access_token": "x"}),
    ]
    for call in failing:
        assert refusal(call, "case").status is Status.FAILED, call.answer
    assert refusal(no_answer("ReadTimeout: timed out"), "case").inconclusive


API_SCOPE = "signsessiondata"


def _jwt(scope: str) -> str:
    return jwt.encode({"scope": scope}, "k" * 32, algorithm="HS256")


@pytest.mark.parametrize(
    ("call", "status"),
    [
        (answered(400, {"error": "invalid_scope"}, NO_STORE), Status.PASSED),  # refused
        (
            answered(200, success(access_token=_jwt("signsessiondata"), scope="signsessiondata")),
            Status.PASSED,
        ),
        (answered(200, success(access_token=_jwt("signsessiondata admin"), scope="admin")), Status.FAILED),
        (answered(200, success(access_token=_jwt("admin"), scope="signsessiondata")), Status.FAILED),
        (answered(200, success(access_token=_jwt("signsessiondata"))), Status.FAILED),  # scope not named
        (no_answer("ReadTimeout: timed out"), Status.INCONCLUSIVE),
    ],
    ids=["refused", "ignored-and-named", "granted", "granted-in-token", "not-named", "no-answer"],
)
def test_unallowed_scope_is_refused_or_ignored_never_granted(call: Call, status: Status) -> None:
    """RFC 6749 §3.3 lets a server ignore a scope it will not grant, provided it names what it granted."""
    assert unallowed_scope_not_granted(call, "admin").status is status
