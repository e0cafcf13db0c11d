"""The simulated API PSC resource server over real mTLS: `POST /signsessiondata` with a bound API token."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import jwt
import pytest

from conformance.clock import ManualClock
from conformance.counterparts.api_psc import (
    DEFAULT_BASE_PATH,
    SimulatedApiAuthorizationServer,
    SimulatedApiPsc,
    canonical_session_data,
)
from conformance.counterparts.observations import ObservationLog
from conformance.counterparts.psc import SimulatedPSC
from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID, TestPKI, client_context
from conformance.standards import rfc8693, rfc8705
from conformance.standards.jose import SigningKey

PS1 = "899700218896"
PS2 = "899700218897"


class StubIntrospection:
    """PSC's introspection answers for opaque test tokens (the real SimulatedPSC plugs in the same way)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.answers: dict[str, dict[str, Any]] = {}
        self._serial = itertools.count(1)

    def token(self, client_id: str, national_id: str) -> str:
        token = f"psc-at-{next(self._serial)}"
        now = int(self.clock.now())
        self.answers[token] = {
            "active": True,
            "SubjectNameID": national_id,
            "azp": client_id,
            "exp": now + 120,
            "iat": now,
        }
        return token

    def __call__(self, token: str) -> Mapping[str, Any]:
        return self.answers.get(token, {"active": False})


class Api:
    """The AS and the API started together, with helpers to get a token and call the API."""

    def __init__(self, pki: TestPKI, clock: ManualClock, as_key: SigningKey) -> None:
        self.pki = pki
        self.clock = clock
        self.psc = StubIntrospection(clock)
        self.observations = ObservationLog()
        self.authorization_server = SimulatedApiAuthorizationServer(
            pki, introspect=self.psc, observations=self.observations, clock=clock, signing_key=as_key
        )
        self.api = SimulatedApiPsc(pki, authorization_server=self.authorization_server)

    def api_token(
        self, client_id: str = LPS1_CLIENT_ID, national_id: str = PS1, scope: str = "signsessiondata"
    ) -> str:
        form = rfc8693.build_request(self.psc.token(client_id, national_id), scope=scope)
        with httpx.Client(verify=client_context(self.pki, client_id), timeout=5) as client:
            response = client.post(self.authorization_server.token_endpoint, data=form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def call(
        self,
        token: str | None,
        client_id: str | None = LPS1_CLIENT_ID,
        body: Any = None,
        *,
        path: str = "/signsessiondata",
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        headers |= kwargs.pop("headers", {})
        if body is None and "content" not in kwargs:
            kwargs["json"] = session_data()
        elif body is not None:
            kwargs["json"] = body
        with httpx.Client(verify=client_context(self.pki, client_id), timeout=5) as client:
            return client.post(self.api.base_url + path, headers=headers, **kwargs)

    def kinds(self) -> list[str]:
        """What was observed; `token_exchange.request` (every exchange request, parsed) aside."""
        return [o.kind for o in self.observations if o.kind != "token_exchange.request"]


def session_data(national_id: str = PS1, client_id: str = LPS1_CLIENT_ID) -> dict[str, str]:
    return {
        "nationalId": national_id,
        "clientID": client_id,
        "proxy_session_id": str(uuid.uuid4()),
        "session_state": str(uuid.uuid4()),
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture(scope="module")
def as_key() -> SigningKey:
    """One RSA key for the module: generating one per test costs more than the test."""
    return SigningKey.generate("RS256")


@pytest.fixture
def api(pki: TestPKI, clock: ManualClock, as_key: SigningKey) -> Iterator[Api]:
    setup = Api(pki, clock, as_key)
    with setup.authorization_server, setup.api:
        yield setup


def test_happy_path_returns_verifiable_signed_session_data(api: Api, pki: TestPKI) -> None:
    assert api.api.base_url.endswith(DEFAULT_BASE_PATH)
    token = api.api_token()
    data = session_data()
    response = api.call(token, body=data)

    assert response.status_code == 200, response.text
    signed = response.json()
    assert set(signed) == {*data, "signature"}
    assert {k: signed[k] for k in data} == data
    assert api.api.verify_signature(signed)
    assert not api.api.verify_signature({**signed, "session_state": "forged"})
    assert not api.api.verify_signature({**signed, "signature": signed["signature"][:-4] + "AAAA"})
    assert not api.api.verify_signature({k: v for k, v in signed.items() if k != "nationalId"})

    # The signature is a JWS anyone can check with the published JWK.
    key = jwt.PyJWK(api.api.signature_jwk).key
    assert jwt.api_jws.decode(signed["signature"], key, algorithms=["ES256"]) == canonical_session_data(data)

    issued = api.observations.find("token_exchange.issued")[0]
    call = api.observations.find("api.call")[0]
    assert api.kinds() == ["token_exchange.issued", "api.call"]
    assert call.counterpart == "api" and call.client_id == LPS1_CLIENT_ID
    assert call.data["x5t_s256"] == issued.data["x5t_s256"] == pki.clients[LPS1_CLIENT_ID].x5t_s256
    assert call.data["jti"] == issued.data["jti"]
    assert call.data["method"] == "POST" and call.data["path"] == DEFAULT_BASE_PATH + "/signsessiondata"


def test_lps1_token_with_lps2_certificate_is_invalid_token(api: Api, pki: TestPKI) -> None:
    response = api.call(api.api_token(LPS1_CLIENT_ID), LPS2_CLIENT_ID)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    [mismatch] = api.observations.find("api.cnf_mismatch")
    assert mismatch.client_id == LPS2_CLIENT_ID
    assert mismatch.data["token_x5t_s256"] == pki.clients[LPS1_CLIENT_ID].x5t_s256
    assert mismatch.data["connection_x5t_s256"] == pki.clients[LPS2_CLIENT_ID].x5t_s256
    assert "api.call" not in api.kinds()


def test_expired_api_token(api: Api, clock: ManualClock) -> None:
    api.authorization_server.api_token_ttl_s = 60
    token = api.api_token()
    assert api.call(token).status_code == 200
    clock.advance(60)
    response = api.call(token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert api.kinds()[-1] == "api.token_expired"


def test_missing_token_gets_a_bare_bearer_challenge(api: Api) -> None:
    response = api.call(None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="apipsc"'
    assert api.kinds() == ["api.token_missing"]


def test_token_in_query_is_invalid_request(api: Api) -> None:
    token = api.api_token()
    response = api.call(None, params={"access_token": token})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]
    assert api.kinds()[-1] == "api.authorization_scheme"


@pytest.mark.parametrize("scheme", ["Basic", "DPoP", "Token"])
def test_other_authorization_scheme_is_invalid_request(api: Api, scheme: str) -> None:
    token = api.api_token()
    response = api.call(None, headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]
    assert api.observations.find("api.authorization_scheme")[0].data == {"scheme": scheme}


def test_lowercase_bearer_scheme_is_accepted(api: Api) -> None:
    response = api.call(None, headers={"Authorization": f"bearer {api.api_token()}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(lambda api: "not-a-jwt", id="garbage"),
        pytest.param(lambda api: SigningKey.generate("RS256").sign({"sub": PS1}), id="foreign-key"),
        pytest.param(
            lambda api: api.authorization_server.signing_key.sign(
                {"iss": "https://elsewhere", "sub": PS1, "aud": "apipsc", "exp": 4_000_000_000}
            ),
            id="wrong-issuer",
        ),
        pytest.param(
            lambda api: api.authorization_server.signing_key.sign(
                {"iss": api.authorization_server.issuer, "sub": PS1, "aud": "other", "exp": 4_000_000_000}
            ),
            id="wrong-audience",
        ),
    ],
)
def test_invalid_token(api: Api, token_factory: Any) -> None:
    response = api.call(token_factory(api))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert api.kinds() == ["api.token_invalid"]


def forge(api: Api, **claims: Any) -> str:
    """A token signed with the AS's key, with chosen claims (what our AS never issues)."""
    authorization_server = api.authorization_server
    base = {
        "iss": authorization_server.issuer,
        "sub": PS1,
        "aud": "apipsc",
        "exp": int(api.clock.now()) + 600,
        "iat": int(api.clock.now()),
        "jti": "forged",
        "scope": "signsessiondata",
        "client_id": LPS1_CLIENT_ID,
    }
    return authorization_server.signing_key.sign({**base, **claims})


def test_ans_hex_cnf_is_observed_and_accepted(api: Api, pki: TestPKI) -> None:
    cert = pki.clients[LPS1_CLIENT_ID]
    token = forge(api, cnf={"x5t#S256": rfc8705.x5t_s256_ans_hex(cert.der)})
    assert api.call(token).status_code == 200
    assert api.kinds() == ["api.cnf_ans_hex_form", "api.call"]


def test_unbound_token_is_invalid_token(api: Api) -> None:
    response = api.call(forge(api))
    assert response.status_code == 401
    assert api.kinds() == ["api.cnf_missing"]


def test_call_without_client_certificate(api: Api) -> None:
    response = api.call(api.api_token(), None)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert api.kinds()[-1] == "api.no_client_cert"


def test_token_without_the_api_scope_is_insufficient_scope(api: Api) -> None:
    response = api.call(api.api_token(scope="openid"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="signsessiondata"' in response.headers["WWW-Authenticate"]
    assert api.kinds()[-1] == "api.insufficient_scope"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"body": {"nationalId": PS1}}, "clientID is missing"),
        ({"body": {**session_data(), "session_state": 42}}, "session_state is not a string"),
        ({"body": [session_data()]}, "the body is not a JSON object"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "the body is not JSON"),
        ({"content": b"nationalId=1", "headers": {"Content-Type": "text/plain"}}, "not application/json"),
    ],
)
def test_bad_body_is_400(api: Api, kwargs: dict[str, Any], problem: str) -> None:
    response = api.call(api.api_token(), **kwargs)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message"} and problem in body["message"]
    [invalid] = api.observations.find("api.session_data_invalid")
    assert any(problem in p for p in invalid.data["problems"])


def test_identity_mismatch_is_403(api: Api) -> None:
    response = api.call(api.api_token(national_id=PS1), body=session_data(national_id=PS2))
    assert response.status_code == 403
    assert set(response.json()) == {"code", "message"}
    [mismatch] = api.observations.find("api.identity_mismatch")
    assert mismatch.data == {"national_id": PS2, "token_sub": PS1}


def test_client_id_of_another_lps_is_observed_but_signed(api: Api) -> None:
    response = api.call(api.api_token(), body=session_data(client_id=LPS2_CLIENT_ID))
    assert response.status_code == 200 and api.api.verify_signature(response.json())
    assert api.kinds()[-1] == "api.client_id_mismatch"


def test_other_paths_and_methods(api: Api) -> None:
    token = api.api_token()
    assert api.call(token, path="/other").status_code == 404
    with httpx.Client(verify=client_context(api.pki, LPS1_CLIENT_ID), timeout=5) as client:
        assert client.get(api.api.signsessiondata_url).status_code == 405


def test_resource_parameter_naming_the_api_is_accepted(api: Api) -> None:
    form = rfc8693.build_request(
        api.psc.token(LPS1_CLIENT_ID, PS1), scope="signsessiondata", resource=[api.api.base_url]
    )
    with httpx.Client(verify=client_context(api.pki, LPS1_CLIENT_ID), timeout=5) as client:
        response = client.post(api.authorization_server.token_endpoint, data=form)
    assert response.status_code == 200


def test_end_to_end_with_the_simulated_psc(pki: TestPKI, clock: ManualClock) -> None:
    """CIBA at the simulated PSC, exchange at the AS introspecting there, then the business call."""
    with SimulatedPSC(pki, clock=clock) as psc:
        national_id = next(iter(psc.identities))
        with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID), timeout=5) as client:
            start = client.post(
                psc.endpoint("backchannel"),
                data={
                    "client_id": LPS1_CLIENT_ID,
                    "scope": "openid scope_all",
                    "acr_values": "eidas1",
                    "login_hint": national_id,
                    "binding_message": "42",
                    "channel": "MOBILE",
                },
            )
            auth_req_id = start.json()["auth_req_id"]
            poll = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id}
            for _ in range(5):
                clock.advance(start.json()["interval"])
                tokens = client.post(psc.endpoint("token"), data={**poll, "client_id": LPS1_CLIENT_ID})
                if tokens.status_code == 200:
                    break
            assert tokens.status_code == 200, tokens.text

            observations = ObservationLog()
            authorization_server = SimulatedApiAuthorizationServer(
                pki, introspect=psc.introspect, observations=observations, clock=clock
            )
            with authorization_server, SimulatedApiPsc(pki, authorization_server=authorization_server) as api:
                exchange = client.post(
                    authorization_server.token_endpoint,
                    data=rfc8693.build_request(tokens.json()["access_token"], scope="signsessiondata"),
                )
                assert exchange.status_code == 200, exchange.text
                data = session_data(national_id=national_id)
                answer = client.post(
                    api.signsessiondata_url,
                    json=data,
                    headers={"Authorization": "Bearer " + exchange.json()["access_token"]},
                )
    assert answer.status_code == 200, answer.text
    assert api.verify_signature(answer.json())
    assert [o.kind for o in observations if o.kind != "token_exchange.request"] == [
        "token_exchange.issued",
        "api.call",
    ]
