"""The reference provider's authorization server: token exchange, client authentication, metadata."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from provider_testbed import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    PS1,
    TOKEN_EXCHANGE,
    Bench,
    basic_header,
    decoded,
    refused,
    wait_past,
)

from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID, PROXY_CLIENT_ID
from conformance.pki.profiles import PROVIDER_CLIENT_ID
from conformance.reference.provider.urls import OAUTH_METADATA_PATH, OIDC_METADATA_PATH, origin


def test_the_exchange_issues_a_bound_token_for_the_professional(bench: Bench) -> None:
    subject_token = bench.env.psc.mint(LPS1_CLIENT_ID)
    answer = bench.exchange(subject_token)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body = answer.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 14400
    assert body["scope"] == "signsessiondata"
    claims = decoded(body["access_token"])
    assert claims["iss"] == bench.provider.urls.issuer
    assert claims["sub"] == PS1  # SubjectNameID, not PSC's sub
    assert claims["aud"] == "apipsc"
    assert claims["exp"] - claims["iat"] == 14400
    assert claims["nbf"] == claims["iat"] and abs(claims["iat"] - time.time()) < 5
    assert claims["scope"] == "signsessiondata" and claims["client_id"] == LPS1_CLIENT_ID and claims["jti"]
    assert claims["cnf"] == {"x5t#S256": bench.env.pki.clients[LPS1_CLIENT_ID].x5t_s256}
    (call,) = bench.env.psc.calls_for(subject_token)
    assert (call.form_client_id, call.certificate_cn, call.authorization) == (
        PROVIDER_CLIENT_ID,
        PROVIDER_CLIENT_ID,
        None,
    )


def test_the_token_verifies_with_the_published_key(bench: Bench) -> None:
    token = bench.exchange().json()["access_token"]
    with httpx.Client(verify=bench.env.context(), timeout=5) as client:
        jwks = client.get(bench.provider.urls.jwks_uri).json()
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token, key, algorithms=["ES256"], audience="apipsc", issuer=bench.provider.urls.issuer
    )
    assert claims["sub"] == PS1


def test_the_proxy_is_registered_too(bench: Bench) -> None:
    answer = bench.exchange(bench.env.psc.mint(PROXY_CLIENT_ID), identity=PROXY_CLIENT_ID)
    assert answer.status_code == 200, answer.text


def test_introspection_is_cached_until_the_subject_token_expires(bench: Bench) -> None:
    token = bench.env.psc.mint(ttl_s=3)  # the exchanges before its expiry take seconds on a loaded machine
    assert bench.exchange(token).status_code == 200
    assert bench.exchange(token).status_code == 200
    assert len(bench.env.psc.calls_for(token)) == 1
    wait_past(decoded(token)["exp"])
    answer = bench.exchange(token)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    assert len(bench.env.psc.calls_for(token)) == 2


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": None}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}, "unsupported_grant_type"),
        ({"subject_token": ""}, "invalid_request"),
        ({"subject_token_type": None}, "invalid_request"),
        ({"subject_token_type": JWT_TOKEN_TYPE}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"scope": "signsessiondata scope_all"}, "invalid_scope"),
        ({"audience": "another-api"}, "invalid_target"),
        ({"resource": "https://127.0.0.1:1/elsewhere"}, "invalid_target"),
        ({"actor_token": "x"}, "invalid_request"),
    ],
)
def test_an_invalid_exchange_gets_an_oauth_error(
    bench: Bench, form: dict[str, str | None], error: str
) -> None:
    answer = bench.exchange(form=form)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error and answer.json()["error_description"]
    assert answer.headers["cache-control"] == "no-store"
    assert "access_token" not in answer.json()


def test_this_apis_audience_and_resource_are_accepted(bench: Bench) -> None:
    assert bench.exchange(form={"audience": "apipsc"}).status_code == 200
    assert bench.exchange(form={"resource": bench.provider.urls.rs_base_url}).status_code == 200
    answer = bench.exchange(form={"scope": None})  # no scope: the API scope
    assert answer.status_code == 200 and answer.json()["scope"] == "signsessiondata"
    assert (
        bench.exchange(form={"scope": "openid signsessiondata"}).json()["scope"] == "openid signsessiondata"
    )


def test_a_form_that_is_not_urlencoded_or_repeats_a_parameter_is_refused(bench: Bench) -> None:
    json_body = bench.exchange(content=b'{"grant_type": "x"}', headers={"Content-Type": "application/json"})
    assert (json_body.status_code, json_body.json()["error"]) == (400, "invalid_request")
    token = bench.env.psc.mint()
    content = f"grant_type={TOKEN_EXCHANGE}&grant_type={TOKEN_EXCHANGE}&subject_token={token}".encode()
    repeated = bench.exchange(content=content, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (repeated.status_code, repeated.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("subject", ["inactive", "unknown", "issued to another client"])
def test_a_subject_token_psc_does_not_vouch_for_is_invalid_grant(bench: Bench, subject: str) -> None:
    psc = bench.env.psc
    token = {
        "inactive": lambda: psc.mint(active=False),
        "unknown": lambda: "not-a-psc-token",
        "issued to another client": lambda: psc.mint(LPS2_CLIENT_ID),
    }[subject]()
    answer = bench.exchange(token)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_psc_unavailable_is_invalid_grant(bench: Bench) -> None:
    bench.env.psc.failing = True
    answer = bench.exchange()
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_a_call_without_a_certificate_is_invalid_client(bench: Bench) -> None:
    answer = bench.exchange(identity=None)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
    basic = bench.exchange(
        identity=None,
        headers={"Authorization": basic_header(LPS1_CLIENT_ID, bench.env.client_secrets[LPS1_CLIENT_ID])},
    )
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")
    assert basic.headers["www-authenticate"].startswith("Basic ")


def test_a_basic_header_beside_a_certificate_is_ignored(bench: Bench) -> None:
    answer = bench.exchange(headers={"Authorization": basic_header(LPS1_CLIENT_ID, "wrong")})
    assert answer.status_code == 200, answer.text


def test_the_providers_own_certificate_may_not_exchange(bench: Bench) -> None:
    answer = bench.exchange(bench.env.psc.mint(PROVIDER_CLIENT_ID), identity=PROVIDER_CLIENT_ID)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_an_unknown_subject_dn_is_invalid_client(bench: Bench) -> None:
    answer = bench.exchange(bench.env.psc.mint(LPS1_CLIENT_ID), negative="cn-mismatch")
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("negative", ["expired", "not-yet-valid", "wrong-eku", "rogue", "revoked"])
def test_an_invalid_certificate_is_refused_in_the_handshake(bench: Bench, negative: str) -> None:
    assert refused(lambda: bench.exchange(bench.env.psc.mint(LPS1_CLIENT_ID), negative=negative))


def test_introspection_for_resource_servers(bench: Bench) -> None:
    token = bench.exchange().json()["access_token"]
    url = bench.provider.urls.introspection_endpoint
    with httpx.Client(verify=bench.env.context(PROVIDER_CLIENT_ID), timeout=5) as client:
        active = client.post(url, data={"token": token, "client_id": PROVIDER_CLIENT_ID}).json()
        inactive = client.post(url, data={"token": bench.harness_token()}).json()
    assert active["active"] is True
    assert {k: active[k] for k in ("iss", "sub", "aud", "scope", "client_id")} == {
        "iss": bench.provider.urls.issuer,
        "sub": PS1,
        "aud": "apipsc",
        "scope": "signsessiondata",
        "client_id": LPS1_CLIENT_ID,
    }
    assert active["cnf"] == {"x5t#S256": bench.env.pki.clients[LPS1_CLIENT_ID].x5t_s256}
    assert active["exp"] > active["iat"]
    assert inactive == {"active": False}
    with httpx.Client(verify=bench.env.context(None), timeout=5) as anonymous:
        refused_answer = anonymous.post(url, data={"token": token})
    assert (refused_answer.status_code, refused_answer.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("path", [OIDC_METADATA_PATH, OAUTH_METADATA_PATH])
def test_metadata(bench: Bench, path: str) -> None:
    urls = bench.provider.urls
    with httpx.Client(verify=bench.env.context(None), timeout=5) as client:
        metadata = client.get(origin("127.0.0.1", urls.as_port) + path).json()
    assert metadata["issuer"] == urls.issuer
    assert metadata["token_endpoint"] == urls.token_endpoint
    assert metadata["introspection_endpoint"] == urls.introspection_endpoint
    assert metadata["jwks_uri"] == urls.jwks_uri
    assert metadata["grant_types_supported"] == [TOKEN_EXCHANGE]
    assert metadata["token_endpoint_auth_methods_supported"] == ["tls_client_auth"]
    assert metadata["tls_client_certificate_bound_access_tokens"] is True


def test_other_paths_and_methods_get_json_errors(bench: Bench) -> None:
    as_origin = origin("127.0.0.1", bench.provider.urls.as_port)
    with httpx.Client(verify=bench.env.context(), timeout=5) as client:
        root = client.get(as_origin + "/")
        get_token = client.get(bench.provider.urls.token_endpoint)
    assert root.status_code == 404 and root.headers["content-type"] == "application/json" and root.json()
    assert get_token.status_code == 405 and get_token.headers["allow"] == "POST"
