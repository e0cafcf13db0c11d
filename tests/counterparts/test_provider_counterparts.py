"""What a provider campaign needs of the counterparts, over real mTLS: PSC tokens issued without a login
and introspected by the provider's client, and the harness's authorization server (metadata, JWKS,
RFC 7662 introspection, minted tokens good and forged) for a resource server judged alone."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conformance.clock import ManualClock
from conformance.counterparts.api_psc import SimulatedApiAuthorizationServer
from conformance.counterparts.api_tokens import MintedToken
from conformance.counterparts.identities import TestIdentity, load_identities
from conformance.counterparts.observations import ObservationLog
from conformance.counterparts.psc import SimulatedPSC
from conformance.counterparts.settings import (
    API_INTROSPECTION_PATH,
    API_METADATA_PATH,
    API_REALM_PATH,
    PscTimings,
)
from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID, TestPKI, client_context
from conformance.standards import rfc6750, rfc8693
from conformance.standards.jose import b64url, b64url_decode

CIBA = "urn:openid:params:grant-type:ciba"
SECRETS = {LPS1_CLIENT_ID: "lps1-secret", LPS2_CLIENT_ID: "lps2-secret"}


def basic_auth(basic: tuple[str, str] | None) -> httpx.Auth:
    """client_secret_basic credentials, or none (the base `Auth` leaves the request as it is)."""
    return httpx.BasicAuth(*basic) if basic else httpx.Auth()


def https(pki: TestPKI, client_id: str | None) -> httpx.Client:
    """A client over TLS trusting the test root; with `client_id`, it presents that client's certificate."""
    return httpx.Client(verify=client_context(pki, client_id), timeout=5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def observations() -> ObservationLog:
    return ObservationLog()


@pytest.fixture(scope="module")
def identity() -> TestIdentity:
    return load_identities()[0]


@pytest.fixture
def psc(pki: TestPKI, clock: ManualClock, observations: ObservationLog) -> Iterator[SimulatedPSC]:
    secrets = {**SECRETS, pki.provider_client_id: "provider-secret"}
    timings = PscTimings(ciba_interval_s=1, access_token_ttl_s=120)
    with SimulatedPSC(
        pki, clock=clock, timings=timings, observations=observations, client_secrets=secrets
    ) as server:
        yield server


@pytest.fixture
def api_as(
    pki: TestPKI, psc: SimulatedPSC, clock: ManualClock, observations: ObservationLog
) -> Iterator[SimulatedApiAuthorizationServer]:
    server = SimulatedApiAuthorizationServer(
        pki,
        introspect=psc.introspect,
        observations=observations,
        clock=clock,
        realm_path=API_REALM_PATH,
        client_secrets=SECRETS,
    )
    with server:
        yield server


# -- the simulated PSC ---------------------------------------------------------------------------------


def introspect_at_psc(
    psc: SimulatedPSC, pki: TestPKI, token: str, *, basic: tuple[str, str] | None = None
) -> httpx.Response:
    """Introspection as the provider's authorization server makes it: its certificate, and its client id
    in the form (tls_client_auth) or its secret in a Basic header."""
    provider = pki.provider_client_id
    data = {"token": token} if basic else {"token": token, "client_id": provider}
    with https(pki, provider) as client:
        return client.post(psc.endpoint("introspection"), data=data, auth=basic_auth(basic))


def ciba_access_token(psc: SimulatedPSC, pki: TestPKI, clock: ManualClock, national_id: str) -> str:
    """An access token from a real CIBA login by LPS 1, to compare with the issued ones."""
    with https(pki, LPS1_CLIENT_ID) as client:
        form = {"client_id": LPS1_CLIENT_ID, "scope": "openid scope_all", "acr_values": "eidas1"}
        started = client.post(psc.endpoint("backchannel"), data={**form, "login_hint": national_id})
        poll = {"grant_type": CIBA, "auth_req_id": started.json()["auth_req_id"], "client_id": LPS1_CLIENT_ID}
        assert client.post(psc.endpoint("token"), data=poll).json()["error"] == "authorization_pending"
        clock.advance(1)
        answer = client.post(psc.endpoint("token"), data=poll)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def psc_jwks(psc: SimulatedPSC, pki: TestPKI) -> jwt.PyJWKSet:
    with https(pki, None) as client:
        return jwt.PyJWKSet.from_dict(client.get(psc.endpoint("jwks")).json())


class TestSimulatedPscForAProvider:
    def test_the_provider_client_of_the_pki_is_registered(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        assert psc.clients[pki.provider_client_id].role == "provider"

    def test_issued_token_is_introspected_active_by_the_provider_over_mtls(
        self, psc: SimulatedPSC, pki: TestPKI, identity: TestIdentity, observations: ObservationLog
    ) -> None:
        token = psc.issue_access_token(identity, LPS1_CLIENT_ID)
        answer = introspect_at_psc(psc, pki, token)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
        body = answer.json()
        assert body["active"] is True and body["SubjectNameID"] == identity.national_id
        assert body["client_id"] == LPS1_CLIENT_ID and body["iss"] == psc.issuer
        assert body["cnf"] == {"x5t#S256": pki.clients[LPS1_CLIENT_ID].x5t_s256}
        assert body["exp"] - body["iat"] == 120
        [seen] = observations.find("introspection")
        assert seen.client_id == pki.provider_client_id
        expected = {
            "role": "provider",
            "client_role": "provider",
            "active": True,
            "method": "tls_client_auth",
            "certificate_subject": pki.clients[pki.provider_client_id].subject,
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "jti": body["jti"],
        }
        assert {name: seen.data.get(name) for name in expected} == expected
        assert seen.data["tls_version"] in ("TLSv1.2", "TLSv1.3")

    def test_the_provider_may_introspect_with_client_secret_basic(
        self, psc: SimulatedPSC, pki: TestPKI, identity: TestIdentity, observations: ObservationLog
    ) -> None:
        token = psc.issue_access_token(identity, LPS1_CLIENT_ID)
        answer = introspect_at_psc(psc, pki, token, basic=(pki.provider_client_id, "provider-secret"))
        assert answer.status_code == 200 and answer.json()["active"] is True
        assert observations.find("introspection")[0].data["method"] == "client_secret_basic"
        refused = introspect_at_psc(psc, pki, token, basic=(pki.provider_client_id, "wrong"))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        [failure] = observations.find("client_auth.bad_secret")
        assert failure.data["endpoint"] == "introspection"

    def test_issued_token_has_the_claims_of_a_ciba_token_and_verifies_with_the_jwks(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock, identity: TestIdentity
    ) -> None:
        issued = psc.issue_access_token(identity, LPS1_CLIENT_ID)
        ciba = ciba_access_token(psc, pki, clock, identity.national_id)
        keys = psc_jwks(psc, pki)
        decoded = []
        for token in (issued, ciba):
            key = keys[jwt.get_unverified_header(token)["kid"]]
            decoded.append(jwt.decode(token, key, algorithms=["RS256"], audience=LPS1_CLIENT_ID, leeway=5))
        issued_claims, ciba_claims = decoded
        assert set(issued_claims) == set(ciba_claims)
        same = ("iss", "sub", "aud", "azp", "typ", "acr", "scope", "SubjectNameID", "cnf")
        assert {k: issued_claims[k] for k in same} == {k: ciba_claims[k] for k in same}
        assert issued_claims["session_state"] != ciba_claims["session_state"]  # a session of its own

    def test_issued_token_is_active_until_its_exp(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock, identity: TestIdentity
    ) -> None:
        token = psc.issue_access_token(identity, LPS2_CLIENT_ID, ttl_s=10, scope="openid")
        body = introspect_at_psc(psc, pki, token).json()
        assert body["active"] is True and body["exp"] - body["iat"] == 10
        assert body["scope"] == "openid" and body["client_id"] == LPS2_CLIENT_ID
        clock.advance(10)
        assert introspect_at_psc(psc, pki, token).json() == {"active": False}

    def test_revoke_makes_the_token_inactive_and_only_it(
        self, psc: SimulatedPSC, pki: TestPKI, identity: TestIdentity
    ) -> None:
        revoked = psc.issue_access_token(identity, LPS1_CLIENT_ID)
        kept = psc.issue_access_token(identity, LPS1_CLIENT_ID)
        psc.revoke(revoked)
        assert introspect_at_psc(psc, pki, revoked).json() == {"active": False}
        assert introspect_at_psc(psc, pki, kept).json()["active"] is True

    def test_revoke_and_issue_refuse_what_this_psc_does_not_know(
        self, psc: SimulatedPSC, identity: TestIdentity
    ) -> None:
        with pytest.raises(KeyError):
            psc.revoke(psc.foreign_access_token(identity, LPS1_CLIENT_ID))
        with pytest.raises(KeyError):
            psc.issue_access_token(identity, "not-a-client")

    def test_foreign_token_is_inactive_and_fails_verification_with_the_jwks(
        self, psc: SimulatedPSC, pki: TestPKI, identity: TestIdentity
    ) -> None:
        token = psc.foreign_access_token(identity, LPS1_CLIENT_ID)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] != psc.issuer and claims["SubjectNameID"] == identity.national_id
        kid = jwt.get_unverified_header(token)["kid"]
        keys = psc_jwks(psc, pki)
        assert kid not in [key.key_id for key in keys.keys]
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, keys.keys[0], algorithms=["RS256"], options={"verify_aud": False})
        assert introspect_at_psc(psc, pki, token).json() == {"active": False}

    def test_introspection_without_a_token_is_invalid_request_and_observed(
        self, psc: SimulatedPSC, pki: TestPKI, observations: ObservationLog
    ) -> None:
        answer = introspect_at_psc(psc, pki, "")
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
        [seen] = observations.find("introspection_request")
        assert seen.kind == "introspection_request.token_missing" and seen.data["fatal"] is True
        assert observations.find("introspection") == []


# -- the harness's authorization server ------------------------------------------------------------------


def introspect_at_as(
    api_as: SimulatedApiAuthorizationServer,
    pki: TestPKI,
    token: str,
    *,
    cert: str | None = None,
    basic: tuple[str, str] | None = None,
    client_id: str | None = None,
) -> httpx.Response:
    data = {"token": token} | ({"client_id": client_id} if client_id else {})
    with https(pki, cert) as client:
        return client.post(api_as.introspection_endpoint, data=data, auth=basic_auth(basic))


def as_jwks(api_as: SimulatedApiAuthorizationServer, pki: TestPKI) -> jwt.PyJWKSet:
    with https(pki, None) as client:
        return jwt.PyJWKSet.from_dict(client.get(api_as.jwks_uri).json())


class TestHarnessAuthorizationServer:
    def test_paths_are_those_written_in_counterparts_json(
        self, api_as: SimulatedApiAuthorizationServer
    ) -> None:
        assert api_as.introspection_path == API_INTROSPECTION_PATH
        assert api_as.metadata_path == API_METADATA_PATH

    def test_metadata_and_jwks_are_served_without_a_client_certificate(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI
    ) -> None:
        with https(pki, None) as client:
            metadata = client.get(api_as.metadata_url)
            openid = client.get(api_as.issuer + "/.well-known/openid-configuration")
            keys = client.get(api_as.jwks_uri)
        assert metadata.status_code == openid.status_code == keys.status_code == 200
        assert metadata.json() == openid.json()
        document = metadata.json()
        assert document["issuer"] == api_as.issuer
        assert document["introspection_endpoint"] == api_as.url + API_INTROSPECTION_PATH
        assert document["introspection_endpoint_auth_methods_supported"] == [
            "tls_client_auth",
            "client_secret_basic",
        ]
        assert document["jwks_uri"] == api_as.jwks_uri
        assert [key["kid"] for key in keys.json()["keys"]] == [api_as.signing_key.kid]

    @pytest.mark.parametrize(
        ("cert", "client_id"),
        [("provider", None), ("provider", "provider"), (LPS1_CLIENT_ID, LPS1_CLIENT_ID)],
    )
    def test_introspection_by_client_certificate(
        self,
        api_as: SimulatedApiAuthorizationServer,
        pki: TestPKI,
        observations: ObservationLog,
        cert: str,
        client_id: str | None,
    ) -> None:
        cert = pki.provider_client_id if cert == "provider" else cert
        client_id = pki.provider_client_id if client_id == "provider" else client_id
        minted = api_as.token_minter.mint(
            national_id="899900000019",
            client_id=LPS1_CLIENT_ID,
            x5t_s256=pki.clients[LPS1_CLIENT_ID].x5t_s256,
        )
        answer = introspect_at_as(api_as, pki, minted.token, cert=cert, client_id=client_id)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
        assert answer.json() == {**minted.claims, "active": True, "token_type": "Bearer"}
        [seen] = observations.find("api_as.introspection")
        assert seen.counterpart == "api-as" and seen.client_id == cert
        assert seen.data["method"] == "tls_client_auth" and seen.data["active"] is True

    def test_introspection_by_client_secret_basic(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI, observations: ObservationLog
    ) -> None:
        minted = api_as.token_minter.mint(
            national_id="899900000019", client_id=LPS2_CLIENT_ID, x5t_s256=None, cnf="none"
        )
        answer = introspect_at_as(api_as, pki, minted.token, basic=(LPS2_CLIENT_ID, SECRETS[LPS2_CLIENT_ID]))
        assert answer.status_code == 200 and answer.json()["active"] is True
        [seen] = observations.find("api_as.introspection")
        assert (seen.client_id, seen.data["method"]) == (LPS2_CLIENT_ID, "client_secret_basic")

    @pytest.mark.parametrize(
        ("cert", "basic", "client_id", "reason"),
        [
            (None, None, None, "no_credentials"),
            (None, (LPS1_CLIENT_ID, "wrong"), None, "bad_secret"),
            (None, ("unknown-client", "x"), None, "bad_secret"),
            (None, (LPS1_CLIENT_ID, SECRETS[LPS1_CLIENT_ID]), LPS2_CLIENT_ID, "client_id_mismatch"),
            (LPS1_CLIENT_ID, None, LPS2_CLIENT_ID, "client_id_mismatch"),
        ],
    )
    def test_unauthenticated_introspection_is_401_invalid_client(
        self,
        api_as: SimulatedApiAuthorizationServer,
        pki: TestPKI,
        observations: ObservationLog,
        cert: str | None,
        basic: tuple[str, str] | None,
        client_id: str | None,
        reason: str,
    ) -> None:
        minted = api_as.token_minter.mint(
            national_id="899900000019", client_id=LPS1_CLIENT_ID, x5t_s256=None, cnf="none"
        )
        answer = introspect_at_as(api_as, pki, minted.token, cert=cert, basic=basic, client_id=client_id)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
        assert rfc6750.parse_challenges(answer.headers["WWW-Authenticate"])[0].is_scheme("Basic")
        [refused] = observations.find("api_as.introspection_client_auth")
        assert refused.data["reason"] == reason
        assert observations.find("api_as.introspection") == []

    def test_introspection_without_a_token_is_invalid_request(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI
    ) -> None:
        answer = introspect_at_as(api_as, pki, "", cert=pki.provider_client_id)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"

    def test_tokens_of_the_token_exchange_are_introspectable(
        self,
        api_as: SimulatedApiAuthorizationServer,
        psc: SimulatedPSC,
        pki: TestPKI,
        identity: TestIdentity,
    ) -> None:
        subject = psc.issue_access_token(identity, LPS1_CLIENT_ID)
        form = rfc8693.build_request(subject, scope=api_as.api_scope)
        with https(pki, LPS1_CLIENT_ID) as client:
            exchanged = client.post(api_as.token_endpoint, data=form)
        assert exchanged.status_code == 200, exchanged.text
        api_token = exchanged.json()["access_token"]
        body = introspect_at_as(api_as, pki, api_token, cert=pki.provider_client_id).json()
        assert body["active"] is True and body["sub"] == identity.national_id
        assert body["cnf"] == {"x5t#S256": pki.clients[LPS1_CLIENT_ID].x5t_s256}
        assert introspect_at_as(api_as, pki, subject, cert=pki.provider_client_id).json() == {"active": False}


@dataclass(frozen=True)
class MintCase:
    arguments: dict[str, Any]
    pyjwt_error: type[Exception] | None  # what a verifier using the JWKS raises; None: it accepts
    active: bool  # what the AS's introspection answers


# The AS, like Keycloak, judges signature, issuer and lifetime; audience, scope and binding are for the
# resource server to check against the claims the answer carries.
MINT_CASES = {
    "valid": MintCase({}, None, True),
    "alg none": MintCase({"alg": "none"}, jwt.InvalidAlgorithmError, False),
    "hs256 with the public key": MintCase({"alg": "hs256_public_key"}, jwt.InvalidAlgorithmError, False),
    "tampered signature": MintCase({"alg": "tampered"}, jwt.InvalidSignatureError, False),
    "expired": MintCase({"ttl_s": -60}, jwt.ExpiredSignatureError, False),
    "issued long ago": MintCase({"issued_offset_s": -7200}, jwt.ExpiredSignatureError, False),
    "not yet valid": MintCase({"not_before_s": 600}, jwt.ImmatureSignatureError, False),
    "wrong issuer": MintCase({"issuer": "https://other.test/realms/x"}, jwt.InvalidIssuerError, False),
    "wrong audience": MintCase({"audience": "another-api"}, jwt.InvalidAudienceError, True),
    "no audience": MintCase({"audience": None}, jwt.MissingRequiredClaimError, True),
    "two audiences": MintCase({"audience": ["apipsc", "other"]}, None, True),
    "no scope": MintCase({"scope": None}, None, True),
    "not bound": MintCase({"cnf": "none"}, None, True),
    "bound in ANS hex form": MintCase({"cnf": "ans_hex"}, None, True),
}


def verify_with_jwks(
    api_as: SimulatedApiAuthorizationServer, keys: jwt.PyJWKSet, token: str
) -> dict[str, Any]:
    """What a careful resource server does: key by kid from the JWKS, alg pinned, iss/aud/time checked."""
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=list(api_as.audiences),
        issuer=api_as.issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )
    return claims


class TestMintedTokens:
    @pytest.mark.parametrize("name", list(MINT_CASES))
    def test_verification_and_introspection(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI, name: str
    ) -> None:
        case = MINT_CASES[name]
        x5t = pki.clients[LPS1_CLIENT_ID].x5t_s256
        minted = api_as.token_minter.mint(
            national_id="899900000019", client_id=LPS1_CLIENT_ID, x5t_s256=x5t, **case.arguments
        )
        keys = as_jwks(api_as, pki)
        if case.pyjwt_error is None:
            assert verify_with_jwks(api_as, keys, minted.token) == minted.claims
        else:
            with pytest.raises(case.pyjwt_error):
                verify_with_jwks(api_as, keys, minted.token)
        answer = introspect_at_as(api_as, pki, minted.token, cert=pki.provider_client_id).json()
        expected = (
            {**minted.claims, "active": True, "token_type": "Bearer"} if case.active else {"active": False}
        )
        assert answer == expected
        assert minted.description

    def test_foreign_key_has_a_kid_absent_from_the_jwks_and_a_signature_of_another_key(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI
    ) -> None:
        minted = api_as.token_minter.mint(
            national_id="899900000019", client_id=LPS1_CLIENT_ID, x5t_s256=None, cnf="none", alg="foreign_key"
        )
        keys = as_jwks(api_as, pki)
        with pytest.raises(KeyError):
            verify_with_jwks(api_as, keys, minted.token)
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(minted.token, keys.keys[0], algorithms=["RS256"], options={"verify_aud": False})
        assert introspect_at_as(api_as, pki, minted.token, cert=pki.provider_client_id).json() == {
            "active": False
        }

    def test_the_forgeries_are_what_they_claim_to_be(self, api_as: SimulatedApiAuthorizationServer) -> None:
        mint = api_as.token_minter.mint
        arguments: dict[str, Any] = {
            "national_id": "899900000019",
            "client_id": LPS1_CLIENT_ID,
            "x5t_s256": None,
            "cnf": "none",
        }
        # tampered: flipping the bit back gives a token the AS key verifies, header and claims intact
        tampered = mint(**arguments, alg="tampered")
        t_input, _, t_signature = tampered.token.rpartition(".")
        raw = bytearray(b64url_decode(t_signature))
        raw[0] ^= 0x01
        restored = f"{t_input}.{b64url(bytes(raw))}"
        assert api_as.signing_key.verify(restored, audience=list(api_as.audiences)) == tampered.claims
        with pytest.raises(jwt.InvalidSignatureError):
            api_as.signing_key.verify(tampered.token, audience=list(api_as.audiences))
        # none: alg none, empty signature
        unsigned = mint(**arguments, alg="none")
        assert unsigned.token.endswith(".") and jwt.get_unverified_header(unsigned.token)["alg"] == "none"
        # hs256: an HMAC a verifier trusting the header's alg would accept with the PEM public key
        confused = mint(**arguments, alg="hs256_public_key")
        c_input, _, c_signature = confused.token.rpartition(".")
        pem = api_as.signing_key.private_key.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        assert c_signature == b64url(hmac.new(pem, c_input.encode(), hashlib.sha256).digest())
        assert jwt.get_unverified_header(confused.token)["kid"] == api_as.signing_key.kid

    def test_claims_binding_and_times(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI, clock: ManualClock
    ) -> None:
        issued = pki.clients[LPS2_CLIENT_ID]
        now = int(clock.now())
        minted = api_as.token_minter.mint(
            national_id="899900000027",
            client_id=LPS2_CLIENT_ID,
            x5t_s256=issued.x5t_s256,
            ttl_s=300,
            not_before_s=5,
        )
        claims = minted.claims
        assert (claims["iss"], claims["sub"], claims["aud"]) == (api_as.issuer, "899900000027", "apipsc")
        assert (claims["scope"], claims["client_id"]) == (api_as.api_scope, LPS2_CLIENT_ID)
        assert claims["cnf"] == {"x5t#S256": issued.x5t_s256}
        assert (claims["iat"], claims["exp"], claims["nbf"]) == (now, now + 300, now + 5)
        hex_form = api_as.token_minter.mint(
            national_id="899900000027", client_id=LPS2_CLIENT_ID, x5t_s256=issued.x5t_s256, cnf="ans_hex"
        )
        assert hex_form.claims["cnf"] == {"x5t#S256": issued.x5t_s256_ans_hex}
        with pytest.raises(ValueError):
            api_as.token_minter.mint(national_id="1", client_id=LPS2_CLIENT_ID, x5t_s256=None)

    def test_introspection_follows_the_clock(
        self, api_as: SimulatedApiAuthorizationServer, pki: TestPKI, clock: ManualClock
    ) -> None:
        minted: MintedToken = api_as.token_minter.mint(
            national_id="899900000019",
            client_id=LPS1_CLIENT_ID,
            x5t_s256=None,
            cnf="none",
            ttl_s=60,
            not_before_s=10,
        )

        def active() -> bool:
            body = introspect_at_as(api_as, pki, minted.token, cert=pki.provider_client_id).json()
            return bool(body["active"])

        assert not active()
        clock.advance(10)
        assert active()
        clock.advance(50)
        assert not active()
