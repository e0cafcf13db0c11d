"""The simulated API authorization server over real mTLS: RFC 8693 token exchange and its observations."""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import jwt
import pytest

from conformance.clock import ManualClock
from conformance.counterparts.api_psc import (
    DEFAULT_API_TOKEN_TTL_S,
    DEFAULT_TOKEN_PATH,
    SimulatedApiAuthorizationServer,
)
from conformance.counterparts.observations import ObservationLog
from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID, TestPKI, client_context
from conformance.standards import rfc8693
from conformance.standards.jose import SigningKey
from conformance.tls import TLSServer

NATIONAL_ID = "899700218896"
PSC_AUTH_URL = "https://psc.example/auth/realms/esante-wallet/protocol/openid-connect/auth"
REFUSED = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)


class StubPsc:
    """Stands in for PSC's introspection endpoint: opaque tokens mapped to RFC 7662 answers."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.answers: dict[str, dict[str, Any]] = {}
        self._serial = itertools.count(1)

    def token(self, client_id: str = LPS1_CLIENT_ID, national_id: str = NATIONAL_ID, **extra: Any) -> str:
        token = f"psc-at-{next(self._serial)}"
        now = int(self.clock.now())
        self.answers[token] = {
            "active": True,
            "sub": "f1e2d3c4-uuid",
            "SubjectNameID": national_id,
            "preferred_username": national_id,
            "azp": client_id,
            "client_id": client_id,
            "scope": "openid scope_all",
            "iat": now,
            "exp": now + 120,
            "jti": token,
            **extra,
        }
        return token

    def __call__(self, token: str) -> Mapping[str, Any]:
        return self.answers.get(token, {"active": False})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def psc(clock: ManualClock) -> StubPsc:
    return StubPsc(clock)


@pytest.fixture
def observations() -> ObservationLog:
    return ObservationLog()


@pytest.fixture(scope="module")
def as_key() -> SigningKey:
    """One RSA key for the module: generating one per test costs more than the test."""
    return SigningKey.generate("RS256")


@pytest.fixture
def api_as(
    pki: TestPKI, psc: StubPsc, clock: ManualClock, observations: ObservationLog, as_key: SigningKey
) -> Iterator[SimulatedApiAuthorizationServer]:
    server = SimulatedApiAuthorizationServer(
        pki,
        introspect=psc,
        observations=observations,
        clock=clock,
        psc_authentication_url=PSC_AUTH_URL,
        signing_key=as_key,
    )
    with server:
        yield server


def post(
    pki: TestPKI,
    server: SimulatedApiAuthorizationServer,
    data: Any,
    client_id: str | None = LPS1_CLIENT_ID,
    *,
    negative: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    context = client_context(pki, None if negative else client_id, negative=negative)
    with httpx.Client(verify=context, timeout=5) as client:
        return client.post(server.token_endpoint, data=data, **kwargs)


def kinds(observations: ObservationLog) -> list[str]:
    """The observed deviations and outcomes; `token_exchange.request` (every request, parsed) aside."""
    return [o.kind for o in observations if o.kind != "token_exchange.request"]


def test_happy_path(
    pki: TestPKI,
    api_as: SimulatedApiAuthorizationServer,
    psc: StubPsc,
    clock: ManualClock,
    observations: ObservationLog,
) -> None:
    assert api_as.token_endpoint.endswith(DEFAULT_TOKEN_PATH)
    response = post(
        pki,
        api_as,
        rfc8693.build_request(psc.token(), scope="signsessiondata", subject_token_type=rfc8693.JWT),
    )

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.json()
    assert body["issued_token_type"] == rfc8693.ACCESS_TOKEN and body["token_type"] == "Bearer"
    assert body["expires_in"] == DEFAULT_API_TOKEN_TTL_S == 14400 and body["scope"] == "signsessiondata"
    assert rfc8693.response_deviations(200, response.headers, body) == ()

    token = body["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(
        token,
        jwt.PyJWK(api_as.signing_key.public_jwk).key,
        algorithms=[api_as.signing_key.alg],
        audience="apipsc",
        issuer=api_as.issuer,
        options={"verify_iat": False},
    )
    assert claims["sub"] == NATIONAL_ID and claims["client_id"] == LPS1_CLIENT_ID
    assert claims["scope"] == "signsessiondata"
    assert claims["iat"] == int(clock.now()) and claims["exp"] - claims["iat"] == 14400
    assert claims["cnf"] == {"x5t#S256": pki.clients[LPS1_CLIENT_ID].x5t_s256}
    assert claims["jti"]

    assert kinds(observations) == ["token_exchange.issued"]
    issued = observations.find("token_exchange.issued")[0]
    assert issued.counterpart == "api-as" and issued.client_id == LPS1_CLIENT_ID
    assert (
        issued.data["x5t_s256"] == pki.clients[LPS1_CLIENT_ID].x5t_s256
        and issued.data["jti"] == claims["jti"]
    )


def test_ttl_can_be_switched(pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc) -> None:
    api_as.api_token_ttl_s = 60
    response = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata"))
    assert response.json()["expires_in"] == 60
    with pytest.raises(ValueError):
        api_as.api_token_ttl_s = 0


def test_lps2_gets_a_token_bound_to_its_own_certificate(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc
) -> None:
    response = post(
        pki, api_as, rfc8693.build_request(psc.token(LPS2_CLIENT_ID), scope="signsessiondata"), LPS2_CLIENT_ID
    )
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == LPS2_CLIENT_ID
    assert (
        claims["cnf"]["x5t#S256"]
        == pki.clients[LPS2_CLIENT_ID].x5t_s256
        != pki.clients[LPS1_CLIENT_ID].x5t_s256
    )


def test_unsupported_grant_type(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, observations: ObservationLog
) -> None:
    response = post(pki, api_as, {"grant_type": "client_credentials", "scope": "signsessiondata"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert response.headers["Cache-Control"] == "no-store"
    assert "token_exchange.grant_type" in kinds(observations)


def test_missing_scope_is_observed_and_the_default_scope_issued(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    response = post(pki, api_as, rfc8693.build_request(psc.token()))
    assert response.status_code == 200 and response.json()["scope"] == "signsessiondata"
    assert kinds(observations) == ["token_exchange.scope_missing", "token_exchange.issued"]
    assert observations.find("token_exchange.scope_missing")[0].data == {"fatal": False}


@pytest.mark.parametrize("token_type", [rfc8693.ID_TOKEN, "access_token", ""])
def test_wrong_subject_token_type(
    pki: TestPKI,
    api_as: SimulatedApiAuthorizationServer,
    psc: StubPsc,
    observations: ObservationLog,
    token_type: str,
) -> None:
    data = rfc8693.build_request(psc.token(), subject_token_type=token_type, scope="signsessiondata")
    response = post(pki, api_as, data)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert kinds(observations) == ["token_exchange.subject_token_type"]


def test_missing_subject_token(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, observations: ObservationLog
) -> None:
    response = post(
        pki,
        api_as,
        {
            "grant_type": rfc8693.GRANT_TYPE,
            "subject_token_type": rfc8693.ACCESS_TOKEN,
            "scope": "signsessiondata",
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert kinds(observations) == ["token_exchange.subject_token_missing"]


def test_inactive_subject_token_is_invalid_grant(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, observations: ObservationLog
) -> None:
    response = post(pki, api_as, rfc8693.build_request("unknown-or-revoked", scope="signsessiondata"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_grant" and "expired or invalid" in body["error_description"]
    assert body["error_uri"] == PSC_AUTH_URL  # IG error case 1a: where to re-authenticate
    assert kinds(observations) == ["token_exchange.subject_token_inactive"]


def test_expired_subject_token_is_invalid_grant(
    pki: TestPKI,
    api_as: SimulatedApiAuthorizationServer,
    psc: StubPsc,
    clock: ManualClock,
    observations: ObservationLog,
) -> None:
    token = psc.token()
    clock.advance(121)  # a PSC access token lives 2 minutes
    response = post(pki, api_as, rfc8693.build_request(token, scope="signsessiondata"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert kinds(observations) == ["token_exchange.subject_token_inactive"]


def test_subject_token_of_another_client_is_invalid_grant(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    response = post(pki, api_as, rfc8693.build_request(psc.token(LPS2_CLIENT_ID), scope="signsessiondata"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    [mismatch] = observations.find("token_exchange.client_mismatch")
    assert mismatch.client_id == LPS1_CLIENT_ID
    assert mismatch.data == {"token_client_id": LPS2_CLIENT_ID, "certificate_client_id": LPS1_CLIENT_ID}


def test_introspection_without_national_id_is_invalid_grant(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    token = psc.token()
    del psc.answers[token]["SubjectNameID"]
    response = post(pki, api_as, rfc8693.build_request(token, scope="signsessiondata"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert kinds(observations) == ["token_exchange.subject_without_national_id"]


def test_introspection_failure_is_503(pki: TestPKI, clock: ManualClock, observations: ObservationLog) -> None:
    def broken(token: str) -> Mapping[str, Any]:
        raise ConnectionError("PSC unreachable")

    with SimulatedApiAuthorizationServer(
        pki, introspect=broken, observations=observations, clock=clock
    ) as server:
        response = post(pki, server, rfc8693.build_request("x", scope="signsessiondata"))
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    assert kinds(observations) == ["token_exchange.introspection_failed"]


@pytest.mark.parametrize(("client_id", "negative"), [(None, "cn-mismatch"), ("proxy-esante-edc-test", None)])
def test_unregistered_certificate_is_invalid_client(
    pki: TestPKI,
    api_as: SimulatedApiAuthorizationServer,
    psc: StubPsc,
    observations: ObservationLog,
    client_id: str | None,
    negative: str | None,
) -> None:
    response = post(
        pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata"), client_id, negative=negative
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"
    [unknown] = observations.find("token_exchange.unknown_client")
    assert unknown.client_id == (client_id or "ans-odc-intrus-edc-bas")
    assert "token_exchange.issued" not in kinds(observations)


def test_no_client_certificate_is_invalid_client(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    response = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata"), None)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert kinds(observations) == ["token_exchange.no_client_cert"]


def test_revoked_certificate_is_refused_in_the_handshake(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    with pytest.raises(REFUSED):
        post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata"), negative="revoked")
    assert api_as.server.wait_for_handshake_failures(1)[0].verify_message == "certificate revoked"
    assert list(observations) == []


def test_basic_header_is_observed_and_the_certificate_still_authenticates(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    data = rfc8693.build_request(psc.token(), scope="signsessiondata")
    response = post(pki, api_as, data, auth=(LPS1_CLIENT_ID, "secret"))
    assert response.status_code == 200
    assert kinds(observations) == ["token_exchange.basic_auth", "token_exchange.issued"]
    assert observations.find("token_exchange.basic_auth")[0].data == {"basic_client_id": LPS1_CLIENT_ID}


def test_basic_header_of_another_client_is_invalid_client_with_challenge(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    data = rfc8693.build_request(psc.token(), scope="signsessiondata")
    response = post(pki, api_as, data, auth=(LPS2_CLIENT_ID, "secret"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == 'Basic error="invalid_client"'
    assert kinds(observations) == ["token_exchange.basic_auth", "token_exchange.client_id_mismatch"]


def test_client_secret_in_form_is_observed(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    data = {
        **rfc8693.build_request(psc.token(), scope="signsessiondata"),
        "client_id": LPS1_CLIENT_ID,
        "client_secret": "s3cret",
    }
    response = post(pki, api_as, data)
    assert response.status_code == 200
    assert kinds(observations) == ["token_exchange.client_secret", "token_exchange.issued"]
    assert "s3cret" not in repr(list(observations))


def test_unknown_scope_is_invalid_scope(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    response = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata admin"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert observations.find("token_exchange.invalid_scope")[0].data == {"scopes": ["admin"]}


def test_openid_scope_alone_is_issued_as_asked(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc
) -> None:
    response = post(pki, api_as, rfc8693.build_request(psc.token(), scope="openid"))
    assert response.status_code == 200 and response.json()["scope"] == "openid"


def test_audience(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    ok = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata", audience=["apipsc"]))
    assert ok.status_code == 200
    bad = post(
        pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata", audience=["other-api"])
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_target"
    assert observations.find("token_exchange.invalid_target")[0].data == {
        "audience": ["other-api"],
        "resource": [],
    }


def test_json_body_and_query_parameters_are_observed(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    fields = rfc8693.build_request(psc.token(), scope="signsessiondata")
    context = client_context(pki, LPS1_CLIENT_ID)
    with httpx.Client(verify=context, timeout=5) as client:
        response = client.post(api_as.token_endpoint, json=fields, params={"grant_type": rfc8693.GRANT_TYPE})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert kinds(observations)[:2] == ["token_exchange.content_type", "token_exchange.query_parameters"]


def test_other_methods_and_paths(pki: TestPKI, api_as: SimulatedApiAuthorizationServer) -> None:
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID), timeout=5) as client:
        assert client.get(api_as.token_endpoint).status_code == 405
        assert client.post(api_as.url + "/token").status_code == 404


def test_discovery_and_jwks_are_served_without_a_client_certificate(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer
) -> None:
    with httpx.Client(verify=client_context(pki), timeout=5) as client:
        discovery = client.get(api_as.issuer + "/.well-known/openid-configuration").json()
        jwks = client.get(discovery["jwks_uri"]).json()
    assert discovery["issuer"] == api_as.issuer and discovery["token_endpoint"] == api_as.token_endpoint
    assert discovery["tls_client_certificate_bound_access_tokens"] is True
    assert jwks == {"keys": [api_as.signing_key.public_jwk]}


def test_custom_token_path_and_handshake_requiring_a_certificate(
    pki: TestPKI, psc: StubPsc, clock: ManualClock, observations: ObservationLog
) -> None:
    server = SimulatedApiAuthorizationServer(
        pki,
        introspect=psc,
        observations=observations,
        clock=clock,
        token_path="/token",
        handshake_requires_cert=True,
    )
    with server:
        assert server.token_endpoint == server.url + "/token"
        assert (
            post(pki, server, rfc8693.build_request(psc.token(), scope="signsessiondata")).status_code == 200
        )
        with pytest.raises(REFUSED):
            post(pki, server, rfc8693.build_request(psc.token(), scope="signsessiondata"), None)
        assert server.server.wait_for_handshake_failures(1)


def test_exchange_id_is_recorded_when_requests_carry_one(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata"))
    [issued] = observations.find("token_exchange.issued")
    from conformance.tls.server import Request

    if "id" not in getattr(Request, "__dataclass_fields__", {}) and not hasattr(Request, "id"):
        assert issued.exchange_id is None
    else:
        assert isinstance(issued.exchange_id, str) and issued.exchange_id


def test_observer_is_passed_to_the_tls_server(
    pki: TestPKI, psc: StubPsc, clock: ManualClock, as_key: SigningKey
) -> None:
    if "observer" not in inspect.signature(TLSServer).parameters:
        pytest.skip("this TLSServer has no observer yet")
    seen: list[tuple[str, int]] = []
    server = SimulatedApiAuthorizationServer(
        pki,
        introspect=psc,
        clock=clock,
        signing_key=as_key,
        observer=lambda request, response, *_: seen.append((request.path, response.status)),
    )
    with server:
        post(pki, server, rfc8693.build_request(psc.token(), scope="signsessiondata"))
    assert seen == [(DEFAULT_TOKEN_PATH, 200)]
    assert kinds(server.observations) == ["token_exchange.issued"]


# -- Keycloak-shaped answers, the refresh token, and what the AS parsed -------------------------------------


def test_answer_is_keycloak_shaped_with_a_refresh_token(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc
) -> None:
    body = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata")).json()
    assert {
        "access_token",
        "issued_token_type",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
        "refresh_expires_in",
        "not-before-policy",
        "session_state",
    } <= set(body)
    assert body["refresh_expires_in"] == api_as.refresh_token_ttl_s and body["not-before-policy"] == 0


def test_refresh_token_can_be_left_out_and_reset(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    api_as.omit_refresh_token = True
    body = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata")).json()
    assert "refresh_token" not in body and "refresh_expires_in" not in body
    assert (
        rfc8693.response_deviations(
            200, httpx.Headers(rfc8693.NO_STORE_HEADERS | {"Content-Type": "application/json"}), body
        )
        == ()
    )
    assert observations.find("token_exchange.issued")[0].data["refresh_token"] is False
    api_as.reset()
    assert api_as.omit_refresh_token is False


def test_refresh_grant_renews_once_for_the_same_client(
    pki: TestPKI,
    api_as: SimulatedApiAuthorizationServer,
    psc: StubPsc,
    observations: ObservationLog,
    clock: ManualClock,
) -> None:
    first = post(pki, api_as, rfc8693.build_request(psc.token(), scope="signsessiondata")).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert post(pki, api_as, refresh, LPS2_CLIENT_ID).json()["error"] == "invalid_grant"  # another client
    renewed = post(pki, api_as, refresh)
    assert renewed.status_code == 200, renewed.text
    claims = jwt.decode(renewed.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == NATIONAL_ID and claims["cnf"] == {
        "x5t#S256": pki.clients[LPS1_CLIENT_ID].x5t_s256
    }
    assert post(pki, api_as, refresh).status_code == 400  # rotated: one use
    later = post(
        pki, api_as, {"grant_type": "refresh_token", "refresh_token": renewed.json()["refresh_token"]}
    )
    assert later.status_code == 200
    clock.advance(api_as.refresh_token_ttl_s + 1)
    expired = {"grant_type": "refresh_token", "refresh_token": later.json()["refresh_token"]}
    assert post(pki, api_as, expired).json()["error"] == "invalid_grant"
    # A refresh is not a token exchange: nothing of it is parsed as one.
    assert len(observations.find("token_exchange.request")) == 1
    assert [o.kind for o in observations.find("token_refresh")].count("token_refresh.issued") == 2


def test_every_exchange_request_is_recorded_as_parsed(
    pki: TestPKI, api_as: SimulatedApiAuthorizationServer, psc: StubPsc, observations: ObservationLog
) -> None:
    data = {**rfc8693.build_request(psc.token(), scope="signsessiondata"), "client_secret": "s3cret"}
    post(pki, api_as, data, headers={"Authorization": "Bearer x"})
    [request] = observations.find("token_exchange.request")
    parsed = request.data["parsed"]
    assert isinstance(parsed, rfc8693.TokenExchangeRequest) and parsed.scope == ("signsessiondata",)
    assert request.data["credentials"] == ("Authorization: Bearer", "client_secret")
    assert request.data["x5t_s256"] == pki.clients[LPS1_CLIENT_ID].x5t_s256
    assert "s3cret" not in repr(parsed)
