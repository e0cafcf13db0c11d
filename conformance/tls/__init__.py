"""TLS plumbing of the harness: a threaded HTTPS/1.1 server exposing the TLS session to handlers, its
adversarial modes, and client-side protocol probes."""

from conformance.tls.client import ProbeOutcome, ProbeResult, legacy_client_context, probe_protocol
from conformance.tls.modes import ListenerMode, ModeContexts, ModeSettings
from conformance.tls.server import (
    Handler,
    HandshakeFailure,
    Observer,
    Request,
    Response,
    TLSInfo,
    TLSServer,
    next_request_id,
)

__all__ = [
    "Handler",
    "HandshakeFailure",
    "ListenerMode",
    "ModeContexts",
    "ModeSettings",
    "Observer",
    "ProbeOutcome",
    "ProbeResult",
    "Request",
    "Response",
    "TLSInfo",
    "TLSServer",
    "legacy_client_context",
    "next_request_id",
    "probe_protocol",
]
