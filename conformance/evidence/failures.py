"""How a call that got no HTTP answer ended, told from the exception and what caused it (httpx raises
its own, from httpcore's, from the socket's or the TLS layer's): never from the message, which is the
system's, in its language. The conditions judge only what the SUT did (it ended the connection: `CUT`);
silence (a timeout, nothing there to talk to) is no verdict of the SUT, and the breaker counts it."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from enum import StrEnum
from typing import Final

import httpx


class Failure(StrEnum):
    """How a call the SUT did not answer ended: whether the SUT did anything a condition may judge."""

    TIMEOUT = "timeout"  # nothing within the bound (connect, read, write, or the whole exchange's deadline)
    UNREACHABLE = "unreachable"  # nothing to talk to: refused, no route, network down, name unknown
    CUT = "cut"  # the SUT ended the connection without an answer: a TLS alert, a reset, broken HTTP

    @property
    def silent(self) -> bool:
        """The SUT said nothing: no verdict of its own to judge."""
        return self is not Failure.CUT


# Connection errors that mean nothing listens there, by errno (never by message: it is localized).
_NOTHING_THERE: Final = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
)


def failure_of(exc: httpx.TransportError) -> Failure:
    """What a transport error says of the SUT, from the exception and what caused it (httpx wraps
    httpcore's, which wraps the socket's or the TLS layer's)."""
    if isinstance(exc, httpx.TimeoutException):
        return Failure.TIMEOUT
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return Failure.UNREACHABLE
        if isinstance(cause, OSError) and cause.errno in _NOTHING_THERE:
            return Failure.UNREACHABLE
        if isinstance(cause, TimeoutError):
            return Failure.TIMEOUT
    return Failure.CUT


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


__all__ = ["Failure", "failure_of"]
