"""Where an embedded reference SUT listens, read from the line it prints once its listeners are bound.

The launchers start the reference SUTs on port 0, so that the kernel picks a free port at the bind
itself. A port chosen free beforehand and bound later by the child can be taken in between, by
another campaign on the same host starting at the same moment.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

_POLL_S: Final = 0.05


def announced_ports(
    log_path: Path, announcement: re.Pattern[str], *, exited: Callable[[], int | None], deadline: float
) -> tuple[int, ...] | None:
    """The ports `announcement`'s groups capture in the SUT's log, once it prints it; None if the process
    exits first (`exited` returns its status) or `deadline` (a `time.monotonic()` value) passes."""
    while True:
        status = exited()  # read before the log: a process that printed, then exited, still counts
        match = announcement.search(_text(log_path))
        if match is not None:
            return tuple(int(port) for port in match.groups())
        if status is not None or time.monotonic() > deadline:
            return None
        time.sleep(_POLL_S)


def free_ports(count: int) -> list[int]:
    """Ports free right now (bound together so they differ), for a campaign file that fixes its ports (an
    external SUT and its counterparts); another process could still take them before they are bound."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _text(log_path: Path) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not created yet
        return ""


__all__ = ["announced_ports", "free_ports"]
