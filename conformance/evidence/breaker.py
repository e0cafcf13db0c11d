"""A campaign-wide circuit breaker on the harness's calls to the SUT: a dead SUT costs a few timers, not
one per scenario.

Without it, a SUT that passed the start-up check and then stopped answering makes every scenario wait
out its own read timeout in turn. After `threshold` consecutive calls that got no sign of life (a
timeout, a refused connection) with no answer between them, the breaker holds the SUT unresponsive:
further calls fail at once with `SutUnresponsive`, whose text says why. After a cooldown, one caller
runs a short health probe; if it answers, that caller's call is sent as a trial while the others still
fail at once (scenarios run concurrently: a wave of calls to a SUT still silent would each wait out a
timer). An answer to the trial closes the breaker; no answer re-opens it, for twice as long.

`SutUnresponsive` is deliberately not an `httpx.TransportError`: the benches keep a transport error as
the SUT's answer ("no answer in time") and conditions judge it, which for a call never sent would fail a
requirement on nothing. It ends the scenario instead, in `error`, and the plugin marks what it had to
judge inconclusive with this text as the root cause: never passed, never a failure of a requirement.

Only the absence of any answer counts. An answer, however slow, is a success (a scenario that waits
37.5 s on purpose for a proxy's 504 never trips it), and so is a SUT that does something, even hostile:
a TLS alert, a reset, garbage instead of HTTP, an oversized answer. Those end the call at once, cost no
timer, and some scenarios provoke them on purpose (a provider refusing a negative certificate in the
handshake).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from typing import Final

import httpx

from conformance.evidence.client import bounded_transport, describe_error, within_deadline
from conformance.evidence.failures import failure_of

DEFAULT_THRESHOLD: Final = 2  # one timeout may be a hiccup; two in a row, with nothing between, are not
DEFAULT_COOLDOWN_S: Final = 5.0  # then 10, 20, 40, 60: a trial call to a silent SUT costs its deadline
MAX_COOLDOWN_S: Final = 60.0
PROBE_TIMEOUT_S: Final = 3.0
# A trial call whose end was never reported (a response never closed) stops holding the others back.
TRIAL_TIMEOUT_S: Final = 120.0
# The name of the campaign's breaker among the resources the campaign shares (`Campaign.resources`).
BREAKER_RESOURCE: Final = "sut_breaker"

Probe = Callable[[], str | None]  # None when the SUT answered; otherwise what went wrong


class SutUnresponsive(Exception):
    """The call was not sent: the breaker holds the SUT unresponsive (the text says why)."""


def gave_no_sign_of_life(exc: BaseException) -> bool:
    """A timeout of any phase (a total deadline included), or nothing there to talk to (refused, no route,
    name unknown): the SUT said nothing (`failures.Failure.silent`)."""
    return isinstance(exc, httpx.TransportError) and failure_of(exc).silent


class SutBreaker:
    """Thread-safe: one instance per campaign, shared by every client that calls the SUT.

    The recording client calls `before_call` before sending, then `succeeded` or `failed` with the
    outcome of the whole exchange (its body included: a trickled body ends in a deadline).
    """

    def __init__(
        self,
        probe: Probe | None = None,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        max_cooldown_s: float = MAX_COOLDOWN_S,
        trial_timeout_s: float = TRIAL_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self._probe = probe
        self._threshold = threshold
        self._initial_cooldown_s = cooldown_s
        self._max_cooldown_s = max_cooldown_s
        self._trial_timeout_s = trial_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0  # consecutive calls without a sign of life
        self._last_error = ""
        self._cooldown_s = cooldown_s
        self._open_until: float | None = None  # None: calls go through
        self._probing = False
        self._trial_since: float | None = None  # a trial call is out: the others wait for its outcome
        self._last_probe_error = ""
        self._first_opened_because = ""
        self.refused = 0  # calls failed at once, for the record

    @property
    def is_open(self) -> bool:
        """True while calls fail at once (a trial call may be out)."""
        with self._lock:
            return self._open_until is not None

    @property
    def reason(self) -> str:
        """Why the SUT is held unresponsive ("" while calls go through)."""
        with self._lock:
            return self._reason() if self._open_until is not None else ""

    def incident(self) -> str | None:
        """What the campaign must report if the SUT stopped answering at some point, None if it never did:
        a run whose SUT went silent is not a complete run (exit status 3, BRIEF §4), whatever it judged."""
        with self._lock:
            if not self._first_opened_because:
                return None
            return f"{self._first_opened_because}; {self.refused} call(s) to the SUT were not sent"

    def before_call(self) -> None:
        """Return if the call may be sent; raise `SutUnresponsive` at once otherwise."""
        with self._lock:
            if self._open_until is None:
                return
            now = self._clock()
            trial_out = self._trial_since is not None and now - self._trial_since < self._trial_timeout_s
            if self._probing or trial_out or now < self._open_until:
                raise self._refusal()
            self._probing = True
        error = self._run_probe()
        with self._lock:
            self._probing = False
            if error is None:  # it answers something: this call is the trial, the others wait for it
                self._trial_since = self._clock()
                return
            self._last_probe_error = error
            self._open(self._clock())
            raise self._refusal()

    def succeeded(self) -> None:
        """The SUT answered (or did anything at all): it is alive."""
        with self._lock:
            self._failures = 0
            self._cooldown_s = self._initial_cooldown_s
            self._open_until = None
            self._trial_since = None
            self._last_probe_error = ""

    def failed(self, exc: BaseException, description: str = "") -> None:
        """A call ended in `exc`; only a call without a sign of life counts toward opening."""
        if isinstance(exc, SutUnresponsive):
            return  # the breaker's own refusal is no news of the SUT
        if not gave_no_sign_of_life(exc):
            self.succeeded()
            return
        with self._lock:
            self._failures += 1
            self._last_error = description or f"{type(exc).__name__}: {exc}"
            trial_failed = self._trial_since is not None  # the trial got no answer either: closed for longer
            if trial_failed or (self._open_until is None and self._failures >= self._threshold):
                self._open(self._clock())

    def _open(self, now: float) -> None:
        self._first_opened_because = self._first_opened_because or (
            f"{self._failures} consecutive calls got no answer (last: {self._last_error})"
        )
        self._open_until = now + self._cooldown_s
        self._cooldown_s = min(self._cooldown_s * 2, self._max_cooldown_s)
        self._trial_since = None

    def _run_probe(self) -> str | None:
        if self._probe is None:
            return None  # nothing to ask: the next call is the probe
        try:
            return self._probe()
        except Exception as exc:  # a probe that breaks says the SUT is not back
            return f"{type(exc).__name__}: {exc}"

    def _reason(self) -> str:
        probe = f"; health probe: {self._last_probe_error}" if self._last_probe_error else ""
        return (
            f"the SUT is held unresponsive after {self._failures} consecutive calls without an answer "
            f"(last: {self._last_error}){probe}"
        )

    def _refusal(self) -> SutUnresponsive:
        self.refused += 1
        return SutUnresponsive(f"call not sent: {self._reason()}")


def health_probe(url: str, verify: ssl.SSLContext, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """A probe asking `url` for any HTTP answer, its head within `timeout_s` all told (connect, TLS and a
    head sent byte by byte included); the body is not read. Not evidence: it judges nothing."""

    def probe() -> str | None:
        try:
            with (
                within_deadline(timeout_s),
                httpx.Client(transport=bounded_transport(verify), timeout=httpx.Timeout(timeout_s)) as client,
                client.stream("GET", url),
            ):
                return None
        except httpx.HTTPError as exc:
            return describe_error(exc)

    return probe
