"""Operation lookup and response/request validation against the OpenAPI documents.

What our reference proxy answers must validate against the normative API Conformité, and what a sloppy
proxy answers must not: the contract scenarios are only as good as these two directions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import UsageError
from conformance.openapi import (
    FORMAT_CHECKER,
    OpenApiDocument,
    OpenApiError,
    Operation,
    load_document,
    load_normative,
)
from conformance.reference.consumer.proxy import descriptor
from conformance.reference.consumer.traces import TraceLog

JSON = "application/json"
SESSION_ID = "3f6c1e9a-8d0b-4f57-a4f4-0c2b8e61d7a5"
SESSION_STATE = "c1f4e2a0-5b7d-4e58-9a1b-2f8d6c3e7a90"
NATIONAL_ID = "899700218896"
CLIENT_ID = "ans-odc-lps1-edc-bas"
DN = "CN=ans-odc-lps1-edc-bas,OU=499700000000000,O=LPS 1,C=FR"


@pytest.fixture(scope="module")
def conformite() -> OpenApiDocument:
    return load_normative("api-conformite")


@pytest.fixture(scope="module")
def api_psc() -> OpenApiDocument:
    return load_normative("api-psc")


def op(document: OpenApiDocument, method: str, path: str) -> Operation:
    found = document.operation(method, path)
    assert found is not None, f"{method} {path} not found"
    return found


def body(data: Any) -> bytes:
    return json.dumps(data).encode("utf-8")


def trace(kind: str, **overrides: Any) -> dict[str, Any]:
    """A trace record as the reference proxy's TraceLog writes it."""
    record: dict[str, Any] = {
        "type": kind,
        "clientId": CLIENT_ID,
        "IdRPPS": NATIONAL_ID,
        "ipAddress": "127.0.0.1",
        "proxy_id_session": SESSION_ID,
        "session_state": SESSION_STATE,
        "dn": DN,
        "timestamp": "2026-11-03T10:15:42.123+00:00",
    }
    if kind == "SEND":
        record["apiRequest"] = {"nomApiPsc": "apipsc", "methode": "POST", "path": "/signsessiondata"}
    record.update(overrides)
    return record


# -- matching ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "template", "params"),
    [
        ("POST", "/connect", "/connect", {}),
        ("DELETE", "/disconnect", "/disconnect", {}),
        (
            "POST",
            "/send/apipsc/signsessiondata",
            "/send/{api}/{endpoint}",
            {"api": "apipsc", "endpoint": "signsessiondata"},
        ),
        ("GET", "/send/apipsc/a/b/c", "/send/{api}/{endpoint}", {"api": "apipsc", "endpoint": "a/b/c"}),
        (
            "PATCH",
            "/send/apipsc/a%20b/c?x=1",
            "/send/{api}/{endpoint}",
            {"api": "apipsc", "endpoint": "a b/c"},
        ),
        ("GET", "/traces?start=2026-11-03T10:00:00Z&end=2026-11-03T11:00:00Z", "/traces", {}),
        ("get", "/traces", "/traces", {}),
    ],
)
def test_operation_matching(
    conformite: OpenApiDocument, method: str, path: str, template: str, params: dict[str, str]
) -> None:
    operation = op(conformite, method, path)
    assert operation.template == template and operation.method == method.upper()
    assert dict(operation.path_params) == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/unknown"),
        ("GET", "/connect"),  # path known, method not
        ("POST", "/connect/"),
        ("GET", "/send/apipsc"),  # endpoint missing
        ("GET", "/send/apipsc/"),
        ("GET", "/send"),
        ("HEAD", "/traces"),
    ],
)
def test_unknown_operations_are_none(conformite: OpenApiDocument, method: str, path: str) -> None:
    assert conformite.operation(method, path) is None


def test_operations_and_ids(conformite: OpenApiDocument, api_psc: OpenApiDocument) -> None:
    assert [str(o) for o in conformite.operations()] == [
        "POST /connect",
        "DELETE /disconnect",
        "GET /send/{api}/{endpoint}",
        "POST /send/{api}/{endpoint}",
        "PUT /send/{api}/{endpoint}",
        "PATCH /send/{api}/{endpoint}",
        "DELETE /send/{api}/{endpoint}",
        "GET /traces",
    ]
    sign = api_psc.operation("POST", "/mockservice/apipsc/signsessiondata", base_path="/mockservice/apipsc")
    assert sign is not None and sign.operation_id == "post-sign-session-data"
    assert sign.security == [{"bearerAuth": []}]
    assert op(conformite, "DELETE", "/disconnect").security == [{"cookieAuth": []}]
    assert op(conformite, "POST", "/connect").security == []


def test_concrete_paths_win_and_greedy_needs_the_marker() -> None:
    document = OpenApiDocument(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/files/{name}": {
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "get": {"responses": {"200": {"description": "ok"}}},
                },
                "/files/latest": {"get": {"responses": {"200": {"description": "ok"}}}},
                "/tree/{rest}": {
                    "parameters": [
                        {
                            "name": "rest",
                            "in": "path",
                            "required": True,
                            "x-greedy": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "get": {"responses": {"200": {"description": "ok"}}},
                },
            },
        }
    )
    assert op(document, "GET", "/files/latest").template == "/files/latest"
    assert op(document, "GET", "/files/other").path_params == {"name": "other"}
    assert document.operation("GET", "/files/a/b") is None
    assert op(document, "GET", "/tree/a/b").path_params == {"rest": "a/b"}


# -- what the reference proxy answers validates ------------------------------------------------------

REFERENCE_ANSWERS: list[tuple[str, str, int, str | None, bytes, dict[str, str]]] = [
    (
        "POST",
        "/connect",
        200,
        JSON,
        body({"proxy_session_id": SESSION_ID, "session_state": SESSION_STATE}),
        {"Set-Cookie": f"proxy_session_id={SESSION_ID}; Path=/; Secure; HttpOnly; SameSite=Strict"},
    ),
    ("POST", "/connect", 304, None, b"", {}),
    (
        "POST",
        "/connect",
        400,
        JSON,
        body(
            {
                "code": "400",
                "message": "The request body must be a JSON object.",
                "metadata": {"nationalId": None, "clientId": None},
            }
        ),
        {},
    ),
    (
        "POST",
        "/connect",
        400,
        JSON,
        body(
            {
                "code": "400",
                "message": "channel must be CARD or MOBILE.",
                "metadata": {"nationalId": NATIONAL_ID, "clientId": CLIENT_ID},
            }
        ),
        {},
    ),
    (
        "POST",
        "/connect",
        401,
        JSON,
        body(
            {
                "code": "401",
                "message": "400 - access_denied : the professional refused",
                "metadata": {"nationalId": NATIONAL_ID, "clientId": CLIENT_ID},
            }
        ),
        {},
    ),
    (
        "POST",
        "/connect",
        404,
        JSON,
        body(
            {
                "code": "404",
                "message": "User National ID or Software Client ID Not Found.",
                "metadata": {"nationalId": NATIONAL_ID, "clientId": "unknown"},
            }
        ),
        {},
    ),
    ("POST", "/connect", 503, None, b"", {}),
    ("DELETE", "/disconnect", 200, None, b"", {"Set-Cookie": "proxy_session_id=; Path=/; Max-Age=0"}),
    ("DELETE", "/disconnect", 401, JSON, body({"code": "401", "message": "Session ID not found."}), {}),
    (
        "POST",
        "/send/apipsc/signsessiondata",
        200,
        JSON,
        body(
            {
                "nationalId": NATIONAL_ID,
                "clientID": CLIENT_ID,
                "proxy_session_id": SESSION_ID,
                "session_state": SESSION_STATE,
                "signature": "eyJhbGciOiJFUzI1NiJ9.e30.sig",
            }
        ),
        {},
    ),
    (
        "POST",
        "/send/apipsc/signsessiondata",
        401,
        JSON,
        body({"code": "401", "message": "No session found."}),
        {},
    ),
    (
        "POST",
        "/send/apipsc/signsessiondata",
        403,
        JSON,
        body({"code": "forbidden", "message": "nationalId does not match the access token"}),
        {},
    ),
    ("GET", "/send/nosuchapi/x", 404, JSON, body({"code": "404", "message": "Unknown API 'nosuchapi'."}), {}),
    ("GET", "/send/apipsc/x", 204, None, b"", {}),
    ("GET", "/send/apipsc/x", 200, "text/plain; charset=utf-8", b"plain text from the API", {}),
    (
        "POST",
        "/send/apipsc/x",
        502,
        JSON,
        body({"code": "502", "message": "API apipsc unavailable: apipsc answered 500"}),
        {},
    ),
    (
        "POST",
        "/send/apipsc/x",
        503,
        JSON,
        body({"code": "503", "message": "API apipsc unavailable: refused"}),
        {},
    ),
    (
        "POST",
        "/send/apipsc/x",
        504,
        JSON,
        body({"code": "504", "message": "API apipsc unavailable: timeout"}),
        {},
    ),
    (
        "GET",
        "/traces?start=2026-11-03T10:00:00Z",
        200,
        JSON,
        body(
            [
                trace("CONNECT_SUCCESS"),
                trace("CONNECT_REPLAY"),
                trace("SEND"),
                trace("CONNECT_FAILURE", proxy_id_session=None, session_state=None),
                trace("DISCONNECT", timestamp="2026-11-03T11:15:42.123+01:00"),
            ]
        ),
        {},
    ),
    ("GET", "/traces?start=2026-11-03T10:00:00Z", 200, JSON, b"[]", {}),
    (
        "GET",
        "/traces",
        400,
        JSON,
        body({"code": "400", "message": "start (required) and end must be ISO 8601 date-times."}),
        {},
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "status", "content_type", "payload", "headers"),
    REFERENCE_ANSWERS,
    ids=[f"{m} {p.split('?')[0]} {s}" for m, p, s, *_ in REFERENCE_ANSWERS],
)
def test_reference_proxy_answers_validate(
    conformite: OpenApiDocument,
    method: str,
    path: str,
    status: int,
    content_type: str | None,
    payload: bytes,
    headers: dict[str, str],
) -> None:
    operation = op(conformite, method, path)
    assert operation.validate_response(status, content_type, payload, headers=headers) == []


def test_reference_descriptors_and_traces_validate(conformite: OpenApiDocument) -> None:
    """The reference proxy's own helpers, not only literal samples of them."""
    connect = op(conformite, "POST", "/connect")
    for response in (
        descriptor(
            400, "Missing or invalid field(s): channel.", {"nationalId": NATIONAL_ID, "clientId": CLIENT_ID}
        ),
        descriptor(
            404, "User National ID or Software Client ID Not Found.", {"nationalId": "x", "clientId": "y"}
        ),
        descriptor(
            401, "PSC ID token rejected: bad signature", {"nationalId": NATIONAL_ID, "clientId": CLIENT_ID}
        ),
    ):
        assert (
            connect.validate_response(response.status, response.headers["Content-Type"], response.body) == []
        )
    log = TraceLog()
    common: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "national_id": NATIONAL_ID,
        "ip_address": "10.0.0.1",
        "dn": DN,
    }
    log.record("CONNECT_FAILURE", session_id=None, session_state=None, **common)
    log.record("CONNECT_SUCCESS", session_id=SESSION_ID, session_state=SESSION_STATE, **common)
    log.record(
        "SEND",
        session_id=SESSION_ID,
        session_state=SESSION_STATE,
        api_request={"nomApiPsc": "apipsc", "methode": "GET", "path": "/a/b"},
        **common,
    )
    log.record("DISCONNECT", session_id=SESSION_ID, session_state=SESSION_STATE, **common)
    import datetime as dt

    records = log.between(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert len(records) == 4
    assert op(conformite, "GET", "/traces").validate_response(200, JSON, body(records)) == []


def test_api_psc_answers_validate(api_psc: OpenApiDocument) -> None:
    sign = op(api_psc, "POST", "/signsessiondata")
    signed = {
        "nationalId": NATIONAL_ID,
        "clientID": CLIENT_ID,
        "proxy_session_id": SESSION_ID,
        "session_state": SESSION_STATE,
        "signature": "eyJ.e30.sig",
    }
    assert sign.validate_response(200, JSON, body(signed)) == []
    challenge = {"WWW-Authenticate": 'Bearer realm="apipsc", error="invalid_token"'}
    assert (
        sign.validate_response(
            401, JSON, body({"code": "invalid_token", "message": "expired"}), headers=challenge
        )
        == []
    )
    assert sign.validate_response(403, JSON, body({"code": "insufficient_scope", "message": "scope"})) == []
    assert (
        sign.validate_response(400, JSON, body({"code": "bad_request", "message": "nationalId is missing"}))
        == []
    )
    assert sign.validate_response(503, None, b"") == []
    # and what a sloppy API would answer
    del signed["signature"]
    assert sign.validate_response(200, JSON, body(signed)) == [
        "200 application/json: $.signature: 'signature' is a required property"
    ]
    assert sign.validate_response(401, JSON, body({"code": "x", "message": "y"}), headers={}) == [
        "401: header WWW-Authenticate is required"
    ]
    assert sign.validate_response(404, JSON, b"{}")[0].startswith("404: status not declared")


# -- what a sloppy proxy answers does not ------------------------------------------------------------


def test_connect_200_without_session_state(conformite: OpenApiDocument) -> None:
    connect = op(conformite, "POST", "/connect")
    assert connect.validate_response(200, JSON, body({"proxy_session_id": SESSION_ID})) == [
        "200 application/json: $.session_state: 'session_state' is a required property"
    ]
    assert connect.validate_response(200, JSON, body({"proxy_session_id": "", "session_state": "s"})) == [
        "200 application/json: $.proxy_session_id: '' should be non-empty"
    ]


def test_connect_200_without_cookie_when_headers_are_checked(conformite: OpenApiDocument) -> None:
    ok = body({"proxy_session_id": SESSION_ID, "session_state": SESSION_STATE})
    assert op(conformite, "POST", "/connect").validate_response(
        200, JSON, ok, headers={"Content-Type": JSON}
    ) == ["200: header Set-Cookie is required"]


def test_error_as_text_plain(conformite: OpenApiDocument) -> None:
    assert op(conformite, "POST", "/connect").validate_response(400, "text/plain; charset=utf-8", b"bad") == [
        "400 text/plain: media type not declared (declared: application/json)"
    ]


def test_error_without_message(conformite: OpenApiDocument) -> None:
    assert op(conformite, "POST", "/connect").validate_response(400, JSON, body({"code": "400"})) == [
        "400 application/json: $.message: 'message' is a required property"
    ]
    assert op(conformite, "DELETE", "/disconnect").validate_response(401, JSON, body({"message": "x"})) == [
        "401 application/json: $.code: 'code' is a required property"
    ]


def test_traces_as_an_object(conformite: OpenApiDocument) -> None:
    traces = op(conformite, "GET", "/traces?start=2026-11-03T10:00:00Z")
    assert traces.validate_response(200, JSON, body({"traces": []})) == [
        "200 application/json: $: {'traces': []} is not of type 'array'"
    ]


def test_trace_with_an_unknown_type(conformite: OpenApiDocument) -> None:
    problems = op(conformite, "GET", "/traces").validate_response(200, JSON, body([trace("LOGIN")]))
    assert problems == [
        "200 application/json: $[0].type: 'LOGIN' is not one of "
        "['CONNECT_FAILURE', 'CONNECT_REPLAY', 'CONNECT_SUCCESS', 'DISCONNECT', 'SEND']"
    ]


def test_send_trace_without_api_request(conformite: OpenApiDocument) -> None:
    record = trace("SEND")
    del record["apiRequest"]
    problems = op(conformite, "GET", "/traces").validate_response(
        200, JSON, body([trace("CONNECT_SUCCESS"), record])
    )
    assert problems == ["200 application/json: $[1].apiRequest: 'apiRequest' is a required property"]


def test_trace_fields_judged_per_type(conformite: OpenApiDocument) -> None:
    traces = op(conformite, "GET", "/traces")
    bad_request = trace("SEND", apiRequest={"nomApiPsc": "apipsc", "methode": "POST"})
    assert traces.validate_response(200, JSON, body([bad_request])) == [
        "200 application/json: $[0].apiRequest.path: 'path' is a required property"
    ]
    # a session's records need the session ids; a failure may lack them
    assert traces.validate_response(200, JSON, body([trace("DISCONNECT", proxy_id_session=None)])) == [
        "200 application/json: $[0].proxy_id_session: None is not of type 'string'"
    ]
    failure = trace("CONNECT_FAILURE")
    del failure["proxy_id_session"], failure["session_state"]
    assert traces.validate_response(200, JSON, body([failure])) == []
    no_ip = trace("CONNECT_SUCCESS")
    del no_ip["ipAddress"]
    assert traces.validate_response(
        200, JSON, body([no_ip, trace("SEND", timestamp="03/11/2026 10:15")])
    ) == [
        "200 application/json: $[0].ipAddress: 'ipAddress' is a required property",
        "200 application/json: $[1].timestamp: '03/11/2026 10:15' is not a 'date-time'",
    ]


def test_undeclared_status(conformite: OpenApiDocument) -> None:
    assert op(conformite, "POST", "/connect").validate_response(418, JSON, b"{}") == [
        "418: status not declared for POST /connect (declared: 200, 304, 400, 401, 404, 500, 503)"
    ]
    # /send declares ranges: a relayed 418 fits 4XX, a relayed 302 does not
    send = op(conformite, "GET", "/send/apipsc/x")
    assert send.validate_response(418, "text/html", b"<p>teapot</p>") == []
    assert send.validate_response(302, None, b"")[0].startswith("302: status not declared")


def test_invalid_json(conformite: OpenApiDocument) -> None:
    problems = op(conformite, "POST", "/connect").validate_response(200, JSON, b'{"proxy_session_id": ')
    assert len(problems) == 1 and problems[0].startswith("200 application/json: body is not valid JSON (")
    assert (
        op(conformite, "POST", "/connect")
        .validate_response(400, JSON, b"NaN")[0]
        .startswith("400 application/json: body is not valid JSON")
    )
    assert (
        op(conformite, "POST", "/connect")
        .validate_response(400, JSON, b"\xff\xfe")[0]
        .startswith("400 application/json: body is not valid JSON")
    )


def test_body_and_media_type_edge_cases(conformite: OpenApiDocument) -> None:
    connect = op(conformite, "POST", "/connect")
    assert connect.validate_response(200, JSON, b"") == ["200: empty body (declared: application/json)"]
    assert connect.validate_response(400, None, b'{"code": "400", "message": "m"}') == [
        "400: no Content-Type (declared: application/json)"
    ]
    assert connect.validate_response(304, None, b"{}") == ["304: a 304 answer must have no body (2 bytes)"]
    assert connect.validate_response(503, "text/html", b"<h1>down</h1>") == []  # no content declared
    assert (
        connect.validate_response(400, "APPLICATION/JSON; charset=UTF-8", body({"code": "4", "message": "m"}))
        == []
    )


def test_long_instances_are_shortened(conformite: OpenApiDocument) -> None:
    huge = {"items": ["x" * 50] * 100}
    (problem,) = op(conformite, "GET", "/traces").validate_response(200, JSON, body(huge))
    assert problem.endswith("… is not of type 'array'") and len(problem) < 160


# -- nullable and other OpenAPI 3.0 schema features --------------------------------------------------


def test_nullable_metadata(conformite: OpenApiDocument) -> None:
    connect = op(conformite, "POST", "/connect")
    assert (
        connect.validate_response(
            400,
            JSON,
            body({"code": "400", "message": "m", "metadata": {"nationalId": None, "clientId": None}}),
        )
        == []
    )
    # a rejected value echoed with its own JSON type is the request's value as sent
    assert (
        connect.validate_response(
            400, JSON, body({"code": "400", "message": "m", "metadata": {"nationalId": 42, "clientId": None}})
        )
        == []
    )
    # not nullable: null is refused
    assert connect.validate_response(400, JSON, body({"code": None, "message": "m"})) == [
        "400 application/json: $.code: None is not of type 'string'"
    ]


def small_document(schema: dict[str, Any], **others: dict[str, Any]) -> OpenApiDocument:
    """One POST /thing whose request and 200 answer are `components.schemas.Thing`."""
    return OpenApiDocument(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/thing": {
                    "post": {
                        "requestBody": {
                            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Thing"}}}
                        },
                        "responses": {
                            "200": {
                                "description": "ok",
                                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Thing"}}},
                            }
                        },
                    }
                }
            },
            "components": {"schemas": {"Thing": schema, **others}},
        }
    )


def test_nullable_semantics_of_openapi_303() -> None:
    document = small_document(
        {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "nullable": True},
                "b": {"type": "string", "enum": ["x", "y"], "nullable": True},
                "c": {"type": "string", "enum": ["x", None], "nullable": True},
                "d": {"$ref": "#/components/schemas/Inner"},
            },
        },
        Inner={"type": "object", "nullable": True},
    )
    thing = op(document, "POST", "/thing")
    assert thing.validate_response(200, JSON, body({"a": None, "c": None, "d": None})) == []
    assert thing.validate_response(200, JSON, body({"b": None})) == [
        "200 application/json: $.b: None is not one of ['x', 'y']"
    ]


def test_read_only_and_write_only() -> None:
    document = small_document(
        {
            "type": "object",
            "required": ["id", "secret", "name"],
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "secret": {"type": "string", "writeOnly": True},
                "name": {"type": "string", "example": "n", "xml": {"name": "n"}},
            },
        }
    )
    thing = op(document, "POST", "/thing")
    assert thing.validate_request(JSON, body({"secret": "s", "name": "n"})) == []
    assert thing.validate_response(200, JSON, body({"id": "1", "name": "n"})) == []
    assert thing.validate_response(200, JSON, body({"name": "n"})) == [
        "200 application/json: $.id: 'id' is a required property"
    ]


def test_validate_schema_by_name(conformite: OpenApiDocument) -> None:
    assert conformite.validate_schema("Session", {"proxy_session_id": "a", "session_state": "b"}) == []
    assert conformite.validate_schema("Nope", {}) == [f"no schema 'Nope' in {conformite.source}"]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-11-03T10:15:42Z", True),
        ("2026-11-03T10:15:42.123456+01:00", True),
        ("2026-11-03t10:15:42z", True),
        ("2016-12-31T23:59:60Z", True),  # leap second
        ("2026-11-03T10:15:42", False),  # no offset
        ("2026-11-03 10:15:42Z", False),
        ("2026-02-30T10:15:42Z", False),
        ("2026-11-03T24:00:00Z", False),
        ("2026-11-03T10:15:42+25:00", False),
        ("２０２６-11-03T10:15:42Z", False),  # non-ASCII digits
        ("yesterday", False),
    ],
)
def test_date_time_format(value: str, valid: bool) -> None:
    assert FORMAT_CHECKER.conforms(value, "date-time") is valid


# -- requests ----------------------------------------------------------------------------------------

GOOD_CONNECTION = {
    "nationalId": NATIONAL_ID,
    "bindingMessage": "07",
    "clientId": CLIENT_ID,
    "channel": "CARD",
}


def test_connect_request_accepted(conformite: OpenApiDocument) -> None:
    connect = op(conformite, "POST", "/connect")
    assert connect.validate_request(JSON, body(GOOD_CONNECTION)) == []
    assert (
        connect.validate_request(JSON, body({**GOOD_CONNECTION, "channel": "MOBILE", "bindingMessage": "99"}))
        == []
    )


@pytest.mark.parametrize("missing", ["nationalId", "bindingMessage", "clientId", "channel"])
def test_connect_request_missing_field(conformite: OpenApiDocument, missing: str) -> None:
    request = {k: v for k, v in GOOD_CONNECTION.items() if k != missing}
    assert op(conformite, "POST", "/connect").validate_request(JSON, body(request)) == [
        f"request application/json: $.{missing}: {missing!r} is a required property"
    ]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("channel", "FAX", "$.channel: 'FAX' is not one of ['CARD', 'MOBILE']"),
        ("channel", "card", "$.channel: 'card' is not one of ['CARD', 'MOBILE']"),
        ("bindingMessage", "7", "$.bindingMessage: '7' does not match '^[0-9]{2}$'"),
        ("bindingMessage", "123", "$.bindingMessage: '123' does not match '^[0-9]{2}$'"),
        ("bindingMessage", "ab", "$.bindingMessage: 'ab' does not match '^[0-9]{2}$'"),
        ("bindingMessage", "12\n", "$.bindingMessage: '12\\n' does not match '^[0-9]{2}$'"),
        ("bindingMessage", "١٢", "$.bindingMessage: '١٢' does not match '^[0-9]{2}$'"),
        ("bindingMessage", 12, "$.bindingMessage: 12 is not of type 'string'"),
        ("nationalId", "", "$.nationalId: '' should be non-empty"),
    ],
)
def test_connect_request_bad_field(conformite: OpenApiDocument, field: str, value: Any, problem: str) -> None:
    request = {**GOOD_CONNECTION, field: value}
    assert op(conformite, "POST", "/connect").validate_request(JSON, body(request)) == [
        f"request application/json: {problem}"
    ]


def test_connect_request_body_shape(conformite: OpenApiDocument) -> None:
    connect = op(conformite, "POST", "/connect")
    assert connect.validate_request(JSON, None) == ["request: a body is required"]
    assert connect.validate_request("text/plain", b"hello") == [
        "request text/plain: media type not declared (declared: application/json)"
    ]
    assert connect.validate_request(JSON, b"[1, 2]") == [
        "request application/json: $: [1, 2] is not of type 'object'"
    ]
    assert connect.validate_request(JSON, b"{")[0].startswith(
        "request application/json: body is not valid JSON"
    )


def test_traces_query(conformite: OpenApiDocument) -> None:
    traces = op(conformite, "GET", "/traces")
    assert traces.validate_request() == ["query parameter 'start' is required"]
    assert traces.validate_request(query={"start": "2026-11-03T10:00:00Z"}) == []
    assert (
        traces.validate_request(query={"start": ["2026-11-03T10:00:00Z"], "end": "2026-11-03T11:00:00+01:00"})
        == []
    )
    assert traces.validate_request(query={"start": "yesterday", "end": "2026-13-01T00:00:00Z"}) == [
        "query parameter 'start': 'yesterday' is not a 'date-time'",
        "query parameter 'end': '2026-13-01T00:00:00Z' is not a 'date-time'",
    ]


def test_send_request_cookie_and_body(conformite: OpenApiDocument) -> None:
    send = op(conformite, "POST", "/send/apipsc/signsessiondata")
    assert send.validate_request("application/json", b'{"any": "thing"}') == []
    assert (
        send.validate_request("application/octet-stream", b"\x00\x01", cookies={"proxy_session_id": "s"})
        == []
    )
    assert send.validate_request(cookies={}) == ["cookie parameter 'proxy_session_id' is required"]
    assert op(conformite, "DELETE", "/send/apipsc/x").validate_request(JSON, b"{}") == [
        "request: the operation declares no request body"
    ]


def test_api_psc_request_uses_client_id_with_capital_d(api_psc: OpenApiDocument) -> None:
    sign = op(api_psc, "POST", "/signsessiondata")
    data = {
        "nationalId": NATIONAL_ID,
        "clientId": CLIENT_ID,
        "proxy_session_id": SESSION_ID,
        "session_state": "s",
    }
    assert sign.validate_request(JSON, body(data)) == [
        "request application/json: $.clientID: 'clientID' is a required property"
    ]


# -- loading -----------------------------------------------------------------------------------------


def test_load_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(OpenApiError, match="cannot read"):
        load_document(tmp_path / "missing.json")
    (tmp_path / "spec.yaml").write_text("openapi: 3.0.3\n", encoding="utf-8")
    with pytest.raises(OpenApiError, match="is not JSON"):
        load_document(tmp_path / "spec.yaml")
    (tmp_path / "swagger2.json").write_text('{"swagger": "2.0", "paths": {}}', encoding="utf-8")
    with pytest.raises(OpenApiError, match=r"not an OpenAPI 3\.0 document"):
        load_document(tmp_path / "swagger2.json")
    (tmp_path / "v31.json").write_text('{"openapi": "3.1.0", "paths": {}}', encoding="utf-8")
    with pytest.raises(UsageError, match=r"openapi = '3\.1\.0'"):
        load_document(tmp_path / "v31.json")
    with pytest.raises(OpenApiError, match="choose one of"):
        load_normative("api-nope")  # type: ignore[arg-type]


def test_dangling_ref_is_reported_not_raised() -> None:
    document = small_document({"$ref": "#/components/schemas/Missing"})
    problems = op(document, "POST", "/thing").validate_response(200, JSON, b"{}")
    assert len(problems) == 1 and "unresolvable reference" in problems[0]
