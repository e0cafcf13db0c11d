"""Protocol-version probes: a peer's refusal must never be confused with a local failure."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator

import httpx
import pytest

from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context, server_context
from conformance.tls import Response, TLSServer, legacy_client_context, probe_protocol


@pytest.fixture
def default_server(pki: TestPKI) -> Iterator[TLSServer]:
    """A server with the harness defaults: TLS 1.2 minimum, client certificate required."""
    with TLSServer(server_context(pki), lambda r: Response.text("ok")) as server:
        yield server


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_legacy_versions_refused_with_protocol_version_alert(
    pki: TestPKI, default_server: TLSServer, version: ssl.TLSVersion
) -> None:
    result = probe_protocol("127.0.0.1", default_server.port, version, identity=pki.clients[LPS1_CLIENT_ID])
    assert not result.accepted and result.negotiated is None
    assert result.outcome == "peer-alert"
    assert result.alert_reason == "TLSV1_ALERT_PROTOCOL_VERSION" and result.protocol_version_alert
    assert result.refused_by_peer
    failure = default_server.wait_for_handshake_failures(1)[0]
    assert failure.reason == "UNSUPPORTED_PROTOCOL"  # the server's own view of the same refusal


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]
)
def test_modern_versions_accepted(
    pki: TestPKI, default_server: TLSServer, version: ssl.TLSVersion, name: str
) -> None:
    result = probe_protocol("127.0.0.1", default_server.port, version, identity=pki.clients[LPS1_CLIENT_ID])
    assert result.accepted and result.completed and result.negotiated == name
    assert result.alert_reason is None and not result.refused_by_peer and result.cipher


def test_version_accepted_even_when_client_cert_missing(default_server: TLSServer) -> None:
    """TLS 1.2: the server agrees on the version, then refuses the missing certificate."""
    result = probe_protocol("127.0.0.1", default_server.port, ssl.TLSVersion.TLSv1_2)
    assert result.accepted and not result.completed and result.negotiated == "TLSv1.2"
    assert result.alert_reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    assert not result.refused_by_peer


def test_probe_really_offers_tls11(pki: TestPKI) -> None:
    """Against a server that allows TLS 1.1 (security level 0 on both sides) the same probe succeeds,
    so the refusal above is the peer's verdict and not our OpenSSL's."""
    ctx = server_context(pki, min_version=ssl.TLSVersion.TLSv1_1, max_version=ssl.TLSVersion.TLSv1_1)
    with TLSServer(ctx, lambda r: Response.text("ok")) as server:
        result = probe_protocol(
            "127.0.0.1", server.port, ssl.TLSVersion.TLSv1_1, identity=pki.clients[LPS1_CLIENT_ID]
        )
        assert result.completed and result.negotiated == "TLSv1.1"
        newer = probe_protocol("127.0.0.1", server.port, ssl.TLSVersion.TLSv1_2)
        assert newer.outcome == "peer-other-version" and newer.refused_by_peer and not newer.accepted


def test_local_failure_is_not_a_refusal(default_server: TLSServer) -> None:
    """The stack-notes trap: TLS 1.1 without SECLEVEL=0 fails locally (NO_CIPHERS_AVAILABLE)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    result = probe_protocol("127.0.0.1", default_server.port, ssl.TLSVersion.TLSv1_1, context=ctx)
    assert result.outcome == "local-failure"
    assert not result.refused_by_peer and result.alert_reason is None
    assert result.error is not None and "NO_CIPHERS_AVAILABLE" in result.error


def test_unreachable_and_timeout() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound but not listening: connection refused
        result = probe_protocol("127.0.0.1", unused.getsockname()[1], ssl.TLSVersion.TLSv1_2, timeout=1.0)
    assert result.outcome == "unreachable" and not result.refused_by_peer
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the TCP handshake, nobody ever answers the ClientHello
        result = probe_protocol("127.0.0.1", silent.getsockname()[1], ssl.TLSVersion.TLSv1_2, timeout=0.3)
    assert result.outcome == "timeout" and not result.refused_by_peer


def test_legacy_context_with_httpx(pki: TestPKI, default_server: TLSServer) -> None:
    ctx = legacy_client_context(
        ssl.TLSVersion.TLSv1_1, cadata=pki.ca_bundle_pem, identity=pki.clients[LPS1_CLIENT_ID]
    )
    with (
        httpx.Client(verify=ctx) as client,
        pytest.raises(httpx.ConnectError, match="TLSV1_ALERT_PROTOCOL_VERSION"),
    ):
        client.get(default_server.url + "/")
    ctx = legacy_client_context(
        ssl.TLSVersion.TLSv1_2, cadata=pki.ca_bundle_pem, identity=pki.clients[LPS1_CLIENT_ID]
    )
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    with httpx.Client(verify=ctx) as client:
        assert client.get(default_server.url + "/").text == "ok"


def test_tls12_client_accepted_tls11_refused_through_client_context(
    pki: TestPKI, default_server: TLSServer
) -> None:
    """The stdlib contexts of conformance.pki accept a version range too (1.1 sets SECLEVEL=0)."""
    tls11 = client_context(
        pki, LPS1_CLIENT_ID, min_version=ssl.TLSVersion.TLSv1_1, max_version=ssl.TLSVersion.TLSv1_1
    )
    with httpx.Client(verify=tls11) as client, pytest.raises(httpx.ConnectError, match="PROTOCOL_VERSION"):
        client.get(default_server.url + "/")
    tls12 = client_context(pki, LPS1_CLIENT_ID, max_version=ssl.TLSVersion.TLSv1_2)
    with httpx.Client(verify=tls12) as client:
        assert client.get(default_server.url + "/").status_code == 200
