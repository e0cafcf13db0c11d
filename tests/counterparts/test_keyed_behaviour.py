"""Adversarial behaviour keyed to one professional, and the attribution of every exchange to its professional.

Scenarios of one campaign run at the same time against the same counterparts: what one of them sets (short
tokens, a tampered ID token, no refresh token, a failing API) must reach its own professional's traffic
only, and every exchange must name whom it concerns so that its evidence lands in the right scenario.
Real counterparts over real mTLS, driven the way a proxy drives them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.psc import IdTokenTamper
from conformance.counterparts.settings import CounterpartSettings, PscTimings
from conformance.counterparts.suite import Counterparts
from conformance.evidence import Exchange
from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context
from conformance.standards import rfc8693
from conformance.standards.ciba import DeviceAction, DeviceBehaviour
from conformance.standards.jose import unverified
from conformance.tls import ListenerMode

CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def suite(pki: TestPKI) -> Iterator[Counterparts]:
    settings = CounterpartSettings(
        psc_port=0, api_as_port=0, api_port=0, psc_timings=PscTimings(ciba_interval_s=0.05)
    )
    with Counterparts.build(pki, settings) as counterparts:
        counterparts.psc.default_device = DeviceBehaviour(after_polls=0)  # approved at the first poll
        yield counterparts


class Proxy:
    """What a proxy does at the counterparts for one LPS (LPS 1's certificate), step by step."""

    def __init__(self, suite: Counterparts, pki: TestPKI) -> None:
        self.suite = suite
        self.pki = pki
        self.client = httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID), timeout=5)

    def close(self) -> None:
        self.client.close()

    def backchannel(self, national_id: str) -> dict[str, Any]:
        form = {
            "client_id": LPS1_CLIENT_ID,
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "login_hint": national_id,
            "binding_message": "12",
            "channel": "CARD",
        }
        answer: dict[str, Any] = self.client.post(self.suite.psc.endpoint("backchannel"), data=form).json()
        return answer

    def poll(self, auth_req_id: str, client_id: str = LPS1_CLIENT_ID) -> httpx.Response:
        form = {"client_id": client_id, "grant_type": CIBA, "auth_req_id": auth_req_id}
        return self.client.post(self.suite.psc.endpoint("token"), data=form)

    def login(self, identity: TestIdentity) -> tuple[dict[str, Any], dict[str, Any]]:
        """CIBA acknowledgement and the tokens of the first poll."""
        started = self.backchannel(identity.national_id)
        tokens = self.poll(started["auth_req_id"])
        assert tokens.status_code == 200, tokens.text
        return started, tokens.json()

    def exchange(self, psc_access_token: str) -> httpx.Response:
        form = rfc8693.build_request(psc_access_token, scope=self.suite.api_as.api_scope)
        return self.client.post(self.suite.api_as.token_endpoint, data=form)

    def api_token(self, identity: TestIdentity) -> str:
        _, tokens = self.login(identity)
        exchanged = self.exchange(tokens["access_token"])
        assert exchanged.status_code == 200, exchanged.text
        token: str = exchanged.json()["access_token"]
        return token

    def call_api(self, api_token: str, identity: TestIdentity, timeout: float = 5) -> httpx.Response:
        body = {
            "nationalId": identity.national_id,
            "clientID": LPS1_CLIENT_ID,
            "proxy_session_id": "p1",
            "session_state": "s1",
        }
        headers = {"Authorization": f"Bearer {api_token}"}
        url = self.suite.api.signsessiondata_url
        return self.client.post(url, json=body, headers=headers, timeout=timeout)


@pytest.fixture
def proxy(suite: Counterparts, pki: TestPKI) -> Iterator[Proxy]:
    proxy = Proxy(suite, pki)
    yield proxy
    proxy.close()


# -- PSC ----------------------------------------------------------------------------------------------


def test_psc_timings_and_id_token_tamper_reach_their_professional_only(
    suite: Counterparts, proxy: Proxy
) -> None:
    psc = suite.psc
    own, other = psc.mint_identity(), psc.mint_identity()
    short = dataclasses.replace(psc.timings, ciba_interval_s=2, ciba_expires_in_s=9, access_token_ttl_s=7)
    psc.behave(own, timings=short)
    psc.behave(own, id_token_tamper=IdTokenTamper.WRONG_ISSUER)  # merged with the timings
    assert psc.timings_for(own) == short and psc.timings_for(other) == psc.timings

    own_started, own_tokens = proxy.login(own)
    other_started, other_tokens = proxy.login(other)

    assert (own_started["interval"], own_started["expires_in"]) == (2, 9)
    assert (other_started["interval"], other_started["expires_in"]) == (0.05, psc.timings.ciba_expires_in_s)
    assert own_tokens["expires_in"] == 7
    assert other_tokens["expires_in"] == psc.timings.access_token_ttl_s

    def id_token_issuer(tokens: dict[str, Any]) -> str:
        decoded = unverified(tokens["id_token"])
        assert decoded is not None
        return str(decoded[1]["iss"])

    assert id_token_issuer(own_tokens) != psc.issuer
    assert id_token_issuer(other_tokens) == psc.issuer
    tampers = {
        o.data["session_state"]: o.data["id_token_tamper"] for o in suite.observations.find("token.issued")
    }
    assert tampers == {own_tokens["session_state"]: "wrong_issuer", other_tokens["session_state"]: "none"}


def test_psc_access_token_without_login_follows_its_professional(suite: Counterparts) -> None:
    """The provider campaign's tokens: their lifetime is the professional's too."""
    psc = suite.psc
    own, other = psc.mint_identity(), psc.mint_identity()
    psc.behave(own, timings=dataclasses.replace(psc.timings, access_token_ttl_s=11))

    def lifetime(identity: TestIdentity) -> int:
        decoded = unverified(psc.issue_access_token(identity, LPS1_CLIENT_ID))
        assert decoded is not None
        return int(decoded[1]["exp"]) - int(decoded[1]["iat"])

    assert lifetime(own) == 11
    assert lifetime(other) == psc.timings.access_token_ttl_s


def test_reset_forgets_the_fixed_identities_and_keeps_the_minted_ones(
    suite: Counterparts, proxy: Proxy
) -> None:
    """A scenario ending resets the counterparts while another one, with its minted professional, runs on."""
    psc = suite.psc
    fixed = next(iter(psc.identities.values()))
    minted = psc.mint_identity()
    psc.set_device(fixed.national_id, DeviceBehaviour(DeviceAction.DENY, after_polls=0))
    psc.behave(minted, device=DeviceBehaviour(DeviceAction.DENY, after_polls=0))
    psc.id_token_tamper = IdTokenTamper.EXPIRED

    psc.reset()

    assert psc.id_token_tamper is IdTokenTamper.NONE
    fixed_poll = proxy.poll(proxy.backchannel(fixed.national_id)["auth_req_id"])
    minted_poll = proxy.poll(proxy.backchannel(minted.national_id)["auth_req_id"])
    assert fixed_poll.status_code == 200, fixed_poll.text
    assert minted_poll.json()["error"] == "access_denied"
    psc.forget(minted)
    assert proxy.poll(proxy.backchannel(minted.national_id)["auth_req_id"]).status_code == 200


def test_psc_refuses_behaviour_for_an_unknown_professional(suite: Counterparts) -> None:
    with pytest.raises(KeyError, match="unknown test identity"):
        suite.psc.behave("800000000000", id_token_tamper=IdTokenTamper.EXPIRED)


# -- the API's authorization server -------------------------------------------------------------------


def test_authorization_server_shapes_its_answer_per_professional(suite: Counterparts, proxy: Proxy) -> None:
    psc, api_as = suite.psc, suite.api_as
    own, other, refused = psc.mint_identity(), psc.mint_identity(), psc.mint_identity()
    api_as.behave(own, api_token_ttl_s=7, omit_refresh_token=True)
    api_as.behave(other, refresh_token_ttl_s=11)
    api_as.behave(refused, introspect=lambda token: {"active": False})

    def exchanged(identity: TestIdentity) -> httpx.Response:
        _, tokens = proxy.login(identity)
        return proxy.exchange(tokens["access_token"])

    own_answer, other_answer, refused_answer = (exchanged(i).json() for i in (own, other, refused))
    assert own_answer["expires_in"] == 7 and "refresh_token" not in own_answer
    assert other_answer["expires_in"] == api_as.api_token_ttl_s
    assert other_answer["refresh_expires_in"] == 11
    assert refused_answer["error"] == "invalid_grant"
    # The refresh grant serves the same professional with the same behaviour.
    refreshed = proxy.client.post(
        api_as.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": other_answer["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_expires_in"] == 11
    # Everybody else meets the global settings.
    assert api_as.omit_refresh_token is False and exchanged(psc.mint_identity()).json()["refresh_token"]
    api_as.forget(own)
    assert "refresh_token" in exchanged(own).json()


def test_authorization_server_refuses_a_lifetime_that_is_not_positive(suite: Counterparts) -> None:
    with pytest.raises(ValueError, match="api_token_ttl_s must be positive"):
        suite.api_as.behave(suite.psc.mint_identity(), api_token_ttl_s=0)


# -- the API ------------------------------------------------------------------------------------------


def test_api_fails_one_professional_as_the_listener_mode_would(suite: Counterparts, proxy: Proxy) -> None:
    """Same answer as the listener in that mode, for that professional's calls; the others are served."""
    api = suite.api
    own, other = suite.psc.mint_identity(), suite.psc.mint_identity()
    own_token, other_token = proxy.api_token(own), proxy.api_token(other)

    api.server.set_mode(ListenerMode.SERVER_ERROR, status=500)
    listener_error = proxy.call_api(other_token, other)
    api.server.set_mode(ListenerMode.NORMAL)
    api.behave(own, ListenerMode.SERVER_ERROR, status=500)
    keyed_error = proxy.call_api(own_token, own)
    assert (keyed_error.status_code, keyed_error.content) == (
        listener_error.status_code,
        listener_error.content,
    )
    assert keyed_error.status_code == 500
    assert proxy.call_api(other_token, other).status_code == 200

    api.behave(own, ListenerMode.RESET)
    with pytest.raises(httpx.TransportError):
        proxy.call_api(own_token, own)
    assert proxy.call_api(other_token, other).status_code == 200

    api.behave(own, ListenerMode.SLOW, slow_s=1.0)
    start = time.monotonic()
    assert proxy.call_api(own_token, own).status_code == 200  # late, then the normal answer
    assert time.monotonic() - start >= 1.0
    start = time.monotonic()
    assert proxy.call_api(other_token, other).status_code == 200
    assert time.monotonic() - start < 1.0

    api.behave(own, ListenerMode.NORMAL)
    assert proxy.call_api(own_token, own).status_code == 200
    # The listener's own mode answered before the handler: that call was never the API's to count.
    assert api.calls_concerning(own) == 4 and api.calls_concerning(other) == 3


def test_api_keyed_reset_looks_like_the_listener_reset(suite: Counterparts, proxy: Proxy) -> None:
    """What the SUT meets is the same TCP reset, whichever way the scenario asked for it."""
    api = suite.api
    own = suite.psc.mint_identity()
    token = proxy.api_token(own)
    api.server.set_mode(ListenerMode.RESET)
    with pytest.raises(httpx.TransportError) as listener:
        proxy.call_api(token, own)
    api.server.set_mode(ListenerMode.NORMAL)
    api.behave(own, ListenerMode.RESET)
    with pytest.raises(httpx.TransportError) as keyed:
        proxy.call_api(token, own)
    assert type(keyed.value) is type(listener.value)


def test_api_refuses_tls_modes_for_one_professional(suite: Counterparts) -> None:
    with pytest.raises(ValueError, match="TLS handshake"):
        suite.api.behave(suite.psc.mint_identity(), ListenerMode.TLS1_1_ONLY)


def test_stopping_the_api_cuts_a_stall_short(suite: Counterparts, proxy: Proxy) -> None:
    api = suite.api
    own = suite.psc.mint_identity()
    token = proxy.api_token(own)
    api.behave(own, ListenerMode.SLOW, slow_s=60)
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(proxy.call_api(token, own, timeout=10).status_code)
        except httpx.TransportError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while api.calls_concerning(own) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    api.stop()
    caller.join(5)
    assert time.monotonic() - start < 5 and not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)


# -- attribution ----------------------------------------------------------------------------------------


def _exchanges_of(suite: Counterparts, flow: Any) -> list[Exchange]:
    """The exchanges the counterparts recorded while `flow` ran."""
    before = len(suite.evidence.exchanges())
    flow()
    return suite.evidence.exchanges()[before:]


def test_every_exchange_names_the_professional_it_concerns(
    suite: Counterparts, proxy: Proxy, pki: TestPKI
) -> None:
    """Each counterpart endpoint tags what it served with the scenario that owns the professional."""
    psc, api_as = suite.psc, suite.api_as
    scenarios = suite.evidence.scenarios
    proxy_client = httpx.Client(verify=client_context(pki, pki.proxy_client_id), timeout=5)

    def whole_life(identity: TestIdentity) -> None:
        started = proxy.backchannel(identity.national_id)
        refused = proxy.poll(started["auth_req_id"], client_id="unknown-client")  # failed client auth
        assert refused.status_code == 401
        tokens = proxy.poll(started["auth_req_id"]).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert proxy.client.get(psc.endpoint("userinfo"), headers=bearer).status_code == 200
        introspected = proxy_client.post(
            psc.endpoint("introspection"),
            data={"token": tokens["access_token"], "client_id": pki.proxy_client_id},
        )
        assert introspected.json()["active"] is True
        exchanged = proxy.exchange(tokens["access_token"]).json()
        api_token = exchanged["access_token"]
        refresh = {"grant_type": "refresh_token", "refresh_token": exchanged["refresh_token"]}
        assert proxy.client.post(api_as.token_endpoint, data=refresh).status_code == 200
        assert proxy.client.post(api_as.introspection_endpoint, data={"token": api_token}).json()["active"]
        assert proxy.call_api(api_token, identity).status_code == 200
        psc_refresh = {
            "client_id": LPS1_CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
        }
        assert proxy.client.post(psc.endpoint("token"), data=psc_refresh).status_code == 200
        logout = proxy.client.get(psc.endpoint("end_session"), params={"id_token_hint": tokens["id_token"]})
        assert logout.status_code == 200

    try:
        served: dict[str, list[Exchange]] = {}
        for scenario in ("scenario-a", "scenario-b"):
            identity = psc.mint_identity()
            scenarios.claim(identity.national_id, identity.sub, nodeid=scenario)
            served[scenario] = _exchanges_of(suite, lambda identity=identity: whole_life(identity))
        metadata = _exchanges_of(suite, lambda: proxy.client.get(psc.discovery_url))
    finally:
        proxy_client.close()

    for scenario, exchanges in served.items():
        assert {e.counterpart for e in exchanges} == {"psc", "api-as", "api"}
        assert len(exchanges) == 11
        assert [e.url for e in exchanges if e.scenario != scenario] == []
    assert [e.scenario for e in metadata] == [None]  # concerns nobody, and no scenario is running
