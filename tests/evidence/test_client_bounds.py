"""Every exchange with the SUT is bounded as a whole: a trickled answer and a huge one both stop.

A per-read timeout does not bound an answer sent one byte at a time, and reading a 200 MB body into
memory is the harness's failure, not the SUT's: the recording client stops at its total deadline and
at its size cap, records the exchange with the error, and raises a transport error the benches treat
as "no proper answer".
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import httpx
import pytest

from conformance.evidence import EvidenceRecorder
from conformance.evidence.client import (
    ExchangeDeadlineExceeded,
    ResponseTooLarge,
    recording_client,
    total_deadline_s,
)

Behaviour = Callable[[socket.socket], None]


def _serve(behaviour: Behaviour) -> Iterator[str]:
    """A plain-HTTP listener answering every connection with `behaviour` (it reads the request first)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):  # the client gave up: what the test wants
                    behaviour(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def trickle(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n")
    for _ in range(1000):
        conn.sendall(b"x")
        time.sleep(0.2)  # every read is quick: only a total deadline can end this


def flood(conn: socket.socket) -> None:
    size = 200 * 1024 * 1024
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
    block = b"\0" * 65536
    for _ in range(size // len(block)):
        conn.sendall(block)


@pytest.fixture
def trickling() -> Iterator[str]:
    yield from _serve(trickle)


@pytest.fixture
def flooding() -> Iterator[str]:
    yield from _serve(flood)


def test_the_deadline_covers_connect_and_read_budgets() -> None:
    assert total_deadline_s(httpx.Timeout(1.0, connect=0.5)) == pytest.approx(2.5)
    assert total_deadline_s(3.0) == pytest.approx(7.0)


def test_a_trickled_answer_ends_at_the_total_deadline(trickling: str) -> None:
    recorder = EvidenceRecorder()
    timeout = httpx.Timeout(1.0, connect=0.5)
    started = time.monotonic()
    context = ssl.create_default_context()
    with (
        recording_client(recorder, verify=context, timeout=timeout) as client,
        pytest.raises(ExchangeDeadlineExceeded),
    ):
        client.get(trickling)
    elapsed = time.monotonic() - started
    assert total_deadline_s(timeout) <= elapsed < total_deadline_s(timeout) + 1.0  # never the 200 s trickle
    (exchange,) = recorder.exchanges()
    assert exchange.error and "ExchangeDeadlineExceeded" in exchange.error
    assert isinstance(ExchangeDeadlineExceeded("x"), httpx.TransportError)  # benches keep it as evidence


def test_a_huge_answer_stops_at_the_cap_with_bounded_memory(flooding: str) -> None:
    recorder = EvidenceRecorder()
    cap = 1024 * 1024
    tracemalloc.start()
    try:
        with (
            recording_client(
                recorder, verify=ssl.create_default_context(), timeout=10.0, max_body_bytes=cap
            ) as client,
            pytest.raises(ResponseTooLarge),
        ):
            client.get(flooding)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap, f"peak {peak} bytes while reading a 200 MB answer capped at {cap}"
    (exchange,) = recorder.exchanges()
    assert exchange.error and "ResponseTooLarge" in exchange.error
    assert len(exchange.response_body) <= cap


def test_a_request_waited_for_longer_gets_a_longer_deadline(trickling: str) -> None:
    """A scenario that gives one call a longer timeout (a stalled API is waited for past the SUT's own
    timer) gets that call's deadline, not the client's."""
    recorder = EvidenceRecorder()
    short, longer = httpx.Timeout(0.5, connect=0.5), httpx.Timeout(1.5, connect=0.5)
    started = time.monotonic()
    context = ssl.create_default_context()
    with (
        recording_client(recorder, verify=context, timeout=short) as client,
        pytest.raises(ExchangeDeadlineExceeded),
    ):
        client.get(trickling, timeout=longer)
    assert time.monotonic() - started >= total_deadline_s(longer)
