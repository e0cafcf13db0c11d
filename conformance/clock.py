"""Time as the counterparts see it: injectable, so expiry scenarios take seconds and unit tests none."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (what `exp`, `iat` and `expires_in` are computed from)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (unit tests of expiry logic)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def sleep_until(epoch: float) -> None:
    """Wait until the wall-clock instant `epoch` (scenarios wait for the SUT's declared timers)."""
    time.sleep(max(0.0, epoch - time.time()))
