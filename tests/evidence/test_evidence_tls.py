"""Evidence recorded over real HTTPS on loopback: server side (observer), client side (recording_client),
and failed client requests."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from conformance.evidence import (
    EXCHANGE_ID,
    TO_HARNESS,
    TO_SUT,
    EvidenceRecorder,
    ServerObserver,
    recording_client,
    to_har,
    to_json,
)
from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context, server_context
from conformance.tls import Handler, Request, Response, TLSServer

TIMEOUT = httpx.Timeout(2.0)


def observed_server(context: ssl.SSLContext, handler: Handler, observer: ServerObserver) -> TLSServer:
    return TLSServer(context, handler, observer=observer)


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Polls briefly, in case the observer runs after the client has its answer."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def token_endpoint(request: Request) -> Response:
    return Response.json({"access_token": "opaque-access-token-value", "token_type": "Bearer"})


@pytest.fixture
def recorder() -> EvidenceRecorder:
    return EvidenceRecorder()


@pytest.fixture
def psc(pki: TestPKI, recorder: EvidenceRecorder) -> Iterator[TLSServer]:
    context = server_context(pki, "psc", require_client_cert=True)
    with observed_server(context, token_endpoint, recorder.server_observer("psc")) as server:
        yield server


def test_server_exchange_shows_tls_and_client_certificate(
    pki: TestPKI, recorder: EvidenceRecorder, psc: TLSServer
) -> None:
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID), timeout=TIMEOUT) as client:
        response = client.post(
            psc.url + "/token?x=1",
            data={"grant_type": "client_credentials", "client_id": LPS1_CLIENT_ID},
            headers={"X-Trace": "a", "x-trace": "b"},
        )
    assert response.status_code == 200
    wait_for(lambda: recorder.count(counterpart="psc") == 1)
    (exchange,) = recorder.exchanges(counterpart="psc")

    assert exchange.direction == TO_HARNESS
    assert exchange.method == "POST"
    assert exchange.url == f"https://127.0.0.1:{psc.port}/token?x=1"
    assert exchange.status == 200
    assert exchange.request_body == b"grant_type=client_credentials&client_id=ans-odc-lps1-edc-bas"
    assert json.loads(exchange.response_body)["token_type"] == "Bearer"
    assert [v for k, v in exchange.request_headers if k.lower() == "x-trace"] == ["a", "b"]
    assert exchange.response_header("content-length") == str(len(exchange.response_body))
    assert exchange.tls is not None
    assert exchange.tls.version in ("TLSv1.2", "TLSv1.3")
    assert exchange.tls.cipher
    client_cert = pki.clients[LPS1_CLIENT_ID]
    assert exchange.tls.client_subject == client_cert.subject
    assert exchange.tls.client_x5t_s256 == client_cert.x5t_s256
    assert recorder.get(exchange.id) == exchange

    exported = to_json([exchange])[0]
    assert exported["tls"]["client_x5t_s256"] == client_cert.x5t_s256
    assert exported["tls"]["version"] == exchange.tls.version


def test_client_exchange_shows_tls_and_server_certificate(
    pki: TestPKI, recorder: EvidenceRecorder, psc: TLSServer
) -> None:
    client_cert = pki.clients[LPS1_CLIENT_ID]
    with recording_client(
        recorder,
        verify=client_context(pki, LPS1_CLIENT_ID),
        timeout=TIMEOUT,
        client_cert_der=client_cert.der,
    ) as client:
        response = client.post(psc.url + "/token", data={"client_secret": "never-in-evidence"})
    assert response.status_code == 200

    (exchange,) = recorder.exchanges(direction=TO_SUT)
    assert response.extensions[EXCHANGE_ID] == exchange.id
    assert exchange.counterpart == "sut"
    assert exchange.status == 200
    assert exchange.reason == "OK"
    assert exchange.request_body == b"client_secret=never-in-evidence"
    assert exchange.response_body == response.content
    assert exchange.request_header("content-type") == "application/x-www-form-urlencoded"
    assert exchange.tls is not None
    assert exchange.tls.version in ("TLSv1.2", "TLSv1.3")
    assert exchange.tls.cipher
    assert exchange.tls.server_subject == pki.servers["psc"].subject
    assert exchange.tls.server_x5t_s256 == pki.servers["psc"].x5t_s256
    assert exchange.tls.client_x5t_s256 == client_cert.x5t_s256
    assert exchange.headers_received_s is not None
    assert 0 <= exchange.headers_received_s <= exchange.duration_s

    # Both directions are in the same store: the server side saw the same call.
    wait_for(lambda: recorder.count(direction=TO_HARNESS) == 1)
    assert "never-in-evidence" not in json.dumps(to_har(recorder.exchanges()))


def test_streamed_bodies_are_recorded_on_close(
    pki: TestPKI, recorder: EvidenceRecorder, psc: TLSServer
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"part1-"
        yield b"part2"

    verify = client_context(pki, LPS1_CLIENT_ID)
    with (
        recording_client(recorder, verify=verify, timeout=TIMEOUT) as client,
        client.stream("POST", psc.url + "/token", content=chunks()) as response,
    ):
        assert recorder.count(direction=TO_SUT) == 0  # not read yet
        body = response.read()
    (exchange,) = recorder.exchanges(direction=TO_SUT)
    assert exchange.request_body == b"part1-part2"
    assert exchange.response_body == body
    assert exchange.tls is not None and exchange.tls.version


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """Accepts connections (in the kernel backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_connection_refused_is_recorded_and_raised(pki: TestPKI, recorder: EvidenceRecorder) -> None:
    port = _closed_port()
    with (
        recording_client(recorder, verify=client_context(pki), timeout=1.0) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get(f"https://127.0.0.1:{port}/health")
    (exchange,) = recorder.exchanges()
    assert exchange.status is None
    assert exchange.error is not None and exchange.error.startswith("ConnectError")
    assert exchange.url == f"https://127.0.0.1:{port}/health"
    assert to_json([exchange])[0]["response"] is None
    assert to_har([exchange])["log"]["entries"][0]["response"]["status"] == 0


def test_read_timeout_is_recorded_and_raised(pki: TestPKI, recorder: EvidenceRecorder) -> None:
    with (
        silent_listener() as port,
        recording_client(recorder, verify=client_context(pki), timeout=0.2) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(f"http://127.0.0.1:{port}/token", data={"a": "b"})
    (exchange,) = recorder.exchanges()
    assert exchange.error is not None and exchange.error.startswith("ReadTimeout")
    assert exchange.request_body == b"a=b"
    assert 0.15 <= exchange.duration_s < 2.0


def test_tls_handshake_timeout_is_recorded_and_raised(pki: TestPKI, recorder: EvidenceRecorder) -> None:
    with (
        silent_listener() as port,
        recording_client(recorder, verify=client_context(pki), timeout=0.2) as client,
        pytest.raises(httpx.TimeoutException),
    ):
        client.get(f"https://127.0.0.1:{port}/")
    (exchange,) = recorder.exchanges()
    assert exchange.error is not None and "Timeout" in exchange.error


def test_read_timeout_inside_the_body_keeps_the_head(pki: TestPKI, recorder: EvidenceRecorder) -> None:
    """A SUT that sends its headers then stalls: status, headers and TLS are kept, with the error."""

    def stalling(request: Request) -> Response:
        return Response(200, {"Content-Type": "text/plain", "Content-Length": "100"}, b"only this")

    context = server_context(pki, "psc", require_client_cert=False)
    with (
        TLSServer(context, stalling) as server,
        recording_client(recorder, verify=client_context(pki), timeout=0.3) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get(server.url + "/slow")
    (exchange,) = recorder.exchanges()
    assert exchange.status == 200
    assert exchange.error is not None and exchange.error.startswith("ReadTimeout")
    assert exchange.response_body == b"only this"
    assert exchange.tls is not None and exchange.tls.server_subject == pki.servers["psc"].subject
