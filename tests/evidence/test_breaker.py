"""The campaign-wide breaker on calls to the SUT: a dead SUT is noticed after a few timers, a slow or
hostile but living one never trips it.

The logic is driven with a fake clock and fake probes; the last tests wire it into the recording client
against real sockets (a silent listener, a closed port, a slow answer).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from conformance.evidence import EvidenceRecorder, recording_client
from conformance.evidence.breaker import SutBreaker, SutUnresponsive, gave_no_sign_of_life, health_probe
from conformance.evidence.client import ResponseTooLarge
from conformance.pki import TestPKI, client_context, server_context
from conformance.tls import Request, Response, TLSServer

TIMEOUT = httpx.ReadTimeout("The read operation timed out")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProbe:
    """Answers as told, and counts how often it was asked."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return self.answers.pop(0) if self.answers else None


def refused_connect() -> httpx.ConnectError:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as cause:
        try:
            raise httpx.ConnectError("[Errno 111] Connection refused") from cause
        except httpx.ConnectError as exc:
            return exc


def fail(breaker: SutBreaker, times: int, exc: Exception = TIMEOUT) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.failed(exc)


def test_opens_after_threshold_consecutive_calls_without_answer() -> None:
    breaker = SutBreaker(threshold=3, clock=FakeClock())
    fail(breaker, 2)
    breaker.before_call()  # two timeouts are not yet a dead SUT
    breaker.failed(TIMEOUT, "ReadTimeout: The read operation timed out")
    with pytest.raises(SutUnresponsive, match=r"after 3 consecutive calls.*last: ReadTimeout"):
        breaker.before_call()
    assert breaker.is_open and "ReadTimeout" in breaker.reason
    assert breaker.refused == 1


def test_incident_tells_the_campaign_the_sut_went_silent_even_after_it_came_back() -> None:
    clock = FakeClock()
    breaker = SutBreaker(FakeProbe(None), threshold=2, cooldown_s=1.0, clock=clock)
    assert breaker.incident() is None
    fail(breaker, 2)
    with pytest.raises(SutUnresponsive):
        breaker.before_call()
    clock.now += 1.0
    breaker.before_call()
    breaker.succeeded()
    incident = breaker.incident()
    assert incident == (
        "2 consecutive calls got no answer (last: ReadTimeout: The read operation timed out); "
        "1 call(s) to the SUT were not sent"
    )


def test_an_answer_between_failures_starts_the_count_again() -> None:
    breaker = SutBreaker(threshold=3, clock=FakeClock())
    fail(breaker, 2)
    breaker.succeeded()
    fail(breaker, 2)
    breaker.before_call()
    assert not breaker.is_open


@pytest.mark.parametrize(
    "sign_of_life",
    [
        httpx.ConnectError("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        httpx.RemoteProtocolError("illegal status line: bytearray(b'SSH-2.0-not-http')"),
        ResponseTooLarge("the answer exceeds 8388608 bytes: reading stopped"),
    ],
    ids=["tls-alert", "reset", "not-http", "too-large"],
)
def test_a_sut_that_does_anything_is_alive(sign_of_life: Exception) -> None:
    """Refusals, resets and garbage end a call at once: they cost no timer, and some scenarios provoke
    them on purpose (a provider refusing a negative certificate in the handshake)."""
    assert not gave_no_sign_of_life(sign_of_life)
    breaker = SutBreaker(threshold=2, clock=FakeClock())
    fail(breaker, 1)
    fail(breaker, 5, sign_of_life)  # ... and each one resets the count of silent calls
    fail(breaker, 1)
    breaker.before_call()
    assert not breaker.is_open


@pytest.mark.parametrize(
    "silence",
    [
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("The read operation timed out"),
        httpx.WriteTimeout("timed out"),
        refused_connect(),
    ],
    ids=["connect-timeout", "read-timeout", "write-timeout", "refused"],
)
def test_timeouts_and_refused_connections_count(silence: Exception) -> None:
    assert gave_no_sign_of_life(silence)
    breaker = SutBreaker(threshold=2, clock=FakeClock())
    fail(breaker, 2, silence)
    assert breaker.is_open


def test_open_breaker_probes_only_after_its_cooldown_then_twice_as_late() -> None:
    clock, probe = FakeClock(), FakeProbe("ConnectTimeout: timed out", "ConnectTimeout: timed out")
    breaker = SutBreaker(probe, threshold=1, cooldown_s=5.0, clock=clock)
    fail(breaker, 1)
    clock.now += 4.9
    with pytest.raises(SutUnresponsive):
        breaker.before_call()
    assert probe.calls == 0  # within the cooldown, nobody asks
    clock.now += 0.2
    with pytest.raises(SutUnresponsive, match="health probe: ConnectTimeout"):
        breaker.before_call()
    assert probe.calls == 1
    clock.now += 9.9  # the second cooldown is twice the first
    with pytest.raises(SutUnresponsive):
        breaker.before_call()
    assert probe.calls == 1
    clock.now += 0.2
    with pytest.raises(SutUnresponsive):
        breaker.before_call()
    assert probe.calls == 2


def test_cooldown_stops_growing_at_its_maximum() -> None:
    clock = FakeClock()
    breaker = SutBreaker(
        FakeProbe(*["down"] * 10), threshold=1, cooldown_s=5.0, max_cooldown_s=12.0, clock=clock
    )
    fail(breaker, 1)
    for _ in range(4):
        clock.now += 12.0  # never more than the maximum between two probes
        with pytest.raises(SutUnresponsive, match="health probe: down"):
            breaker.before_call()


def test_probe_answering_sends_one_trial_and_its_silence_reopens() -> None:
    clock, probe = FakeClock(), FakeProbe(None)
    breaker = SutBreaker(probe, threshold=3, cooldown_s=5.0, clock=clock)
    fail(breaker, 3)
    clock.now += 5.0
    breaker.before_call()  # probed, alive: this call is the trial
    assert probe.calls == 1
    with pytest.raises(SutUnresponsive):
        breaker.before_call()  # concurrent scenarios do not all wait out a timer on a SUT still silent
    breaker.failed(TIMEOUT)  # the API still says nothing: no three more timers to wait
    clock.now += 5.0
    with pytest.raises(SutUnresponsive):
        breaker.before_call()  # the cooldown doubled: still closed for business
    assert probe.calls == 1


def test_an_answer_to_the_trial_lets_every_call_through() -> None:
    clock = FakeClock()
    breaker = SutBreaker(FakeProbe(None), threshold=1, cooldown_s=5.0, clock=clock)
    fail(breaker, 1)
    clock.now += 5.0
    breaker.before_call()
    breaker.succeeded()
    breaker.before_call()
    breaker.before_call()
    assert not breaker.is_open


def test_a_trial_never_reported_stops_holding_the_others_back() -> None:
    clock, probe = FakeClock(), FakeProbe(None, None)
    breaker = SutBreaker(probe, threshold=1, cooldown_s=5.0, trial_timeout_s=30.0, clock=clock)
    fail(breaker, 1)
    clock.now += 5.0
    breaker.before_call()  # a trial whose response is never closed
    clock.now += 29.0
    with pytest.raises(SutUnresponsive):
        breaker.before_call()
    clock.now += 1.0
    breaker.before_call()  # a new probe, a new trial
    assert probe.calls == 2


def test_an_answer_closes_it_and_restores_the_first_cooldown() -> None:
    clock = FakeClock()
    breaker = SutBreaker(FakeProbe(None, None), threshold=1, cooldown_s=5.0, clock=clock)
    fail(breaker, 1)
    clock.now += 5.0
    breaker.before_call()
    breaker.failed(TIMEOUT)  # re-opened for 10 s
    clock.now += 10.0
    breaker.before_call()
    breaker.succeeded()
    fail(breaker, 1)  # open again, for the first cooldown only
    clock.now += 5.0
    breaker.before_call()


def test_a_probe_that_raises_keeps_it_open() -> None:
    def broken() -> str | None:
        raise RuntimeError("no route")

    clock = FakeClock()
    breaker = SutBreaker(broken, threshold=1, cooldown_s=1.0, clock=clock)
    fail(breaker, 1)
    clock.now += 1.0
    with pytest.raises(SutUnresponsive, match="health probe: RuntimeError: no route"):
        breaker.before_call()


def test_one_caller_probes_while_the_others_fail_at_once() -> None:
    probing, release = threading.Event(), threading.Event()

    def slow_probe() -> str | None:
        probing.set()
        release.wait(5)
        return None

    clock = FakeClock()
    breaker = SutBreaker(slow_probe, threshold=1, cooldown_s=1.0, clock=clock)
    fail(breaker, 1)
    clock.now += 1.0
    prober = threading.Thread(target=breaker.before_call)
    prober.start()
    assert probing.wait(5)
    started = time.monotonic()
    with pytest.raises(SutUnresponsive):
        breaker.before_call()
    assert time.monotonic() - started < 0.5  # did not queue behind the probe
    release.set()
    prober.join(5)
    breaker.succeeded()  # the prober's trial call was answered
    breaker.before_call()


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SutBreaker(threshold=0)


# -- wired into the recording client, real sockets ------------------------------------------------------


@contextlib.contextmanager
def tls_server(pki: TestPKI, handler: Callable[[Request], Response]) -> Iterator[str]:
    with TLSServer(server_context(pki, "sut", require_client_cert=False), handler, timeout=5.0) as server:
        yield server.url


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """Accepts connections and never says a word (not even TLS)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_recording_client_stops_calling_a_silent_sut(pki: TestPKI) -> None:
    recorder = EvidenceRecorder()
    breaker = SutBreaker(threshold=2, cooldown_s=60.0)
    timeout = httpx.Timeout(0.3, connect=0.3)
    with silent_listener() as url:
        for _ in range(2):
            with (
                recording_client(
                    recorder, verify=client_context(pki), timeout=timeout, breaker=breaker
                ) as lps,
                pytest.raises(httpx.TimeoutException),
            ):
                lps.post(url + "/connect")
        started = time.monotonic()
        with (
            recording_client(recorder, verify=client_context(pki), timeout=timeout, breaker=breaker) as lps,
            pytest.raises(SutUnresponsive, match="call not sent"),
        ):
            lps.post(url + "/connect")
        assert time.monotonic() - started < 0.1
    refused = recorder.exchanges()[-1]
    assert refused.error and refused.error.startswith("SutUnresponsive: call not sent")  # kept as evidence


def test_a_closed_port_counts_as_silence(pki: TestPKI) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    breaker = SutBreaker(threshold=1)
    with (
        recording_client(EvidenceRecorder(), verify=client_context(pki), timeout=1.0, breaker=breaker) as lps,
        pytest.raises(httpx.ConnectError),
    ):
        lps.get(f"https://127.0.0.1:{port}/")
    assert breaker.is_open


def test_a_slow_answer_never_trips_it(pki: TestPKI) -> None:
    """A scenario that waits on purpose (a 504 after the proxy's own upstream timeout) gets its answer."""

    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response.json({"code": "504"}, status=504)

    breaker = SutBreaker(threshold=1)
    with (
        tls_server(pki, slow) as url,
        recording_client(EvidenceRecorder(), verify=client_context(pki), timeout=2.0, breaker=breaker) as lps,
    ):
        for _ in range(2):
            assert lps.get(url + "/send/apipsc/signsessiondata").status_code == 504
    assert not breaker.is_open


def test_health_probe_says_whether_anything_answers(pki: TestPKI) -> None:
    with tls_server(pki, lambda request: Response.json({}, status=404)) as url:
        assert health_probe(url + "/", client_context(pki))() is None  # any HTTP answer will do
    with silent_listener() as url:
        started = time.monotonic()
        said = health_probe(url + "/", client_context(pki), timeout_s=0.5)()
        assert said is not None and "Timeout" in said
        assert time.monotonic() - started < 1.5


def test_health_probe_context_is_the_callers(pki: TestPKI) -> None:
    """The probe trusts what the bench trusts: a server the context does not trust is not 'alive'."""
    foreign = ssl.create_default_context()  # the system store: not the test root
    with tls_server(pki, lambda request: Response.json({})) as url:
        said = health_probe(url + "/", foreign)()
    assert said is not None and "CERTIFICATE_VERIFY_FAILED" in said
