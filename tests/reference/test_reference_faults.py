"""Each injectable fault of the reference proxy visibly changes what crosses the wire.

A fault's catalogue entry says which requirements a campaign must fail for it. Before the
campaign can prove that, the fault itself must show: the counterparts must see something
different, or the LPS must get a different answer. The table below maps each fault to a
*scenario* (a few real exchanges over mTLS, reduced to a small dict of evidence) and to the
evidence it changes. The conformant proxy shows `Scenario.conformant`. The faulty one shows the
same evidence with `Exposure.changes` applied, and nothing else changed.

Every test gets its own reference proxy. The counterparts (simulated PSC, API authorization
server, API) are started once for the module and put back to normal before each test: starting
them takes about half a second, which would double the time of this file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.cli import main
from conformance.clock import Clock, SystemClock
from conformance.counterparts.observations import RECORDS, Observation
from conformance.counterparts.psc import IdTokenTamper
from conformance.counterparts.settings import CounterpartSettings, PscTimings
from conformance.counterparts.suite import Counterparts
from conformance.errors import UsageError
from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID, PROXY_CLIENT_ID, TestPKI, write_pki
from conformance.reference import registry
from conformance.reference.consumer.faults import FAULTS, apply_faults, faults_for_role, proxy_with_faults
from conformance.reference.consumer.proxy import ReferenceProxy
from conformance.reference.consumer.settings import load_settings
from conformance.requirements import requirement_index
from conformance.roles import Role
from conformance.tls import ListenerMode, probe_protocol

PS1, PS2 = "899900000019", "899900000027"
SIGN = "/send/apipsc/signsessiondata"
Evidence = dict[str, Any]
# Observations that describe a normal exchange; any other kind is a deviation the counterpart saw.
INFORMATIONAL = (
    frozenset(
        {
            "client_auth",
            "ciba.request",
            "ciba.poll",
            "token.issued",
            "token.refresh",
            "introspection",
            "token_exchange.issued",
            "api.call",
            "logout",
        }
    )
    | RECORDS
)


@dataclass
class Bench:
    """One reference proxy among the module's counterparts, and an LPS to call it."""

    counterparts: Counterparts
    proxy: ReferenceProxy
    directory: Path

    def lps(self) -> httpx.Client:
        """An LPS calling the proxy's API Conformité (no client certificate, the proxy's CA trusted)."""
        context = ssl.create_default_context(cafile=str(self.directory / "ca-bundle.pem"))
        return httpx.Client(base_url=self.proxy.url, verify=context, timeout=10)


class AheadClock:
    """The counterparts' time, `offset_s` ahead of the proxy's: tokens expire without waiting."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s

    def now(self) -> float:
        return time.time() + self.offset_s


@dataclass(frozen=True)
class _Normal:
    """What the scenarios may change on the counterparts, as it was at the start."""

    timings: PscTimings
    clock: Clock
    api_token_ttl_s: int

    def restore(self, suite: Counterparts) -> None:
        for counterpart in (suite.psc, suite.api_as, suite.api):
            counterpart.server.set_mode(ListenerMode.NORMAL)
        suite.psc.reset()
        suite.psc.timings = self.timings
        suite.psc.clock = suite.api_as.clock = self.clock
        suite.api_as.api_token_ttl_s = self.api_token_ttl_s
        suite.api_as.reset()
        suite.observations.clear()


P12_PASSWORD = "psc-conformance"


@pytest.fixture(scope="module")
def counterparts(
    pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Counterparts, Path]]:
    """The counterparts on ephemeral ports, with `counterparts.json` and the PKI files beside them."""
    directory = tmp_path_factory.mktemp("faults")
    timings = PscTimings(ciba_interval_s=0.05, slow_down_increment_s=0.05)
    settings = CounterpartSettings(psc_port=0, api_as_port=0, api_port=0, psc_timings=timings)
    with Counterparts.build(pki, settings, clock=SystemClock()) as suite:
        files = write_pki(pki, directory, p12_password=P12_PASSWORD)
        suite.write_counterparts_file(directory, files, P12_PASSWORD)
        (directory / "reference-proxy.toml").write_text(
            '[proxy]\ncounterparts = "counterparts.json"\nport = 0\n', encoding="utf-8"
        )
        yield suite, directory


@pytest.fixture
def new_bench(counterparts: tuple[Counterparts, Path]) -> Iterator[Callable[..., Bench]]:
    """`make(**proxy_settings)`: a started reference proxy among counterparts put back to normal."""
    suite, directory = counterparts
    normal = _Normal(suite.psc.timings, suite.psc.clock, suite.api_as.api_token_ttl_s)
    started: list[ReferenceProxy] = []

    def make(**proxy_settings: object) -> Bench:
        normal.restore(suite)
        settings = load_settings(directory / "reference-proxy.toml", overrides=proxy_settings)
        started.append(ReferenceProxy(settings).start())
        return Bench(suite, started[-1], directory)

    yield make
    for proxy in started:
        proxy.stop()
    normal.restore(suite)


def connect_body(client_id: str = LPS1_CLIENT_ID, national_id: str = PS1) -> dict[str, str]:
    return {"nationalId": national_id, "bindingMessage": "42", "clientId": client_id, "channel": "MOBILE"}


def session_data(client_id: str, national_id: str, session: Mapping[str, Any]) -> dict[str, str]:
    """The body of POST /send/apipsc/signsessiondata for a session the LPS got from /connect."""
    return {
        "nationalId": national_id,
        "clientID": client_id,
        "proxy_session_id": str(session.get("proxy_session_id", "")),
        "session_state": str(session.get("session_state", "")),
    }


def body_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def kinds(bench: Bench, kind: str) -> list[Observation]:
    return [o for o in bench.counterparts.observations if o.kind == kind]


def deviations(bench: Bench) -> list[str]:
    return sorted({o.kind for o in bench.counterparts.observations} - INFORMATIONAL)


def traces(lps: httpx.Client, since: dt.datetime) -> list[dict[str, Any]]:
    answer = lps.get("/traces", params={"start": since.isoformat()})
    return answer.json() if answer.status_code == 200 else []


def labelled(bench: Bench, value: object) -> str:
    """Certificate DNs and PSC subs by the name of their owner, so that evidence reads the same on
    every bench."""
    certificates = bench.counterparts.pki.clients
    labels = {
        certificates[LPS1_CLIENT_ID].subject: "<dn of LPS 1>",
        certificates[LPS2_CLIENT_ID].subject: "<dn of LPS 2>",
        certificates[PROXY_CLIENT_ID].subject: "<dn of the proxy>",
        bench.counterparts.psc.identities[PS1].sub: "<sub of PS 1>",
        bench.counterparts.psc.identities[PS2].sub: "<sub of PS 2>",
    }
    return labels.get(str(value), str(value))


# -- scenarios ----------------------------------------------------------------------------------------


def a_day_at_work(bench: Bench) -> Evidence:
    """LPS 1 connects PS 1, connects again, signs session data, reads its traces and disconnects."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    began = time.time()
    psc_sessions = bench.counterparts.psc.sessions
    with bench.lps() as lps:
        connected = lps.post("/connect", json=connect_body())
        session = body_of(connected)
        cookie = SimpleCookie(connected.headers.get("Set-Cookie", ""))
        morsel = cookie.get("proxy_session_id")
        replay = lps.post("/connect", json=connect_body())
        signed = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
        records = traces(lps, since)
        disconnected = lps.delete("/disconnect")
        old_cookie = {"Cookie": f"proxy_session_id={session.get('proxy_session_id')}"}  # the LPS kept it
        after = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session), headers=old_cookie)
        again = lps.delete("/disconnect", headers=old_cookie)
    api_calls = kinds(bench, "api.call")
    return {
        "connect": connected.status_code,
        "connect answer": sorted(session),
        "session_state is PSC's": session.get("session_state") in psc_sessions,
        "cookie is a session cookie": morsel is not None and not (morsel["max-age"] or morsel["expires"]),
        "connect again with the cookie": replay.status_code,
        "CIBA requests": len(kinds(bench, "ciba.request")),
        "CIBA scope": [" ".join(o.data["scope"]) for o in kinds(bench, "ciba.request")][:1],
        "PSC client authentication": sorted({o.data["method"] for o in kinds(bench, "client_auth")}),
        "PSC flows": sorted({o.data["endpoint"] for o in kinds(bench, "client_auth")}),
        "introspected by": sorted({o.client_id for o in kinds(bench, "introspection")}),
        "deviations seen by the counterparts": deviations(bench),
        "send": signed.status_code,
        "API's answer relayed unchanged": bench.counterparts.api.verify_signature(body_of(signed)),
        "API called with": sorted({o.client_id for o in api_calls}),
        "API received the LPS's cookie": any(
            e.request_header("Cookie")
            for e in bench.counterparts.evidence.exchanges(counterpart="api", since=began)
        ),
        "trace events": [r["type"] for r in records],
        "traced IdRPPS": sorted({labelled(bench, r.get("IdRPPS")) for r in records}),
        "traced dn": sorted({labelled(bench, r.get("dn")) for r in records}),
        "disconnect": disconnected.status_code,
        "PSC end-session with id_token_hint": len(kinds(bench, "logout")),
        "send after disconnect": after.status_code,
        "disconnect again": again.status_code,
    }


def misuses(bench: Bench) -> Evidence:
    """With LPS 1 connected, another caller sends invalid requests and requests without a session."""
    with bench.lps() as lps:
        lps.post("/connect", json=connect_body())
    with bench.lps() as stranger:
        invalid = stranger.post("/connect", json={**connect_body(), "channel": "FAX"})
        unknown = stranger.post("/connect", json=connect_body(client_id="unknown-lps"))
        no_cookie = stranger.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, {}))
        forged = stranger.post(
            SIGN, json=session_data(LPS1_CLIENT_ID, PS1, {}), headers={"Cookie": "proxy_session_id=forged"}
        )
        disconnect = stranger.delete("/disconnect")
    return {
        "invalid connect": [
            invalid.status_code,
            invalid.headers.get("Content-Type"),
            sorted(body_of(invalid)),
        ],
        "unknown clientId": [unknown.status_code, sorted(body_of(unknown))],
        "send without cookie": no_cookie.status_code,
        "send with a forged cookie": forged.status_code,
        "API calls": len(kinds(bench, "api.call")),
        "disconnect without session": disconnect.status_code,
    }


def two_lps(bench: Bench) -> Evidence:
    """LPS 1 and LPS 2 each connect a professional and sign session data, side by side."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    statuses = []
    for client_id, national_id in ((LPS1_CLIENT_ID, PS1), (LPS2_CLIENT_ID, PS2)):
        with bench.lps() as lps:
            session = body_of(lps.post("/connect", json=connect_body(client_id, national_id)))
            statuses.append(lps.post(SIGN, json=session_data(client_id, national_id, session)).status_code)
            records = traces(lps, since)
    return {
        "send": statuses,
        "CIBA by": [o.client_id for o in kinds(bench, "ciba.request")],
        "token exchange by": [o.client_id for o in kinds(bench, "token_exchange.issued")],
        "API called by": [o.client_id for o in kinds(bench, "api.call")],
        "traced clientId and dn": [
            [r["clientId"], labelled(bench, r["dn"])] for r in records if r["type"] == "CONNECT_SUCCESS"
        ],
    }


TAMPERS = (
    IdTokenTamper.BAD_SIGNATURE,
    IdTokenTamper.WRONG_ISSUER,
    IdTokenTamper.WRONG_AUDIENCE,
    IdTokenTamper.EXPIRED,
    IdTokenTamper.WRONG_ACR,
)


def tampered_id_tokens(bench: Bench) -> Evidence:
    """PSC issues an ID token with one defect at a time; a proxy that validates it refuses the login."""
    statuses: Evidence = {}
    for tamper in TAMPERS:
        bench.counterparts.psc.id_token_tamper = tamper
        with bench.lps() as lps:
            statuses[f"connect with {tamper.value}"] = lps.post("/connect", json=connect_body()).status_code
    bench.counterparts.psc.reset()
    return statuses


def slow_polling(bench: Bench) -> Evidence:
    """PSC asks for 0.3 s between polls; the professional answers after the first poll.

    A poll sooner than 0.25 s after the previous one gets slow_down, until the request expires (1 s).
    """
    psc = bench.counterparts.psc
    psc.timings = dataclasses.replace(
        psc.timings, ciba_interval_s=0.3, poll_tolerance_s=0.05, ciba_expires_in_s=1
    )
    with bench.lps() as lps:
        status = lps.post("/connect", json=connect_body()).status_code
    return {"connect": status, "polled faster than interval": bool(kinds(bench, "ciba.poll_too_fast"))}


IDLE_TIMEOUT_S = 0.3


def idle_professional(bench: Bench) -> Evidence:
    """PS 1 signs once, then stays idle past the proxy's idle timeout, then signs again."""
    with bench.lps() as lps:
        session = body_of(lps.post("/connect", json=connect_body()))
        first = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
        idle_since = time.time()
        time.sleep(IDLE_TIMEOUT_S + 0.2)  # the timeout, and more than one reaper period (timeout / 4)
        idle_until = time.time()
        second = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
    return {
        "send": first.status_code,
        "send after the idle timeout": second.status_code,
        "PSC refreshes while idle": any(
            idle_since <= o.at <= idle_until for o in kinds(bench, "token.refresh")
        ),
        "PSC end-session calls": len(kinds(bench, "logout")),
    }


def expired_psc_token(bench: Bench) -> Evidence:
    """The API token and then the PSC access token expire; the next send needs a new exchange."""
    psc, api_as = bench.counterparts.psc, bench.counterparts.api_as
    # 3 s: the exchange at connect comes before its expiry on a loaded machine too.
    psc.timings = dataclasses.replace(psc.timings, access_token_ttl_s=3)
    api_as.api_token_ttl_s = 1  # shorter than the proxy's margin: it exchanges again on each send
    with bench.lps() as lps:
        session = body_of(lps.post("/connect", json=connect_body()))
        # Four seconds later for PSC and the AS (not enough for the proxy to find ID tokens immature).
        psc.clock = api_as.clock = AheadClock(4.0)
        send = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
    return {
        "send after the PSC token expired": send.status_code,
        "exchange refused as invalid_grant": bool(kinds(bench, "token_exchange.subject_token_inactive")),
        "PSC refreshes": len(kinds(bench, "token.refresh")),
    }


def exchange_answer_without_refresh_token(bench: Bench) -> Evidence:
    """The authorization server answers the exchange without refresh_token (RFC 8693 §2.2.1 allows it)."""
    bench.counterparts.api_as.omit_refresh_token = True
    with bench.lps() as lps:
        connected = lps.post("/connect", json=connect_body())
        send = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, body_of(connected)))
    return {"connect": connected.status_code, "send": send.status_code}


def failing_api(bench: Bench) -> Evidence:
    """The API answers 503 to the business call."""
    with bench.lps() as lps:
        session = body_of(lps.post("/connect", json=connect_body()))
        bench.counterparts.api.server.set_mode(ListenerMode.SERVER_ERROR)
        send = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
    return {"send while the API fails": send.status_code}


def psc_tls_1_1_only(bench: Bench) -> Evidence:
    """PSC offers TLS 1.1 and nothing newer."""
    bench.counterparts.psc.server.set_mode(ListenerMode.TLS1_1_ONLY)
    with bench.lps() as lps:
        status = lps.post("/connect", json=connect_body()).status_code
    return {
        "connect": status,
        "TLS versions at PSC": sorted({o.data["tls_version"] for o in kinds(bench, "client_auth")}),
    }


def psc_untrusted_certificate(bench: Bench) -> Evidence:
    """PSC presents a server certificate that chains to a rogue root."""
    bench.counterparts.psc.server.set_mode(ListenerMode.UNTRUSTED_CERT)
    with bench.lps() as lps:
        status = lps.post("/connect", json=connect_body()).status_code
    return {"connect": status, "PSC calls": len(kinds(bench, "client_auth"))}


def tls_versions(bench: Bench) -> Evidence:
    """Which versions the proxy's endpoint accepts, and which one it negotiates with PSC."""
    host, port = bench.proxy.server.address[:2]
    with bench.lps() as lps:
        status = lps.post("/connect", json=connect_body()).status_code
    return {
        "connect": status,
        "endpoint accepts TLS 1.1": probe_protocol(host, port, ssl.TLSVersion.TLSv1_1).accepted,
        "endpoint accepts TLS 1.3": probe_protocol(host, port, ssl.TLSVersion.TLSv1_3).accepted,
        "TLS versions at PSC": sorted({o.data["tls_version"] for o in kinds(bench, "client_auth")}),
    }


# -- the table --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Exchanges with a proxy reduced to evidence, and what the conformant reference proxy shows."""

    run: Callable[[Bench], Evidence]
    conformant: Evidence
    settings: Mapping[str, object] = field(default_factory=dict)  # of the proxy, for new_bench

    @property
    def name(self) -> str:
        return self.run.__name__


@dataclass(frozen=True)
class Exposure:
    scenario: Scenario
    changes: Evidence  # what the faulty proxy shows instead; every other item stays conformant


DAY = Scenario(
    a_day_at_work,
    {
        "connect": 200,
        "connect answer": ["proxy_session_id", "session_state"],
        "session_state is PSC's": True,
        "cookie is a session cookie": True,
        "connect again with the cookie": 304,
        "CIBA requests": 1,
        "CIBA scope": ["openid scope_all"],
        "PSC client authentication": ["tls_client_auth"],
        "PSC flows": ["backchannel", "introspection", "token"],
        "introspected by": [PROXY_CLIENT_ID],
        "deviations seen by the counterparts": [],
        "send": 200,
        "API's answer relayed unchanged": True,
        "API called with": [LPS1_CLIENT_ID],
        "API received the LPS's cookie": False,
        "trace events": ["CONNECT_SUCCESS", "CONNECT_REPLAY", "SEND"],
        "traced IdRPPS": [PS1],
        "traced dn": ["<dn of LPS 1>"],
        "disconnect": 200,
        "PSC end-session with id_token_hint": 1,
        "send after disconnect": 401,
        "disconnect again": 401,
    },
)
MISUSES = Scenario(
    misuses,
    {
        "invalid connect": [400, "application/json", ["code", "message", "metadata"]],
        "unknown clientId": [404, ["code", "message", "metadata"]],
        "send without cookie": 401,
        "send with a forged cookie": 401,
        "API calls": 0,
        "disconnect without session": 401,
    },
)
TWO_LPS = Scenario(
    two_lps,
    {
        "send": [200, 200],
        "CIBA by": [LPS1_CLIENT_ID, LPS2_CLIENT_ID],
        "token exchange by": [LPS1_CLIENT_ID, LPS2_CLIENT_ID],
        "API called by": [LPS1_CLIENT_ID, LPS2_CLIENT_ID],
        "traced clientId and dn": [[LPS1_CLIENT_ID, "<dn of LPS 1>"], [LPS2_CLIENT_ID, "<dn of LPS 2>"]],
    },
)
TAMPERED = Scenario(tampered_id_tokens, {f"connect with {t.value}": 401 for t in TAMPERS})
POLLING = Scenario(slow_polling, {"connect": 200, "polled faster than interval": False})
# The refresh margin makes the PSC access token "near expiry" at once: a refresh is then due at the
# next sign of activity (the conformant proxy has none while idle), or at once in the background.
IDLE = Scenario(
    idle_professional,
    {
        "send": 200,
        "send after the idle timeout": 401,
        "PSC refreshes while idle": False,
        "PSC end-session calls": 0,
    },
    {"idle_timeout_s": IDLE_TIMEOUT_S, "refresh_margin_s": 119.9},
)
# A negative margin: the proxy never refreshes ahead, the authorization server's refusal must drive it.
EXPIRED_PSC_TOKEN = Scenario(
    expired_psc_token,
    {"send after the PSC token expired": 200, "exchange refused as invalid_grant": True, "PSC refreshes": 1},
    {"refresh_margin_s": -3600.0},
)
FAILING_API = Scenario(failing_api, {"send while the API fails": 502})
NO_REFRESH_TOKEN = Scenario(exchange_answer_without_refresh_token, {"connect": 200, "send": 200})
PSC_TLS_1_1 = Scenario(psc_tls_1_1_only, {"connect": 503, "TLS versions at PSC": []})
PSC_UNTRUSTED = Scenario(psc_untrusted_certificate, {"connect": 503, "PSC calls": 0})
TLS = Scenario(
    tls_versions,
    {
        "connect": 200,
        "endpoint accepts TLS 1.1": False,
        "endpoint accepts TLS 1.3": True,
        "TLS versions at PSC": ["TLSv1.3"],
    },
)
SCENARIOS = (
    DAY,
    MISUSES,
    TWO_LPS,
    TAMPERED,
    POLLING,
    IDLE,
    EXPIRED_PSC_TOKEN,
    FAILING_API,
    NO_REFRESH_TOKEN,
    PSC_TLS_1_1,
    PSC_UNTRUSTED,
    TLS,
)

# The connect of a fault that makes the authorization server refuse the exchange: no session at all.
NO_SESSION = {
    "connect": 401,
    "connect answer": ["code", "message", "metadata"],
    "session_state is PSC's": False,
    "cookie is a session cookie": False,
    "connect again with the cookie": 401,
    "CIBA requests": 2,
    "send": 401,
    "API's answer relayed unchanged": False,
    "API called with": [],
    "trace events": ["CONNECT_FAILURE", "CONNECT_FAILURE"],
    "disconnect": 401,
    "PSC end-session with id_token_hint": 0,
}

EXPOSURES: dict[str, Exposure] = {
    "ciba_scope_openid_only": Exposure(
        DAY, {"CIBA scope": ["openid"], "deviations seen by the counterparts": ["ciba.scope"]}
    ),
    "ciba_without_acr_values": Exposure(DAY, {"deviations seen by the counterparts": ["ciba.acr_values"]}),
    "ciba_poll_ignores_interval": Exposure(POLLING, {"connect": 401, "polled faster than interval": True}),
    "ciba_with_proxy_certificate": Exposure(
        TWO_LPS,
        {
            "send": [401, 401],
            "CIBA by": [PROXY_CLIENT_ID, PROXY_CLIENT_ID],
            "token exchange by": [],
            "API called by": [],
            "traced clientId and dn": [],
        },
    ),
    "psc_client_secret_basic": Exposure(
        DAY,
        {
            "PSC client authentication": ["client_secret_basic"],
            "deviations seen by the counterparts": ["client_auth.basic"],
        },
    ),
    "psc_client_credentials_grant": Exposure(
        DAY, {"deviations seen by the counterparts": ["token.grant_type"]}
    ),
    "userinfo_token_in_query": Exposure(
        DAY, {"deviations seen by the counterparts": ["userinfo.invalid_token"]}
    ),
    "id_token_signature_not_checked": Exposure(TAMPERED, {"connect with bad_signature": 200}),
    "id_token_claims_not_checked": Exposure(
        TAMPERED,
        {"connect with wrong_issuer": 200, "connect with wrong_audience": 200, "connect with expired": 200},
    ),
    "id_token_acr_not_checked": Exposure(TAMPERED, {"connect with wrong_acr": 200}),
    "introspection_with_lps_certificate": Exposure(DAY, {"introspected by": [LPS1_CLIENT_ID]}),
    "trace_sub_as_idrpps": Exposure(DAY, {"traced IdRPPS": ["<sub of PS 1>"]}),
    "refresh_while_idle": Exposure(IDLE, {"PSC refreshes while idle": True}),
    "no_refresh_retry_on_invalid_grant": Exposure(
        EXPIRED_PSC_TOKEN, {"send after the PSC token expired": 401, "PSC refreshes": 0}
    ),
    "session_state_not_from_psc": Exposure(DAY, {"session_state is PSC's": False}),
    "no_replay_304": Exposure(
        DAY,
        {
            "connect again with the cookie": 200,
            "CIBA requests": 2,
            "trace events": ["CONNECT_SUCCESS", "CONNECT_SUCCESS", "SEND"],
            # the first session was left alive: its cookie still works
            "send after disconnect": 200,
            "disconnect again": 200,
            "PSC end-session with id_token_hint": 2,
        },
    ),
    "error_descriptor_as_text": Exposure(
        MISUSES, {"invalid connect": [400, "text/plain; charset=utf-8", []]}
    ),
    "unknown_client_as_500": Exposure(MISUSES, {"unknown clientId": [500, []]}),
    "send_without_session_check": Exposure(
        MISUSES, {"send without cookie": 200, "send with a forged cookie": 200, "API calls": 2}
    ),
    "send_wraps_api_answer": Exposure(DAY, {"API's answer relayed unchanged": False}),
    "upstream_5xx_as_200": Exposure(FAILING_API, {"send while the API fails": 200}),
    "send_forwards_lps_cookie": Exposure(DAY, {"API received the LPS's cookie": True}),
    "exchange_requires_refresh_token": Exposure(NO_REFRESH_TOKEN, {"connect": 503, "send": 401}),
    "disconnect_keeps_session": Exposure(
        DAY, {"send after disconnect": 200, "disconnect again": 200, "PSC end-session with id_token_hint": 2}
    ),
    "disconnect_idempotent_200": Exposure(MISUSES, {"disconnect without session": 200}),
    "disconnect_without_psc_logout": Exposure(DAY, {"PSC end-session with id_token_hint": 0}),
    "logout_without_id_token_hint": Exposure(
        DAY,
        {
            "PSC end-session with id_token_hint": 0,
            "deviations seen by the counterparts": ["logout.id_token_hint_missing"],
        },
    ),
    "idle_timeout_ignored": Exposure(IDLE, {"send after the idle timeout": 200}),
    "idle_logout_at_psc": Exposure(IDLE, {"PSC end-session calls": 1}),
    "persistent_session_cookie": Exposure(DAY, {"cookie is a session cookie": False}),
    "traces_without_send": Exposure(DAY, {"trace events": ["CONNECT_SUCCESS", "CONNECT_REPLAY"]}),
    "trace_without_dn": Exposure(DAY, {"traced dn": ["None"]}),
    "connect_leaks_psc_tokens": Exposure(
        DAY, {"connect answer": ["access_token", "proxy_session_id", "session_state"]}
    ),
    "exchange_wrong_grant_type": Exposure(
        DAY, {**NO_SESSION, "deviations seen by the counterparts": ["token_exchange.grant_type"]}
    ),
    "exchange_id_token_as_subject": Exposure(
        DAY, {**NO_SESSION, "deviations seen by the counterparts": ["token_exchange.subject_token_inactive"]}
    ),
    "exchange_wrong_subject_token_type": Exposure(
        DAY, {**NO_SESSION, "deviations seen by the counterparts": ["token_exchange.subject_token_type"]}
    ),
    "exchange_without_scope": Exposure(
        DAY, {"deviations seen by the counterparts": ["token_exchange.scope_missing"]}
    ),
    "exchange_basic_auth": Exposure(
        DAY, {"deviations seen by the counterparts": ["token_exchange.basic_auth"]}
    ),
    "business_call_with_proxy_certificate": Exposure(
        DAY,
        {
            "send": 401,
            "API's answer relayed unchanged": False,
            "API called with": [],
            "deviations seen by the counterparts": ["api.cnf_mismatch"],
        },
    ),
    "bearer_scheme_missing": Exposure(
        DAY,
        {
            "send": 401,
            "API's answer relayed unchanged": False,
            "API called with": [],
            "deviations seen by the counterparts": ["api.authorization_scheme"],
        },
    ),
    "single_certificate_for_all_lps": Exposure(
        TWO_LPS,
        {
            "CIBA by": [LPS1_CLIENT_ID, LPS1_CLIENT_ID],
            "token exchange by": [LPS1_CLIENT_ID, LPS1_CLIENT_ID],
            "API called by": [LPS1_CLIENT_ID, LPS1_CLIENT_ID],
            "traced clientId and dn": [[LPS1_CLIENT_ID, "<dn of LPS 1>"], [LPS2_CLIENT_ID, "<dn of LPS 1>"]],
        },
    ),
    "upstream_tls_1_1_accepted": Exposure(PSC_TLS_1_1, {"connect": 200, "TLS versions at PSC": ["TLSv1.1"]}),
    "upstream_certificate_not_verified": Exposure(PSC_UNTRUSTED, {"connect": 200, "PSC calls": 4}),
    "api_conformite_accepts_tls_1_1": Exposure(TLS, {"endpoint accepts TLS 1.1": True}),
    "tls_1_3_disabled": Exposure(
        TLS, {"endpoint accepts TLS 1.3": False, "TLS versions at PSC": ["TLSv1.2"]}
    ),
}


# -- tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_conformant_proxy_shows_the_expected_evidence(
    new_bench: Callable[..., Bench], scenario: Scenario
) -> None:
    bench = new_bench(**scenario.settings)
    assert scenario.run(bench) == scenario.conformant


@pytest.mark.parametrize("name", sorted(EXPOSURES))
def test_each_fault_changes_what_crosses_the_wire(new_bench: Callable[..., Bench], name: str) -> None:
    exposure = EXPOSURES[name]
    scenario = exposure.scenario
    assert exposure.changes, "a fault must change some evidence"
    assert set(exposure.changes) <= set(scenario.conformant), "evidence the scenario does not produce"
    same = [item for item, value in exposure.changes.items() if scenario.conformant[item] == value]
    assert not same, f"listed as changes but conformant: {same}"
    bench = new_bench(**scenario.settings)
    apply_faults(bench.proxy, [name])
    assert scenario.run(bench) == {**scenario.conformant, **exposure.changes}


def test_every_fault_has_a_scenario_that_exposes_it() -> None:
    assert sorted(EXPOSURES) == sorted(FAULTS)


def test_the_catalogue_is_a_detection_matrix() -> None:
    """At least 20 faults, each failing requirements that exist and apply to the consumer role."""
    consumer = faults_for_role(Role.CONSUMER)
    assert len(consumer) >= 20
    assert faults_for_role("provider") == []
    index = requirement_index()
    for fault in consumer:
        assert fault.requirements, fault.name
        assert len(set(fault.requirements)) == len(fault.requirements), fault.name
        for requirement_id in fault.requirements:
            assert requirement_id in index, f"{fault.name}: unknown requirement {requirement_id!r}"
            assert index[requirement_id].applies(Role.CONSUMER), f"{fault.name}: {requirement_id} is not FS"
    assert len({f.name for f in consumer}) == len(consumer)
    assert len({f.description_en for f in consumer}) == len(consumer)
    assert len({f.apply for f in consumer}) == len(consumer)


def test_an_unknown_fault_is_a_usage_error_with_a_suggestion(new_bench: Callable[..., Bench]) -> None:
    bench = new_bench()
    with pytest.raises(
        UsageError, match=r"'no_replay_30'.*Did you mean 'no_replay_304'.*ciba_scope_openid_only"
    ):
        apply_faults(bench.proxy, ["trace_without_dn", "no_replay_30"])
    assert "record" not in vars(bench.proxy.traces)  # checked before anything was applied


def test_the_faults_of_the_settings_are_injected_at_construction(
    counterparts: tuple[Counterparts, Path],
) -> None:
    _, directory = counterparts
    settings = load_settings(directory / "reference-proxy.toml", overrides={"faults": ["trace_without_dn"]})
    proxy = proxy_with_faults(settings, ["bearer_scheme_missing", "trace_without_dn"])
    assert "record" in vars(proxy.traces) and "authorization" in vars(proxy)
    assert "connect" not in vars(proxy)
    with pytest.raises(UsageError, match="unknown consumer fault 'nope'"):
        proxy_with_faults(settings, ["nope"])


def test_faults_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["faults"]
    assert [f["name"] for f in listed] == [f.name for role in Role for f in registry.faults(role)]
    entry = next(f for f in listed if f["name"] == "trace_sub_as_idrpps")
    assert entry == {
        "name": "trace_sub_as_idrpps",
        "role": "consumer",
        "requirements": ["EXI PSC 18", "EDC-11"],
        "description": FAULTS["trace_sub_as_idrpps"].description_en,
    }
    assert main(["faults", "--json", "--role", "provider"]) == 0
    provider = json.loads(capsys.readouterr().out)["faults"]
    assert len(provider) >= 20 and {f["role"] for f in provider} == {"provider"}


def test_faults_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["FAULT", "ROLE", "MUST", "FAIL"]
    assert "no_replay_304" in out and "EDC-02" in out
    consumer, provider = (len(registry.faults(role)) for role in (Role.CONSUMER, Role.PROVIDER))
    assert f"{consumer + provider} faults ({consumer} consumer, {provider} provider)" in out
