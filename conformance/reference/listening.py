"""Where an embedded reference SUT listens, read from the line it prints once its listeners are bound.

The launchers start the reference SUTs on port 0, so that the kernel picks a free port at the bind
itself. A port chosen free beforehand and bound later by the child can be taken in between, by
another campaign on the same host starting at the same moment.
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

_POLL_S: Final = 0.05
# `free_ports` draws from [_FIXED_PORTS_FROM, start of the ephemeral range), when that span is wide enough.
_FIXED_PORTS_FROM: Final = 20000
_MIN_FIXED_SPAN: Final = 1000
_MAX_TRIES: Final = 200
_RANDOM: Final = random.SystemRandom()  # never the same draws in forked processes


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
    """Ports free right now, all different, for a campaign file that fixes its ports (an external SUT and
    its counterparts), to be bound later by another process.

    They are drawn below the kernel's ephemeral range: a port from inside it (what binding port 0 gives)
    can be taken before it is bound by any outgoing connection on the host, which a busy host (a matrix
    of campaigns beside) opens by the thousand. Another process could still bind one in between."""
    low = _ephemeral_range()[0]
    candidates = range(_FIXED_PORTS_FROM, low) if low - _FIXED_PORTS_FROM >= _MIN_FIXED_SPAN else range(0)
    chosen: list[int] = []
    for port in _RANDOM.sample(candidates, min(len(candidates), _MAX_TRIES)):
        if len(chosen) == count:
            break
        if port not in chosen and _bindable(port):
            chosen.append(port)
    if len(chosen) < count:  # no room below the ephemeral range: let the kernel choose
        chosen += _kernel_ports(count - len(chosen), avoid=set(chosen))
    return chosen


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default; other systems fall back to the kernel's choice below


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kernel_ports(count: int, avoid: set[int]) -> list[int]:
    sockets = [socket.socket() for _ in range(count + len(avoid))]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in sockets]
        return [port for port in ports if port not in avoid][:count]
    finally:
        for sock in sockets:
            sock.close()


def _text(log_path: Path) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not created yet
        return ""


__all__ = ["announced_ports", "free_ports"]
