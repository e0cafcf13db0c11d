"""The per-request observer and request ids: what a counterpart can log about each request of the SUT."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest

from conformance.pki import LPS1_CLIENT_ID, PROXY_CLIENT_ID, TestPKI, client_context, server_context
from conformance.tls import ListenerMode, Request, Response, TLSServer, next_request_id


@dataclass
class Seen:
    request: Request
    response: Response
    started_at: float
    duration_s: float


@dataclass
class Recorder:
    """An observer that keeps everything (thread-safe: connection threads call it concurrently)."""

    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request, response: Response, started_at: float, duration_s: float) -> None:
        with self.lock:
            self.seen.append(Seen(request, response, started_at, duration_s))


def answer(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    return Response.json({"path": request.path}, 201 if request.method == "POST" else 200)


@pytest.fixture
def observed(pki: TestPKI) -> Iterator[tuple[TLSServer, Recorder]]:
    recorder = Recorder()
    ctx = server_context(pki, "api", require_client_cert=True)
    with TLSServer(ctx, answer, name="api", observer=recorder) as server:
        yield server, recorder


def test_observer_sees_method_path_status_tls_and_timing(
    pki: TestPKI, observed: tuple[TLSServer, Recorder]
) -> None:
    server, recorder = observed
    before = time.time()
    with httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client:
        assert client.get(server.url + "/a?x=1").status_code == 200
        # Called before the response is written: it has run by the time the client has the answer.
        assert len(recorder.seen) == 1
        assert client.post(server.url + "/b", data={"k": "v"}).status_code == 201
        assert client.get(server.url + "/boom").status_code == 500
    after = time.time()
    assert [(s.request.method, s.request.path, s.response.status) for s in recorder.seen] == [
        ("GET", "/a", 200),
        ("POST", "/b", 201),
        ("GET", "/boom", 500),  # the harness's own 500 for a handler exception
    ]
    first = recorder.seen[0]
    assert first.request.query == {"x": ["1"]}
    assert first.request.tls.version == "TLSv1.3" and first.request.tls.cipher
    assert first.request.tls.peer_common_name == LPS1_CLIENT_ID
    assert first.request.tls.peer_x5t_s256 == pki.clients[LPS1_CLIENT_ID].x5t_s256
    assert recorder.seen[1].request.form() == {"k": ["v"]}
    for s in recorder.seen:
        assert before <= s.started_at <= after
        assert 0 <= s.duration_s < after - before
    ids = [s.request.id for s in recorder.seen]
    assert len(set(ids)) == 3 and all(i.startswith("r-") for i in ids)
    assert ids == sorted(ids)  # increasing within the process


def test_adversarial_http_modes_are_observed_with_what_was_sent(
    pki: TestPKI, observed: tuple[TLSServer, Recorder]
) -> None:
    server, recorder = observed
    context = client_context(pki, PROXY_CLIENT_ID)

    def call(path: str) -> None:
        with httpx.Client(verify=context) as client, contextlib.suppress(httpx.TransportError):  # RESET
            client.get(server.url + path)

    server.set_mode(ListenerMode.SERVER_ERROR, status=502)
    call("/error")
    server.set_mode(ListenerMode.MALFORMED_JSON)
    call("/json")
    server.set_mode(ListenerMode.RESET)
    call("/reset")
    server.set_mode(ListenerMode.SLOW, slow_s=0.2)
    call("/slow")
    server.set_mode(ListenerMode.NORMAL)
    call("/normal")
    by_path = {s.request.path: s for s in recorder.seen}
    assert list(by_path) == ["/error", "/json", "/reset", "/slow", "/normal"]
    assert by_path["/error"].response.status == 502
    assert by_path["/json"].response.status == 200
    assert by_path["/json"].response.headers["Content-Type"] == "application/json"
    assert by_path["/reset"].response.status == 0  # nothing was answered
    assert by_path["/slow"].response.status == 200 and by_path["/slow"].duration_s >= 0.2
    assert by_path["/normal"].response.status == 200
    assert all(s.request.tls.peer_common_name == PROXY_CLIENT_ID for s in recorder.seen)
    assert len({s.request.id for s in recorder.seen}) == 5
    assert server.requests_served == 5


def test_request_ids_unique_across_threads_and_servers(
    pki: TestPKI, observed: tuple[TLSServer, Recorder]
) -> None:
    server, recorder = observed
    other = Recorder()
    with TLSServer(server_context(pki, "psc"), answer, name="psc", observer=other) as second:
        contexts = [client_context(pki, LPS1_CLIENT_ID) for _ in range(4)]

        def burst(index: int) -> None:
            target = server if index % 2 else second
            with httpx.Client(verify=contexts[index]) as client:
                for n in range(10):
                    assert client.get(f"{target.url}/{index}/{n}").status_code == 200

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(burst, range(4)))
    ids = [s.request.id for s in [*recorder.seen, *other.seen]]
    assert len(ids) == 40 and len(set(ids)) == 40
    # Requests built elsewhere (tests, replays) get an id too, from the same sequence.
    assert next_request_id() != next_request_id()


def test_observer_failure_is_logged_and_serving_goes_on(
    pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(request: Request, response: Response, started_at: float, duration_s: float) -> None:
        calls.append(request.id)
        raise ValueError("observer bug")

    with (
        TLSServer(server_context(pki, "psc"), answer, name="psc-under-test", observer=broken) as server,
        httpx.Client(verify=client_context(pki, LPS1_CLIENT_ID)) as client,
        caplog.at_level(logging.ERROR, logger="conformance.tls.server"),
    ):
        assert client.get(server.url + "/one").status_code == 200
        assert client.get(server.url + "/two").status_code == 200
    assert len(calls) == 2
    failures = [r for r in caplog.records if "observer failed" in r.getMessage()]
    assert len(failures) == 2
    assert "psc-under-test" in failures[0].getMessage() and calls[0] in failures[0].getMessage()
    assert server.handler_errors == []  # an observer bug is not a handler error


def test_name_defaults_and_handshake_failures_are_not_observed(pki: TestPKI) -> None:
    recorder = Recorder()
    with TLSServer(server_context(pki, "psc"), answer, observer=recorder) as server:
        assert server.name == "tls-server"
        with httpx.Client(verify=client_context(pki)) as client, pytest.raises(httpx.TransportError):
            client.get(server.url + "/")  # no client certificate: refused in the handshake
        server.wait_for_handshake_failures(1)
    assert recorder.seen == []  # no request was parsed; handshake failures have their own record
