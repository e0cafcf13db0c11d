"""EvidenceRecorder: ids, scenario tagging, filters, the server observer adapter, thread safety."""

from __future__ import annotations

import http.client
import logging
import threading
from typing import Any, cast

import pytest

from conformance.evidence import NO_ANSWER, TO_HARNESS, TO_SUT, EvidenceRecorder, Exchange, to_har, to_json
from conformance.tls import Request, Response, TLSInfo


def exchange(counterpart: str = "psc", started_at: float = 1000.0, **fields: Any) -> Exchange:
    return Exchange(
        counterpart=counterpart,
        direction=fields.pop("direction", TO_HARNESS),
        method="GET",
        url="https://127.0.0.1/x",
        started_at=started_at,
        **fields,
    )


def server_request(**overrides: Any) -> Request:
    headers = http.client.HTTPMessage()
    headers["Host"] = "127.0.0.1:8443"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    fields: dict[str, Any] = {
        "method": "POST",
        "path": "/ciba/backchannel",
        "query": {"a": ["1", "2"]},
        "headers": headers,
        "body": b"scope=openid",
        "tls": TLSInfo(
            version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", peer_subject="CN=x", peer_x5t_s256="thumb"
        ),
        "client_address": ("127.0.0.1", 50000),
    }
    return Request(**(fields | overrides))


def test_ids_are_assigned_unique_and_kept() -> None:
    recorder = EvidenceRecorder()
    first = recorder.record(exchange())
    given = recorder.record(exchange(id="req-7"))
    again = recorder.record(exchange(id="req-7"))
    assert first.startswith("ex-") and given == "req-7" and again not in (first, given)
    assert [e.id for e in recorder.exchanges()] == [first, "req-7", again]
    assert recorder.get("req-7") is not None and recorder.get("nope") is None


def test_scenario_tagging_and_filters() -> None:
    recorder = EvidenceRecorder()
    recorder.record(exchange(started_at=1.0))
    recorder.set_scenario("tests/a.py::test_one")
    recorder.record(exchange("api", started_at=2.0))
    recorder.record(exchange(started_at=3.0, scenario="explicit"))
    with recorder.scenario("tests/a.py::test_two"):
        recorder.record(exchange("sut", started_at=4.0, direction=TO_SUT))
    recorder.record(exchange(started_at=5.0))
    recorder.set_scenario(None)
    recorder.record(exchange(started_at=6.0))

    assert [e.scenario for e in recorder.exchanges()] == [
        None,
        "tests/a.py::test_one",
        "explicit",
        "tests/a.py::test_two",
        "tests/a.py::test_one",
        None,
    ]
    assert recorder.count(scenario="tests/a.py::test_one") == 2
    assert recorder.count(counterpart="psc", scenario="tests/a.py::test_one") == 1
    assert [e.started_at for e in recorder.exchanges(since=4.0)] == [4.0, 5.0, 6.0]
    assert recorder.count(direction=TO_SUT) == 1 and recorder.count(counterpart="api") == 1
    assert len(recorder) == 6
    recorder.clear()
    assert recorder.exchanges() == [] and len(recorder) == 0


def test_server_observer_builds_the_exchange() -> None:
    recorder = EvidenceRecorder()
    observe = recorder.server_observer("psc", server_subject="CN=psc.test")
    request = server_request()
    observe(request, Response.json({"auth_req_id": "r1"}, 200), 100.0, 0.25)
    observe(request, Response(204), 1_750_000_000.0, 1_750_000_000.5)  # an end time, not a duration
    observe(server_request(method="HEAD"), Response.text("body not sent"), 300.0, 0.1)

    first, second, head = recorder.exchanges()
    assert first.url == "https://127.0.0.1:8443/ciba/backchannel?a=1&a=2"
    assert first.request_body == b"scope=openid"
    assert first.request_header("content-type") == "application/x-www-form-urlencoded"
    assert first.status == 200 and first.response_body == b'{"auth_req_id": "r1"}'
    assert first.response_header("Content-Length") == "21"
    assert first.tls is not None and first.tls.client_x5t_s256 == "thumb"
    assert first.tls.server_subject == "CN=psc.test"
    assert (first.started_at, first.duration_s) == (100.0, 0.25)
    assert second.duration_s == pytest.approx(0.5) and second.response_header("Content-Length") is None
    assert head.response_body == b""


def test_server_observer_uses_the_request_id() -> None:
    recorder = EvidenceRecorder()
    request = server_request(id="req-42")
    recorder.server_observer("api-as")(request, Response(200), 1.0, 0.1)
    stored = recorder.get(request.id)
    assert stored is not None and stored.counterpart == "api-as"


def test_server_observer_records_a_deliberate_reset_as_no_response() -> None:
    """TLSServer passes `Response(0)` when a reset mode sent no answer."""
    recorder = EvidenceRecorder()
    recorder.server_observer("psc")(server_request(), Response(0), 1.0, 0.1)
    (stored,) = recorder.exchanges()
    assert stored.status is None and stored.error == NO_ANSWER
    assert to_har([stored])["log"]["entries"][0]["response"]["status"] == 0


def test_server_observer_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    recorder = EvidenceRecorder()
    with caplog.at_level(logging.ERROR):
        recorder.server_observer("psc")(cast(Request, object()), Response(200), 1.0, 0.1)
    assert len(recorder) == 0
    assert "could not record" in caplog.text


def test_concurrent_records_and_reads() -> None:
    recorder = EvidenceRecorder()
    threads_count, per_thread = 16, 250
    start = threading.Barrier(threads_count + 1)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            recorder.record(exchange(f"cp-{n % 4}", started_at=float(i), id="same" if i % 50 == 0 else ""))

    def reader() -> None:
        start.wait()
        try:
            for _ in range(20):
                to_json(recorder.exchanges()[-20:])
                recorder.count(counterpart="cp-1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert not errors
    items = recorder.exchanges()
    assert len(items) == threads_count * per_thread
    assert len({e.id for e in items}) == len(items)
    assert all(recorder.get(e.id) is e for e in items)
    assert recorder.count(counterpart="cp-1") == 4 * per_thread
    assert len(to_har(items[:10])["log"]["entries"]) == 10


def test_headers_keep_order_and_duplicates() -> None:
    recorder = EvidenceRecorder()
    headers = http.client.HTTPMessage()
    for name, value in [("Host", "h"), ("X-A", "1"), ("x-a", "2"), ("Accept", "*/*")]:
        headers[name] = value
    recorder.server_observer("psc")(server_request(headers=headers), Response(200), 1.0, 0.1)
    (stored,) = recorder.exchanges()
    assert stored.request_headers == [("Host", "h"), ("X-A", "1"), ("x-a", "2"), ("Accept", "*/*")]


def test_an_exchange_is_redacted_once_and_ahead_gives_the_same_files(tmp_path: Any) -> None:
    """`redact_ahead` (run while the campaign waits on timers) changes nothing in what is written: the
    same redacted form, computed once, whatever asked first."""
    from conformance.evidence.redact import view

    secret = "client_secret=hunter2&grant_type=client_credentials"
    recorder, control = EvidenceRecorder(), EvidenceRecorder()
    for r in (recorder, control):
        r.record(
            exchange(
                id="a",
                request_body=secret.encode(),
                request_headers=[("Content-Type", "application/x-www-form-urlencoded")],
            )
        )
        r.record(exchange("api", id="b", started_at=1001.0))
    stop_after_one = iter([True, False])
    recorder.redact_ahead(keep_going=lambda: next(stop_after_one))  # stopped after the first exchange
    first = recorder.get("a")
    assert first is not None
    assert recorder.redacted(first) is recorder.redacted(first)  # cached, not recomputed
    assert recorder.redacted(first) == view(first) and "hunter2" not in str(
        recorder.redacted(first).request_body
    )
    recorder.redact_ahead()
    ahead, at_the_end = recorder.write(tmp_path / "ahead"), control.write(tmp_path / "end")
    for written, expected in zip(ahead, at_the_end, strict=True):
        assert written.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")
