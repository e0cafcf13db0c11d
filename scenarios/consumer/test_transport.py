"""Transport : TLS 1.2 au moins sur chaque liaison, certificats serveurs vérifiés, certificats AUTH_CLI.

Two sides of the SUT are judged. Its client side: the harness's PSC, API authorization server and
API switch their listener, in place, to a server that offers only TLS 1.0 / 1.1 or presents a
certificate a client must refuse (rogue chain, expired, another host name); the SUT must end the
handshake itself — the listener records the failed handshake and serves no request — and every
connection it does make presents the PKI's AUTH_CLI certificate of the client it acts as. Its
server side: the API Conformité's endpoint is probed with single-version handshakes, and only the
peer's own `protocol_version` alert counts as a refusal (a local OpenSSL failure proves nothing).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from conformance.checks import Check, CheckRecorder
from conformance.consumer_bench import ConsumerBench
from conformance.counterparts.base import Counterpart
from conformance.evidence.client import EXCHANGE_ID
from conformance.evidence.model import TO_HARNESS, Exchange
from conformance.pki import TestPKI
from conformance.tls import ListenerMode, ProbeResult, probe_protocol
from conformance.verdicts import Severity

# How long a listener may take to record the failed handshake after the SUT's answer arrived.
HANDSHAKE_WAIT_S: Final = 2.0
PROBE_TIMEOUT_S: Final = 3.0
MODERN_VERSIONS: Final = ("TLSv1.2", "TLSv1.3")

LEGACY_MODES: Final = (ListenerMode.TLS1_1_ONLY, ListenerMode.TLS1_0_ONLY)
CERT_MODES: Final = (ListenerMode.UNTRUSTED_CERT, ListenerMode.EXPIRED_CERT, ListenerMode.WRONG_HOST_CERT)
_LEGACY_IDS: Final = ["tls1.1-only", "tls1.0-only"]
_CERT_IDS: Final = ["untrusted", "expired", "wrong-host"]

# -- checks -------------------------------------------------------------------------------------------

PSC_LEGACY_REFUSED = Check(
    "psc_legacy_tls_refused",
    ("IG-SEC-03", "EXI PSC 24"),
    fr="Face à un PSC limité à TLS 1.0/1.1, le proxy abandonne la poignée de main et la connexion échoue",
    en="Facing a PSC limited to TLS 1.0/1.1, the proxy aborts the handshake and the connection fails",
)
# No catalogue entry names server-certificate verification: EXI PSC 24 (the TLS link to PSC) and
# IG-SEC-04 (mTLS, i.e. mutual authentication, to the API's authorization server and the API) are
# the requirements whose protection depends on it.
PSC_CERT_VERIFIED = Check(
    "psc_server_certificate_verified",
    ("EXI PSC 24",),
    fr="Le proxy refuse un certificat serveur PSC invalide (chaîne inconnue, expiré, autre nom d'hôte)",
    en="The proxy refuses an invalid PSC server certificate (unknown chain, expired, other host name)",
)
AS_LEGACY_REFUSED = Check(
    "api_as_legacy_tls_refused",
    ("IG-SEC-03",),
    fr="Face à un serveur d'autorisation limité à TLS 1.0/1.1, le proxy abandonne la poignée de main",
    en="Facing an authorization server limited to TLS 1.0/1.1, the proxy aborts the handshake",
)
AS_CERT_VERIFIED = Check(
    "api_as_server_certificate_verified",
    ("IG-SEC-04",),
    fr="Le proxy refuse un certificat serveur invalide du serveur d'autorisation de l'API",
    en="The proxy refuses an invalid server certificate of the API's authorization server",
)
API_LEGACY_REFUSED = Check(
    "api_legacy_tls_refused",
    ("IG-SEC-03",),
    fr="Face à une API limitée à TLS 1.0/1.1, le proxy abandonne la poignée de main : rien n'est relayé",
    en="Facing an API limited to TLS 1.0/1.1, the proxy aborts the handshake: nothing is relayed",
)
API_CERT_VERIFIED = Check(
    "api_server_certificate_verified",
    ("IG-SEC-04",),
    fr="Le proxy refuse un certificat serveur invalide de l'API : rien n'est relayé",
    en="The proxy refuses an invalid server certificate of the API: nothing is relayed",
)
API_FAILURE_5XX = Check(
    "api_link_failure_answers_5xx",
    ("EDC-07",),
    fr="La liaison vers l'API ayant échoué, l'appel métier reçoit 502, 503 ou 504",
    en="The link to the API having failed, the business call gets 502, 503 or 504",
)
SESSION_ESTABLISHED = Check(
    "transport_session_established",
    ("EDC-01",),
    fr="Le LPS obtient une session du proxy avec des contreparties normales (prérequis)",
    en="The LPS gets a proxy session with well-behaved counterparts (prerequisite)",
)
PSC_CLIENT_CERT_AUTH_CLI = Check(
    "psc_client_certificate_auth_cli",
    ("EXI PSC 24",),
    fr="Chaque authentification à PSC se fait par mTLS avec le certificat AUTH_CLI de l'IGC du client "
    "authentifié",
    en="Every authentication to PSC is by mTLS with the PKI's AUTH_CLI certificate of the authenticated "
    "client",
)
API_CLIENT_CERT_AUTH_CLI = Check(
    "api_client_certificate_auth_cli",
    ("IG-SEC-04",),
    fr="Chaque connexion au serveur d'autorisation et à l'API présente un certificat AUTH_CLI de l'IGC",
    en="Every connection to the authorization server and the API presents an AUTH_CLI certificate of the PKI",
)
UPSTREAM_TLS_1_2 = Check(
    "upstream_tls_1_2_or_higher",
    ("IG-SEC-01",),
    fr="Chaque liaison du proxy vers PSC, le serveur d'autorisation et l'API est en TLS 1.2 ou plus",
    en="Every link from the proxy to PSC, the authorization server and the API uses TLS 1.2 or higher",
)
UPSTREAM_TLS_1_3 = Check(
    "upstream_tls_1_3",
    ("IG-SEC-02",),
    fr="Le proxy négocie TLS 1.3 avec PSC, le serveur d'autorisation et l'API",
    en="The proxy negotiates TLS 1.3 with PSC, the authorization server and the API",
    severity=Severity.WARNING,
)
ENDPOINT_LEGACY_REFUSED = Check(
    "endpoint_refuses_legacy_tls",
    ("IG-SEC-03",),
    fr="Le point d'accès de l'API Conformité refuse TLS 1.0 et 1.1 par une alerte protocol_version",
    en="The API Conformité endpoint refuses TLS 1.0 and 1.1 with a protocol_version alert",
)
ENDPOINT_TLS_1_2 = Check(
    "endpoint_negotiates_tls_1_2_or_higher",
    ("IG-SEC-01",),
    fr="Le point d'accès de l'API Conformité négocie TLS 1.2 ou plus avec un LPS",
    en="The API Conformité endpoint negotiates TLS 1.2 or higher with an LPS",
)
ENDPOINT_TLS_1_3 = Check(
    "endpoint_offers_tls_1_3",
    ("IG-SEC-02",),
    fr="Le point d'accès de l'API Conformité accepte TLS 1.3",
    en="The API Conformité endpoint accepts TLS 1.3",
    severity=Severity.WARNING,
)

# -- helpers ------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One call to the SUT as an LPS: its status, or the transport error that stopped it."""

    status: int | None
    detail: str
    exchange_id: str | None = None
    cookie: str | None = None
    body: Any = None


def _call(lps: httpx.Client, method: str, path: str, **kwargs: Any) -> Call:
    try:
        answer = lps.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        return Call(None, f"{method} {path}: {type(exc).__name__}: {exc}")
    try:
        body = answer.json()
    except ValueError:
        body = None
    return Call(
        answer.status_code,
        f"{method} {path}: HTTP {answer.status_code}",
        answer.extensions.get(EXCHANGE_ID),
        lps.cookies.get("proxy_session_id"),
        body,
    )


def _switch(counterpart: Counterpart, mode: ListenerMode) -> float:
    """Put the counterpart's listener in `mode`; what it sees from the returned instant is the SUT's
    answer to that mode."""
    counterpart.server.clear_observations()
    counterpart.server.set_mode(mode)
    return time.time()


@dataclass
class LinkOutcome:
    """What a counterpart in an adversarial mode saw of the SUT since the switch."""

    failures: list[str]
    served: list[Exchange]
    detail: str

    @property
    def refused_by_sut(self) -> bool:
        """The SUT reached the listener, and no handshake of its went through."""
        return bool(self.failures) and not self.served

    @property
    def evidence(self) -> list[str]:
        return [e.id for e in self.served]


def _link_outcome(consumer: ConsumerBench, counterpart: Counterpart, since: float) -> LinkOutcome:
    server = counterpart.server
    served = consumer.evidence.exchanges(
        counterpart=counterpart.counterpart, since=since, direction=TO_HARNESS
    )
    failures = [f for f in server.handshake_failures if f.at >= since]
    if not failures and not served:  # the SUT may have answered before the listener logged the failure
        failures = [
            f for f in server.wait_for_handshake_failures(1, timeout=HANDSHAKE_WAIT_S) if f.at >= since
        ]
    reasons = sorted({f.reason or f.error_type for f in failures})
    served_text = ", ".join(
        f"{e.method} {urlsplit(e.url).path} over {e.tls.version if e.tls else '?'}" for e in served
    )
    detail = (
        f"{counterpart.counterpart} in {server.mode}: {len(failures)} failed handshake(s) {reasons}; "
        f"{len(served)} request(s) served" + (f" ({served_text})" if served else "")
    )
    return LinkOutcome([f.reason or f.error_type for f in failures], served, detail)


def _connect(consumer: ConsumerBench, lps: httpx.Client, index: int = 0) -> Call:
    return _call(
        lps,
        "POST",
        "/connect",
        json=consumer.connect_body(
            client_id=consumer.lps_ids[index], national_id=consumer.identities[index].national_id
        ),
    )


def _business_call(consumer: ConsumerBench, lps: httpx.Client, session: Any, index: int = 0) -> Call:
    session = session if isinstance(session, dict) else {}
    data = consumer.session_data(
        {
            "proxy_session_id": str(session.get("proxy_session_id", "")),
            "session_state": str(session.get("session_state", "")),
        },
        client_id=consumer.lps_ids[index],
        national_id=consumer.identities[index].national_id,
    )
    return _call(lps, "POST", consumer.send_path(), json=data)


# -- the SUT's client side: PSC -------------------------------------------------------------------------


def _psc_refusal(checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode, check: Check) -> None:
    psc = consumer.counterparts.psc
    since = _switch(psc, mode)
    with consumer.lps() as lps:
        connect = _connect(consumer, lps)
    link = _link_outcome(consumer, psc, since)
    ciba = consumer.observed("ciba.request", since=since)
    failed = connect.status != 200 and not connect.cookie
    checks.record(
        check,
        link.refused_by_sut and not ciba and failed,
        f"{connect.detail}, session cookie {'set' if connect.cookie else 'absent'}; {link.detail}; "
        f"{len(ciba)} CIBA request(s) served",
        evidence=[e for e in (connect.exchange_id,) if e] + link.evidence,
    )


@pytest.mark.verifies("IG-SEC-03", "EXI PSC 24")
@pytest.mark.parametrize("mode", LEGACY_MODES, ids=_LEGACY_IDS)
def test_psc_offering_only_legacy_tls_is_refused(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """PSC n'offre que TLS 1.0 ou 1.1 : le proxy refuse la liaison et la connexion échoue"""
    _psc_refusal(checks, consumer, mode, PSC_LEGACY_REFUSED)


@pytest.mark.verifies("EXI PSC 24")
@pytest.mark.parametrize("mode", CERT_MODES, ids=_CERT_IDS)
def test_psc_server_certificate_is_verified(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """PSC présente un certificat serveur invalide : le proxy refuse la liaison et la connexion échoue"""
    _psc_refusal(checks, consumer, mode, PSC_CERT_VERIFIED)


# -- the SUT's client side: the API's authorization server ------------------------------------------------


def _api_as_refusal(checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode, check: Check) -> None:
    """The token exchange may happen at /connect or at the first business call: both are driven, and
    whichever reaches the authorization server must abort the handshake."""
    api_as = consumer.counterparts.api_as
    since = _switch(api_as, mode)
    with consumer.lps() as lps:
        connect = _connect(consumer, lps)
        send = _business_call(consumer, lps, connect.body) if connect.status == 200 else None
    link = _link_outcome(consumer, api_as, since)
    api_calls = consumer.observed("api.call", since=since)
    checks.record(
        check,
        link.refused_by_sut and not api_calls,
        f"{connect.detail}" + (f", then {send.detail}" if send else "") + f"; {link.detail}; "
        f"{len(api_calls)} call(s) accepted by the API",
        evidence=[e for e in (connect.exchange_id, send.exchange_id if send else None) if e] + link.evidence,
    )


@pytest.mark.verifies("IG-SEC-03")
@pytest.mark.parametrize("mode", LEGACY_MODES, ids=_LEGACY_IDS)
def test_api_authorization_server_offering_only_legacy_tls_is_refused(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """Le serveur d'autorisation de l'API n'offre que TLS 1.0 ou 1.1 : le proxy refuse la liaison"""
    _api_as_refusal(checks, consumer, mode, AS_LEGACY_REFUSED)


@pytest.mark.verifies("IG-SEC-04")
@pytest.mark.parametrize("mode", CERT_MODES, ids=_CERT_IDS)
def test_api_authorization_server_certificate_is_verified(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """Le serveur d'autorisation de l'API présente un certificat invalide : le proxy refuse la liaison"""
    _api_as_refusal(checks, consumer, mode, AS_CERT_VERIFIED)


# -- the SUT's client side: the API -----------------------------------------------------------------------


def _api_refusal(checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode, check: Check) -> None:
    api = consumer.counterparts.api
    with consumer.lps() as lps:
        connect = _connect(consumer, lps)
        checks.require(
            SESSION_ESTABLISHED,
            connect.status == 200,
            connect.detail,
            evidence=[connect.exchange_id] if connect.exchange_id else [],
        )
        since = _switch(api, mode)
        send = _business_call(consumer, lps, connect.body)
    link = _link_outcome(consumer, api, since)
    api_calls = consumer.observed("api.call", since=since)
    checks.record(
        check,
        link.refused_by_sut and not api_calls,
        f"{send.detail}; {link.detail}; {len(api_calls)} call(s) accepted by the API",
        evidence=[e for e in (send.exchange_id,) if e] + link.evidence,
    )
    if link.refused_by_sut:  # the link did fail: the LPS must learn it as an upstream failure
        checks.record(
            API_FAILURE_5XX,
            send.status in (502, 503, 504),
            f"{send.detail} after the proxy refused the API's handshake",
            evidence=[e for e in (send.exchange_id,) if e],
        )


@pytest.mark.verifies("IG-SEC-03", "EDC-07", "EDC-01")
@pytest.mark.parametrize("mode", LEGACY_MODES, ids=_LEGACY_IDS)
def test_api_offering_only_legacy_tls_is_refused(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """L'API n'offre que TLS 1.0 ou 1.1 : le proxy refuse la liaison et l'appel métier échoue en 5xx"""
    _api_refusal(checks, consumer, mode, API_LEGACY_REFUSED)


@pytest.mark.verifies("IG-SEC-04", "EDC-07", "EDC-01")
@pytest.mark.parametrize("mode", CERT_MODES, ids=_CERT_IDS)
def test_api_server_certificate_is_verified(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """L'API présente un certificat serveur invalide : le proxy refuse la liaison et l'appel échoue en 5xx"""
    _api_refusal(checks, consumer, mode, API_CERT_VERIFIED)


# -- the SUT's client side: certificates and versions ------------------------------------------------------


def _auth_cli_problems(pki: TestPKI, cert: x509.Certificate) -> list[str]:
    """How `cert` departs from the AUTH_CLI profile of the IGC-Santé ORG offer (empty: it conforms)."""
    problems: list[str] = []
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            problems.append("no clientAuth extended key usage")
    except x509.ExtensionNotFound:
        problems.append("no extended key usage")
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            problems.append("no digitalSignature key usage")
    except x509.ExtensionNotFound:
        problems.append("no key usage")
    if cert.issuer != pki.intermediate.cert.subject:
        problems.append(f"issued by {cert.issuer.rfc4514_string()}")
    return problems


def _client_of(pki: TestPKI) -> Callable[[str | None], tuple[str | None, list[str]]]:
    """x5t#S256 -> (the client id whose AUTH_CLI certificate it is, how it departs from the profile)."""
    by_x5t = {issued.x5t_s256: cid for cid, issued in pki.clients.items()}

    def client_of(x5t: str | None) -> tuple[str | None, list[str]]:
        if x5t is None:
            return None, ["no client certificate"]
        cid = by_x5t.get(x5t)
        if cid is None:
            return None, [f"certificate {x5t} is none of the PKI's AUTH_CLI client certificates"]
        return cid, _auth_cli_problems(pki, pki.clients[cid].cert)

    return client_of


@dataclass
class Drive:
    since: float
    calls: list[Call]

    @property
    def evidence(self) -> list[str]:
        return [c.exchange_id for c in self.calls if c.exchange_id]

    @property
    def connected(self) -> bool:
        return any(c.detail.startswith("POST /connect") and c.status == 200 for c in self.calls)

    def describe(self) -> str:
        return "; ".join(c.detail for c in self.calls)


def _drive_every_link(consumer: ConsumerBench, lps_indexes: tuple[int, ...]) -> Drive:
    """Connect, call the API and disconnect, for each LPS: every counterpart gets connections."""
    since = time.time()
    calls: list[Call] = []
    for index in lps_indexes:
        with consumer.lps() as lps:
            connect = _connect(consumer, lps, index)
            calls.append(connect)
            if connect.status == 200:
                calls.append(_business_call(consumer, lps, connect.body, index))
                calls.append(_call(lps, "DELETE", "/disconnect"))
    return Drive(since, calls)


def _upstream_exchanges(consumer: ConsumerBench, since: float) -> dict[str, list[Exchange]]:
    parts = consumer.counterparts
    return {
        c.counterpart: consumer.evidence.exchanges(
            counterpart=c.counterpart, since=since, direction=TO_HARNESS
        )
        for c in (parts.psc, parts.api_as, parts.api)
    }


@pytest.mark.verifies("IG-SEC-04", "EXI PSC 24", "EDC-01")
def test_client_certificates_are_auth_cli(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le proxy présente à PSC, au serveur d'autorisation et à l'API les certificats AUTH_CLI de l'IGC"""
    lps_indexes = tuple(range(min(2, len(consumer.lps_ids))))
    drive = _drive_every_link(consumer, lps_indexes)
    exchanges = _upstream_exchanges(consumer, drive.since)
    checks.require(
        SESSION_ESTABLISHED,
        drive.connected,
        f"{drive.describe()}; requests served: { {k: len(v) for k, v in exchanges.items()} }",
        evidence=drive.evidence,
    )
    client_of = _client_of(consumer.counterparts.pki)
    # PSC: each client authentication, judged against the client id it authenticated as.
    auths = consumer.observed("client_auth", since=drive.since)
    for auth in auths:
        cid, problems = client_of(auth.data.get("certificate_x5t"))
        if auth.kind != "client_auth":
            problems = [auth.detail, *problems]
        elif auth.data.get("method") != "tls_client_auth":
            problems = [f"authenticated by {auth.data.get('method')}, not tls_client_auth", *problems]
        if cid is not None and cid != auth.client_id:
            problems.append(f"the certificate is {cid}'s, the client authenticated as {auth.client_id}")
        checks.record(
            PSC_CLIENT_CERT_AUTH_CLI,
            not problems,
            f"PSC {auth.data.get('endpoint')} as {auth.client_id}: certificate of {cid}"
            + (f" — {'; '.join(problems)}" if problems else ", AUTH_CLI profile"),
            evidence=[auth.exchange_id] if auth.exchange_id else [],
        )
    if not auths:
        checks.record(PSC_CLIENT_CERT_AUTH_CLI, False, "no client authentication at PSC was observed")
    # The API's authorization server and the API: every request, whatever endpoint.
    for name in (consumer.counterparts.api_as.counterpart, consumer.counterparts.api.counterpart):
        seen: dict[tuple[str | None, str], list[str]] = {}
        for exchange in exchanges[name]:
            cid, problems = client_of(exchange.tls.client_x5t_s256 if exchange.tls else None)
            seen.setdefault((cid, "; ".join(problems)), []).append(exchange.id)
        for (cid, problems_text), ids in seen.items():
            checks.record(
                API_CLIENT_CERT_AUTH_CLI,
                cid is not None and not problems_text,
                f"{name}: {len(ids)} request(s) with the certificate of {cid}"
                + (f" — {problems_text}" if problems_text else ", AUTH_CLI profile"),
                evidence=ids,
            )


@pytest.mark.verifies("IG-SEC-01", "IG-SEC-02", "EDC-01")
def test_links_to_the_counterparts_use_tls_1_2_or_higher(
    checks: CheckRecorder, consumer: ConsumerBench
) -> None:
    """Liaisons du proxy vers PSC, le serveur d'autorisation et l'API : TLS 1.2 ou plus, 1.3 de préférence"""
    drive = _drive_every_link(consumer, (0,))
    exchanges = _upstream_exchanges(consumer, drive.since)
    checks.require(
        SESSION_ESTABLISHED,
        drive.connected,
        f"{drive.describe()}; requests served: { {k: len(v) for k, v in exchanges.items()} }",
        evidence=drive.evidence,
    )
    for name, served in exchanges.items():
        versions: dict[str | None, list[str]] = {}
        for exchange in served:
            versions.setdefault(exchange.tls.version if exchange.tls else None, []).append(exchange.id)
        for version, ids in versions.items():
            message = f"{name}: {len(ids)} request(s) over {version}"
            checks.record(UPSTREAM_TLS_1_2, version in MODERN_VERSIONS, message, evidence=ids)
            checks.record(UPSTREAM_TLS_1_3, version == "TLSv1.3", message, evidence=ids)


# -- the SUT's server side: the API Conformité endpoint ------------------------------------------------------


def _endpoint(consumer: ConsumerBench) -> tuple[str, int]:
    parts = urlsplit(consumer.base_url)
    return parts.hostname or "localhost", parts.port or 443


def _probe(
    checks: CheckRecorder, consumer: ConsumerBench, version: ssl.TLSVersion, **kwargs: Any
) -> ProbeResult:
    host, port = _endpoint(consumer)
    result = probe_protocol(
        host, port, version, cafile=consumer.ca_file, server_hostname=host, timeout=PROBE_TIMEOUT_S, **kwargs
    )
    if result.outcome not in ("unreachable", "timeout"):
        checks.exchanged_with_sut()  # a handshake is an exchange, even though no HTTP request follows
    return result


def _describe(result: ProbeResult) -> str:
    said = result.alert_reason or result.error or ""
    negotiated = f", negotiated {result.negotiated}" if result.negotiated else ""
    return f"{result.offered} only: {result.outcome}{negotiated} {said}".strip()


@pytest.mark.verifies("IG-SEC-03")
def test_endpoint_refuses_tls_1_0_and_1_1(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le point d'accès de l'API Conformité refuse TLS 1.0 et TLS 1.1"""
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        result = _probe(checks, consumer, version)
        # Only the peer's own alert is a refusal: a local failure (OpenSSL 3 not offering the
        # version) would say nothing about the SUT.
        checks.record(ENDPOINT_LEGACY_REFUSED, result.protocol_version_alert, _describe(result))


@pytest.mark.verifies("IG-SEC-01", "IG-SEC-02")
def test_endpoint_negotiates_tls_1_2_or_higher(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """Le point d'accès de l'API Conformité négocie TLS 1.2 ou plus, et accepte TLS 1.3"""
    # As an LPS connects: TLS 1.2 and 1.3 offered, the SUT's certificate verified.
    result = _probe(checks, consumer, ssl.TLSVersion.TLSv1_2, context=consumer.sut_context())
    checks.record(
        ENDPOINT_TLS_1_2,
        result.completed and result.negotiated in MODERN_VERSIONS,
        f"TLS 1.2 and 1.3 offered: {result.outcome}, negotiated {result.negotiated} "
        f"{result.alert_reason or result.error or ''}".strip(),
    )
    result = _probe(checks, consumer, ssl.TLSVersion.TLSv1_3)
    checks.record(ENDPOINT_TLS_1_3, result.completed and result.negotiated == "TLSv1.3", _describe(result))
