"""The resource-server conditions on hand-built calls: pass, fail and inconclusive for each."""

from __future__ import annotations

import httpx
import pytest

from conformance.campaign.conditions import Condition
from conformance.campaign.verdicts import Status
from conformance.evidence.calls import Call, Failure
from conformance.roles.provider.conditions.ressource import (
    ApiCall,
    Handling,
    handling,
    insufficient_scope_answered_403,
    read_bearer_challenge,
    rs_401_carries_bearer_challenge,
    rs_challenge_error_code_registered,
    rs_cnf_rfc8705_form_only,
    rs_refuses_invalid_token,
    rs_refuses_token_bound_elsewhere,
    rs_refuses_token_for_another_audience,
    rs_refuses_token_without_api_scope,
    rs_requires_valid_client_certificate,
    rs_serves_valid_harness_token,
)

URL = "https://rs.test/mockservice/apipsc/signsessiondata"
HANDSHAKE_ALERT = "ReadError: [SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)"
REFUSALS = (
    rs_refuses_invalid_token,
    rs_refuses_token_for_another_audience,
    rs_refuses_token_without_api_scope,
    rs_refuses_token_bound_elsewhere,
    rs_requires_valid_client_certificate,
)


def answered(status: int, *, challenge: str | list[str] | None = None, body: bytes = b"{}") -> Call:
    values = [challenge] if isinstance(challenge, str) else challenge or []
    headers = [("Content-Type", "application/json"), *(("WWW-Authenticate", v) for v in values)]
    response = httpx.Response(status, headers=headers, content=body, request=httpx.Request("POST", URL))
    return Call(response, 0.0, 0.1)


def response(status: int, *, challenge: str | list[str] | None = None) -> httpx.Response:
    reply = answered(status, challenge=challenge).answer
    assert reply is not None
    return reply


def unanswered(error: str, failure: Failure = Failure.CUT) -> Call:
    return Call(None, 0.0, 0.1, error, failure)


def trial(call: Call, presented: str = "a token") -> ApiCall:
    return ApiCall(presented, call)


# -- what the resource server did ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (answered(200), Handling.SERVED),
        (answered(204), Handling.SERVED),
        (answered(401), Handling.REFUSED),
        (answered(500), Handling.REFUSED),
        (unanswered(HANDSHAKE_ALERT), Handling.CUT),
        (unanswered("RemoteProtocolError: Server disconnected without sending a response."), Handling.CUT),
        (unanswered("ReadTimeout: timed out", Failure.TIMEOUT), Handling.SILENT),
        (unanswered("ConnectError: [Errno 111] Connection refused", Failure.UNREACHABLE), Handling.SILENT),
    ],
)
def test_handling_tells_a_refusal_from_silence(call: Call, expected: Handling) -> None:
    assert handling(call) is expected


# -- the prerequisite ---------------------------------------------------------------------------------------


def test_a_served_valid_token_is_the_prerequisite() -> None:
    assert rs_serves_valid_harness_token(trial(answered(200))).status is Status.PASSED
    for call in (
        answered(401),
        unanswered(HANDSHAKE_ALERT),
        unanswered("ReadTimeout: timed out", Failure.TIMEOUT),
    ):
        judgement = rs_serves_valid_harness_token(trial(call))
        assert judgement.status is Status.INCONCLUSIVE  # never a failure: the harness may not be trusted
        assert "configured to trust it" in judgement.root_cause


# -- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", REFUSALS, ids=lambda c: c.name)
def test_a_served_call_fails_a_refusal_rule(rule: Condition) -> None:
    judgement = rule(trial(answered(200), "alg none"))
    assert judgement.status is Status.FAILED and "alg none" in judgement.message
    assert rule.severity.value == "failure"


@pytest.mark.parametrize("rule", REFUSALS, ids=lambda c: c.name)
@pytest.mark.parametrize("call", [answered(401), answered(400), answered(403), unanswered(HANDSHAKE_ALERT)])
def test_any_refusal_passes_a_refusal_rule(rule: Condition, call: Call) -> None:
    assert rule(trial(call)).status is Status.PASSED


@pytest.mark.parametrize("rule", REFUSALS, ids=lambda c: c.name)
def test_silence_is_not_judged(rule: Condition) -> None:
    judgement = rule(trial(unanswered("ReadTimeout: timed out", Failure.TIMEOUT)))
    assert judgement.status is Status.INCONCLUSIVE and "ReadTimeout" in judgement.root_cause


def test_a_refusal_with_another_status_is_noted_not_failed() -> None:
    assert "the sources name 401" in rs_refuses_invalid_token(trial(answered(400))).message
    assert "server error" in rs_refuses_invalid_token(trial(answered(500))).message
    assert "the sources name" not in rs_refuses_invalid_token(trial(answered(401))).message
    assert "the sources name 403" in rs_refuses_token_without_api_scope(trial(answered(401))).message


def test_insufficient_scope_403_is_a_should() -> None:
    rule = insufficient_scope_answered_403
    assert rule.severity.value == "warning"
    assert rule(trial(answered(403, challenge='Bearer error="insufficient_scope"'))).status is Status.PASSED
    assert rule(trial(answered(403, challenge='Bearer realm="apipsc"'))).status is Status.PASSED  # optional
    assert rule(trial(answered(403))).status is Status.PASSED
    wrong_code = rule(trial(answered(403, challenge='Bearer error="invalid_token"')))
    assert wrong_code.status is Status.FAILED and "invalid_token" in wrong_code.message
    assert rule(trial(answered(401, challenge='Bearer error="invalid_token"'))).status is Status.FAILED
    # not refused with an HTTP answer: the MUST rule judges it, not this one
    assert rule(trial(answered(200))).status is Status.INCONCLUSIVE
    assert rule(trial(unanswered(HANDSHAKE_ALERT))).status is Status.INCONCLUSIVE


def test_the_ans_hex_form_is_a_reading() -> None:
    rule = rs_cnf_rfc8705_form_only
    assert rule.severity.value == "warning"
    accepted = rule(trial(answered(200)))
    assert accepted.status is Status.FAILED and "RFC 8705 §3.1" in accepted.message
    assert rule(trial(answered(401))).status is Status.PASSED
    assert rule(trial(unanswered("ReadTimeout: timed out", Failure.TIMEOUT))).status is Status.INCONCLUSIVE


# -- RFC 6750 challenges ------------------------------------------------------------------------------------


def test_challenges_are_read_per_rfc_9110() -> None:
    reading = read_bearer_challenge(
        response(401, challenge=['Basic realm="x"', 'bearer error="invalid_token"'])
    )
    assert reading.challenge is not None and reading.challenge.params == {"error": "invalid_token"}
    assert "no WWW-Authenticate" in read_bearer_challenge(response(401)).problem
    assert "no Bearer challenge" in read_bearer_challenge(response(401, challenge='Basic realm="x"')).problem
    assert "not a challenge list" in read_bearer_challenge(response(401, challenge='Bearer error="x')).problem


def test_every_401_must_carry_a_bearer_challenge() -> None:
    rule = rs_401_carries_bearer_challenge
    minimal = [trial(answered(401, challenge='Bearer realm="apipsc"'), "no token"), trial(answered(403))]
    assert rule(minimal).status is Status.PASSED
    detailed = [trial(answered(401, challenge='BEARER realm="apipsc", error="invalid_token"'), "expired")]
    assert rule(detailed).status is Status.PASSED
    missing = rule([*minimal, trial(answered(401), "expired")])
    assert (
        missing.status is Status.FAILED
        and "expired" in missing.message
        and "no WWW-Authenticate" in missing.message
    )
    assert rule([trial(answered(401, challenge='Basic realm="apipsc"'))]).status is Status.FAILED
    assert rule([trial(answered(400)), trial(unanswered(HANDSHAKE_ALERT))]).status is Status.INCONCLUSIVE


def test_the_error_code_when_present_is_an_rfc_6750_one() -> None:
    rule = rs_challenge_error_code_registered
    assert rule.severity.value == "warning"
    assert rule([trial(answered(401, challenge='Bearer realm="apipsc"'))]).status is Status.PASSED
    assert rule([trial(answered(401, challenge='Bearer error="invalid_token"'))]).status is Status.PASSED
    odd = rule([trial(answered(401, challenge='Bearer error="token_expired"'), "expired")])
    assert odd.status is Status.FAILED and "'token_expired'" in odd.message
    assert rule([trial(answered(401))]).status is Status.INCONCLUSIVE
    assert rule([trial(answered(403, challenge='Bearer error="odd"'))]).status is Status.INCONCLUSIVE
