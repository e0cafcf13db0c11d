"""The contract conditions on hand-built answers: what the upstream contract fails, what only ours warns.

Also: the project's baseline document (`swagger/api-conformite-baseline.json`) states exactly what the
upstream document states once its known defects are read leniently (`baseline_of`), so that a default
campaign and a `--swagger` campaign judge alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.negative_inputs import NegativeCase, negative_cases
from conformance.openapi import (
    OpenApiDocument,
    baseline_of,
    baseline_path,
    load_baseline,
    load_normative,
    load_upstream,
)
from conformance.roles.consumer.conditions.contrat import (
    Contracts,
    answer_fits_project_contract,
    answer_fits_upstream_contract,
    connect_input_refused_as_documented,
    malformed_connect_refused,
    unusual_input_no_server_error,
)
from conformance.roles.shared.contract_reading import compact

UPSTREAM_FILE = (
    Path(__file__).parents[2].parent / "shared" / "reference" / "swagger" / "API-Proxy-eSante.json"
)
SESSION = {"proxy_session_id": "p-1", "session_state": "s-1"}
TRACE = {
    "type": "CONNECT_SUCCESS",
    "clientId": "ans-odc-lps1-edc-bas",
    "IdRPPS": "899700000001",
    "ipAddress": "127.0.0.1",
    "proxy_id_session": "p-1",
    "session_state": "s-1",
    "dn": "CN=ans-odc-lps1-edc-bas,O=X,C=FR",
    "timestamp": "2026-01-01T10:00:00+01:00",
}


@pytest.fixture(scope="module")
def contracts() -> Contracts:
    return Contracts(upstream=load_baseline(), ours=load_normative("api-conformite"))


def answer(
    method: str,
    path: str,
    status: int,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    request = httpx.Request(method, f"https://sut.test{path}")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def connected() -> httpx.Response:
    return answer("POST", "/connect", 200, SESSION, headers={"Set-Cookie": "proxy_session_id=p-1; Path=/"})


# -- the two contracts ----------------------------------------------------------------------------------


def test_a_documented_answer_fits_both(contracts: Contracts) -> None:
    for good in (
        connected(),
        answer("POST", "/connect", 304),
        answer("POST", "/connect", 400, {"code": "400", "message": "bad", "metadata": {"nationalId": "x"}}),
        answer("GET", "/traces?start=2026-01-01T00:00:00Z", 200, [TRACE]),
        answer("DELETE", "/disconnect", 401, {"code": "401", "message": "no session"}),
    ):
        assert answer_fits_upstream_contract(contracts, good).status is Status.PASSED, good
        assert answer_fits_project_contract(contracts, good).status is Status.PASSED, good


def test_what_the_upstream_states_fails(contracts: Contracts) -> None:
    """400 of /connect is declared application/json upstream: text/plain departs from the contract."""
    text = answer("POST", "/connect", 400, text="bad request")
    judgement = answer_fits_upstream_contract(contracts, text)
    assert judgement.status is Status.FAILED and "media type not declared" in judgement.message
    assert answer_fits_upstream_contract.severity.value == "failure"
    # the reading is not judged twice
    assert answer_fits_project_contract(contracts, text).status is Status.INCONCLUSIVE
    # a body on 304 breaks RFC 9110, in both documents
    replay = answer("POST", "/connect", 304, text="x")
    assert answer_fits_upstream_contract(contracts, replay).status is Status.FAILED
    # a session whose ids are not strings
    wrong = answer("POST", "/connect", 200, {"proxy_session_id": 12, "session_state": "s"})
    assert answer_fits_upstream_contract(contracts, wrong).status is Status.FAILED


def test_a_status_the_upstream_does_not_list_is_for_ours_to_judge(contracts: Contracts) -> None:
    traces_400 = answer("GET", "/traces", 400, {"code": "400", "message": "start is required"})
    judgement = answer_fits_upstream_contract(contracts, traces_400)
    assert judgement.status is Status.INCONCLUSIVE and "not 400" in judgement.message
    assert answer_fits_project_contract(contracts, traces_400).status is Status.PASSED
    teapot = answer("GET", "/traces", 418, text="no")
    assert answer_fits_upstream_contract(contracts, teapot).status is Status.INCONCLUSIVE
    warned = answer_fits_project_contract(contracts, teapot)
    assert warned.status is Status.FAILED and "lists no 418" in warned.message
    assert answer_fits_project_contract.severity.value == "warning"


@pytest.mark.parametrize(
    ("case", "reply", "difference"),
    [
        (
            "session record with dn null",
            answer("GET", "/traces?start=2026-01-01T00:00:00Z", 200, [{**TRACE, "dn": None}]),
            "dn: None is not of type 'string'",
        ),
        (
            "trace without dn",
            answer("GET", "/traces?start=x", 200, [{k: v for k, v in TRACE.items() if k != "dn"}]),
            "'dn' is a required property",
        ),
        (
            "descriptor without code",
            answer("POST", "/connect", 404, {"message": "unknown client"}),
            "'code' is a required property",
        ),
        (
            "session without session_state",
            answer(
                "POST",
                "/connect",
                200,
                {"proxy_session_id": "p"},
                headers={"Set-Cookie": "proxy_session_id=p"},
            ),
            "'session_state' is a required property",
        ),
        (
            "/connect refused 401 by PSC",
            answer("POST", "/connect", 401, text="PSC said no"),
            "media type not declared",
        ),
    ],
)
def test_what_only_the_project_states_warns(
    contracts: Contracts, case: str, reply: httpx.Response, difference: str
) -> None:
    upstream = answer_fits_upstream_contract(contracts, reply)
    assert upstream.status in (Status.PASSED, Status.INCONCLUSIVE), (case, upstream.message)
    warned = answer_fits_project_contract(contracts, reply)
    assert warned.status is Status.FAILED, case
    assert difference in warned.message and "stated only by swagger/api-conformite.json" in warned.message


@pytest.mark.parametrize(
    ("case", "reply"),
    [
        (
            "CONNECT_FAILURE with clientId and dn null (no client, no certificate)",
            answer(
                "GET",
                "/traces?start=2026-01-01T00:00:00Z",
                200,
                [{**TRACE, "type": "CONNECT_FAILURE", "clientId": None, "dn": None}],
            ),
        ),
        (
            "metadata echoing the rejected value with its JSON type",
            answer(
                "POST", "/connect", 400, {"code": "400", "message": "m", "metadata": {"nationalId": 12345}}
            ),
        ),
    ],
)
def test_conformant_alternatives_pass_both_contracts(
    contracts: Contracts, case: str, reply: httpx.Response
) -> None:
    assert answer_fits_upstream_contract(contracts, reply).status is Status.PASSED, case
    assert answer_fits_project_contract(contracts, reply).status is Status.PASSED, case


def test_no_answer_or_no_operation_is_not_judged(contracts: Contracts) -> None:
    for rule in (answer_fits_upstream_contract, answer_fits_project_contract):
        assert rule(contracts, None).status is Status.INCONCLUSIVE
        assert rule(contracts, answer("GET", "/nowhere", 404)).status is Status.INCONCLUSIVE


def test_repeated_problems_on_array_items_are_said_once() -> None:
    problems = [f"200 application/json: $[{i}].dn: None is not of type 'string'" for i in range(12)]
    assert compact(problems) == ["200 application/json: $[*].dn: None is not of type 'string' (12 items)"]


# -- invalid inputs -------------------------------------------------------------------------------------


def cases() -> dict[str, NegativeCase]:
    schema = load_normative("api-conformite").schema("Connection")
    assert schema is not None
    valid = {"nationalId": "899700000001", "bindingMessage": "42", "clientId": "lps", "channel": "CARD"}
    return {c.name: c for c in negative_cases(schema, valid)}


def test_negative_cases_say_which_rule_they_break() -> None:
    by_name = cases()
    assert {n for n, c in by_name.items() if c.kind == "structure"} == {
        "not-json",
        "empty-body",
        "array-instead-of-object",
        "string-instead-of-object",
        "form-instead-of-json",
    }
    assert by_name["pattern:bindingMessage"].kind == "schema"
    assert by_name["pattern:bindingMessage"].rule == "bindingMessage: pattern ^[0-9]{2}$"
    assert by_name["huge-string"].kind == "unusual" and not by_name["huge-string"].invalid


def ciba() -> list[Observation]:
    return [Observation("psc", "ciba.received", "lps", "backchannel", {}, "ex-psc")]


def test_a_malformed_body_is_refused_4xx_without_calling_psc() -> None:
    case = cases()["not-json"]
    for status in (400, 415):
        assert malformed_connect_refused(case, answer("POST", "/connect", status, text="no"), []).status is (
            Status.PASSED
        )
    for status in (200, 500):
        judged = malformed_connect_refused(case, answer("POST", "/connect", status, text="x"), [])
        assert judged.status is Status.FAILED
    called = malformed_connect_refused(case, answer("POST", "/connect", 400, text="no"), ciba())
    assert called.status is Status.FAILED and "1 CIBA request(s)" in called.message
    assert malformed_connect_refused(case, None, []).status is Status.FAILED
    assert malformed_connect_refused(cases()["enum:channel"], None, []).status is Status.INCONCLUSIVE


def test_a_binding_message_that_is_not_two_digits_only_warns() -> None:
    case = cases()["pattern:bindingMessage"]
    accepted = connect_input_refused_as_documented(case, connected(), ciba())
    assert (
        accepted.status is Status.FAILED and connect_input_refused_as_documented.severity.value == "warning"
    )
    assert "the upstream document does not state this rule" in accepted.message
    refused = answer("POST", "/connect", 400, {"code": "400", "message": "m"})
    assert connect_input_refused_as_documented(case, refused, []).status is Status.PASSED
    assert connect_input_refused_as_documented(cases()["not-json"], refused, []).status is Status.INCONCLUSIVE


def test_an_unusual_input_ending_in_a_5xx_only_warns() -> None:
    assert unusual_input_no_server_error("huge", answer("POST", "/connect", 401, {})).status is Status.PASSED
    five = unusual_input_no_server_error("huge", answer("POST", "/connect", 500))
    assert five.status is Status.FAILED and unusual_input_no_server_error.severity.value == "warning"
    assert unusual_input_no_server_error("huge", None).status is Status.INCONCLUSIVE
    # passed on to PSC, whose refusal the proxy maps to 500 (allowed upstream): not the proxy's own error
    mapped = unusual_input_no_server_error("huge", answer("POST", "/connect", 500), ciba())
    assert mapped.status is Status.INCONCLUSIVE and "1 request(s) to PSC" in mapped.message


# -- the baseline is the upstream document, read leniently ----------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> OpenApiDocument:
    if not UPSTREAM_FILE.is_file():
        pytest.fail(f"{UPSTREAM_FILE} missing: the tests expect ../shared beside the clone (as in CI)")
    return load_upstream(UPSTREAM_FILE)


_NOT_FACTS = {"description", "title", "example", "summary", "tags", "operationId", "servers", "x-greedy"}


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
        (op.method, "/send" if op.template.startswith("/send") else op.template): {
            "responses": norm(op.raw.get("responses")),
            "requestBody": norm(op.raw.get("requestBody")),
        }
        for op in document.operations()
    }


def test_the_baseline_states_what_the_upstream_states(upstream: OpenApiDocument) -> None:
    assert _facts(load_baseline()) == _facts(baseline_of(upstream))


def test_the_baseline_is_the_projects_own_text(upstream: OpenApiDocument) -> None:
    path = baseline_path()
    ours = json.loads(path.read_text(encoding="utf-8"))
    assert ours != upstream.data and ours["info"]["title"] != upstream.data["info"]["title"]
    assert path.read_bytes() != UPSTREAM_FILE.read_bytes()


def test_the_upstream_file_itself_is_left_unchanged(upstream: OpenApiDocument) -> None:
    before = json.dumps(upstream.data, sort_keys=True)
    lenient = baseline_of(upstream)
    assert json.dumps(upstream.data, sort_keys=True) == before
    assert "read leniently" in lenient.source and lenient.warnings == upstream.warnings


def test_both_baselines_judge_alike(upstream: OpenApiDocument) -> None:
    ours = load_normative("api-conformite")
    via_file, via_upstream = Contracts(load_baseline(), ours), Contracts(baseline_of(upstream), ours)
    samples = [
        connected(),
        answer("POST", "/connect", 400, text="bad"),
        answer("POST", "/connect", 400, {"code": "400", "message": "m", "metadata": {"nationalId": 1}}),
        answer("POST", "/connect", 404, {"code": None, "message": "m", "metadata": None}),
        answer("POST", "/send/apipsc/signsessiondata", 200, {"signature": "x"}),
        answer("POST", "/send/apipsc/signsessiondata", 200, ["not", "an", "object"]),
        answer("POST", "/send/apipsc/signsessiondata", 403, text="forbidden"),
        answer("GET", "/traces?start=x", 200, [TRACE]),
        answer("DELETE", "/disconnect", 401, {"code": 401}),
    ]
    for sample in samples:
        a = answer_fits_upstream_contract(via_file, sample)
        b = answer_fits_upstream_contract(via_upstream, sample)
        assert a.status is b.status, (sample.request.url, a.message, b.message)
