"""TLS plumbing of the harness: a threaded HTTPS/1.1 server exposing the TLS session to handlers, and
client-side protocol probes."""

from conformance.tls.client import ProbeOutcome, ProbeResult, legacy_client_context, probe_protocol
from conformance.tls.server import Handler, HandshakeFailure, Request, Response, TLSInfo, TLSServer

__all__ = [
    "Handler",
    "HandshakeFailure",
    "ProbeOutcome",
    "ProbeResult",
    "Request",
    "Response",
    "TLSInfo",
    "TLSServer",
    "legacy_client_context",
    "probe_protocol",
]
