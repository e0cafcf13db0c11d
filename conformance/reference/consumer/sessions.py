"""Proxy sessions: one per (professional, LPS), ended by disconnect, idleness or age.

Idleness ends the proxy session only: PSC's own session is left alone (EXI PSC 32), and the PSC
token is refreshed only when the LPS is active (EXI PSC 11), never in the background.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.reference.consumer.exchange import ApiToken
from conformance.reference.consumer.psc_client import PscTokens


@dataclass
class Session:
    client_id: str  # the LPS this session acts for
    identity: str  # the PSC client id, and certificate, used upstream for it: the LPS's own
    national_id: str  # SubjectNameID of the professional (idNat_PS)
    psc: PscTokens
    api_tokens: dict[str, ApiToken]
    certificate_dn: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _forget(session: Session) -> None:
    """Nothing to do but forget the session: PSC's own session stays (EXI PSC 32)."""


class SessionStore:
    def __init__(
        self,
        idle_timeout_s: float,
        session_timeout_s: float,
        on_expiry: Callable[[Session], None] = _forget,
    ) -> None:
        """`on_expiry` is called once for each session that ends by idleness or age, as it is forgotten."""
        self.idle_timeout_s = idle_timeout_s
        self.session_timeout_s = session_timeout_s
        self.on_expiry = on_expiry
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def alive(self, session_id: str | None) -> Session | None:
        """The session if it is still alive; an expired one is forgotten on the spot."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or not self.expired(session):
                return session
            del self._sessions[session_id]
        self.on_expiry(session)
        return None

    def live(self) -> list[Session]:
        """The sessions still alive, oldest first (a snapshot)."""
        with self._lock:
            sessions = list(self._sessions.values())
        now = time.monotonic()
        return sorted((s for s in sessions if not self.expired(s, now)), key=lambda s: s.created_at)

    def expired(self, session: Session, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return (
            now - session.last_activity > self.idle_timeout_s
            or now - session.created_at > self.session_timeout_s
        )

    def touch(self, session: Session) -> None:
        session.last_activity = time.monotonic()

    def remove(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(session_id, None)

    def reap(self) -> list[Session]:
        """Forget every expired session (called periodically)."""
        now = time.monotonic()
        with self._lock:
            dead = [s for s in self._sessions.values() if self.expired(s, now)]
            for session in dead:
                del self._sessions[session.id]
        for session in dead:
            self.on_expiry(session)
        return dead
