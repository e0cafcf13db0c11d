"""How a call the SUT did not answer ended (`conformance.evidence.calls.Failure`), told from the exception
and what caused it, never from its message: real sockets on loopback, and for what loopback cannot
produce (an unknown name, an unreachable network) the exception chain httpx builds."""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest

from conformance.evidence.calls import Failure, failure_of, timed

BOUND_S = 0.5


@contextmanager
def listener(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP listener whose accepted connections `serve` handles; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5.0)
    connections: list[socket.socket] = []

    def accept() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        connections.append(connection)
        serve(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for connection in connections:
            connection.close()
        thread.join(5.0)


def call(port: int) -> Failure | None:
    with httpx.Client(verify=False, timeout=BOUND_S) as client:
        made = timed(client, "GET", f"https://127.0.0.1:{port}/")
    assert made.answer is None and made.error
    return made.failure


def test_nothing_listening_is_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert call(port) is Failure.UNREACHABLE


def test_accepted_then_never_answered_is_a_timeout() -> None:
    with listener(lambda connection: None) as port:
        assert call(port) is Failure.TIMEOUT


def test_closed_in_the_handshake_is_cut() -> None:
    with listener(lambda connection: connection.close()) as port:
        assert call(port) is Failure.CUT


def test_a_tls_alert_is_cut() -> None:
    """A server that cannot complete any handshake (no certificate) answers with an alert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def refuse(connection: socket.socket) -> None:
        with suppress(ssl.SSLError, OSError):
            context.wrap_socket(connection, server_side=True)

    with listener(refuse) as port:
        assert call(port) is Failure.CUT


@pytest.mark.parametrize(
    "cause",
    [
        socket.gaierror(socket.EAI_NONAME, "Nom ou service inconnu"),
        OSError(errno.ENETUNREACH, "Le réseau n'est pas accessible"),
        OSError(errno.EHOSTUNREACH, "Aucun chemin d'accès pour atteindre l'hôte cible"),
    ],
    ids=["unknown-name", "network-unreachable", "no-route"],
)
def test_unreachable_whatever_the_message_says(cause: OSError) -> None:
    """httpx raises ConnectError from httpcore's, itself raised from the socket's error; the message is
    the system's, in its language."""
    inner = httpx.ConnectError(str(cause))
    inner.__cause__ = cause
    outer = httpx.ConnectError(str(cause))
    outer.__cause__ = inner
    assert failure_of(outer) is Failure.UNREACHABLE


def test_a_reset_is_cut_and_only_silence_is_silent() -> None:
    reset = httpx.ReadError("[Errno 104] Connection reset by peer")
    reset.__cause__ = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    assert failure_of(reset) is Failure.CUT
    assert not Failure.CUT.silent and Failure.TIMEOUT.silent and Failure.UNREACHABLE.silent
