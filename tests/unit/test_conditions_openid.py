"""The OpenID conditions on hand-built evidence: pass, fail and inconclusive for each."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conformance.campaign.conditions import Strength
from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.roles.consumer.conditions.openid import (
    only_psc_flows,
    openid_client_obtains_id_token,
    openid_provider_metadata_read,
    token_requests_per_oauth,
    userinfo_bearer_in_header,
    userinfo_bearer_token,
)
from conformance.standards import ciba, rfc6749

PASSED, FAILED, INCONCLUSIVE = Status.PASSED, Status.FAILED, Status.INCONCLUSIVE
OFFERED = ("authorization_code", "refresh_token", ciba.GRANT_TYPE)
FORM = rfc6749.FORM_MEDIA_TYPE


def obs(kind: str, **data: Any) -> Observation:
    return Observation("psc", kind, "lps1", f"{kind} detail", data, exchange_id=f"ex-{kind}")


def token_request(grant: str | None, *params: str, **shape: Any) -> Observation:
    names = tuple(sorted({"client_id", *params, *(("grant_type",) if grant else ())}))
    parsed = rfc6749.TokenRequest(
        grant, names, content_type=shape.pop("content_type", FORM), client_id="lps1"
    )
    if shape:
        parsed = replace(parsed, **shape)
    return obs("token.request", parsed=parsed, grant_type=grant)


CIBA = token_request(ciba.GRANT_TYPE, "auth_req_id")
REFRESH = token_request("refresh_token", "refresh_token")


class TestOpenIdClient:
    def test_obtains_an_id_token(self) -> None:
        assert openid_client_obtains_id_token([CIBA], [obs("token.issued")]).status is PASSED
        assert openid_client_obtains_id_token([], []).status is FAILED

    def test_metadata_is_a_reading(self) -> None:
        assert openid_provider_metadata_read.strength is Strength.READING
        both = [obs("metadata.discovery"), obs("metadata.jwks")]
        assert openid_provider_metadata_read(both).status is PASSED
        judgement = openid_provider_metadata_read([obs("metadata.jwks")])
        assert judgement.status is FAILED and "discovery" in judgement.message


class TestFlows:
    def test_only_psc_flows(self) -> None:
        assert only_psc_flows([CIBA, REFRESH], [], OFFERED).status is PASSED
        credentials = token_request("client_credentials")
        assert only_psc_flows([CIBA, credentials], [], OFFERED).status is FAILED
        implicit = obs("authorize.response_type")
        assert only_psc_flows([], [implicit], OFFERED).status is FAILED
        # A deviation of the code flow that is not about the flow itself is not judged here.
        assert only_psc_flows([CIBA], [obs("authorize.scope")], OFFERED).status is PASSED
        assert only_psc_flows([], [], OFFERED).status is INCONCLUSIVE


class TestTokenRequests:
    def test_standard_requests_pass(self) -> None:
        code = token_request("authorization_code", "code", "redirect_uri")
        judgement = token_requests_per_oauth([CIBA, REFRESH, code, token_request("client_credentials")])
        assert judgement.status is PASSED

    def test_each_defect_fails(self) -> None:
        defects = [
            token_request(ciba.GRANT_TYPE),  # no auth_req_id
            token_request("refresh_token"),  # no refresh_token
            token_request("authorization_code", "code"),  # no redirect_uri
            token_request(None),  # no grant_type
            token_request(ciba.GRANT_TYPE, "auth_req_id", content_type="application/json"),
            token_request(ciba.GRANT_TYPE, "auth_req_id", query_parameters=("auth_req_id",)),
            token_request(ciba.GRANT_TYPE, "auth_req_id", repeated=("auth_req_id",)),
            token_request(ciba.GRANT_TYPE, "auth_req_id", client_id=None),  # client not identified
        ]
        for defect in defects:
            assert token_requests_per_oauth([defect]).status is FAILED, defect.data["parsed"]

    def test_basic_authentication_identifies_the_client(self) -> None:
        basic = token_request(ciba.GRANT_TYPE, "auth_req_id", client_id=None, authorization_scheme="basic")
        assert token_requests_per_oauth([basic]).status is PASSED

    def test_no_request(self) -> None:
        assert token_requests_per_oauth([]).status is INCONCLUSIVE


class TestUserinfo:
    def test_bearer_token(self) -> None:
        assert userinfo_bearer_token([obs("userinfo", token_in="header")]).status is PASSED
        assert userinfo_bearer_token([obs("userinfo", token_in="body")]).status is PASSED
        query = userinfo_bearer_token([obs("userinfo.invalid_token", token_in="query")])
        assert query.status is FAILED and "query" in query.message
        assert userinfo_bearer_token([obs("userinfo.invalid_token", token_in=None)]).status is FAILED
        assert userinfo_bearer_token([]).status is INCONCLUSIVE

    def test_header_recommended(self) -> None:
        assert userinfo_bearer_in_header.strength is Strength.SHOULD
        assert userinfo_bearer_in_header([obs("userinfo", token_in="header")]).status is PASSED
        assert userinfo_bearer_in_header([obs("userinfo", token_in="body")]).status is FAILED
        assert (
            userinfo_bearer_in_header([obs("userinfo.invalid_token", token_in="query")]).status
            is INCONCLUSIVE
        )


class TestParsing:
    def test_parse_token_request(self) -> None:
        parsed = rfc6749.parse_token_request(
            {"grant_type": [ciba.GRANT_TYPE], "auth_req_id": ["a", "b"], "client_id": ["lps1"]},
            {"x": ["1"]},
            content_type="application/x-www-form-urlencoded; charset=UTF-8",
            authorization="Basic abc",
        )
        assert parsed.grant_type == ciba.GRANT_TYPE
        assert parsed.repeated == ("auth_req_id",)
        assert parsed.query_parameters == ("x",)
        assert parsed.content_type == FORM
        assert parsed.authorization_scheme == "basic"
        assert parsed.client_id == "lps1"
