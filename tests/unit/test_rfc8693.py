"""RFC 8693 token exchange: parsing and validating the request form, building and checking responses."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from conformance.standards import rfc8693
from conformance.standards.rfc8693 import (
    ACCESS_TOKEN,
    GRANT_TYPE,
    ID_TOKEN,
    JWT,
    Deviation,
    build_request,
    error_response,
    parse_request,
    response_deviations,
    success_response,
)


def form(**fields: str | list[str]) -> dict[str, list[str]]:
    return {name: value if isinstance(value, list) else [value] for name, value in fields.items()}


def valid(**overrides: str | list[str]) -> dict[str, list[str]]:
    fields: dict[str, str | list[str]] = {
        "grant_type": GRANT_TYPE,
        "subject_token": "psc-at",
        "subject_token_type": ACCESS_TOKEN,
        "scope": "signsessiondata",
    }
    fields.update(overrides)
    return form(**fields)


def codes(deviations: tuple[Deviation, ...]) -> list[str]:
    return [d.code for d in deviations]


def test_valid_request_has_no_deviation() -> None:
    request = parse_request(valid(audience=["apipsc", "other"], subject_issuer="psc", client_id="lps1"))
    assert request.deviations == () and request.error is None
    assert request.grant_type == GRANT_TYPE
    assert request.subject_token == "psc-at" and request.subject_token_type == ACCESS_TOKEN
    assert request.scope == ("signsessiondata",)
    assert request.audience == ("apipsc", "other")
    assert request.subject_issuer == "psc"
    assert request.extra == {"client_id": ("lps1",)}


def test_jwt_subject_token_type_is_accepted() -> None:
    assert parse_request(valid(subject_token_type=JWT)).deviations == ()


def test_scope_is_split_and_deduplicated() -> None:
    assert parse_request(valid(scope="  openid signsessiondata openid ")).scope == (
        "openid",
        "signsessiondata",
    )


@pytest.mark.parametrize(
    ("overrides", "code", "error"),
    [
        ({"grant_type": "client_credentials"}, "grant_type", "unsupported_grant_type"),
        ({"grant_type": ""}, "grant_type", "invalid_request"),
        ({"subject_token": ""}, "subject_token_missing", "invalid_request"),
        ({"subject_token_type": ""}, "subject_token_type", "invalid_request"),
        ({"subject_token_type": ID_TOKEN}, "subject_token_type", "invalid_request"),
        ({"subject_token_type": "access_token"}, "subject_token_type", "invalid_request"),
        ({"subject_token": ["a", "b"]}, "duplicate_parameter", "invalid_request"),
        ({"actor_token": "x"}, "actor_token", "invalid_request"),
        ({"actor_token_type": JWT}, "actor_token", "invalid_request"),
        ({"actor_token": "x", "actor_token_type": "jwt"}, "actor_token", "invalid_request"),
        ({"requested_token_type": ID_TOKEN}, "requested_token_type", "invalid_request"),
        ({"scope": 'sign"data'}, "scope_syntax", "invalid_scope"),
    ],
)
def test_fatal_deviations(overrides: dict[str, str | list[str]], code: str, error: str) -> None:
    request = parse_request(valid(**overrides))
    assert codes(request.deviations) == [code]
    assert request.error is not None and request.error.code == code and request.error.error == error
    assert request.has(code)


def test_missing_grant_type_is_invalid_request() -> None:
    fields = valid()
    del fields["grant_type"]
    request = parse_request(fields)
    assert request.error is not None and request.error.error == "invalid_request"


def test_audience_and_resource_may_repeat() -> None:
    request = parse_request(valid(resource=["https://a", "https://b"], audience=["x", "y"]))
    assert request.deviations == ()
    assert request.resource == ("https://a", "https://b")


@pytest.mark.parametrize("scope", [None, "", "   "])
def test_missing_scope_is_an_ig_deviation_that_does_not_block(scope: str | None) -> None:
    fields = valid()
    if scope is None:
        del fields["scope"]
    else:
        fields["scope"] = [scope]
    request = parse_request(fields)
    assert request.scope is None
    assert codes(request.deviations) == ["scope_missing"]
    assert request.error is None and not request.deviations[0].fatal
    assert parse_request(fields, require_scope=False).deviations == ()


def test_errors_are_ordered_as_an_as_checks_them() -> None:
    request = parse_request(form(grant_type="password", subject_token_type=ID_TOKEN))
    assert codes(request.deviations) == [
        "grant_type",
        "subject_token_missing",
        "subject_token_type",
        "scope_missing",
    ]
    assert request.error is not None and request.error.error == "unsupported_grant_type"


def test_custom_accepted_subject_token_types() -> None:
    request = parse_request(valid(subject_token_type=JWT), subject_token_types=[ACCESS_TOKEN])
    assert codes(request.deviations) == ["subject_token_type"]


def test_build_request_round_trips_through_parse() -> None:
    fields = build_request("tok", scope=["openid", "signsessiondata"], audience=["a", "b"], resource=["r"])
    request = parse_request(parse_qs(urlencode(fields, doseq=True)))
    assert request.deviations == ()
    assert request.subject_token == "tok" and request.scope == ("openid", "signsessiondata")
    assert request.audience == ("a", "b") and request.resource == ("r",)
    assert "scope" not in build_request("tok")


def test_success_response() -> None:
    response = success_response("api-at", expires_in=14400, scope=["signsessiondata"])
    assert response.status == 200
    assert response.body == {
        "access_token": "api-at",
        "issued_token_type": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 14400,
        "scope": "signsessiondata",
    }
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert response_deviations(200, httpx.Headers(response.headers), response.body) == ()
    with pytest.raises(ValueError):
        success_response("x", issued_token_type="bearer")


def test_error_response() -> None:
    response = error_response("invalid_grant", "the PSC access token is expired", uri="https://psc/auth")
    assert response.status == 400
    assert response.body == {
        "error": "invalid_grant",
        "error_description": "the PSC access token is expired",
        "error_uri": "https://psc/auth",
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in response.headers
    assert response_deviations(400, httpx.Headers(response.headers), response.body) == ()


def test_invalid_client_is_401_with_challenge_when_the_header_was_used() -> None:
    response = error_response(rfc8693.INVALID_CLIENT, "unknown client", challenge="Basic")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic error="invalid_client"'
    assert error_response("temporarily_unavailable", status=503).status == 503


@pytest.mark.parametrize(
    ("error", "description"), [("bad code", None), ("", None), ("x", 'quote "'), ("x", "é")]
)
def test_error_response_refuses_text_rfc6749_forbids(error: str, description: str | None) -> None:
    with pytest.raises(ValueError):
        error_response(error, description)


def test_response_deviations_of_a_poor_answer() -> None:
    headers = httpx.Headers({"Content-Type": "text/plain"})
    found = response_deviations(
        200, headers, {"access_token": "x", "issued_token_type": "bearer", "expires_in": "1"}
    )
    assert codes(found) == ["cache_control", "content_type", "token_type", "issued_token_type", "expires_in"]
    assert codes(response_deviations(200, headers, ["x"]))[-1] == "body"
    error = response_deviations(
        401, httpx.Headers({"Cache-Control": "no-cache, no-store"}), {"error": "nope"}
    )
    assert codes(error) == ["content_type", "error", "status"]
