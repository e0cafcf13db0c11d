"""TLSServer over real loopback TLS with the test PKI: mTLS, negatives, TLS info, HTTP details, shutdown."""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conformance.pki import (
    INTRUDER_CLIENT_ID,
    LPS1_CLIENT_ID,
    PROXY_CLIENT_ID,
    TestPKI,
    client_context,
    server_context,
)
from conformance.standards.rfc8705 import x5t_s256
from conformance.tls import Request, Response, TLSServer

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]  # the `openssl` fixture of conftest.py
VERSIONS = [
    pytest.param(ssl.TLSVersion.TLSv1_2, id="tls1.2"),
    pytest.param(ssl.TLSVersion.TLSv1_3, id="tls1.3"),
]
# How a refused client certificate surfaces through httpx depends on the TLS version: 1.2 fails in the
# handshake (ConnectError); 1.3 completes the client side first, so the alert arrives on the first read.
REFUSED = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)


def echo_tls(request: Request) -> Response:
    tls = request.tls
    return Response.json(
        {
            "version": tls.version,
            "cipher": tls.cipher,
            "subject": tls.peer_subject,
            "issuer": tls.peer_issuer,
            "serial": tls.peer_serial,
            "cn": tls.peer_common_name,
            "x5t": tls.peer_x5t_s256,
            "der": base64.b64encode(tls.peer_cert_der).decode() if tls.peer_cert_der else None,
        }
    )


def client_id_must_match_cn(request: Request) -> Response:
    """What an authorization server does with tls_client_auth: the cert CN must be the client_id."""
    client_id = request.param("client_id")
    if client_id is None or client_id != request.tls.peer_common_name:
        return Response.json({"error": "invalid_client"}, 401)
    return Response.json({"client_id": client_id})


@pytest.fixture
def mtls_server(pki: TestPKI, request: pytest.FixtureRequest) -> Iterator[TLSServer]:
    version = getattr(request, "param", None)
    ctx = server_context(pki, "psc", require_client_cert=True, check_crl=True, max_version=version)
    with TLSServer(ctx, echo_tls) as server:
        yield server


@pytest.mark.parametrize("mtls_server", VERSIONS, indirect=True)
def test_good_client_and_tls_info(
    pki: TestPKI, mtls_server: TLSServer, openssl: OpenSSL, tmp_path: Path
) -> None:
    leaf = pki.clients[LPS1_CLIENT_ID]
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client:
        response = client.get(mtls_server.url + "/whoami")
    assert response.status_code == 200
    info = response.json()
    expected_version = (
        "TLSv1.3" if mtls_server.context.maximum_version != ssl.TLSVersion.TLSv1_2 else "TLSv1.2"
    )
    assert info["version"] == expected_version
    assert info["cipher"]
    assert info["cn"] == LPS1_CLIENT_ID
    assert info["subject"] == leaf.subject and info["issuer"] == pki.intermediate.subject
    assert info["serial"] == leaf.cert.serial_number
    assert base64.b64decode(info["der"]) == leaf.der
    # The thumbprint, computed independently by the openssl CLI from the PEM file.
    pem = tmp_path / "leaf.pem"
    pem.write_text(leaf.cert_pem)
    der = openssl("x509", "-in", pem, "-outform", "DER").stdout
    digest = openssl("dgst", "-sha256", "-binary", input=der).stdout
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert info["x5t"] == expected == x5t_s256(der)
    assert mtls_server.handshake_failures == []


@pytest.mark.parametrize("mtls_server", VERSIONS, indirect=True)
@pytest.mark.parametrize(
    ("variant", "verify_message"),
    [
        ("expired", "certificate has expired"),
        ("not-yet-valid", "certificate is not yet valid"),
        ("wrong-eku", "unsuitable certificate purpose"),
        ("rogue", "unable to get local issuer certificate"),
        ("revoked", "certificate revoked"),
    ],
)
def test_negative_certificates_refused_at_handshake(
    pki: TestPKI, mtls_server: TLSServer, variant: str, verify_message: str
) -> None:
    with httpx.Client(verify=client_context(pki, negative=variant)) as client, pytest.raises(REFUSED):
        client.get(mtls_server.url + "/whoami")
    failures = mtls_server.wait_for_handshake_failures(1)
    assert len(failures) == 1
    assert failures[0].error_type == "SSLCertVerificationError"
    assert failures[0].reason == "CERTIFICATE_VERIFY_FAILED"
    assert failures[0].verify_message == verify_message
    assert mtls_server.requests_served == 0


def test_accepted_connections_are_counted_before_their_handshake(
    pki: TestPKI, mtls_server: TLSServer
) -> None:
    """A client that never connected leaves no handshake to wait for; one that did is counted at once."""
    since = time.time()
    assert mtls_server.accepted_since(since) == 0
    with httpx.Client(verify=client_context(pki)) as client, pytest.raises(REFUSED):
        client.get(mtls_server.url + "/")  # no client certificate: refused in the handshake
    assert mtls_server.accepted_since(since) == 1
    assert mtls_server.accepted_since(time.time() + 1) == 0


@pytest.mark.parametrize("mtls_server", VERSIONS, indirect=True)
def test_no_client_certificate_refused(pki: TestPKI, mtls_server: TLSServer) -> None:
    with httpx.Client(verify=client_context(pki)) as client, pytest.raises(REFUSED):
        client.get(mtls_server.url + "/")
    failure = mtls_server.wait_for_handshake_failures(1)[0]
    assert failure.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


def test_cn_mismatch_refused_by_the_application(pki: TestPKI) -> None:
    ctx = server_context(pki, "api", check_crl=True)
    form = {"grant_type": "client_credentials", "client_id": LPS1_CLIENT_ID}
    with TLSServer(ctx, client_id_must_match_cn) as server:
        with httpx.Client(verify=client_context(pki, negative="cn-mismatch")) as client:
            response = client.post(server.url + "/token", data=form)
        assert response.status_code == 401 and response.json() == {"error": "invalid_client"}
        with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client:
            assert client.post(server.url + "/token", data=form).status_code == 200
            assert client.get(server.url + "/token", params={"client_id": LPS1_CLIENT_ID}).status_code == 200
            assert client.post(server.url + "/token", data={"client_id": PROXY_CLIENT_ID}).status_code == 401
        assert server.handshake_failures == []  # the TLS layer accepted it: CN checks are the AS's job
    assert pki.negatives["cn-mismatch"].common_name == INTRUDER_CLIENT_ID


def test_optional_client_certificate(pki: TestPKI) -> None:
    with TLSServer(server_context(pki, "sut", require_client_cert=False), echo_tls) as server:
        with httpx.Client(verify=client_context(pki)) as client:
            info = client.get(server.url + "/").json()
        assert info["cn"] is None and info["x5t"] is None and info["der"] is None
        with httpx.Client(verify=client_context(pki, PROXY_CLIENT_ID)) as client:
            assert client.get(server.url + "/").json()["cn"] == PROXY_CLIENT_ID


def test_server_certificate_matches_localhost_and_loopback_ips(pki: TestPKI) -> None:
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client:
        with TLSServer(server_context(pki), echo_tls) as server:
            assert client.get(f"https://localhost:{server.port}/").status_code == 200
            assert client.get(f"https://127.0.0.1:{server.port}/").status_code == 200
        if not socket.has_ipv6:
            return
        try:
            server6 = TLSServer(server_context(pki), echo_tls, host="::1").start()
        except OSError:
            return  # no IPv6 loopback in this environment
        with server6:
            assert server6.url == f"https://[::1]:{server6.port}"
            assert client.get(server6.url + "/").status_code == 200


def test_request_fields_and_http_details(pki: TestPKI) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path == "/empty":
            return Response(204)
        return Response(201, {"X-Echo": request.header("x-test") or ""}, request.body)

    with (
        TLSServer(server_context(pki), handler, max_body=1024) as server,
        httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client,
    ):
        response = client.put(server.url + "/a/b?x=1&x=2&y=", content=b'{"k": 1}', headers={"X-Test": "yes"})
        assert response.status_code == 201 and response.content == b'{"k": 1}'
        assert response.headers["x-echo"] == "yes"
        request = seen[-1]
        assert (request.method, request.path) == ("PUT", "/a/b")
        assert request.query == {"x": ["1", "2"], "y": [""]}
        assert request.json() == {"k": 1}
        assert request.client_address[0] == "127.0.0.1"
        assert request.tls.peer_common_name == LPS1_CLIENT_ID

        chunks = (part for part in (b"chunked ", b"body"))
        assert client.post(server.url + "/chunked", content=chunks).content == b"chunked body"
        assert seen[-1].header("Transfer-Encoding") == "chunked"

        assert client.request("PATCH", server.url + "/empty").status_code == 204
        head = client.head(server.url + "/x")
        assert head.status_code == 201 and head.content == b""

        assert client.post(server.url + "/big", content=b"x" * 2048).status_code == 413

        assert client.get(server.url + "/boom").status_code == 500
        assert [str(e) for e in server.handler_errors] == ["handler bug"]


def test_keep_alive_without_nagle_stalls(pki: TestPKI) -> None:
    """Delayed ACK + Nagle cost ~40 ms per keep-alive request; with TCP_NODELAY it is about 1 ms."""
    peers: set[tuple[str, int]] = set()

    def handler(request: Request) -> Response:
        peers.add(request.client_address)
        return Response.text("x" * 100)

    with (
        TLSServer(server_context(pki), handler) as server,
        httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client,
    ):
        client.get(server.url + "/")  # handshake
        durations = []
        for _ in range(10):
            start = time.perf_counter()
            assert client.get(server.url + "/").status_code == 200
            durations.append(time.perf_counter() - start)
        assert len(peers) == 1  # one connection, reused
        assert statistics.median(durations) < 0.03


def test_stop_is_fast_with_open_and_stalled_connections(pki: TestPKI) -> None:
    server = TLSServer(server_context(pki), echo_tls, timeout=10.0).start()
    client = httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID))
    stalled = socket.create_connection(("127.0.0.1", server.port))  # never sends a ClientHello
    try:
        assert client.get(server.url + "/").status_code == 200  # a keep-alive connection stays open
        start = time.perf_counter()
        server.stop()
        assert time.perf_counter() - start < 1.0
    finally:
        client.close()
        stalled.close()
    server.stop()  # idempotent


def test_handshake_is_bounded_by_the_timeout(pki: TestPKI) -> None:
    with TLSServer(server_context(pki), echo_tls, timeout=0.3) as server:
        with socket.create_connection(("127.0.0.1", server.port)):
            failures = server.wait_for_handshake_failures(1, timeout=3.0)
        assert failures and failures[0].error_type in ("TimeoutError", "SSLError")
        assert "timed out" in failures[0].message


def test_garbage_instead_of_tls_is_recorded_and_server_survives(pki: TestPKI) -> None:
    with TLSServer(server_context(pki), echo_tls) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            raw.settimeout(3.0)
            with contextlib.suppress(OSError):
                raw.recv(100)
        failure = server.wait_for_handshake_failures(1)[0]
        assert failure.reason in ("HTTP_REQUEST", "WRONG_VERSION_NUMBER")
        with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client:
            assert client.get(server.url + "/").status_code == 200


def test_start_stop_and_addresses(pki: TestPKI) -> None:
    server = TLSServer(server_context(pki), echo_tls)
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.port > 0 and server.host == "127.0.0.1"
        assert server.url == f"https://127.0.0.1:{server.port}"
        with pytest.raises(RuntimeError):
            server.start()
