"""The simulated PSC over real TLS and mTLS: every endpoint, every CIBA path, every observation."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from conformance.clock import ManualClock
from conformance.counterparts.psc import IdTokenTamper, SimulatedPSC
from conformance.counterparts.settings import PscTimings
from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID, TestPKI, client_context
from conformance.standards.ciba import DeviceAction, DeviceBehaviour
from conformance.standards.jose import b64url

PS1 = "899900000019"
CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def psc(pki: TestPKI, clock: ManualClock) -> Iterator[SimulatedPSC]:
    timings = PscTimings(ciba_interval_s=2, ciba_expires_in_s=30, slow_down_increment_s=5)
    with SimulatedPSC(pki, clock=clock, timings=timings) as server:
        yield server


def client(pki: TestPKI, cid: str | None = LPS1_CLIENT_ID, negative: str | None = None) -> httpx.Client:
    context = client_context(pki, None if negative else cid, negative=negative)
    return httpx.Client(verify=context, timeout=5)


def ciba_start(
    psc: SimulatedPSC, pki: TestPKI, cid: str = LPS1_CLIENT_ID, **overrides: str | None
) -> httpx.Response:
    form: dict[str, Any] = {
        "client_id": cid,
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "login_hint": PS1,
        "binding_message": "42",
        "channel": "MOBILE",
    }
    form.update(overrides)
    with client(pki, cid) as c:
        return c.post(psc.endpoint("backchannel"), data={k: v for k, v in form.items() if v is not None})


def poll(psc: SimulatedPSC, pki: TestPKI, auth_req_id: str, cid: str = LPS1_CLIENT_ID) -> httpx.Response:
    with client(pki, cid) as c:
        return c.post(
            psc.endpoint("token"), data={"grant_type": CIBA, "auth_req_id": auth_req_id, "client_id": cid}
        )


def connect(psc: SimulatedPSC, pki: TestPKI, clock: ManualClock, cid: str = LPS1_CLIENT_ID) -> dict[str, Any]:
    """A full CIBA login: request, one pending poll, then the tokens."""
    auth_req_id = ciba_start(psc, pki, cid).json()["auth_req_id"]
    assert poll(psc, pki, auth_req_id, cid).json()["error"] == "authorization_pending"
    clock.advance(2)
    answer = poll(psc, pki, auth_req_id, cid)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def verify_id_token(psc: SimulatedPSC, pki: TestPKI, token: str, audience: str) -> dict[str, Any]:
    with client(pki, None) as c:
        keys = jwt.PyJWKSet.from_dict(c.get(psc.endpoint("jwks")).json())
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=psc.issuer,
        options={"verify_exp": False},
        leeway=60,
    )
    return claims


def kinds(psc: SimulatedPSC) -> list[str]:
    return [o.kind for o in psc.observations]


class TestDiscovery:
    @pytest.mark.parametrize("name", ["discovery", "discovery_standard"])
    def test_served_without_client_certificate(self, psc: SimulatedPSC, pki: TestPKI, name: str) -> None:
        with client(pki, None) as c:
            doc = c.get(psc.endpoint(name)).json()
        assert doc["issuer"] == psc.issuer and psc.issuer.endswith("/auth/realms/esante-wallet")
        assert doc["backchannel_token_delivery_modes_supported"] == ["poll"]
        assert "tls_client_auth" in doc["token_endpoint_auth_methods_supported"]
        assert doc["tls_client_certificate_bound_access_tokens"] is True
        assert CIBA in doc["grant_types_supported"]

    def test_jwks_publishes_the_signing_key(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        with client(pki, None) as c:
            keys = c.get(psc.endpoint("jwks")).json()["keys"]
        assert [k["kid"] for k in keys] == [psc.signing_key.kid]


class TestCiba:
    def test_full_flow_issues_psc_tokens(self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock) -> None:
        start = ciba_start(psc, pki)
        assert start.status_code == 200 and set(start.json()) == {"auth_req_id", "expires_in", "interval"}
        assert start.json()["interval"] == 2 and start.headers["Cache-Control"] == "no-store"
        tokens = connect(psc, pki, clock)
        assert tokens["token_type"] == "Bearer" and tokens["session_state"]
        claims = verify_id_token(psc, pki, tokens["id_token"], LPS1_CLIENT_ID)
        assert claims["acr"] == "eidas1" and claims["SubjectNameID"] == PS1 and claims["sub"] != PS1
        assert claims["session_state"] == tokens["session_state"]
        digest = hashlib.sha256(tokens["access_token"].encode()).digest()
        assert claims["at_hash"] == b64url(digest[:16])
        access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert access["cnf"]["x5t#S256"] == pki.clients[LPS1_CLIENT_ID].x5t_s256
        assert access["SubjectNameID"] == PS1

    def test_polling_faster_than_interval_gets_slow_down(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock
    ) -> None:
        auth_req_id = ciba_start(psc, pki).json()["auth_req_id"]
        assert poll(psc, pki, auth_req_id).json()["error"] == "authorization_pending"
        clock.advance(0.5)
        assert poll(psc, pki, auth_req_id).json()["error"] == "slow_down"
        assert "ciba.poll_too_fast" in kinds(psc)
        clock.advance(2.5)  # the interval grew by 5 s (to 7 s): still too fast, and it grows again
        assert poll(psc, pki, auth_req_id).json()["error"] == "slow_down"
        clock.advance(12)  # RFC 8628 §3.5: each slow_down adds 5 s for all later polls
        assert poll(psc, pki, auth_req_id).status_code == 200

    def test_denial(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        psc.set_device(PS1, DeviceBehaviour(DeviceAction.DENY, after_polls=0))
        answer = poll(psc, pki, ciba_start(psc, pki).json()["auth_req_id"])
        assert (answer.status_code, answer.json()["error"]) == (400, "access_denied")

    def test_expiry_when_the_device_never_answers(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock
    ) -> None:
        psc.set_device(PS1, DeviceBehaviour(DeviceAction.NEVER))
        auth_req_id = ciba_start(psc, pki).json()["auth_req_id"]
        assert poll(psc, pki, auth_req_id).json()["error"] == "authorization_pending"
        clock.advance(31)
        assert poll(psc, pki, auth_req_id).json()["error"] == "expired_token"

    def test_answer_after_n_polls(self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock) -> None:
        psc.set_device(PS1, DeviceBehaviour(DeviceAction.APPROVE, after_polls=3))
        auth_req_id = ciba_start(psc, pki).json()["auth_req_id"]
        answers = []
        for _ in range(4):
            answers.append(poll(psc, pki, auth_req_id).status_code)
            clock.advance(2)
        assert answers == [400, 400, 400, 200]

    def test_redeemed_twice_is_invalid_grant(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock
    ) -> None:
        psc.set_device(PS1, DeviceBehaviour(after_polls=0))
        auth_req_id = ciba_start(psc, pki).json()["auth_req_id"]
        assert poll(psc, pki, auth_req_id).status_code == 200
        clock.advance(2)
        assert poll(psc, pki, auth_req_id).json()["error"] == "invalid_grant"

    def test_another_client_cannot_redeem(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        auth_req_id = ciba_start(psc, pki).json()["auth_req_id"]
        assert poll(psc, pki, auth_req_id, LPS2_CLIENT_ID).json()["error"] == "invalid_grant"
        assert "ciba.client_mismatch" in kinds(psc)

    @pytest.mark.parametrize(
        ("overrides", "error", "kind"),
        [
            ({"login_hint": "899999999999"}, "unknown_user_id", "ciba.unknown_user"),
            ({"login_hint": None}, "invalid_request", "ciba.login_hint"),
            ({"scope": "scope_all"}, "invalid_scope", "ciba.scope"),
            ({"scope": "openid scope_all admin"}, "invalid_scope", "ciba.scope"),
            ({"acr_values": "eidas2"}, "invalid_request", "ciba.acr_values"),
        ],
    )
    def test_refusals(
        self, psc: SimulatedPSC, pki: TestPKI, overrides: dict[str, str | None], error: str, kind: str
    ) -> None:
        answer = ciba_start(psc, pki, **overrides)
        assert (answer.status_code, answer.json()["error"]) == (400, error)
        assert kind in kinds(psc)

    @pytest.mark.parametrize(
        ("overrides", "kind"),
        [
            ({"scope": "openid"}, "ciba.scope"),
            ({"acr_values": None}, "ciba.acr_values"),
            ({"binding_message": "hello"}, "ciba.binding_message"),
            ({"channel": None}, "ciba.channel"),
        ],
    )
    def test_deviations_are_served_and_observed(
        self, psc: SimulatedPSC, pki: TestPKI, overrides: dict[str, str | None], kind: str
    ) -> None:
        assert ciba_start(psc, pki, **overrides).status_code == 200
        assert kind in kinds(psc)

    def test_conformant_request_raises_no_deviation(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock
    ) -> None:
        connect(psc, pki, clock)
        informational = {
            "client_auth",
            "ciba.received",
            "ciba.request",
            "ciba.poll",
            "token.request",
            "token.issued",
        }
        assert set(kinds(psc)) == informational


class TestClientAuthentication:
    def test_no_client_certificate(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        with client(pki, None) as c:
            answer = c.post(
                psc.endpoint("backchannel"), data={"client_id": LPS1_CLIENT_ID, "scope": "openid"}
            )
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
        assert "client_auth.no_certificate" in kinds(psc)

    def test_certificate_of_another_client(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        with client(pki, negative="cn-mismatch") as c:
            answer = c.post(psc.endpoint("token"), data={"client_id": LPS1_CLIENT_ID, "grant_type": CIBA})
        assert answer.status_code == 401 and "client_auth.cn_mismatch" in kinds(psc)

    @pytest.mark.parametrize("negative", ["expired", "rogue", "revoked", "wrong-eku"])
    def test_negative_certificates_are_refused_at_the_handshake(
        self, psc: SimulatedPSC, pki: TestPKI, negative: str
    ) -> None:
        with client(pki, negative=negative) as c, pytest.raises(httpx.HTTPError):
            c.post(psc.endpoint("token"), data={"client_id": LPS1_CLIENT_ID})

    def test_basic_is_accepted_but_observed(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        secret = psc.clients[LPS1_CLIENT_ID].secret
        basic = base64.b64encode(f"{LPS1_CLIENT_ID}:{secret}".encode()).decode()
        with client(pki) as c:
            answer = c.post(
                psc.endpoint("backchannel"),
                headers={"Authorization": f"Basic {basic}"},
                data={
                    "scope": "openid scope_all",
                    "acr_values": "eidas1",
                    "login_hint": PS1,
                    "binding_message": "07",
                    "channel": "CARD",
                },
            )
        assert answer.status_code == 200 and "client_auth.basic" in kinds(psc)

    def test_wrong_secret(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        with client(pki) as c:
            answer = c.post(psc.endpoint("token"), auth=(LPS1_CLIENT_ID, "nope"), data={"grant_type": CIBA})
        assert answer.status_code == 401 and "client_auth.bad_secret" in kinds(psc)

    def test_unsupported_grant(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        with client(pki) as c:
            answer = c.post(
                psc.endpoint("token"), data={"client_id": LPS1_CLIENT_ID, "grant_type": "client_credentials"}
            )
        assert answer.json()["error"] == "unsupported_grant_type" and "token.grant_type" in kinds(psc)


class TestSessionEndpoints:
    def test_refresh_rotates_the_refresh_token(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock
    ) -> None:
        tokens = connect(psc, pki, clock)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": LPS1_CLIENT_ID,
        }
        with client(pki) as c:
            fresh = c.post(psc.endpoint("token"), data=form)
            again = c.post(psc.endpoint("token"), data=form)
        assert fresh.status_code == 200 and fresh.json()["session_state"] == tokens["session_state"]
        assert again.json()["error"] == "invalid_grant"
        assert "token.refresh" in kinds(psc)

    def test_userinfo_scope_all_and_certificate_binding(
        self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock
    ) -> None:
        tokens = connect(psc, pki, clock)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        with client(pki) as c:
            info = c.get(psc.endpoint("userinfo"), headers=bearer).json()
        assert info["SubjectNameID"] == PS1 and info["sub"] != PS1
        assert info["SubjectRefPro"]["exercices"][0]["activities"]
        with client(pki, LPS2_CLIENT_ID) as c:
            assert c.get(psc.endpoint("userinfo"), headers=bearer).status_code == 401
        assert "userinfo.cnf_mismatch" in kinds(psc)

    def test_introspection_by_the_proxy(self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock) -> None:
        tokens = connect(psc, pki, clock)
        proxy = pki.proxy_client_id
        with client(pki, proxy) as c:
            access = c.post(
                psc.endpoint("introspection"), data={"client_id": proxy, "token": tokens["access_token"]}
            )
            refresh = c.post(
                psc.endpoint("introspection"), data={"client_id": proxy, "token": tokens["refresh_token"]}
            )
            junk = c.post(psc.endpoint("introspection"), data={"client_id": proxy, "token": "junk"})
        assert access.json()["active"] is True and access.json()["SubjectNameID"] == PS1
        assert refresh.json()["active"] is True and "SubjectNameID" not in refresh.json()
        assert junk.json() == {"active": False}
        introspections = [o for o in psc.observations if o.kind == "introspection"]
        assert {o.data["role"] for o in introspections} == {"proxy"}

    def test_access_token_expires(self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock) -> None:
        tokens = connect(psc, pki, clock)
        clock.advance(121)
        assert psc.introspect(tokens["access_token"]) == {"active": False}

    def test_end_session_kills_the_session(self, psc: SimulatedPSC, pki: TestPKI, clock: ManualClock) -> None:
        tokens = connect(psc, pki, clock)
        with client(pki) as c:
            missing = c.get(psc.endpoint("end_session"))
            done = c.get(psc.endpoint("end_session"), params={"id_token_hint": tokens["id_token"]})
        assert missing.status_code == 400 and "logout.id_token_hint_missing" in kinds(psc)
        assert done.status_code == 200 and "logout" in kinds(psc)
        assert psc.introspect(tokens["access_token"]) == {"active": False}
        assert psc.introspect(tokens["refresh_token"]) == {"active": False}


class TestCodeFlow:
    def authorize(self, psc: SimulatedPSC, pki: TestPKI, verifier: str) -> str:
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        params = {
            "response_type": "code",
            "client_id": LPS1_CLIENT_ID,
            "redirect_uri": "https://lps.test/cb",
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "state": "s1",
            "nonce": "n1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": PS1,
        }
        with client(pki, None) as c:
            answer = c.get(psc.endpoint("authorization"), params=params)
        assert answer.status_code == 302
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert query["state"] == ["s1"]
        return query["code"][0]

    def test_code_with_pkce_s256(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        verifier = "v" * 50
        code = self.authorize(psc, pki, verifier)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://lps.test/cb",
            "client_id": LPS1_CLIENT_ID,
            "code_verifier": verifier,
        }
        with client(pki) as c:
            tokens = c.post(psc.endpoint("token"), data=form).json()
        assert verify_id_token(psc, pki, tokens["id_token"], LPS1_CLIENT_ID)["nonce"] == "n1"

    def test_wrong_verifier_is_refused(self, psc: SimulatedPSC, pki: TestPKI) -> None:
        code = self.authorize(psc, pki, "v" * 50)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://lps.test/cb",
            "client_id": LPS1_CLIENT_ID,
            "code_verifier": "w" * 50,
        }
        with client(pki) as c:
            assert c.post(psc.endpoint("token"), data=form).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (IdTokenTamper.BAD_SIGNATURE, jwt.InvalidSignatureError),
        (IdTokenTamper.WRONG_ISSUER, jwt.InvalidIssuerError),
        (IdTokenTamper.WRONG_AUDIENCE, jwt.InvalidAudienceError),
        (IdTokenTamper.EXPIRED, jwt.ExpiredSignatureError),
    ],
)
def test_tampered_id_tokens_fail_validation(
    psc: SimulatedPSC, pki: TestPKI, clock: ManualClock, tamper: IdTokenTamper, error: type[Exception]
) -> None:
    psc.id_token_tamper = tamper
    token = connect(psc, pki, clock)["id_token"]
    with client(pki, None) as c:
        keys = jwt.PyJWKSet.from_dict(c.get(psc.endpoint("jwks")).json())
    key = keys[jwt.get_unverified_header(token)["kid"]]
    with pytest.raises(error):
        jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=LPS1_CLIENT_ID,
            issuer=psc.issuer,
            options={"verify_iat": False},
            leeway=0,
        )


def test_wrong_acr_is_visible_in_the_id_token(psc: SimulatedPSC, pki: TestPKI, clock: ManualClock) -> None:
    psc.id_token_tamper = IdTokenTamper.WRONG_ACR
    claims = verify_id_token(psc, pki, connect(psc, pki, clock)["id_token"], LPS1_CLIENT_ID)
    assert claims["acr"] != "eidas1"
