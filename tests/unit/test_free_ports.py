"""Ports chosen free for a campaign file are drawn where no outgoing connection can take them."""

from __future__ import annotations

import socket

import pytest

from conformance.reference import listening
from conformance.reference.listening import free_ports


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    low, _ = listening._ephemeral_range()
    if low - listening._FIXED_PORTS_FROM < listening._MIN_FIXED_SPAN:
        pytest.skip(f"this host's ephemeral range starts at {low}: no room below it")
    ports = free_ports(6)
    assert len(set(ports)) == 6
    assert all(listening._FIXED_PORTS_FROM <= port < low for port in ports), ports
    sockets = [socket.socket() for _ in ports]
    try:
        for sock, port in zip(sockets, ports, strict=True):
            sock.bind(("127.0.0.1", port))  # raises if another holds it
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_held_by_a_listener_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        monkeypatch.setattr(listening, "_FIXED_PORTS_FROM", taken)
        monkeypatch.setattr(listening, "_ephemeral_range", lambda: (taken + 2, taken + 10))
        monkeypatch.setattr(listening, "_MIN_FIXED_SPAN", 1)
        assert taken not in free_ports(1)


def test_without_room_below_the_ephemeral_range_the_kernel_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listening, "_ephemeral_range", lambda: (1024, 65535))
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(port > 0 for port in ports)
