"""Client-side TLS probes: does a peer accept a given protocol version?

The trap this module exists for: OpenSSL 3 refuses TLS 1.0/1.1 locally at the default security level
(``NO_CIPHERS_AVAILABLE``, nothing sent on the wire). A check that only sees "the connection failed"
would then credit the peer with a refusal it never made. Legacy contexts therefore use
``DEFAULT:@SECLEVEL=0``, and :func:`probe_protocol` tells a peer's alert apart from a local failure.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from os import PathLike
from typing import Final, Literal

from conformance.pki.builder import Issued
from conformance.pki.contexts import LEGACY_CIPHERS, load_identity, set_versions

ProbeOutcome = Literal[
    "completed",  # handshake finished
    "peer-alert",  # the peer sent a fatal alert (before or after agreeing on the version)
    "peer-closed",  # the peer closed or reset the connection without an alert
    "peer-other-version",  # the peer answered with a version we did not offer
    "local-failure",  # our side gave up: no usable cipher, unverifiable certificate, not TLS, …
    "timeout",
    "unreachable",
]

DEFAULT_PROBE_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one handshake offering a single protocol version.

    `accepted` means the peer agreed to speak the offered version (its ServerHello selected it), even if
    the handshake failed afterwards, e.g. a TLS 1.2 server refusing a client without a certificate.
    """

    offered: str  # e.g. "TLSv1.1"
    accepted: bool
    negotiated: str | None  # the version the peer selected, when it selected the offered one
    # OpenSSL reason of an alert *received from the peer*, e.g. TLSV1_ALERT_PROTOCOL_VERSION.
    alert_reason: str | None
    outcome: ProbeOutcome
    cipher: str | None = None
    error: str | None = None  # text of the failure, whatever its origin

    @property
    def completed(self) -> bool:
        return self.outcome == "completed"

    @property
    def refused_by_peer(self) -> bool:
        """The peer ended the handshake before agreeing on the offered version (alert, close, or another
        version); never true for a local failure. `protocol_version_alert` tells the specific refusal."""
        return not self.accepted and self.outcome in ("peer-alert", "peer-closed", "peer-other-version")

    @property
    def protocol_version_alert(self) -> bool:
        """The peer answered with the `protocol_version` alert (RFC 8446 §6.2), the expected refusal."""
        return self.alert_reason == "TLSV1_ALERT_PROTOCOL_VERSION"


def _version_name(version: ssl.TLSVersion) -> str:
    return {
        ssl.TLSVersion.SSLv3: "SSLv3",
        ssl.TLSVersion.TLSv1: "TLSv1",
        ssl.TLSVersion.TLSv1_1: "TLSv1.1",
        ssl.TLSVersion.TLSv1_2: "TLSv1.2",
        ssl.TLSVersion.TLSv1_3: "TLSv1.3",
    }.get(version, version.name)


def legacy_client_context(
    version: ssl.TLSVersion,
    *,
    cafile: str | PathLike[str] | None = None,
    cadata: str | None = None,
    identity: Issued | None = None,
) -> ssl.SSLContext:
    """A client context offering exactly `version`, at security level 0 so OpenSSL 3 really offers it.

    Without `cafile`/`cadata` the server certificate is not verified: a version probe measures what the
    server accepts, and a verification failure would hide that answer. `identity` adds a client
    certificate (for servers that require one before completing the handshake).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile is None and cadata is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cafile=cafile, cadata=cadata)
    set_versions(context, version, version)
    context.set_ciphers(LEGACY_CIPHERS)  # also for 1.2: probe what the server allows, not our policy
    if identity is not None:
        load_identity(context, identity)
        context.post_handshake_auth = True
    return context


def _classify(exc: ssl.SSLError) -> tuple[ProbeOutcome, str | None]:
    """Who ended a failed handshake. Received alerts surface as reasons named *_ALERT_*."""
    reason = getattr(exc, "reason", None)
    if reason and "_ALERT_" in reason:  # TLSV1_ALERT_*, SSLV3_ALERT_*, TLSV13_ALERT_*: sent by the peer
        return "peer-alert", reason
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return "peer-closed", None
    if reason == "UNSUPPORTED_PROTOCOL":  # the ServerHello selected a version outside our single offer
        return "peer-other-version", None
    # NO_CIPHERS_AVAILABLE, CERTIFICATE_VERIFY_FAILED, WRONG_VERSION_NUMBER (peer not speaking TLS), …:
    # our own OpenSSL stopped; the peer gave no verdict on the protocol version.
    return "local-failure", None


def probe_protocol(
    host: str,
    port: int,
    version: ssl.TLSVersion,
    *,
    server_hostname: str | None = None,
    cafile: str | PathLike[str] | None = None,
    cadata: str | None = None,
    identity: Issued | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
) -> ProbeResult:
    """Connect, offer only `version`, report how the handshake ended. Connect and handshake are bounded.

    `context` replaces the probe's own (see :func:`legacy_client_context`); it is how a test shows
    that a misconfigured client is reported as a local failure, not as a refusal by the peer.
    """
    offered = _version_name(version)
    ctx = context or legacy_client_context(version, cafile=cafile, cadata=cadata, identity=identity)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as exc:
        return ProbeResult(offered, False, None, None, "timeout", error=f"connect: {exc}")
    except OSError as exc:
        return ProbeResult(offered, False, None, None, "unreachable", error=str(exc))
    with raw:
        raw.settimeout(timeout)
        tls = ctx.wrap_socket(raw, server_hostname=server_hostname or host, do_handshake_on_connect=False)
        with tls:
            try:
                tls.do_handshake()
            except ssl.SSLError as exc:
                outcome, alert = _classify(exc)
                # A negotiated cipher means the peer's ServerHello selected our (single) version.
                agreed = outcome in ("peer-alert", "peer-closed") and tls.cipher() is not None
                return ProbeResult(
                    offered, agreed, offered if agreed else None, alert, outcome, error=str(exc)
                )
            except TimeoutError as exc:
                return ProbeResult(offered, False, None, None, "timeout", error=f"handshake: {exc}")
            except OSError as exc:  # reset or broken pipe: the peer dropped the connection
                return ProbeResult(offered, False, None, None, "peer-closed", error=str(exc))
            cipher = tls.cipher()
            return ProbeResult(
                offered, True, tls.version(), None, "completed", cipher=cipher[0] if cipher else None
            )
