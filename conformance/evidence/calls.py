"""A timed request to the system under test, and what its answer carries: shared by every role's bench
and conditions (a call the SUT did not answer is kept, with why, rather than raised)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from conformance.evidence.client import EXCHANGE_ID
from conformance.evidence.failures import Failure, failure_of


def exchange_of(answer: httpx.Response | None) -> str | None:
    """The evidence id of the exchange that produced `answer` (set by the recording client)."""
    if answer is None:
        return None
    value = answer.extensions.get(EXCHANGE_ID) if hasattr(answer, "extensions") else None
    return str(value) if value else None


def json_body(answer: httpx.Response) -> Any:
    """The answer's JSON body, or None when it has none or it is not JSON."""
    try:
        return json.loads(answer.content) if answer.content else None
    except ValueError:
        return None


def status_text(answer: httpx.Response | None) -> str:
    """ "HTTP 401", or "no answer"."""
    return "no answer" if answer is None else f"HTTP {answer.status_code}"


@dataclass(frozen=True)
class Call:
    """One request to the SUT, timed: what the counterparts saw meanwhile is its doing.

    `answer` is None when the SUT did not answer (then `error` says what happened).
    """

    answer: httpx.Response | None
    started_at: float
    ended_at: float
    error: str = ""
    failure: Failure | None = None  # with no answer: how the call ended

    @property
    def status(self) -> int | None:
        return None if self.answer is None else self.answer.status_code

    @property
    def silent(self) -> bool:
        """No answer, and nothing the SUT did: a timeout, or nothing there to talk to (`Failure.silent`).
        A call whose end is not known counts as silent: nothing to judge."""
        return self.answer is None and (self.failure is None or self.failure.silent)

    @property
    def exchange_id(self) -> str | None:
        return exchange_of(self.answer)

    def describe(self) -> str:
        return status_text(self.answer) + (f" ({self.error})" if self.answer is None and self.error else "")


def timed(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Call:
    """One timed request of `client`; a transport failure (a refused handshake included) is kept as the
    call's `error`, not raised: what the SUT did not answer is evidence too."""
    started = time.time()
    try:
        answer = client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        return Call(None, started, time.time(), f"{type(exc).__name__}: {exc}", failure_of(exc))
    return Call(answer, started, time.time())
