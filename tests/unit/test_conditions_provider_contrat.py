"""The API PSC contract conditions on hand-built answers, and the baseline document itself.

The baseline (`swagger/api-psc-baseline.json`) states exactly what the upstream "API PSC tests de
Conformite" states (`baseline_of` of the upstream file), so that a default campaign and a `--swagger`
campaign judge alike.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.campaign.verdicts import Status
from conformance.evidence.calls import Call, Failure
from conformance.negative_inputs import NegativeCase
from conformance.openapi import (
    API_PSC_BASELINE_NAME,
    OpenApiDocument,
    baseline_of,
    baseline_path,
    load_baseline,
    load_normative,
    load_upstream,
)
from conformance.roles.provider.conditions.contrat import (
    ApiPscContracts,
    SignCall,
    TokenSource,
    api_psc_answer_fits_project_contract,
    api_psc_answer_fits_upstream_contract,
    api_token_obtained,
    api_token_problems,
    invalid_session_data_answered_4xx,
    invalid_session_data_refused,
    no_stack_trace_in_answer,
    signsessiondata_signs_the_session,
    stack_trace_markers,
)
from conformance.roles.provider.conditions.ressource import ApiCall
from conformance.standards.jose import SigningKey, unsigned_token

UPSTREAM_FILE = (
    Path(__file__).parents[2].parent / "shared" / "reference" / "swagger" / "API-PSC-tests-de-conformite.json"
)
BASE = "/mockservice/apipsc"
SENT = {"nationalId": "899700000001", "clientID": "lps1", "proxy_session_id": "p-1", "session_state": "s-1"}
SIGNED = {**SENT, "signature": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}
X5T = "x5t-of-lps1"
PYTHON_TRACE = 'Traceback (most recent call last):\n  File "/app/rs.py", line 3, in sign\nValueError: bad'


@pytest.fixture(scope="module")
def contracts() -> ApiPscContracts:
    return ApiPscContracts(load_baseline(API_PSC_BASELINE_NAME), load_normative("api-psc"), BASE)


def answer(
    status: int,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    path: str = f"{BASE}/signsessiondata",
) -> httpx.Response:
    request = httpx.Request("POST", f"https://rs.test{path}")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def called(response: httpx.Response | None, error: str = "", failure: Failure | None = None) -> ApiCall:
    return ApiCall("a valid SessionData", Call(response, 0.0, 0.1, error, failure))


# -- the token ---------------------------------------------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": "https://as.test",
        "sub": SENT["nationalId"],
        "aud": "apipsc",
        "scope": "openid apipsc",
        "exp": int(time.time()) + 600,
        "cnf": {"x5t#S256": X5T},
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def problems_of(token: str) -> tuple[str, ...]:
    return api_token_problems(
        token,
        x5t_s256=X5T,
        audience="apipsc",
        scope="apipsc",
        national_id=SENT["nationalId"],
        now=time.time(),
    )


def test_a_usable_token_has_no_problem() -> None:
    assert problems_of(SigningKey.generate("ES256").sign(claims())) == ()
    assert problems_of(unsigned_token(claims(aud=["other", "apipsc"]))) == ()
    assert problems_of("an-opaque-token") == ()  # only the SUT can read it


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"cnf": None}, "cnf.x5t#S256 is None"),
        ({"cnf": {"x5t#S256": "aGV4"}}, "'aGV4', not the RFC 8705"),
        ({"aud": "another-api"}, "does not name 'apipsc'"),
        ({"scope": "openid"}, "lacks 'apipsc'"),
        ({"sub": "f:psc-technical-sub"}, "not the professional's national id"),
        ({"exp": 1}, "not in the future"),
    ],
)
def test_an_unusable_token_says_why(change: dict[str, Any], said: str) -> None:
    found = problems_of(unsigned_token(claims(**change)))
    assert len(found) == 1 and said in found[0]


def test_no_token_is_a_prerequisite_not_a_failure() -> None:
    assert api_token_obtained(TokenSource("t", "the SUT's authorization server")).status is Status.PASSED
    exchange = Call(answer(400, {"error": "invalid_grant"}), 0.0, 0.1)
    missing = api_token_obtained(TokenSource(None, "the SUT's authorization server", exchange))
    assert missing.status is Status.INCONCLUSIVE
    assert "token exchange failed (HTTP 400)" in missing.root_cause


# -- the valid call ----------------------------------------------------------------------------------------


def test_the_session_data_echoed_and_signed_passes() -> None:
    judgement = signsessiondata_signs_the_session(SignCall(called(answer(200, SIGNED)), SENT))
    assert judgement.status is Status.PASSED


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (answer(200, {**SIGNED, "proxy_session_id": "other"}), "proxy_session_id is 'other'"),
        (answer(200, {k: v for k, v in SIGNED.items() if k != "signature"}), "signature is None"),
        (answer(200, {**SIGNED, "signature": " "}), "not a non-empty string"),
        (answer(200, text="signed"), "not application/json"),
        (answer(401, {"code": "invalid_token", "message": "no"}), "must get 200"),
        (answer(500), "must get 200"),
    ],
)
def test_a_valid_call_not_signed_as_sent_fails(reply: httpx.Response, said: str) -> None:
    judgement = signsessiondata_signs_the_session(SignCall(called(reply), SENT))
    assert judgement.status is Status.FAILED and said in judgement.message


def test_a_refusal_explained_by_the_token_is_not_the_apis_failure() -> None:
    problems = ("aud 'x' does not name 'apipsc'",)
    refused = signsessiondata_signs_the_session(SignCall(called(answer(401)), SENT, problems))
    assert refused.status is Status.INCONCLUSIVE and "aud 'x'" in refused.root_cause
    # a token the API could use, and yet served: judged as usual
    served = signsessiondata_signs_the_session(SignCall(called(answer(200, SIGNED)), SENT, problems))
    assert served.status is Status.PASSED
    timeout = signsessiondata_signs_the_session(
        SignCall(called(None, "ReadTimeout: timed out", Failure.TIMEOUT), SENT)
    )
    assert timeout.status is Status.INCONCLUSIVE


# -- the two documents -------------------------------------------------------------------------------------


def test_a_documented_answer_fits_both(contracts: ApiPscContracts) -> None:
    for good in (
        answer(200, SIGNED),
        answer(400, {"code": "invalid_request", "message": "nationalId is missing"}),
        answer(401, {"code": "invalid_token", "message": "expired"}, headers={"WWW-Authenticate": "Bearer"}),
    ):
        assert api_psc_answer_fits_upstream_contract(contracts, good).status is Status.PASSED, good
        assert api_psc_answer_fits_project_contract(contracts, good).status is Status.PASSED, good


def test_what_the_upstream_states_fails(contracts: ApiPscContracts) -> None:
    for bad, said in (
        (answer(200, {**SIGNED, "signature": 12}), "signature: 12 is not of type 'string'"),
        (
            answer(200, {k: v for k, v in SIGNED.items() if k != "clientID"}),
            "'clientID' is a required property",
        ),
        (answer(200, text="ok"), "media type not declared"),
    ):
        judgement = api_psc_answer_fits_upstream_contract(contracts, bad)
        assert judgement.status is Status.FAILED and said in judgement.message
        assert api_psc_answer_fits_project_contract(contracts, bad).status is Status.INCONCLUSIVE


def test_what_only_the_project_states_warns(contracts: ApiPscContracts) -> None:
    for reply, said in (
        (answer(200, {**SIGNED, "signature": ""}), "should be non-empty"),
        (answer(401, {"code": "invalid_token", "message": "x"}), "header WWW-Authenticate is required"),
        (answer(400, text="bad"), "media type not declared"),
    ):
        assert api_psc_answer_fits_upstream_contract(contracts, reply).status is Status.PASSED
        warned = api_psc_answer_fits_project_contract(contracts, reply)
        assert warned.status is Status.FAILED and said in warned.message
        assert "stated only by swagger/api-psc.json" in warned.message
    assert api_psc_answer_fits_project_contract.severity.value == "warning"


def test_a_status_the_upstream_does_not_list_is_for_ours_to_judge(contracts: ApiPscContracts) -> None:
    forbidden = answer(403, {"code": "insufficient_scope", "message": "x"})
    assert api_psc_answer_fits_upstream_contract(contracts, forbidden).status is Status.INCONCLUSIVE
    assert api_psc_answer_fits_project_contract(contracts, forbidden).status is Status.PASSED


def test_the_base_path_is_the_apis(contracts: ApiPscContracts) -> None:
    elsewhere = ApiPscContracts(contracts.upstream, contracts.ours, "/api/v2")
    moved = answer(200, SIGNED, path="/api/v2/signsessiondata")
    assert api_psc_answer_fits_upstream_contract(elsewhere, moved).status is Status.PASSED
    assert api_psc_answer_fits_upstream_contract(contracts, moved).status is Status.INCONCLUSIVE
    assert api_psc_answer_fits_upstream_contract(contracts, None).status is Status.INCONCLUSIVE


# -- invalid bodies ----------------------------------------------------------------------------------------

CASE = NegativeCase("missing:nationalId", b"{}", rule="nationalId: required")


def test_an_invalid_body_must_not_be_served() -> None:
    rule = invalid_session_data_refused
    assert rule(CASE, called(answer(400))).status is Status.PASSED
    assert rule(CASE, called(answer(500))).status is Status.PASSED  # not served: the reading judges the 500
    served = rule(CASE, called(answer(200, SIGNED)))
    assert served.status is Status.FAILED and "missing:nationalId" in served.message
    assert rule(CASE, called(None, "ReadTimeout: timed out", Failure.TIMEOUT)).status is Status.INCONCLUSIVE


def test_an_invalid_body_should_get_a_4xx() -> None:
    rule = invalid_session_data_answered_4xx
    assert rule.severity.value == "warning"
    assert rule(CASE, called(answer(422))).status is Status.PASSED
    server_error = rule(CASE, called(answer(500)))
    assert server_error.status is Status.FAILED and "server error" in server_error.message
    assert (
        rule(CASE, called(None, "RemoteProtocolError: Server disconnected", Failure.CUT)).status
        is Status.FAILED
    )
    assert rule(CASE, called(answer(200, SIGNED))).status is Status.INCONCLUSIVE


@pytest.mark.parametrize(
    "body",
    [
        PYTHON_TRACE,
        'Exception in thread "main" java.lang.IllegalStateException\n\tat java.base/x.y(Z.java:12)',
        "System.ArgumentNullException: x\n   at System.Text.Json.JsonSerializer.Deserialize()",
        "TypeError: x\n    at parse (/srv/app/index.js:10:5)",
    ],
)
def test_a_stack_trace_in_the_body_warns(body: str) -> None:
    assert stack_trace_markers(body.encode())
    judgement = no_stack_trace_in_answer(CASE, called(answer(500, text=body)))
    assert judgement.status is Status.FAILED and no_stack_trace_in_answer.severity.value == "warning"


def test_a_plain_error_is_no_stack_trace() -> None:
    plain = answer(400, {"code": "invalid_request", "message": "nationalId is missing; at least four fields"})
    assert no_stack_trace_in_answer(CASE, called(plain)).status is Status.PASSED
    assert (
        no_stack_trace_in_answer(CASE, called(None, "ReadError: reset", Failure.CUT)).status
        is Status.INCONCLUSIVE
    )


# -- the baseline is the upstream document, read leniently -------------------------------------------------


_NOT_FACTS = {"description", "title", "example", "summary", "tags", "operationId", "servers"}


def _facts(document: OpenApiDocument) -> dict[tuple[str, str], Any]:
    """Per operation, its responses and request body with every $ref resolved and prose dropped."""

    def norm(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return norm(document.resolve(node, "")[0])
            return {k: norm(v) for k, v in node.items() if k not in _NOT_FACTS}
        if isinstance(node, list):
            return [norm(v) for v in node]
        return node

    return {
        (op.method, op.template): {
            "responses": norm(op.raw.get("responses")),
            "requestBody": norm(op.raw.get("requestBody")),
        }
        for op in document.operations()
    }


@pytest.fixture(scope="module")
def upstream() -> OpenApiDocument:
    if not UPSTREAM_FILE.is_file():
        pytest.fail(f"{UPSTREAM_FILE} missing: the tests expect ../shared beside the clone (as in CI)")
    return load_upstream(UPSTREAM_FILE)


def test_the_baseline_states_what_the_upstream_states(upstream: OpenApiDocument) -> None:
    baseline = load_baseline(API_PSC_BASELINE_NAME)
    assert _facts(baseline) == _facts(baseline_of(upstream))
    assert set(_facts(baseline)) == {("POST", "/signsessiondata")}


def test_the_baseline_is_the_projects_own_text(upstream: OpenApiDocument) -> None:
    path = baseline_path(API_PSC_BASELINE_NAME)
    ours = json.loads(path.read_text(encoding="utf-8"))
    assert ours["openapi"] == "3.0.3" and ours["info"]["title"] != upstream.data["info"]["title"]
    assert path.read_bytes() != UPSTREAM_FILE.read_bytes()
    assert load_baseline(API_PSC_BASELINE_NAME).warnings == []
