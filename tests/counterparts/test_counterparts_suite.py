"""The three counterparts together: one timeline of observations and evidence, end to end over mTLS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance.counterparts.settings import CounterpartSettings, PscTimings
from conformance.counterparts.suite import Counterparts
from conformance.evidence import to_har
from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context, write_pki
from conformance.standards.ciba import DeviceBehaviour

PS1 = "899900000019"
CIBA = "urn:openid:params:grant-type:ciba"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def counterparts(pki: TestPKI) -> Iterator[Counterparts]:
    settings = CounterpartSettings(
        psc_port=0, api_as_port=0, api_port=0, psc_timings=PscTimings(ciba_interval_s=0.05)
    )
    with Counterparts.build(pki, settings) as suite:
        yield suite


def test_what_a_proxy_does_for_one_lps(counterparts: Counterparts, pki: TestPKI) -> None:
    """CIBA at PSC, token exchange at the API's AS, business call at the API: all with LPS 1's certificate."""
    psc, settings = counterparts.psc, counterparts.bound_settings
    psc.set_device(PS1, DeviceBehaviour(after_polls=0))
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID), timeout=5) as lps1:
        start = lps1.post(
            psc.endpoint("backchannel"),
            data={
                "client_id": LPS1_CLIENT_ID,
                "scope": "openid scope_all",
                "acr_values": "eidas1",
                "login_hint": PS1,
                "binding_message": "12",
                "channel": "CARD",
            },
        ).json()
        tokens = lps1.post(
            psc.endpoint("token"),
            data={"client_id": LPS1_CLIENT_ID, "grant_type": CIBA, "auth_req_id": start["auth_req_id"]},
        ).json()
        exchanged = lps1.post(
            settings.api_token_endpoint,
            data={
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": tokens["access_token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "scope": settings.api_scope,
            },
        )
        assert exchanged.status_code == 200, exchanged.text
        api_token = exchanged.json()["access_token"]
        body = {
            "nationalId": PS1,
            "clientID": LPS1_CLIENT_ID,
            "proxy_session_id": "p1",
            "session_state": tokens["session_state"],
        }
        signed = lps1.post(
            settings.api_base_url + "/signsessiondata",
            json=body,
            headers={"Authorization": f"Bearer {api_token}"},
        )
    assert signed.status_code == 200, signed.text
    assert counterparts.api.verify_signature(signed.json())
    kinds = [o.kind for o in counterparts.observations]
    assert {"ciba.request", "token.issued", "token_exchange.issued", "api.call"} <= set(kinds)
    issued = next(o for o in counterparts.observations if o.kind == "token_exchange.issued")
    call = next(o for o in counterparts.observations if o.kind == "api.call")
    assert issued.data["x5t_s256"] == call.data["x5t_s256"] == pki.clients[LPS1_CLIENT_ID].x5t_s256
    # one evidence timeline across the three counterparts, linked to the observations
    exchanges = counterparts.evidence.exchanges()
    assert [e.counterpart for e in exchanges] == ["psc", "psc", "api-as", "api"]
    assert {o.exchange_id for o in counterparts.observations} <= {e.id for e in exchanges}
    har = json.loads(json.dumps(to_har(exchanges)))
    assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 4
    assert tokens["access_token"] not in json.dumps(har)  # signatures never appear whole


def test_counterparts_file_has_the_bound_ports(
    counterparts: Counterparts, pki: TestPKI, tmp_path: Path
) -> None:
    files = write_pki(pki, tmp_path)
    path = counterparts.write_counterparts_file(tmp_path, files, "psc-conformance")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["psc"]["issuer"] == counterparts.psc.issuer
    assert doc["apis"][0]["token_endpoint"] == counterparts.api_as.token_endpoint
    assert doc["apis"][0]["base_url"] == counterparts.api.base_url
    assert doc["clients"][LPS1_CLIENT_ID]["secret"] == counterparts.psc.clients[LPS1_CLIENT_ID].secret


def test_busy_port_gives_an_actionable_error(pki: TestPKI, counterparts: Counterparts) -> None:
    taken = counterparts.bound_settings
    with pytest.raises(OSError, match=r"choose free ports in \[counterparts\]"):
        Counterparts.build(
            pki, CounterpartSettings(psc_port=taken.psc_port, api_as_port=0, api_port=0)
        ).start()


def test_counterpart_listeners_switch_modes_on_the_same_address(
    counterparts: Counterparts, pki: TestPKI
) -> None:
    from conformance.tls import ListenerMode

    psc, api = counterparts.psc, counterparts.api
    port = psc.server.port
    psc.server.set_mode(ListenerMode.TLS1_1_ONLY)
    api.server.set_mode(ListenerMode.SERVER_ERROR, status=502)
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID), timeout=5) as lps1:
        with pytest.raises(httpx.ConnectError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
            lps1.get(psc.discovery_url)
        assert lps1.post(api.signsessiondata_url, json={}).status_code == 502
        psc.server.set_mode(ListenerMode.NORMAL)
        api.server.set_mode(ListenerMode.NORMAL)
        assert psc.server.port == port
        assert lps1.get(psc.discovery_url).status_code == 200
        assert lps1.post(api.signsessiondata_url, json={}).status_code == 401  # no token: the real API again
