"""Session : déconnexion, inactivité et rafraîchissement du jeton PSC pendant la vie d'une session du proxy.

The harness plays the LPS and PSC; it judges what the SUT answers the LPS along the life of a session
and what it does at PSC meanwhile: end-session with id_token_hint on logout (EXI PSC 20), nothing at
PSC when the session dies of idleness (EXI PSC 32), refresh only while the LPS is active (EXI PSC 11).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conformance.checks import Check, CheckRecorder
from conformance.consumer_bench import ConsumerBench
from conformance.counterparts.observations import Observation
from conformance.evidence import Exchange
from conformance.verdicts import Severity

# -- checks -------------------------------------------------------------------------------------------

CONNECTED = Check(
    "lps_session_established",
    ("EDC-01",),
    fr="Le LPS obtient une session du proxy et son cookie (prérequis)",
    en="The LPS gets a proxy session and its cookie (prerequisite)",
)
LIVE_SESSION_WORKS = Check(
    "business_call_of_a_live_session_relayed",
    ("EDC-06",),
    fr="La requête métier d'une session vivante est relayée à l'API PSC (prérequis)",
    en="The business call of a live session is relayed to the API PSC (prerequisite)",
)
DISCONNECT_200 = Check(
    "disconnect_answers_200",
    ("EDC-08",),
    fr="DELETE /disconnect avec la session répond 200",
    en="DELETE /disconnect with the session answers 200",
)
PSC_LOGOUT_WITH_HINT = Check(
    "disconnect_ends_psc_session_with_id_token_hint",
    ("EXI PSC 20",),
    fr="La déconnexion clôt aussi la session PSC : end-session avec id_token_hint pour ce session_state",
    en="Logging out also ends the PSC session: end-session with id_token_hint for this session_state",
)
SESSION_DEAD_AFTER_DISCONNECT = Check(
    "session_unusable_after_disconnect",
    ("EDC-08", "EXI PSC 20"),
    fr="Après la déconnexion, /send avec l'ancien cookie répond 401 et le proxy n'agit plus pour la session",
    en="After logout, /send with the old cookie answers 401 and the proxy no longer acts for the session",
)
DISCONNECT_WITHOUT_SESSION_401 = Check(
    "disconnect_without_session_401_descriptor",
    ("EDC-09",),
    fr="DELETE /disconnect sans session valide répond 401 avec un descripteur {code, message}",
    en="DELETE /disconnect without a valid session answers 401 with a {code, message} descriptor",
)
IDLE_ENDS_SESSION = Check(
    "idle_session_ends",
    ("EXI PSC 32",),
    fr="Passé le délai d'inactivité déclaré, le proxy n'agit plus pour la session (PSC, échange, API)",
    en="Past the declared idle timeout the proxy no longer acts for the session (no PSC, exchange, API call)",
)
IDLE_SESSION_401 = Check(
    "ended_session_send_401_descriptor",
    ("EDC-05",),
    fr="/send avec le cookie d'une session close par inactivité répond 401 avec un descripteur, sans relais",
    en="/send with the cookie of a session ended by idleness answers 401 with a descriptor, relaying nothing",
)
IDLE_KEEPS_PSC_SESSION = Check(
    "idle_end_leaves_psc_session_open",
    ("EXI PSC 32",),
    fr="La fin de session par inactivité ne clôt pas la session PSC (aucun end-session)",
    en="The end of a session by idleness does not end the PSC session (no end-session)",
)
ACTIVITY_KEEPS_SESSION = Check(
    "activity_keeps_session_alive",
    ("EXI PSC 32",),
    fr="Des requêtes espacées de moins que le délai d'inactivité restent relayées au-delà de ce délai",
    en="Calls spaced by less than the idle timeout are still relayed beyond that timeout",
)
NO_REFRESH_WHILE_IDLE = Check(
    "no_psc_refresh_while_idle",
    ("EXI PSC 11",),
    fr="Pendant l'inactivité du LPS, le proxy ne rafraîchit pas le jeton PSC, même expiré",
    en="While the LPS is idle, the proxy does not refresh the PSC token, even once expired",
)
REFRESH_ON_ACTIVITY = Check(
    "psc_refresh_on_activity",
    ("EXI PSC 11",),
    fr="Le LPS de nouveau actif après l'expiration du jeton PSC : le proxy le rafraîchit et s'en sert",
    en="The LPS active again after the PSC token expired: the proxy refreshes it and uses the new one",
)
SESSION_COOKIE = Check(
    "session_cookie_without_expiry",
    ("RECO PSC 06",),
    fr="Le cookie proxy_session_id est un cookie de session (ni Expires ni Max-Age) : il meurt avec le LPS",
    en="The proxy_session_id cookie is a session cookie (no Expires, no Max-Age): it dies with the LPS",
    severity=Severity.WARNING,
)

COOKIE = "proxy_session_id"
# The PSC and API tokens of the refresh scenario live this long (seconds): less than the embedded
# campaign's idle timeout, so the session outlives them while the LPS stays idle.
SHORT_TTL_S = 2
EXPIRY_MARGIN_S = 0.3


# -- helpers ------------------------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _session(answer: httpx.Response, lps: httpx.Client) -> dict[str, str] | None:
    """The session the connection answered, if it came with its cookie."""
    body = _json(answer.content) if answer.status_code == 200 else None
    if not isinstance(body, dict) or not isinstance(body.get(COOKIE), str) or not body.get("session_state"):
        return None
    if lps.cookies.get(COOKIE) != body[COOKIE]:
        return None
    return {COOKIE: body[COOKIE], "session_state": str(body["session_state"])}


def _connected_message(answer: httpx.Response, session: Mapping[str, str] | None) -> str:
    return f"HTTP {answer.status_code}" + (
        "" if session else f", no session or cookie: {answer.text[:160]!r}"
    )


def _descriptor(answer: httpx.Response, status: int) -> tuple[bool, str]:
    body = _json(answer.content)
    ok = answer.status_code == status and isinstance(body, dict) and "code" in body and "message" in body
    shown = body if body is not None else answer.text[:160]
    return ok, f"HTTP {answer.status_code} {shown!r}"


def _exchange_id(answer: httpx.Response) -> str:
    return str(answer.extensions.get("exchange_id", ""))


def _cookie_header(session: Mapping[str, str]) -> dict[str, str]:
    """The session cookie sent as such, whatever the LPS's jar did with it since."""
    return {"Cookie": f"{COOKIE}={session[COOKIE]}"}


def _logouts(consumer: ConsumerBench, since: float, session_state: str) -> list[Observation]:
    return [
        o
        for o in consumer.observed("logout", since=since)
        if o.kind == "logout" and o.data.get("session_state") == session_state
    ]


def _psc_session_state(
    consumer: ConsumerBench, since: float, client_id: str, session: Mapping[str, str]
) -> str:
    """The PSC session opened for the LPS since `since`, as PSC saw it (the SUT's answer as a fallback)."""
    for o in consumer.observed("token.issued", since=since, client_id=client_id):
        if o.kind == "token.issued" and o.data.get("session_state"):
            return str(o.data["session_state"])
    return session["session_state"]


def _values(exchange: Exchange) -> list[str]:
    """Every parameter value and header value of a request: where a credential can travel."""
    values = [v for _, v in exchange.request_headers]
    for text in (urlsplit(exchange.url).query, exchange.request_body.decode("utf-8", "replace")):
        values += [v for vs in parse_qs(text).values() for v in vs]
    return values


def _acting_for(
    consumer: ConsumerBench, since: float, session_state: str, after: float, until: float | None = None
) -> list[Exchange]:
    """What the SUT did in [after, until] with the credentials of a PSC session: refresh or userinfo at
    PSC, token exchange of its tokens, API calls with the API tokens obtained (end-session aside)."""
    evidence = consumer.evidence
    psc_tokens: set[str] = set()
    for o in consumer.observed("token.issued", since=since):
        exchange = evidence.get(o.exchange_id) if o.exchange_id else None
        body = _json(exchange.response_body) if exchange else None
        if (
            o.kind == "token.issued"
            and o.data.get("session_state") == session_state
            and isinstance(body, dict)
        ):
            psc_tokens |= {
                body[k] for k in ("access_token", "refresh_token", "id_token") if isinstance(body.get(k), str)
            }
    api_tokens: set[str] = set()
    acting = []
    for e in evidence.exchanges(counterpart="api-as", since=since):
        if not psc_tokens & set(_values(e)):
            continue
        answer = _json(e.response_body) if e.status == 200 else None
        if isinstance(answer, dict) and isinstance(answer.get("access_token"), str):
            api_tokens.add(answer["access_token"])
        if e.started_at >= after:
            acting.append(e)
    psc = consumer.counterparts.psc
    psc_paths = {urlsplit(psc.endpoint(name)).path for name in ("token", "userinfo")}
    for e in evidence.exchanges(counterpart="psc", since=after):
        if urlsplit(e.url).path in psc_paths and any(t in v for v in _values(e) for t in psc_tokens):
            acting.append(e)
    for e in evidence.exchanges(counterpart="api", since=after):
        if any(t in v for v in [*_values(e), e.url] for t in api_tokens | psc_tokens):
            acting.append(e)
    return [e for e in acting if until is None or e.started_at <= until]


def _forwarded(consumer: ConsumerBench, since: float, session_state: str, sent: httpx.Response) -> bool:
    """The /send was relayed for the session: an API call with its credentials while it was answered."""
    exchange = consumer.evidence.get(_exchange_id(sent))
    if exchange is None:
        return False
    until = exchange.started_at + exchange.duration_s
    acting = _acting_for(consumer, since, session_state, exchange.started_at, until)
    return any(e.counterpart == "api" for e in acting)


def _idle_timeout(consumer: ConsumerBench) -> float:
    idle = consumer.declared.get("idle_timeout_s")
    if not idle:
        pytest.skip(
            "the SUT declared no idle timeout ([sut.declared] idle_timeout_s): EXI PSC 32 stays not tested"
        )
    return float(idle)


def _connect(
    checks: CheckRecorder, consumer: ConsumerBench, lps: httpx.Client, index: int = 0
) -> dict[str, str]:
    """LPS number `index` connects professional number `index`."""
    answer = consumer.connect(
        lps, client_id=consumer.lps_ids[index], national_id=consumer.identities[index].national_id
    )
    session = _session(answer, lps)
    checks.require(CONNECTED, session is not None, _connected_message(answer, session))
    assert session is not None
    return session


def _send(
    consumer: ConsumerBench, lps: httpx.Client, session: Mapping[str, str], index: int = 0
) -> httpx.Response:
    data = consumer.session_data(
        session, client_id=consumer.lps_ids[index], national_id=consumer.identities[index].national_id
    )
    return lps.post(consumer.send_path(), json=data, headers=_cookie_header(session))


# -- scenarios ----------------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-01", "EDC-08", "EDC-09", "EXI PSC 20")
def test_disconnect_ends_the_proxy_and_psc_sessions(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Déconnexion : le proxy clôt sa session et celle de PSC (end-session avec id_token_hint)"""
    with consumer.lps() as lps:
        session = _connect(checks, consumer, lps)
        bye = lps.delete("/disconnect")
    checks.record(DISCONNECT_200, bye.status_code == 200, f"HTTP {bye.status_code}")
    after_disconnect = time.time()
    # The old cookie again, from an LPS whose jar forgot nothing (the answer may have expired the cookie).
    with consumer.lps() as lps:
        sent = _send(consumer, lps, session)
        again = lps.delete("/disconnect", headers=_cookie_header(session))

    state = _psc_session_state(consumer, since, consumer.lps_ids[0], session)
    logouts = _logouts(consumer, since, state)
    without_hint = consumer.observed("logout.id_token_hint_missing", since=since) + consumer.observed(
        "logout.id_token_hint_invalid", since=since
    )
    checks.record(
        PSC_LOGOUT_WITH_HINT,
        bool(logouts) and not without_hint,
        "; ".join(o.detail for o in without_hint)
        or f"{len(logouts)} end-session(s) at PSC with id_token_hint for PSC session {state}",
        evidence=consumer.exchange_ids(logouts + without_hint),
    )
    acting = _acting_for(consumer, since, state, after_disconnect)
    checks.record(
        SESSION_DEAD_AFTER_DISCONNECT,
        sent.status_code == 401 and not acting,
        f"/send after logout: HTTP {sent.status_code}; {len(acting)} request(s) with the session's "
        f"credentials since: {[(e.counterpart, urlsplit(e.url).path) for e in acting]}",
        evidence=[_exchange_id(sent), *(e.id for e in acting)],
    )
    ok, detail = _descriptor(again, 401)
    checks.record(DISCONNECT_WITHOUT_SESSION_401, ok, f"second disconnect: {detail}")


@pytest.mark.verifies("EDC-09")
@pytest.mark.parametrize("cookie", ["absent", "forged"])
def test_disconnect_without_a_valid_session_gets_401(
    checks: CheckRecorder, consumer: ConsumerBench, cookie: str
) -> None:
    """Déconnexion sans session valide : 401 avec descripteur"""
    headers = {"Cookie": f"{COOKIE}={uuid.uuid4()}"} if cookie == "forged" else {}
    with consumer.lps() as lps:
        answer = lps.delete("/disconnect", headers=headers)
    ok, detail = _descriptor(answer, 401)
    checks.record(DISCONNECT_WITHOUT_SESSION_401, ok, f"cookie {cookie}: {detail}")


@pytest.mark.verifies("EDC-01", "EDC-05", "EDC-06", "EXI PSC 32")
def test_idle_session_ends_and_active_session_lives_on(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Inactivité : la session inactive se termine sans clore PSC, la session active se maintient"""
    idle = _idle_timeout(consumer)
    # Over the same period, LPS 1 stays idle past the timeout while LPS 2 calls more often than it.
    quiet_for = idle + max(0.5, idle * 0.1)
    spacing = idle * 0.6
    calls_at = [spacing * k for k in range(1, int(idle // spacing) + 2)]  # the last one is past `idle`
    with consumer.lps() as idle_lps, consumer.lps() as active_lps:
        idle_session = _connect(checks, consumer, idle_lps, 0)
        active_session = _connect(checks, consumer, active_lps, 1)
        states = [
            _psc_session_state(consumer, since, consumer.lps_ids[i], s)
            for i, s in enumerate((idle_session, active_session))
        ]
        firsts = [
            _send(consumer, idle_lps, idle_session, 0),
            _send(consumer, active_lps, active_session, 1),
        ]
        started = time.monotonic()
        relayed = [_forwarded(consumer, since, state, a) for state, a in zip(states, firsts, strict=True)]
        checks.require(
            LIVE_SESSION_WORKS,
            all(relayed),
            f"/send: HTTP {[a.status_code for a in firsts]}, relayed to the API: {relayed}",
            evidence=[_exchange_id(a) for a in firsts],
        )
        late: httpx.Response | None = None
        quiet, idle_until = 0.0, 0.0
        active: list[httpx.Response] = []
        for at, who in sorted([(quiet_for, "idle"), *((t, "active") for t in calls_at)]):
            time.sleep(max(0.0, started + at - time.monotonic()))
            if who == "idle":
                idle_until, quiet = time.time(), time.monotonic() - started
                late = _send(consumer, idle_lps, idle_session, 0)
            else:
                active.append(_send(consumer, active_lps, active_session, 1))
        lived = time.monotonic() - started
    assert late is not None

    acting = _acting_for(consumer, since, states[0], idle_until)
    checks.record(
        IDLE_ENDS_SESSION,
        not acting,
        f"/send after {quiet:.1f} s idle (declared timeout {idle:g} s): HTTP {late.status_code}; "
        f"{len(acting)} request(s) with the idle session's credentials: "
        f"{[(e.counterpart, urlsplit(e.url).path) for e in acting]}",
        evidence=[_exchange_id(late), *(e.id for e in acting)],
    )
    if not acting:  # the session is over for the proxy: its cookie is now an invalid session
        forwarded = consumer.evidence.exchanges(counterpart="api", since=idle_until)
        forwarded = [e for e in forwarded if e.started_at <= idle_until + late.elapsed.total_seconds()]
        ok, detail = _descriptor(late, 401)
        checks.record(
            IDLE_SESSION_401,
            ok and not forwarded,
            f"{detail}; {len(forwarded)} request(s) reached the API meanwhile",
            evidence=[_exchange_id(late), *(e.id for e in forwarded)],
        )
    logouts = _logouts(consumer, since, states[0])
    checks.record(
        IDLE_KEEPS_PSC_SESSION,
        not logouts,
        f"{len(logouts)} end-session(s) at PSC for the idle session's PSC session {states[0]}",
        evidence=consumer.exchange_ids(logouts),
    )
    kept = [_forwarded(consumer, since, states[1], a) for a in active]
    checks.record(
        ACTIVITY_KEEPS_SESSION,
        bool(active) and all(kept),
        f"{len(active)} call(s) every {spacing:.1f} s over {lived:.1f} s (declared timeout {idle:g} s): "
        f"HTTP {[a.status_code for a in active]}, relayed to the API: {kept}",
        evidence=[_exchange_id(a) for a in [firsts[1], *active]],
    )


@pytest.mark.verifies("EDC-01", "EXI PSC 11")
def test_psc_token_refreshed_only_while_the_lps_is_active(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Le jeton PSC n'est rafraîchi que pendant l'activité du LPS, jamais pendant son inactivité"""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    timings, api_ttl = psc.timings, api_as.api_token_ttl_s
    with consumer.lps() as lps:
        # Short-lived PSC and API tokens: the idle period outlasts both, and the next call needs them anew.
        psc.timings = dataclasses.replace(timings, access_token_ttl_s=SHORT_TTL_S)
        api_as.api_token_ttl_s = SHORT_TTL_S
        try:
            session = _connect(checks, consumer, lps)
        finally:
            psc.timings, api_as.api_token_ttl_s = timings, api_ttl
        idle_from = time.time()
        time.sleep(SHORT_TTL_S + EXPIRY_MARGIN_S)
        idle_until = time.time()
        sent = _send(consumer, lps, session)
    state = _psc_session_state(consumer, since, consumer.lps_ids[0], session)
    refreshes = [
        o for o in consumer.observed("token.refresh", since=since) if o.data.get("session_state") == state
    ]
    while_idle = [o for o in refreshes if idle_from <= o.at < idle_until]
    while_active = [o for o in refreshes if o.at >= idle_until]
    checks.record(
        NO_REFRESH_WHILE_IDLE,
        not while_idle,
        f"{len(while_idle)} refresh(es) at PSC during {idle_until - idle_from:.1f} s of idleness "
        f"(PSC access token lifetime {SHORT_TTL_S} s)",
        evidence=consumer.exchange_ids(while_idle),
    )
    # The refreshed access tokens (same request as the refresh), then their exchange at the AS.
    refreshed = {
        o.data.get("jti")
        for o in consumer.observed("token.issued", since=idle_until)
        if o.exchange_id in {r.exchange_id for r in while_active}
    }
    exchanged = [
        o
        for o in consumer.observed("token_exchange.issued", since=idle_until)
        if o.data.get("subject_token_jti") in refreshed
    ]
    checks.record(
        REFRESH_ON_ACTIVITY,
        bool(while_active) and bool(exchanged),
        f"{len(while_active)} refresh(es) at PSC once the LPS was active, {len(exchanged)} exchange(s) of "
        f"the refreshed token; /send HTTP {sent.status_code}",
        evidence=[*consumer.exchange_ids(while_active + exchanged), _exchange_id(sent)],
    )


@pytest.mark.verifies("EDC-01", "RECO PSC 06")
def test_session_cookie_ends_with_the_lps(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le cookie de session n'a pas d'expiration : la session meurt à la fermeture du LPS"""
    with consumer.lps() as lps:
        answer = consumer.connect(lps)
        session = _session(answer, lps)
    checks.require(CONNECTED, session is not None, _connected_message(answer, session))
    found = []
    for header in answer.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() != COOKIE:
            continue
        attributes = {part.split("=", 1)[0].strip().lower() for part in rest.split(";")[1:]}
        found.append((header, attributes & {"expires", "max-age"}))
    lasting = [header for header, expiry in found if expiry]
    checks.record(
        SESSION_COOKIE,
        bool(found) and not lasting,
        "; ".join(f"Set-Cookie: {h}" for h in lasting)
        or f"{len(found)} Set-Cookie {COOKIE} without Expires or Max-Age",
        evidence=[_exchange_id(answer)],
    )
