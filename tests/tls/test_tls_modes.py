"""Adversarial listener modes, each switched on an already-running listener over real loopback TLS.

Every test checks the address does not change across switches (a SUT is configured once) and that
switching back to NORMAL restores service. Negative outcomes are pinned on their reason (the peer's
alert, the X.509 verification message, a TCP reset), never on "the connection failed".
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context, server_context
from conformance.pki.profiles import WRONG_HOST_NAME
from conformance.tls import (
    ListenerMode,
    ModeContexts,
    Request,
    Response,
    TLSServer,
    legacy_client_context,
    probe_protocol,
)
from conformance.tls.modes import DEFAULT_SLOW_S, MALFORMED_JSON_BODY

LEGACY = {ListenerMode.TLS1_1_ONLY: ssl.TLSVersion.TLSv1_1, ListenerMode.TLS1_0_ONLY: ssl.TLSVersion.TLSv1}
VERSION_NAMES = {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}


class Listener:
    """A running listener plus what its handler saw, and helpers that keep tests short."""

    def __init__(self, server: TLSServer, pki: TestPKI) -> None:
        self.server = server
        self.pki = pki
        self.port = server.port
        self.handled: list[Request] = []

    def handle(self, request: Request) -> Response:
        self.handled.append(request)
        return Response.json({"ok": True, "version": request.tls.version, "cn": request.tls.peer_common_name})

    def get(
        self, context: ssl.SSLContext | None = None, *, host: str = "127.0.0.1", read_timeout: float = 5.0
    ) -> httpx.Response:
        """One request on a fresh connection (a new client each time, nothing pooled)."""
        context = context or client_context(self.pki, LPS1_CLIENT_ID)
        with httpx.Client(verify=context, timeout=httpx.Timeout(5.0, read=read_timeout)) as client:
            return client.get(f"https://{host}:{self.server.port}/resource")

    def assert_normal(self) -> None:
        """Same port as at start, and a default client is served again."""
        assert self.server.port == self.port
        response = self.get()
        assert response.status_code == 200 and response.json()["ok"] is True


@pytest.fixture
def listener(pki: TestPKI) -> Iterator[Listener]:
    """An mTLS listener like a counterpart's (client cert required, CRL checked), with mode contexts."""
    holder: list[Listener] = []
    server = TLSServer(
        server_context(pki, "psc", require_client_cert=True, check_crl=True),
        lambda request: holder[0].handle(request),
        name="psc",
        mode_contexts=ModeContexts.from_pki(pki, "psc", require_client_cert=True, check_crl=True),
    )
    with server:
        holder.append(Listener(server, pki))
        holder[0].assert_normal()  # started and served in NORMAL before any switch
        yield holder[0]


def cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the __cause__/__context__ chain (httpx wraps httpcore wraps ssl)."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, kind):
            return current
        current = current.__cause__ or current.__context__
    return None


# -- TLS-level modes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(LEGACY), ids=str)
def test_legacy_version_only_modes(listener: Listener, pki: TestPKI, mode: ListenerMode) -> None:
    version = LEGACY[mode]
    identity = pki.clients[LPS1_CLIENT_ID]
    listener.server.set_mode(mode)
    assert listener.server.mode is mode and listener.server.port == listener.port

    # A default client (TLS 1.2+) is refused by the listener's protocol_version alert, not by a local
    # failure (NO_CIPHERS_AVAILABLE would mean our client never offered anything).
    with pytest.raises(httpx.ConnectError) as refused:
        listener.get()
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in str(refused.value)
    assert listener.server.wait_for_handshake_failures(1)[0].reason == "UNSUPPORTED_PROTOCOL"

    # A client offering exactly that legacy version (security level 0 on both sides) is served.
    legacy = legacy_client_context(version, cadata=pki.ca_bundle_pem, identity=identity)
    response = listener.get(legacy)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "version": VERSION_NAMES[version], "cn": LPS1_CLIENT_ID}

    # The probe agrees. Offered TLS 1.2 alone (no supported_versions extension), the listener answers
    # with its own legacy version, which the client then refuses: the peer did not speak 1.2 either way.
    accepted = probe_protocol("127.0.0.1", listener.port, version, identity=identity)
    assert accepted.completed and accepted.negotiated == VERSION_NAMES[version]
    tls12 = probe_protocol("127.0.0.1", listener.port, ssl.TLSVersion.TLSv1_2, identity=identity)
    assert tls12.refused_by_peer and tls12.outcome == "peer-other-version"

    # Back to NORMAL on the same port: the legacy client is now the one refused, by the peer's alert.
    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()
    with pytest.raises(httpx.ConnectError) as refused_again:
        listener.get(legacy)
    assert "TLSV1_ALERT_PROTOCOL_VERSION" in str(refused_again.value)


@pytest.mark.parametrize(
    ("mode", "variant", "host", "verify_message", "server_sees"),
    [
        pytest.param(
            ListenerMode.UNTRUSTED_CERT,
            "untrusted",
            "127.0.0.1",
            "unable to get local issuer certificate",
            "TLSV1_ALERT_UNKNOWN_CA",
            id="untrusted",
        ),
        pytest.param(
            ListenerMode.EXPIRED_CERT,
            "expired",
            "127.0.0.1",
            "certificate has expired",
            "SSLV3_ALERT_CERTIFICATE_EXPIRED",
            id="expired",
        ),
        pytest.param(
            ListenerMode.WRONG_HOST_CERT,
            "wrong-host",
            "127.0.0.1",
            "IP address mismatch, certificate is not valid for '127.0.0.1'.",
            "SSLV3_ALERT_BAD_CERTIFICATE",
            id="wrong-host-ip",
        ),
        pytest.param(
            ListenerMode.WRONG_HOST_CERT,
            "wrong-host",
            "localhost",
            "Hostname mismatch, certificate is not valid for 'localhost'.",
            "SSLV3_ALERT_BAD_CERTIFICATE",
            id="wrong-host-dns",
        ),
    ],
)
def test_bad_server_certificate_modes(
    listener: Listener,
    pki: TestPKI,
    mode: ListenerMode,
    variant: str,
    host: str,
    verify_message: str,
    server_sees: str,
) -> None:
    listener.server.set_mode(mode)
    assert listener.server.port == listener.port

    # A client trusting the test root, with host name checking (the default), refuses the certificate.
    context = client_context(pki, LPS1_CLIENT_ID)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(httpx.ConnectError) as refused:
        listener.get(context, host=host)
    error = cause(refused.value, ssl.SSLCertVerificationError)
    assert isinstance(error, ssl.SSLCertVerificationError), repr(refused.value)
    assert error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert error.verify_message == verify_message
    # The listener records the client's alert: how a SUT's refusal of our certificate is observed.
    assert listener.server.wait_for_handshake_failures(1)[0].reason == server_sees

    # The certificate presented is the PKI's negative one, and it is refused for that one defect only.
    lenient = client_context(pki, LPS1_CLIENT_ID)
    lenient.check_hostname = False
    lenient.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", listener.port), timeout=5) as raw,
        lenient.wrap_socket(raw, server_hostname=host) as tls,
    ):
        assert tls.getpeercert(binary_form=True) == pki.negative_servers[variant].der
    if mode is ListenerMode.WRONG_HOST_CERT:
        no_hostname_check = client_context(pki, LPS1_CLIENT_ID)
        no_hostname_check.check_hostname = False
        assert listener.get(no_hostname_check).status_code == 200  # the chain itself is valid
        assert pki.negative_servers[variant].common_name == WRONG_HOST_NAME

    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()


# -- HTTP-level modes ------------------------------------------------------------------------------------


def test_slow_mode_times_out_a_short_client_and_stop_stays_fast(listener: Listener) -> None:
    listener.server.set_mode(ListenerMode.SLOW)
    assert listener.server.mode_settings.slow_s == DEFAULT_SLOW_S
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        listener.get(read_timeout=0.3)
    assert time.perf_counter() - start < DEFAULT_SLOW_S / 2  # the client gave up; the server still waits
    start = time.perf_counter()
    listener.server.stop()  # interrupts the pending delay instead of waiting it out
    assert time.perf_counter() - start < 1.0


def test_slow_mode_answers_normally_after_the_delay(listener: Listener) -> None:
    listener.server.set_mode(ListenerMode.SLOW, slow_s=0.4)
    start = time.perf_counter()
    response = listener.get(read_timeout=5.0)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200 and response.json()["ok"] is True
    assert 0.4 <= elapsed < 2.0
    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()


def raw_tls_request(context: ssl.SSLContext, port: int, request: bytes) -> tuple[bytes, str]:
    """Send one request over TLS driven through memory BIOs, so the TCP socket stays ours to read.

    Python's ssl reports a reset after the handshake as a ragged EOF (SSLEOFError / b""), which a
    FIN without close_notify also gives; reading the raw socket tells a reset (ECONNRESET) apart.
    Returns the bytes received after the request and how the TCP connection ended ("reset" or "eof").
    """
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                if not data:
                    raise ConnectionError("EOF during the handshake") from None
                incoming.write(data)
        tls.write(request)
        raw.sendall(outgoing.read())
        received = b""
        try:
            while chunk := raw.recv(65536):
                received += chunk
        except ConnectionResetError:
            return received, "reset"
        return received, "eof"


def test_reset_mode_resets_the_tcp_connection(listener: Listener, pki: TestPKI) -> None:
    listener.server.set_mode(ListenerMode.RESET)
    assert listener.server.port == listener.port
    # What an httpx client sees: no response, the connection gone (see raw_tls_request for why it is
    # usually RemoteProtocolError rather than ReadError).
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        listener.get()
    # What is on the wire: the request was read, then a TCP RST and no HTTP response at all.
    received, ending = raw_tls_request(
        client_context(pki, LPS1_CLIENT_ID), listener.port, b"GET /r HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert ending == "reset"
    assert listener.handled[1:] == []  # only assert_normal's request reached the handler
    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()
    # The same raw client on a NORMAL listener gets an answer and no reset: the check above is meaningful.
    received, ending = raw_tls_request(
        client_context(pki, LPS1_CLIENT_ID),
        listener.port,
        b"GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert ending == "eof" and received


@pytest.mark.parametrize("status", [None, 500, 502])
def test_server_error_mode(listener: Listener, status: int | None) -> None:
    listener.server.set_mode(ListenerMode.SERVER_ERROR, status=status)
    response = listener.get()
    assert response.status_code == (status or 503)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "server_error"
    assert len(listener.handled) == 1  # the handler was not called
    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()


def test_malformed_json_mode(listener: Listener) -> None:
    listener.server.set_mode(ListenerMode.MALFORMED_JSON)
    response = listener.get()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == MALFORMED_JSON_BODY
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()


# -- switching -------------------------------------------------------------------------------------------


def test_every_mode_in_turn_on_the_same_port(listener: Listener) -> None:
    for mode in ListenerMode:
        listener.server.set_mode(mode, **({"slow_s": 0.05} if mode is ListenerMode.SLOW else {}))
        assert listener.server.mode is mode and listener.server.port == listener.port
    listener.server.set_mode(ListenerMode.NORMAL)
    listener.assert_normal()


def test_a_pooled_connection_meets_the_new_mode(listener: Listener, pki: TestPKI) -> None:
    """A SUT that keeps connections alive must not keep talking to the previous mode: set_mode closes
    idle connections, and the client's next request opens one under the new mode."""
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client:
        url = f"{listener.server.url}/resource"
        assert client.get(url).status_code == 200
        assert client.get(url).status_code == 200
        first_peer = listener.handled[-1].client_address
        assert listener.handled[-2].client_address == first_peer  # really kept alive

        listener.server.set_mode(ListenerMode.SERVER_ERROR)
        assert client.get(url).status_code == 503

        listener.server.set_mode(ListenerMode.NORMAL)
        assert client.get(url).status_code == 200
        assert listener.handled[-1].client_address != first_peer  # a new connection

        listener.server.set_mode(ListenerMode.TLS1_1_ONLY)
        with pytest.raises(httpx.ConnectError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
            client.get(url)
        listener.server.set_mode(ListenerMode.NORMAL)
        assert client.get(url).status_code == 200


def test_set_mode_validation(pki: TestPKI) -> None:
    with TLSServer(server_context(pki, "psc"), lambda r: Response.text("ok")) as server:
        assert server.mode is ListenerMode.NORMAL
        with pytest.raises(ValueError, match="mode_contexts"):
            server.set_mode(ListenerMode.EXPIRED_CERT)  # no contexts to build it from
        assert server.mode is ListenerMode.NORMAL  # unchanged after a refused switch
        with pytest.raises(ValueError, match="slow_s"):
            server.set_mode(ListenerMode.RESET, slow_s=1.0)
        with pytest.raises(ValueError, match="status"):
            server.set_mode(ListenerMode.SLOW, status=503)
        with pytest.raises(ValueError, match="5xx"):
            server.set_mode(ListenerMode.SERVER_ERROR, status=404)
        with pytest.raises(ValueError, match="slow_s must be"):
            server.set_mode(ListenerMode.SLOW, slow_s=0)
        with pytest.raises(ValueError):
            server.set_mode("no-such-mode")
        server.set_mode("server-error")  # the string value works too (configuration files)
        assert server.mode is ListenerMode.SERVER_ERROR and server.mode_settings.status == 503
        assert str(server.mode_settings) == "server-error status=503"


def test_mode_contexts_from_a_pki_without_negative_servers(pki: TestPKI) -> None:
    import dataclasses

    bare = dataclasses.replace(pki, negative_servers={})
    contexts = ModeContexts.from_pki(bare, "psc")
    assert ListenerMode.TLS1_1_ONLY in contexts and ListenerMode.EXPIRED_CERT not in contexts
    with TLSServer(
        server_context(pki, "psc"), lambda r: Response.text("ok"), mode_contexts=contexts
    ) as server:
        server.set_mode(ListenerMode.TLS1_0_ONLY)
        with pytest.raises(ValueError, match="expired-cert"):
            server.set_mode(ListenerMode.EXPIRED_CERT)
    with pytest.raises(ValueError, match="not TLS-level"):
        ModeContexts({ListenerMode.SLOW: server_context(pki, "psc")})
