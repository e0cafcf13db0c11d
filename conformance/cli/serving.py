"""What the commands that serve until a signal share (`counterparts`, `reference`).

Its own module, light: the reference SUT a campaign launches imports it, and should not pay for the
counterparts' servers it never runs (0.17-0.2 s of CPU when this lived in `counterparts_cmd`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

POLL_S = 0.2  # how often a serving loop looks for news (observations to print), and notices a signal


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event that SIGINT and SIGTERM set, so a serving command stops its servers and exits 0.

    Outside the main thread (where Python cannot install handlers) the event is only set by its owner.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
