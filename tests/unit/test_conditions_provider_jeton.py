"""The API-token conditions of the provider role: content (IG-SEC-26) and certificate binding (IG-SEC-11)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import jwt
import pytest

from conformance.campaign.conditions import Strength
from conformance.campaign.verdicts import Status
from conformance.counterparts.identities import TestIdentity
from conformance.evidence.calls import Call
from conformance.roles.provider.bench import Exchanged
from conformance.roles.provider.conditions.jeton import (
    api_token_bound_to_client_certificate,
    api_token_claims_of_the_professional,
    api_token_thumbprint_rfc8705_encoding,
)

PRO = TestIdentity(national_id="899900000001", sub="5f0c-psc-technical-sub", given_name="A", family_name="B")
AUDIENCE, SCOPE = "apipsc", "signsessiondata"
DIGESTS = {cid: hashlib.sha256(cid.encode()).digest() for cid in ("lps-1", "lps-2")}
X5T = {cid: base64.urlsafe_b64encode(d).rstrip(b"=").decode() for cid, d in DIGESTS.items()}
HEX = {cid: base64.b64encode(d.hex().encode()).decode() for cid, d in DIGESTS.items()}


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": "https://as.example/realms/api",
        "sub": PRO.national_id,
        "aud": AUDIENCE,
        "exp": 2000,
        "iat": 1000,
        "scope": SCOPE,
        "cnf": {"x5t#S256": X5T["lps-1"]},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def exchanged(token: str | None, client_id: str = "lps-1") -> Exchanged:
    body = {"access_token": token, "token_type": "Bearer"} if token else {"error": "invalid_grant"}
    call = Call(httpx.Response(200 if token else 400, json=body), 1.0, 2.0)
    return Exchanged(PRO, client_id, "psc-token", call)


def signed(**changes: Any) -> Exchanged:
    return exchanged(jwt.encode(claims(**changes), "k" * 32, algorithm="HS256"))


# -- IG-SEC-26 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{}, {"aud": ["other", AUDIENCE]}, {"scope": f"openid {SCOPE}"}])
def test_claims_pass(changes: dict[str, Any]) -> None:
    assert api_token_claims_of_the_professional(signed(**changes), AUDIENCE, SCOPE)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"sub": PRO.sub}, "PSC's technical sub"),
        ({"aud": None}, "aud None"),
        ({"aud": "another-api"}, "does not name"),
        ({"iss": None}, "no iss"),
        ({"exp": None}, "exp None"),
        ({"iat": "yesterday"}, "iat 'yesterday'"),
        ({"scope": "openid"}, "lacks"),
    ],
)
def test_claims_fail(changes: dict[str, Any], said: str) -> None:
    judgement = api_token_claims_of_the_professional(signed(**changes), AUDIENCE, SCOPE)
    assert judgement.status is Status.FAILED and said in judgement.message


def test_claims_inconclusive_without_a_readable_token() -> None:
    assert api_token_claims_of_the_professional(
        exchanged("opaque-reference-token"), AUDIENCE, SCOPE
    ).inconclusive
    assert api_token_claims_of_the_professional(exchanged(None), AUDIENCE, SCOPE).inconclusive


# -- IG-SEC-11 ------------------------------------------------------------------------------------------


def test_binding_in_either_encoding_passes() -> None:
    assert api_token_bound_to_client_certificate(signed(), X5T)
    assert api_token_bound_to_client_certificate(signed(cnf={"x5t#S256": HEX["lps-1"]}), X5T)


@pytest.mark.parametrize(
    ("cnf", "said"),
    [
        (None, "not bound"),
        ({"jkt": "abc"}, "not bound"),
        ({"x5t#S256": X5T["lps-2"]}, "lps-2's certificate"),
        ({"x5t#S256": "bm90LWEtdGh1bWJwcmludA"}, "no certificate the harness knows"),
    ],
)
def test_binding_fails(cnf: Any, said: str) -> None:
    judgement = api_token_bound_to_client_certificate(signed(cnf=cnf), X5T)
    assert judgement.status is Status.FAILED and said in judgement.message


def test_binding_inconclusive_without_a_token() -> None:
    assert api_token_bound_to_client_certificate(exchanged(None), X5T).inconclusive


def test_rfc8705_encoding_is_a_reading() -> None:
    assert api_token_thumbprint_rfc8705_encoding.strength is Strength.READING
    assert api_token_thumbprint_rfc8705_encoding(signed(), X5T["lps-1"])
    hex_form = api_token_thumbprint_rfc8705_encoding(signed(cnf={"x5t#S256": HEX["lps-1"]}), X5T["lps-1"])
    assert hex_form.status is Status.FAILED and "RFC 8705 §3.1" in hex_form.message
    # Unbound or bound elsewhere: the MUST rule says it; the encoding has nothing to judge.
    assert api_token_thumbprint_rfc8705_encoding(signed(cnf=None), X5T["lps-1"]).inconclusive
    assert api_token_thumbprint_rfc8705_encoding(
        signed(cnf={"x5t#S256": X5T["lps-2"]}), X5T["lps-1"]
    ).inconclusive
