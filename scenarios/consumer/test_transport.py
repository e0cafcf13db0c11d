"""Transport : TLS 1.2 au moins sur chaque liaison, certificats serveurs vérifiés, certificats AUTH_CLI.

Two sides of the SUT are judged. Its client side: the harness's PSC, API authorization server and
API switch their listener, in place, to a server that offers only TLS 1.0 / 1.1 or presents a
certificate a client must refuse (rogue chain, expired, another host name); the SUT must end the
handshake itself — the listener records the failed handshake and serves no request — and every
connection it does make runs over TLS 1.2 or higher and presents the PKI's AUTH_CLI certificate of
the client it acts as. Its server side: the API Conformité's endpoint is probed with single-version
handshakes.

Each adversarial scenario uses a professional the SUT has never seen and a new LPS, so that no
cached token lets the SUT skip the link under test; the listener is switched just before the step
where the SUT may contact it (a proxy may exchange its token at /connect or at the first /send),
and only what it saw from then on counts. A SUT that never came is not judged (inconclusive).
"""

from __future__ import annotations

import ssl
import time
from typing import Any, Final
from urllib.parse import urlsplit

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.concurrency import Alone
from conformance.campaign.conditions import Condition
from conformance.counterparts.base import Counterpart
from conformance.counterparts.identities import TestIdentity
from conformance.evidence.model import TO_HARNESS
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import (
    ConnectAnswer,
    connect_answers_session,
    upstream_failure_answered_502_503_504,
)
from conformance.roles.consumer.conditions.transport import (
    LinkTraffic,
    ListenerWatch,
    api_as_legacy_tls_refused,
    api_as_server_certificate_verified,
    api_legacy_tls_refused,
    api_server_certificate_verified,
    psc_client_certificate_auth_cli,
    psc_legacy_tls_refused,
    psc_server_certificate_verified,
    upstream_client_certificate_auth_cli,
    upstream_tls_1_2_or_higher,
    upstream_tls_1_3,
)
from conformance.roles.shared.tls_endpoint import (
    endpoint_negotiates_tls_1_2_or_higher,
    endpoint_offers_tls_1_3,
    endpoint_refuses_legacy_tls,
)
from conformance.tls import ListenerMode, ProbeResult, probe_protocol

# How long a listener may take to record the failed handshake after the SUT's answer arrived.
HANDSHAKE_WAIT_S: Final = 2.0
PROBE_TIMEOUT_S: Final = 3.0
# Beyond the SUT's own upstream timeout, how long the LPS still waits for its answer.
ANSWER_MARGIN_S: Final = 2.0

LEGACY_MODES: Final = (ListenerMode.TLS1_1_ONLY, ListenerMode.TLS1_0_ONLY)
CERT_MODES: Final = (ListenerMode.UNTRUSTED_CERT, ListenerMode.EXPIRED_CERT, ListenerMode.WRONG_HOST_CERT)
_LEGACY_IDS: Final = ["tls1.1-only", "tls1.0-only"]
_CERT_IDS: Final = ["untrusted", "expired", "wrong-host"]
# A listener's TLS mode is every scenario's: a scenario that switches one runs alone.
# (A listener's mode is switched inside an `alone()` section only: arranging a session overlaps others.)
switches_a_listener = pytest.mark.exclusive("switches a counterpart listener's TLS mode")
# Started first among the exclusive scenarios: their CIBA login, before their section, overlaps the
# others' (a scenario waiting at its section's door holds a worker).
logs_in_before_its_section = pytest.mark.waits("a CIBA login before its section")


# -- acting: listeners, LPS journeys --------------------------------------------------------------------


def _switch(counterpart: Counterpart, mode: ListenerMode) -> float:
    """Put the counterpart's listener in `mode`; what it sees from the returned instant is the SUT's
    answer to that mode."""
    counterpart.server.clear_observations()
    counterpart.server.set_mode(mode)
    return time.time()


def _watch(
    consumer: ConsumerBench,
    counterpart: Counterpart,
    since: float,
    story: str,
    evidence: list[str | None],
) -> ListenerWatch:
    """What the listener saw since the switch: failed handshakes and requests served."""
    server = counterpart.server
    served = consumer.exchanges(counterpart=counterpart.counterpart, since=since, direction=TO_HARNESS)
    failures = [f for f in server.handshake_failures if f.at >= since]
    # The SUT may have answered before the listener logged the failure of a handshake it accepted; a SUT
    # that never connected (it answered without trying, or never answered) leaves nothing to wait for.
    if not failures and not served and server.accepted_since(since):
        failures = [
            f for f in server.wait_for_handshake_failures(1, timeout=HANDSHAKE_WAIT_S) if f.at >= since
        ]
    return ListenerWatch(
        counterpart=counterpart.counterpart,
        mode=str(server.mode),
        failed_handshakes=tuple(f.reason or f.error_type for f in failures),
        served=tuple(served),
        lps_story=story,
        lps_evidence=tuple(e for e in evidence if e),
    )


def _connect_body(consumer: ConsumerBench, identity: TestIdentity, index: int = 0) -> dict[str, str]:
    return consumer.connect_body(client_id=consumer.lps_ids[index], national_id=identity.national_id)


def _send_body(
    consumer: ConsumerBench, session: dict[str, str], identity: TestIdentity, index: int = 0
) -> dict[str, str]:
    return consumer.session_data(session, client_id=consumer.lps_ids[index], national_id=identity.national_id)


def _answer_wait_s(consumer: ConsumerBench) -> float:
    """How long the LPS waits for /send when the API link fails: never less than the SUT's own timer."""
    return max(consumer.read_timeout_s, consumer.upstream_timeout_s + ANSWER_MARGIN_S)


# -- the SUT's client side: PSC -------------------------------------------------------------------------


def _psc_refusal(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode, rule: Condition
) -> None:
    identity = consumer.fresh_identity()
    psc = consumer.counterparts.psc
    with alone():
        since = _switch(psc, mode)  # the SUT's first contact with PSC is the CIBA request of this connect
        with consumer.lps() as lps:
            connect = consumer.call(lps, "POST", "/connect", json=_connect_body(consumer, identity))
        watch = _watch(consumer, psc, since, f"POST /connect: {connect.describe()}", [connect.exchange_id])
    checks.evaluate(rule, watch)


@pytest.mark.verifies("IG-SEC-03", "EXI PSC 24")
@pytest.mark.parametrize("mode", LEGACY_MODES, ids=_LEGACY_IDS)
@switches_a_listener
def test_psc_offering_only_legacy_tls_is_refused(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode
) -> None:
    """PSC n'offre que TLS 1.0 ou 1.1 : le proxy refuse la liaison"""
    _psc_refusal(checks, consumer, alone, mode, psc_legacy_tls_refused)


@pytest.mark.verifies("EXI PSC 24")
@pytest.mark.parametrize("mode", CERT_MODES, ids=_CERT_IDS)
@switches_a_listener
def test_psc_server_certificate_is_verified(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode
) -> None:
    """PSC présente un certificat serveur invalide : le proxy refuse la liaison"""
    _psc_refusal(checks, consumer, alone, mode, psc_server_certificate_verified)


# -- the SUT's client side: the API's authorization server ----------------------------------------------


def _api_as_refusal(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode, rule: Condition
) -> None:
    """The token exchange may happen at /connect or at the first business call: both are driven, for
    a professional the SUT has never seen, and whichever reaches the authorization server is judged."""
    identity = consumer.quick_login(consumer.fresh_identity())
    api_as = consumer.counterparts.api_as
    with alone(), consumer.lps() as lps:
        since = _switch(api_as, mode)
        connect = consumer.call(lps, "POST", "/connect", json=_connect_body(consumer, identity))
        story, evidence = f"POST /connect: {connect.describe()}", [connect.exchange_id]
        session = ConnectAnswer(connect.answer, lps.cookies.get("proxy_session_id")).session
        if session is not None:
            send = consumer.call(
                lps, "POST", consumer.send_path(), json=_send_body(consumer, session, identity)
            )
            story, evidence = f"{story}, then POST /send: {send.describe()}", [*evidence, send.exchange_id]
        watch = _watch(consumer, api_as, since, story, evidence)
    checks.evaluate(rule, watch)


@pytest.mark.verifies("IG-SEC-03")
@pytest.mark.parametrize("mode", LEGACY_MODES, ids=_LEGACY_IDS)
@switches_a_listener
def test_api_authorization_server_offering_only_legacy_tls_is_refused(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode
) -> None:
    """Le serveur d'autorisation de l'API n'offre que TLS 1.0 ou 1.1 : le proxy refuse la liaison"""
    _api_as_refusal(checks, consumer, alone, mode, api_as_legacy_tls_refused)


@pytest.mark.verifies("IG-SEC-04")
@pytest.mark.parametrize("mode", CERT_MODES, ids=_CERT_IDS)
@switches_a_listener
def test_api_authorization_server_certificate_is_verified(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode
) -> None:
    """Le serveur d'autorisation de l'API présente un certificat invalide : le proxy refuse la liaison"""
    _api_as_refusal(checks, consumer, alone, mode, api_as_server_certificate_verified)


# -- the SUT's client side: the API ---------------------------------------------------------------------


def _api_refusal(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode, rule: Condition
) -> None:
    identity = consumer.quick_login(consumer.fresh_identity())
    api = consumer.counterparts.api
    wait_s = _answer_wait_s(consumer)
    with consumer.lps() as lps:
        # The session is opened before the section, alongside the other exclusive scenarios' arranging;
        # again inside it if the wait for its turn could have outlived the SUT's idle timeout (the
        # business call would then be refused for that, not for the API's TLS).
        connected = consumer.open_session(
            lps, client_id=consumer.lps_ids[0], national_id=identity.national_id
        )
        opened_at = time.monotonic()
        with alone():
            if not consumer.session_still_fresh(opened_at):
                # As a new LPS, for a new professional: the cookie it holds would get a replay (304).
                lps.cookies.clear()
                identity = consumer.quick_login(consumer.fresh_identity())
                connected = consumer.open_session(
                    lps, client_id=consumer.lps_ids[0], national_id=identity.national_id
                )
            checks.prerequisite(connect_answers_session, connected)
            assert connected.session is not None
            since = _switch(api, mode)  # the business call is the SUT's reason to reach the API
            send = consumer.call(
                lps,
                "POST",
                consumer.send_path(),
                json=_send_body(consumer, connected.session, identity),
                timeout=wait_s,
            )
            watch = _watch(consumer, api, since, f"POST /send: {send.describe()}", [send.exchange_id])
    checks.evaluate(rule, watch)
    link_failure = (
        f"the SUT's TLS handshake with the API failed ({watch.describe()})" if watch.refused_by_sut else ""
    )
    checks.evaluate(upstream_failure_answered_502_503_504, send.answer, link_failure, wait_s)


@pytest.mark.verifies("IG-SEC-03", "EDC-07")
@pytest.mark.parametrize("mode", LEGACY_MODES, ids=_LEGACY_IDS)
@switches_a_listener
@logs_in_before_its_section
def test_api_offering_only_legacy_tls_is_refused(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode
) -> None:
    """L'API n'offre que TLS 1.0 ou 1.1 : le proxy refuse la liaison et l'appel métier échoue en 5xx"""
    _api_refusal(checks, consumer, alone, mode, api_legacy_tls_refused)


@pytest.mark.verifies("IG-SEC-04", "EDC-07")
@pytest.mark.parametrize("mode", CERT_MODES, ids=_CERT_IDS)
@switches_a_listener
@logs_in_before_its_section
def test_api_server_certificate_is_verified(
    checks: CheckRecorder, consumer: ConsumerBench, alone: Alone, mode: ListenerMode
) -> None:
    """L'API présente un certificat serveur invalide : le proxy refuse la liaison et l'appel échoue en 5xx"""
    _api_refusal(checks, consumer, alone, mode, api_server_certificate_verified)


# -- the SUT's client side: links over normal listeners -------------------------------------------------


def _drive_every_link(
    checks: CheckRecorder, consumer: ConsumerBench, lps_indexes: tuple[int, ...]
) -> list[str]:
    """For each LPS, a new professional connects, calls the API and disconnects: PSC, the authorization
    server and the API each get connections. Returns what each LPS got."""
    story = []
    for index in lps_indexes:
        identity = consumer.fresh_identity()
        with consumer.lps() as lps:
            connected = consumer.open_session(
                lps, client_id=consumer.lps_ids[index], national_id=identity.national_id
            )
            checks.prerequisite(connect_answers_session, connected)
            assert connected.session is not None
            send = consumer.call(
                lps,
                "POST",
                consumer.send_path(),
                json=_send_body(consumer, connected.session, identity, index),
            )
            bye = consumer.call(lps, "DELETE", "/disconnect")
        story.append(
            f"{consumer.lps_ids[index]}: connected, /send {send.describe()}, /disconnect {bye.describe()}"
        )
    return story


def _traffic(consumer: ConsumerBench, since: float, story: list[str]) -> list[LinkTraffic]:
    parts = consumer.counterparts
    return [
        LinkTraffic(
            c.counterpart,
            tuple(consumer.exchanges(counterpart=c.counterpart, since=since, direction=TO_HARNESS)),
            "; ".join(story),
        )
        for c in (parts.psc, parts.api_as, parts.api)
    ]


@pytest.mark.verifies("IG-SEC-04", "EXI PSC 24")
def test_client_certificates_are_auth_cli(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Le proxy présente à PSC, au serveur d'autorisation et à l'API les certificats AUTH_CLI de l'IGC"""
    story = _drive_every_link(checks, consumer, tuple(range(min(2, len(consumer.lps_ids)))))
    pki = consumer.counterparts.pki
    checks.evaluate(psc_client_certificate_auth_cli, pki, consumer.observed("client_auth", since=since))
    for traffic in _traffic(consumer, since, story):
        if traffic.counterpart != consumer.counterparts.psc.counterpart:
            checks.evaluate(upstream_client_certificate_auth_cli, pki, traffic)


@pytest.mark.verifies("IG-SEC-01", "IG-SEC-02", "EXI PSC 24")
def test_links_to_the_counterparts_use_tls_1_2_or_higher(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Liaisons du proxy vers PSC, le serveur d'autorisation et l'API : TLS 1.2 ou plus, 1.3 de préférence"""
    story = _drive_every_link(checks, consumer, (0,))
    for traffic in _traffic(consumer, since, story):
        to_psc = traffic.counterpart == consumer.counterparts.psc.counterpart
        checks.evaluate(
            upstream_tls_1_2_or_higher.bound("IG-SEC-01", "EXI PSC 24")
            if to_psc
            else upstream_tls_1_2_or_higher,
            traffic,
        )
        checks.evaluate(upstream_tls_1_3, traffic)


# -- the SUT's server side: the API Conformité endpoint -------------------------------------------------


def _probe(
    checks: CheckRecorder, consumer: ConsumerBench, version: ssl.TLSVersion, **kwargs: Any
) -> ProbeResult:
    parts = urlsplit(consumer.base_url)
    host, port = parts.hostname or "localhost", parts.port or 443
    result = probe_protocol(
        host, port, version, cafile=consumer.ca_file, server_hostname=host, timeout=PROBE_TIMEOUT_S, **kwargs
    )
    if result.outcome not in ("unreachable", "timeout"):
        checks.exchanged_with_sut()  # a handshake is an exchange, even though no HTTP request follows
    return result


@pytest.mark.verifies("IG-SEC-03")
def test_endpoint_refuses_tls_1_0_and_1_1(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le point d'accès de l'API Conformité refuse TLS 1.0 et TLS 1.1"""
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        checks.evaluate(endpoint_refuses_legacy_tls, _probe(checks, consumer, version))


@pytest.mark.verifies("IG-SEC-01", "IG-SEC-02")
def test_endpoint_negotiates_tls_1_2_or_higher(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le point d'accès de l'API Conformité négocie TLS 1.2 ou plus, et accepte TLS 1.3"""
    # As an LPS connects: TLS 1.2 and 1.3 offered, the SUT's certificate verified.
    modern = _probe(checks, consumer, ssl.TLSVersion.TLSv1_2, context=consumer.sut_context())
    checks.evaluate(endpoint_negotiates_tls_1_2_or_higher, modern)
    checks.evaluate(endpoint_offers_tls_1_3, _probe(checks, consumer, ssl.TLSVersion.TLSv1_3))
