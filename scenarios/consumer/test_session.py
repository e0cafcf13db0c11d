"""Session : déconnexion, inactivité et rafraîchissement du jeton PSC pendant la vie d'une session du proxy.

The harness plays the LPS and PSC; it judges what the SUT answers the LPS along the life of a session
and what it does at PSC meanwhile: end-session on logout (EXI PSC 20), nothing at PSC when the
session dies of idleness (EXI PSC 32), refresh only while the LPS is active (EXI PSC 11). The rules
are the conditions of `roles/consumer/conditions/session.py`; each scenario uses a professional the SUT
never saw, so that no cached token lets it skip the step under test.

Every wait derives from the SUT's declared idle timeout, with a margin on the safe side of its
clock: a session is called again "while active" before the timeout has passed since its previous
call *started* (the earliest its clock can start), and "after idling" once the timeout has passed
since that call *ended* (the latest).
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.clock import sleep_until
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.observations import Observation
from conformance.evidence.calls import Call
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import (
    ConnectAnswer,
    connect_answers_session,
    error_answer_status,
    error_descriptor_fields,
    error_descriptor_is_json,
)
from conformance.roles.consumer.conditions.session import (
    COOKIE,
    Footprint,
    IdlePhase,
    active_session_lives_on,
    disconnect_answers_200,
    disconnect_ends_psc_session,
    footprint,
    idle_end_keeps_psc_session,
    idle_session_ended,
    no_action_after_disconnect,
    no_psc_refresh_while_idle,
    psc_refresh_on_activity,
    psc_session_of,
    psc_token_expiry,
    session_call_relayed,
    session_cookie_without_expiry,
)

# Margin kept on each side of the SUT's idle timer: at least this, or a tenth of the timeout.
IDLE_MARGIN_S = 0.5
# The PSC and API tokens of the refresh scenario live this long: an integer, as PSC's expires_in. Within
# the embedded SUT's 5 s idle timeout, and long enough for the login's token exchange to come before the
# PSC token expires on a loaded CI machine (2 s was not, once: the connect failed, inconclusive).
SHORT_TTL_S = 3
# How long past the PSC token's expiry the LPS stays idle before calling again.
EXPIRY_MARGIN_S = 0.3
# How long the harness waits for the end-session request of a logout to reach PSC.
LOGOUT_WAIT_S = 2.0


# -- acting -------------------------------------------------------------------------------------------


@dataclass
class Live:
    """A session opened for a professional the SUT never saw, as the LPS and PSC know it."""

    lps: httpx.Client
    client_id: str
    identity: TestIdentity
    session: dict[str, str]
    state: str  # the PSC session (session_state) behind it, as PSC issued it
    connect: Call


def _idle_margin(idle_timeout_s: float) -> float:
    return max(IDLE_MARGIN_S, idle_timeout_s * 0.1)


def _declared_idle_timeout(consumer: ConsumerBench) -> float:
    idle = consumer.declared.get("idle_timeout_s")
    if not idle:
        pytest.skip(
            "the SUT declared no idle timeout ([sut.declared] idle_timeout_s): EXI PSC 32 stays not tested"
        )
    return float(idle)


def _open(
    checks: CheckRecorder,
    consumer: ConsumerBench,
    lps: httpx.Client,
    index: int = 0,
    identity: TestIdentity | None = None,
) -> Live:
    """LPS number `index` connects a new professional (`identity`, else one minted now); the scenario
    needs the session (prerequisite)."""
    client_id = consumer.lps_ids[index]
    identity = identity or consumer.fresh_identity()
    body = consumer.connect_body(client_id=client_id, national_id=identity.national_id)
    connect = consumer.call(lps, "POST", "/connect", json=body)
    connected = ConnectAnswer(connect.answer, lps.cookies.get(COOKIE))
    checks.prerequisite(connect_answers_session, connected)
    session = connected.session
    assert session is not None  # the prerequisite held
    issued = consumer.observed("token.issued", since=connect.started_at)
    state = psc_session_of(issued, connect, client_id) or session["session_state"]
    return Live(lps, client_id, identity, session, state, connect)


def _send(consumer: ConsumerBench, live: Live, lps: httpx.Client | None = None) -> Call:
    """The API PSC's POST /signsessiondata through the SUT, with the session's cookie."""
    data = consumer.session_data(
        live.session, client_id=live.client_id, national_id=live.identity.national_id
    )
    headers = {"Cookie": f"{COOKIE}={live.session[COOKIE]}"}  # whatever the jar did with it since
    return consumer.call(lps or live.lps, "POST", consumer.send_path(), json=data, headers=headers)


def _trail(consumer: ConsumerBench, since: float, state: str) -> Footprint:
    psc = consumer.counterparts.psc
    paths = {urlsplit(psc.endpoint(name)).path for name in ("token", "userinfo")}
    return footprint(
        state, consumer.observed("token.issued", since=since), consumer.exchanges(since=since), paths
    )


def _relayed_first_call(checks: CheckRecorder, consumer: ConsumerBench, live: Live, since: float) -> Call:
    """A first business call; the scenario needs it relayed (prerequisite): the session works."""
    first = _send(consumer, live)
    checks.prerequisite(session_call_relayed, first, _trail(consumer, since, live.state))
    return first


def _await(found: Callable[[], list[Observation]], timeout_s: float) -> list[Observation]:
    deadline = time.time() + timeout_s
    while not (seen := found()) and time.time() < deadline:
        time.sleep(0.05)
    return seen


# -- scenarios ----------------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-08", "EDC-09", "EXI PSC 20")
def test_disconnect_ends_the_proxy_and_psc_sessions(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Déconnexion : le proxy clôt sa session et celle de PSC (end-session avec id_token_hint)"""
    with consumer.lps() as lps, consumer.lps() as other:
        live = _open(checks, consumer, lps)
        _send(consumer, live)  # the proxy now holds the session's API token, if it exchanges on demand
        bye = consumer.call(lps, "DELETE", "/disconnect")
        # Another professional's session lives on meanwhile (as in any proxy in service): a proxy that
        # falls back on "the" session for a cookie it no longer knows is caught whatever else runs.
        _open(checks, consumer, other, index=1)
        # The old cookie again, from LPSs whose jars forgot nothing (the answer may have expired it).
        with consumer.lps() as probe:
            sent = _send(consumer, live, probe)
    with consumer.lps() as probe:
        old_cookie = {"Cookie": f"{COOKIE}={live.session[COOKIE]}"}
        again = consumer.call(probe, "DELETE", "/disconnect", headers=old_cookie)
    # The end-session request may follow the answer: give it a moment to reach PSC.
    logouts = _await(lambda: consumer.observed("logout", since=bye.started_at), LOGOUT_WAIT_S)
    checks.evaluate(disconnect_ends_psc_session, live.state, logouts)
    checks.require(disconnect_answers_200, bye)
    checks.evaluate(error_answer_status.bound("EDC-08"), sent.answer, {401}, "/send with the old cookie")
    checks.evaluate(no_action_after_disconnect, _trail(consumer, since, live.state), bye, [sent, again])
    case = "DELETE /disconnect again with the old cookie"
    checks.evaluate(error_answer_status.bound("EDC-09"), again.answer, {401}, case)
    checks.evaluate(error_descriptor_is_json.bound("EDC-09"), again.answer, {401}, case)
    checks.evaluate(error_descriptor_fields.bound("EDC-09"), again.answer, case)


@pytest.mark.verifies("EDC-09")
@pytest.mark.parametrize("cookie", ["absent", "forged"])
def test_disconnect_without_a_valid_session_gets_401(
    checks: CheckRecorder, consumer: ConsumerBench, cookie: str
) -> None:
    """Déconnexion sans session valide : 401 avec descripteur"""
    headers = {"Cookie": f"{COOKIE}={uuid.uuid4()}"} if cookie == "forged" else {}
    with consumer.lps() as lps:
        answer = consumer.call(lps, "DELETE", "/disconnect", headers=headers).answer
    case = f"cookie {cookie}"
    checks.evaluate(error_answer_status.bound("EDC-09"), answer, {401}, case)
    checks.evaluate(error_descriptor_is_json.bound("EDC-09"), answer, {401}, case)
    checks.evaluate(error_descriptor_fields.bound("EDC-09"), answer, case)


@pytest.mark.verifies("EXI PSC 32", "EDC-05")
@pytest.mark.waits("waits out the SUT's idle timeout", on="idle_timeout_s")
def test_idle_session_ends_and_active_session_lives_on(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Inactivité : la session inactive se termine sans clore PSC, la session active se maintient"""
    idle = _declared_idle_timeout(consumer)
    margin = _idle_margin(idle)
    with consumer.lps() as quiet_lps, consumer.lps() as busy_lps:
        # LPS 1 calls once then stays idle past the timeout; LPS 2 calls more often than the timeout,
        # for longer than it. Each session's clock runs from its own last call.
        quiet = _open(checks, consumer, quiet_lps, 0)
        last_quiet = _relayed_first_call(checks, consumer, quiet, since)
        busy = _open(checks, consumer, busy_lps, 1)
        calls = [_relayed_first_call(checks, consumer, busy, since)]
        quiet_due = last_quiet.ended_at + idle + margin
        busy_until = calls[0].ended_at + idle + margin
        late: Call | None = None
        while late is None or calls[-1].started_at < busy_until:
            busy_next = calls[-1].started_at + idle / 2 if calls[-1].started_at < busy_until else math.inf
            if late is None and quiet_due <= busy_next:
                sleep_until(quiet_due)
                late = _send(consumer, quiet)
            else:
                sleep_until(busy_next)
                calls.append(_send(consumer, busy))

    checks.evaluate(active_session_lives_on, _trail(consumer, since, busy.state), calls, idle, margin)
    checks.require(idle_session_ended, _trail(consumer, since, quiet.state), last_quiet, late, idle)
    checks.evaluate(idle_end_keeps_psc_session, quiet.state, consumer.observed("logout", since=since))
    # The session is over for the proxy: its cookie is now no session at all.
    case = "/send of the session ended by idleness"
    checks.evaluate(error_answer_status.bound("EDC-05"), late.answer, {401}, case)
    checks.evaluate(error_descriptor_is_json.bound("EDC-05"), late.answer, {401}, case)
    checks.evaluate(error_descriptor_fields.bound("EDC-05"), late.answer, case)


@pytest.mark.verifies("EXI PSC 11")
@pytest.mark.waits("waits for the PSC token to expire")
def test_psc_token_refreshed_only_while_the_lps_is_active(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Le jeton PSC n'est rafraîchi que pendant l'activité du LPS, jamais pendant son inactivité"""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    idle = consumer.declared.get("idle_timeout_s")
    # Short-lived PSC and API tokens: the idle period outlasts both, and the next call needs them anew.
    identity = consumer.fresh_identity()
    psc.behave(identity, timings=dataclasses.replace(psc.timings, access_token_ttl_s=SHORT_TTL_S))
    api_as.behave(identity, api_token_ttl_s=SHORT_TTL_S)
    with consumer.lps() as lps:
        live = _open(checks, consumer, lps, identity=identity)
        last = _relayed_first_call(checks, consumer, live, since)
        # Idle until the last PSC access token has expired, but call again before the SUT's idle
        # timer can end the session (counted from the start of the last call, the earliest).
        issued = consumer.observed("token.issued", since=since)
        expiry = psc_token_expiry(issued, live.state, time.time(), SHORT_TTL_S) or last.ended_at + SHORT_TTL_S
        wake = expiry + EXPIRY_MARGIN_S
        if idle:
            wake = min(wake, last.started_at + float(idle) - _idle_margin(float(idle)))
        sleep_until(wake)
        sent = _send(consumer, live)

    issued = consumer.observed("token.issued", since=since)
    phase = IdlePhase(
        live.state, last, sent, psc_token_expiry(issued, live.state, sent.started_at, SHORT_TTL_S)
    )
    refreshes = consumer.observed("token.refresh", since=since)
    checks.evaluate(no_psc_refresh_while_idle, phase, refreshes)
    exchanged = consumer.observed("token_exchange.issued", since=since)
    checks.evaluate(psc_refresh_on_activity, phase, refreshes, issued, exchanged)


@pytest.mark.verifies("RECO PSC 06")
def test_session_cookie_ends_with_the_lps(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le cookie de session n'a pas d'expiration : la session meurt à la fermeture du LPS"""
    with consumer.lps() as lps:
        connected = consumer.open_session(lps)
    checks.prerequisite(connect_answers_session, connected)
    checks.evaluate(session_cookie_without_expiry, connected.answer)
