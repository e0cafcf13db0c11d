"""The reference provider's resource server: the API PSC operation and its refusals (RFC 6750)."""

from __future__ import annotations

import json
import ssl
import time

import httpx
import jwt
import pytest
from provider_testbed import SESSION_DATA, Bench, hs256_token, refused, tampered, unsigned_token

from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID
from conformance.reference.provider.resource_server import canonical_session_data
from conformance.reference.provider.urls import origin

CHALLENGE = 'Bearer realm="apipsc"'


def test_the_session_data_is_signed_for_a_bound_token_of_our_as(bench: Bench) -> None:
    answer = bench.call(bench.api_token())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert {k: body[k] for k in SESSION_DATA} == SESSION_DATA
    signature = body["signature"]
    assert jwt.get_unverified_header(signature)["alg"] == "ES256"
    key = bench.provider.session_data_key.verification_key.key
    assert jwt.api_jws.decode(signature, key, algorithms=["ES256"]) == canonical_session_data(SESSION_DATA)


def test_tokens_of_the_harness_as_are_trusted_through_its_jwks(bench: Bench) -> None:
    assert bench.call(bench.harness_token()).status_code == 200
    assert bench.call(bench.harness_token(aud=["other", "apipsc"])).status_code == 200
    fetches = bench.env.harness.jwks_fetches
    kid = bench.env.harness.rotate()
    answer = bench.call(bench.harness_token())
    assert answer.status_code == 200, answer.text
    assert bench.env.harness.jwks_fetches == fetches + 1  # fetched again once, for the unknown kid
    assert bench.call(bench.harness_token()).status_code == 200
    assert bench.env.harness.jwks_fetches == fetches + 1 and kid == bench.env.harness.kid


def test_no_token_gets_a_bare_bearer_challenge(bench: Bench) -> None:
    for answer in (
        bench.call(None),
        bench.call(None, headers={"Authorization": "Basic YTpi"}),
        bench.call(None, url=bench.api_url + "?access_token=" + bench.harness_token()),
    ):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == CHALLENGE
        assert answer.json()["code"] == "unauthorized"


def _forged(bench: Bench, kind: str) -> str:
    harness, now = bench.env.harness, int(time.time())
    return {
        "expired": lambda: bench.harness_token(exp=now - 60),
        "no exp": lambda: bench.harness_token(exp=None),
        "nbf in the future": lambda: bench.harness_token(nbf=now + 600),
        "iat in the future": lambda: bench.harness_token(iat=now + 600),
        "alg none": lambda: unsigned_token(harness.claims(bench.env.der())),
        "HS256 with the public key": lambda: hs256_token(
            harness.claims(bench.env.der()), harness.public_pem, harness.kid
        ),
        "altered signature": lambda: tampered(bench.harness_token()),
        "unknown issuer": lambda: bench.harness_token(iss="https://rogue.invalid/realms/x"),
        "unknown kid": lambda: jwt.encode(
            harness.claims(bench.env.der()), harness.keys[harness.kid], "ES256", headers={"kid": "nope"}
        ),
        "wrong audience": lambda: bench.harness_token(aud="another-api"),
        "no audience": lambda: bench.harness_token(aud=None),
        "no sub": lambda: bench.harness_token(sub=None),
        "unbound": lambda: bench.harness_token(cnf=None),
        "bound to another certificate": lambda: bench.harness_token(LPS2_CLIENT_ID),
        "cnf in the ANS hex form": lambda: bench.harness_token(
            cnf={"x5t#S256": bench.env.pki.clients[LPS1_CLIENT_ID].x5t_s256_ans_hex}
        ),
        "not a JWT": lambda: "not-a-jwt",
    }[kind]()


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "no exp",
        "nbf in the future",
        "iat in the future",
        "alg none",
        "HS256 with the public key",
        "altered signature",
        "unknown issuer",
        "unknown kid",
        "wrong audience",
        "no audience",
        "no sub",
        "unbound",
        "bound to another certificate",
        "cnf in the ANS hex form",
        "not a JWT",
    ],
)
def test_an_invalid_token_gets_401_invalid_token(bench: Bench, kind: str) -> None:
    answer = bench.call(_forged(bench, kind))
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith(CHALLENGE + ', error="invalid_token", error_description="'), challenge
    assert answer.json()["code"] == "invalid_token"


def test_our_own_token_is_refused_from_another_certificate(bench: Bench) -> None:
    answer = bench.call(bench.api_token(LPS1_CLIENT_ID), identity=LPS2_CLIENT_ID)
    assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_a_call_without_a_client_certificate_gets_401(bench: Bench) -> None:
    answer = bench.call(bench.harness_token(), identity=None)
    assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["www-authenticate"]


@pytest.mark.parametrize("negative", ["rogue", "expired", "revoked", "wrong-eku"])
def test_an_invalid_client_certificate_is_refused_in_the_handshake(bench: Bench, negative: str) -> None:
    token = bench.harness_token(negative=negative)
    assert refused(lambda: bench.call(token, negative=negative))


def test_a_token_without_the_api_scope_gets_403_insufficient_scope(bench: Bench) -> None:
    answer = bench.call(bench.harness_token(scope="openid scope_all"))
    assert answer.status_code == 403
    assert answer.headers["www-authenticate"] == (
        CHALLENGE + ', error="insufficient_scope", error_description="the access token lacks the API scope", '
        'scope="signsessiondata"'
    )
    assert answer.json()["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (
            json.dumps({k: v for k, v in SESSION_DATA.items() if k != "session_state"}).encode(),
            "application/json",
        ),
        (json.dumps({**SESSION_DATA, "clientID": 42}).encode(), "application/json"),
        (json.dumps(SESSION_DATA).encode(), "text/plain"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_a_body_that_is_not_session_data_gets_400(bench: Bench, content: bytes, content_type: str) -> None:
    answer = bench.call(bench.harness_token(), content=content, headers={"Content-Type": content_type})
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_request" and answer.json()["message"]


def test_another_professional_gets_403(bench: Bench) -> None:
    answer = bench.call(bench.harness_token(), body={**SESSION_DATA, "nationalId": "899700000029"})
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


def test_other_paths_and_methods_get_json_errors(bench: Bench) -> None:
    rs_origin = origin("127.0.0.1", bench.provider.urls.rs_port)
    token = bench.harness_token()
    assert bench.call(token, method="GET").status_code == 405
    for url in (rs_origin + "/", rs_origin + "/mockservice/apipsc/other"):
        answer = bench.call(token, url=url)
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/json"
    with httpx.Client(verify=bench.env.context(None), timeout=5) as anonymous:
        assert anonymous.get(rs_origin + "/").status_code == 404  # answered without a certificate


def test_both_listeners_refuse_tls_1_1_and_speak_tls_1_3(bench: Bench) -> None:
    legacy = bench.env.context(min_version=ssl.TLSVersion.TLSv1, max_version=ssl.TLSVersion.TLSv1_1)
    for listener in bench.provider.listeners.values():
        with pytest.raises(ssl.SSLError) as refusal:
            bench.handshake(listener.port, legacy)
        assert refusal.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"
        assert bench.handshake(listener.port, bench.env.context()) == "TLSv1.3"
        tls_1_2 = bench.env.context(max_version=ssl.TLSVersion.TLSv1_2)
        assert bench.handshake(listener.port, tls_1_2) == "TLSv1.2"
