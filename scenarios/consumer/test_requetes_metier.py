"""Requêtes métier : le proxy échange le jeton PSC contre un jeton de l'API et relaie l'appel du LPS.

The harness plays the LPS calling /send, PSC, the API's authorization server (RFC 8693 token
exchange, IG 1.2.0 step 9) and the API PSC (step 12). The rules are the conditions of
`roles/consumer/conditions/requetes_metier.py`: the exchange is judged from what the authorization server
parsed, wherever it happened since the scenario began (at connect or at the first /send), and each
scenario that judges it uses a professional the SUT never saw, so that no cached token lets the SUT
skip it.

Every wait derives from the SUT's declared upstream timeout (`[sut.declared] upstream_timeout_s`):
a stalled API holds longer than it, and the LPS waits for it plus a margin.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.concurrency import Alone
from conformance.config import Config
from conformance.counterparts.identities import TestIdentity
from conformance.evidence import Exchange
from conformance.evidence.calls import Call
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import (
    ConnectAnswer,
    connect_answers_session,
    error_answer_status,
    error_descriptor_fields,
    error_descriptor_is_json,
    upstream_failure_answered_502_503_504,
)
from conformance.roles.consumer.conditions.requetes_metier import (
    COOKIE,
    GATEWAY_STATUSES,
    api_error_relayed_or_gateway_status,
    api_link_failure,
    business_call_bearer_api_token,
    business_call_with_the_exchange_certificate,
    collect,
    exchange_answer_without_refresh_token_suffices,
    exchange_client_authenticated_by_certificate_only,
    exchange_grant_type_token_exchange,
    exchange_scope_of_the_api,
    exchange_subject_is_psc_access_token,
    exchange_subject_token_type_allowed,
    expired_psc_token_refreshed_then_exchanged,
    forwarded,
    lps_session_cookie_kept_from_the_api,
    lps_sessions_share_no_certificate_or_token,
    no_token_in_answers_to_the_lps,
    send_forwards_the_lps_request,
    send_relays_the_api_answer,
    send_without_session_reaches_no_api,
    stalled_api_fits_the_scenario_bound,
    upstream_with_the_session_lps_certificate,
)
from conformance.roles.consumer.conditions.transport import upstream_client_certificate_auth_cli
from conformance.tls import ListenerMode

# The PSC and API tokens of the expiry scenario live this long (seconds): less than the embedded
# campaign's idle timeout, so the session outlives them.
SHORT_TTL_S = 3
EXPIRY_MARGIN_S = 0.3
# Margin beyond the SUT's declared upstream timeout: the LPS waits timeout + margin for the proxy's
# answer, and the stalled API holds timeout + 2 margins, so the verdict never races the SUT's timer.
UPSTREAM_MARGIN_MIN_S = 2.0
UPSTREAM_MARGIN_RATIO = 0.25


# -- acting -------------------------------------------------------------------------------------------


@dataclass
class Journey:
    """One LPS's connect of a professional the SUT never saw, and its /send if it got a session."""

    client_id: str
    identity: TestIdentity
    connected: ConnectAnswer
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    sent: Call | None = None

    @property
    def session(self) -> dict[str, str] | None:
        return self.connected.session


def _connect(
    consumer: ConsumerBench, lps: httpx.Client, index: int = 0, identity: TestIdentity | None = None
) -> Journey:
    """LPS number `index` connects a professional the SUT never saw (`identity`, else one minted now)."""
    client_id, identity = consumer.lps_ids[index], identity or consumer.fresh_identity()
    connected = consumer.open_session(lps, client_id=client_id, national_id=identity.national_id)
    return Journey(client_id, identity, connected)


def _send(consumer: ConsumerBench, lps: httpx.Client, journey: Journey, **kwargs: Any) -> Call:
    """The API PSC's POST /signsessiondata through the SUT, for the journey's session."""
    assert journey.session is not None
    journey.data = consumer.session_data(
        journey.session, client_id=journey.client_id, national_id=journey.identity.national_id
    )
    journey.sent = consumer.call(lps, "POST", consumer.send_path(), json=journey.data, **kwargs)
    return journey.sent


def _journey(consumer: ConsumerBench, index: int = 0, identity: TestIdentity | None = None) -> Journey:
    """Connect, then call /send when the LPS got a session."""
    with consumer.lps() as lps:
        journey = _connect(consumer, lps, index, identity)
        if journey.session is not None:
            _send(consumer, lps, journey)
    return journey


def _api_path(consumer: ConsumerBench) -> str:
    return urlsplit(consumer.counterparts.api.signsessiondata_url).path


def _answers_to_lps(consumer: ConsumerBench, since: float) -> list[Exchange]:
    return consumer.exchanges(counterpart="sut", since=since)


def _margin(upstream_timeout_s: float) -> float:
    return max(UPSTREAM_MARGIN_MIN_S, upstream_timeout_s * UPSTREAM_MARGIN_RATIO)


def _drain(
    consumer: ConsumerBench, identity: TestIdentity, called_before: int, switched: float, deadline: float
) -> None:
    """Wait until the API has finished the calls it was given for `identity`: a slow answer must not land
    after the scenario has read its evidence."""
    api = consumer.counterparts.api
    while time.time() < deadline:
        started = api.calls_concerning(identity) - called_before
        if consumer.count_exchanges(counterpart="api", since=switched) >= started:
            return
        time.sleep(0.05)


@contextmanager
def _short_lived_tokens(
    consumer: ConsumerBench, identity: TestIdentity, psc_ttl_s: int, api_ttl_s: int
) -> Iterator[None]:
    """Tokens issued meanwhile for `identity` expire soon: PSC's access token, and the API token with its
    refresh token (so that renewing the API token needs a new exchange); later ones live as usual."""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    psc.behave(identity, timings=dataclasses.replace(psc.timings, access_token_ttl_s=psc_ttl_s))
    api_as.behave(identity, api_token_ttl_s=api_ttl_s, refresh_token_ttl_s=api_ttl_s)
    try:
        yield
    finally:
        psc.forget(identity)
        api_as.forget(identity)


# -- scenarios ----------------------------------------------------------------------------------------


@pytest.mark.verifies(
    "EDC-06",
    "EDC-13",
    "IG-SEC-04",
    "IG-SEC-05",
    "IG-SEC-06",
    "IG-SEC-07",
    "IG-SEC-08",
    "IG-SEC-09",
    "IG-SEC-10",
    "IG-SEC-12",
    "IG-SEC-20",
)
def test_business_call_is_relayed_with_an_exchanged_token(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Requête métier : le proxy échange le jeton PSC puis relaie l'appel du LPS à l'API PSC"""
    journey = _journey(consumer)
    upstream = collect(consumer, since)

    # The exchange, wherever it happened (at connect or at /send), even if the connect then failed.
    checks.evaluate(exchange_grant_type_token_exchange, upstream)
    checks.evaluate(exchange_subject_is_psc_access_token, upstream)
    checks.evaluate(exchange_subject_token_type_allowed, upstream)
    checks.evaluate(exchange_scope_of_the_api, upstream, consumer.counterparts.api_as.api_scope)
    checks.evaluate(exchange_client_authenticated_by_certificate_only, upstream)
    pki = consumer.counterparts.pki
    checks.evaluate(upstream_client_certificate_auth_cli, pki, upstream.link("api-as"))
    trail = upstream.trail(journey.client_id, journey.identity.national_id, journey.session)
    checks.evaluate(upstream_with_the_session_lps_certificate, trail, upstream)
    checks.evaluate(no_token_in_answers_to_the_lps, _answers_to_lps(consumer, since), upstream.tokens)

    # The business call needs the session.
    checks.prerequisite(connect_answers_session, journey.connected)
    assert journey.sent is not None and journey.session is not None
    checks.evaluate(upstream_client_certificate_auth_cli, pki, upstream.link("api"))
    checks.evaluate(send_forwards_the_lps_request, journey.sent, upstream, _api_path(consumer), journey.data)
    carried = forwarded(upstream.calls, _api_path(consumer), journey.data)
    checks.evaluate(send_relays_the_api_answer, journey.sent, carried)
    checks.evaluate(lps_session_cookie_kept_from_the_api, carried, journey.session["proxy_session_id"])
    checks.evaluate(business_call_with_the_exchange_certificate, upstream)
    checks.evaluate(business_call_bearer_api_token, upstream)


@pytest.mark.verifies("IG-SEC-05")
def test_exchange_answer_without_refresh_token_is_enough(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Réponse d'échange sans refresh_token (facultatif en RFC 8693) : le proxy fonctionne quand même"""
    # The journey with the Keycloak-shaped answer (with refresh_token) ...
    control = _journey(consumer)
    checks.prerequisite(connect_answers_session, control.connected)
    # ... then the same, for a new professional, once the authorization server leaves refresh_token out.
    switched = time.time()
    identity = consumer.fresh_identity()
    consumer.counterparts.api_as.behave(identity, omit_refresh_token=True)
    journey = _journey(consumer, identity=identity)
    checks.evaluate(
        exchange_answer_without_refresh_token_suffices,
        (control.connected, control.sent),
        collect(consumer, switched),
        journey.connected,
        journey.sent,
    )


@pytest.mark.verifies("EDC-13", "EDC-14")
def test_two_lps_sessions_never_share_certificate_or_token(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Deux LPS en parallèle : chacun son certificat et ses jetons, jamais croisés"""
    # Each LPS runs in a copy of this thread's context: its calls and its professional stay this scenario's.
    contexts = [contextvars.copy_context() for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        journeys = list(pool.map(lambda index: contexts[index].run(_journey, consumer, index), (0, 1)))
    for journey in journeys:
        checks.prerequisite(connect_answers_session, journey.connected)
    upstream = collect(consumer, since)

    first, second = (upstream.trail(j.client_id, j.identity.national_id, j.session) for j in journeys)
    checks.evaluate(upstream_with_the_session_lps_certificate, first, upstream)
    checks.evaluate(upstream_with_the_session_lps_certificate, second, upstream)
    checks.evaluate(lps_sessions_share_no_certificate_or_token, first, second, upstream)


@pytest.mark.verifies("EDC-05")
@pytest.mark.parametrize("cookie", ["absent", "forged"])
# A proxy that falls back on some session would relay for a professional of another scenario: only a
# section in which nothing else happens can see every request that reached the API.
@pytest.mark.exclusive("judges every request that reaches the API, whoever it concerns")
@pytest.mark.waits("a CIBA login before its section")
def test_send_without_a_valid_session_gets_401(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, cookie: str
) -> None:
    """/send sans session valide : 401 avec descripteur, et rien n'est relayé"""
    headers = {"Cookie": f"{COOKIE}={uuid.uuid4()}"} if cookie == "forged" else {}
    # A live session exists meanwhile: a proxy that falls back on "the" session is caught. It is opened
    # before the section, alongside the other exclusive scenarios' arranging; again inside it if the wait
    # for its turn could have outlived the SUT's idle timeout (a fallback on it would go unnoticed).
    with consumer.lps() as other:
        live = _connect(consumer, other, identity=consumer.quick_login(consumer.fresh_identity()))
    opened_at = time.monotonic()
    with alone(), consumer.lps() as lps:
        if not consumer.session_still_fresh(opened_at):
            with consumer.lps() as other:
                live = _connect(consumer, other, identity=consumer.quick_login(consumer.fresh_identity()))
        checks.prerequisite(connect_answers_session, live.connected)
        assert live.session is not None
        # The body names the live session: only the cookie may open it (cookieAuth), never the body.
        data = consumer.session_data(live.session, national_id=live.identity.national_id)
        sent = consumer.call(lps, "POST", consumer.send_path(), json=data, headers=headers)
        relayed = collect(consumer, sent.started_at).calls
    case = f"cookie {cookie}"
    checks.evaluate(error_answer_status.bound("EDC-05"), sent.answer, {401}, case)
    if checks.evaluate(error_descriptor_is_json.bound("EDC-05"), sent.answer, {401}, case):
        checks.evaluate(error_descriptor_fields.bound("EDC-05"), sent.answer, case)
    checks.evaluate(send_without_session_reaches_no_api, sent, relayed)


@pytest.mark.verifies("IG-SEC-16", "IG-SEC-20")
@pytest.mark.parametrize("expiry", ["lifetime-elapsed", "expired-at-psc"])
@pytest.mark.waits("waits for the PSC token to expire")
def test_expired_psc_token_is_refreshed_then_exchanged_again(
    checks: CheckRecorder, consumer: ConsumerBench, since: float, expiry: str
) -> None:
    """Jeton PSC expiré au moment de l'échange : le proxy le rafraîchit auprès de PSC puis réessaie"""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    client_id, identity = consumer.lps_ids[0], consumer.fresh_identity()
    # The API token is short-lived: the next call needs a new exchange. Its subject token has expired
    # by then: either its announced lifetime elapsed, or PSC holds it expired while the proxy cannot
    # know it yet (clocks apart: the IG's error case 1a, where only the AS's refusal tells).
    psc_ttl = SHORT_TTL_S if expiry == "lifetime-elapsed" else psc.timings.access_token_ttl_s
    api_ttl = SHORT_TTL_S if expiry == "lifetime-elapsed" else 1
    introspect = api_as.introspect
    with consumer.lps() as lps:
        with _short_lived_tokens(consumer, identity, psc_ttl, api_ttl):
            # The login is not judged here: a short one leaves the PSC token's lifetime to the exchange.
            consumer.quick_login(identity)
            connected = consumer.open_session(lps, client_id=client_id, national_id=identity.national_id)
        connected_at = time.time()
        checks.prerequisite(connect_answers_session, connected)
        assert connected.session is not None
        if expiry == "expired-at-psc":
            stale = {o.data.get("jti") for o in consumer.observed("token.issued", since=since)}

            def introspect_at_psc(token: str) -> Mapping[str, Any]:
                answer = introspect(token)
                return {"active": False} if answer.get("jti") in stale else answer

            api_as.behave(identity, introspect=introspect_at_psc)
        # Until the API token has expired (and, in the first case, the PSC token with it).
        time.sleep(max(0.0, connected_at + api_ttl + EXPIRY_MARGIN_S - time.time()))
        expired_at = time.time()
        data = consumer.session_data(connected.session, client_id=client_id, national_id=identity.national_id)
        sent = consumer.call(lps, "POST", consumer.send_path(), json=data)
    upstream = collect(consumer, since)
    checks.evaluate(expired_psc_token_refreshed_then_exchanged, upstream.since(expired_at), sent, expiry)
    checks.evaluate(no_token_in_answers_to_the_lps, _answers_to_lps(consumer, since), upstream.tokens)


@pytest.mark.verifies("EDC-07")
@pytest.mark.parametrize(
    "mode",
    [ListenerMode.SERVER_ERROR, ListenerMode.RESET, ListenerMode.SLOW],
    ids=["server-error", "reset", "too-slow"],
)
@pytest.mark.waits("waits out the SUT's upstream timeout", on="upstream_timeout_s")
def test_api_failure_is_answered_502_503_504(
    checks: CheckRecorder, consumer: ConsumerBench, psc_config: Config, mode: ListenerMode
) -> None:
    """Panne de l'API PSC (erreur, coupure, lenteur) : le proxy ne répond jamais en succès, ni ne bloque"""
    upstream_timeout = consumer.upstream_timeout_s
    margin = _margin(upstream_timeout)
    wait = upstream_timeout + margin  # the LPS waits for the SUT's own timer, plus a margin
    stall = wait + margin  # the API holds longer than the SUT's timer, and than the LPS waits
    if mode is ListenerMode.SLOW:
        needed = consumer.read_timeout_s + stall + 3 * margin  # connect, stall, drain
        checks.prerequisite(
            stalled_api_fits_the_scenario_bound, stall, needed, psc_config.timeouts.scenario_s
        )
    api = consumer.counterparts.api
    with consumer.lps() as lps:
        live = _connect(consumer, lps)
        checks.prerequisite(connect_answers_session, live.connected)
        # The API fails for this professional only: scenarios running meanwhile are served normally.
        called_before, switched = api.calls_concerning(live.identity), time.time()
        if mode is ListenerMode.SLOW:
            api.behave(live.identity, mode, slow_s=stall)
        elif mode is ListenerMode.SERVER_ERROR:
            api.behave(live.identity, mode, status=500)
        else:
            api.behave(live.identity, mode)
        sent = _send(consumer, lps, live, timeout=httpx.Timeout(wait, connect=5.0))
    api.behave(live.identity, ListenerMode.NORMAL)
    _drain(consumer, live.identity, called_before, switched, deadline=switched + stall + margin)
    calls = collect(consumer, switched).calls
    if mode is ListenerMode.SERVER_ERROR:
        checks.evaluate(api_error_relayed_or_gateway_status, sent, calls)
    else:
        failure = (
            "reset the connection"
            if mode is ListenerMode.RESET
            else f"held it {stall:g} s, beyond the SUT's declared upstream timeout of {upstream_timeout:g} s"
        )
        checks.evaluate(
            upstream_failure_answered_502_503_504,
            sent.answer,
            api_link_failure(calls, failure),
            sent.ended_at - sent.started_at,
            evidence=[sent.exchange_id, *(c.exchange_id for c in calls)],
        )
    if sent.status in GATEWAY_STATUSES:  # the proxy's own answer (the failing API answers 500 or nothing)
        # The contract gives these statuses no body: a descriptor there is our reading (a warning).
        checks.evaluate(error_descriptor_fields.bound("EDC-07"), sent.answer, f"API {mode.value}")
