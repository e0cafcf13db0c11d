"""The total deadline of an exchange covers its head too: a proxy trickling its status line and headers
one byte a second keeps every read within the read timeout, and must still be cut at the deadline.

Fast unit-level companions of the hostile campaigns, against the same hostile proxy run in-process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from hostile_proxy import HostileProxy

from conformance.evidence import EvidenceRecorder, recording_client
from conformance.evidence.client import ExchangeDeadlineExceeded, total_deadline_s
from conformance.pki import TestPKI, client_context, server_context


@pytest.fixture
def trickling_proxy(pki: TestPKI) -> Iterator[str]:
    context = server_context(pki, "sut", require_client_cert=False)
    with HostileProxy(0, "trickle", context, dies_after=1) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"https://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(5)


def test_a_trickled_head_ends_at_the_exchange_deadline(pki: TestPKI, trickling_proxy: str) -> None:
    recorder = EvidenceRecorder()
    timeout = httpx.Timeout(1.5, connect=0.5)  # each byte comes within 1.5 s: no read ever times out
    started = time.monotonic()
    with (
        recording_client(recorder, verify=client_context(pki), timeout=timeout) as lps,
        pytest.raises(ExchangeDeadlineExceeded),
    ):
        lps.post(trickling_proxy + "/connect", json={})
    elapsed = time.monotonic() - started
    assert elapsed < total_deadline_s(timeout) + 0.5  # never the minute and more the answer would take
    (exchange,) = recorder.exchanges()
    assert (
        exchange.status is None and exchange.error and exchange.error.startswith("ExchangeDeadlineExceeded")
    )
    assert "Timeout" in exchange.error  # what conditions read as "the SUT said nothing"


def test_the_health_url_answers_at_once(pki: TestPKI, trickling_proxy: str) -> None:
    """What lets the campaign's start-up check pass: only the API misbehaves."""
    with httpx.Client(verify=client_context(pki), timeout=2.0) as client:
        answer = client.get(trickling_proxy + "/")
    assert answer.status_code == 200 and answer.json() == {"status": "UP"}
