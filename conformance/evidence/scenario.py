"""Which scenario an exchange belongs to, when scenarios run at the same time against one SUT.

The harness's own calls carry the scenario of the thread that made them (a context variable the campaign
sets around each scenario). What the SUT sends the counterparts carries no such mark: a counterpart
learns whom a request concerns (the professional of a CIBA request, the subject of a token) and names
that *subject*; the scenario that claimed the subject (it minted that test identity) owns the exchange.
A request that concerns nobody in particular (metadata, JWKS) stays unattributed, unless a single
scenario is running, in which case it is that scenario's doing, exactly as in a sequential campaign.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("psc_scenario", default=None)
# Inside an `alone()` section no other scenario does anything: all traffic is the section's doing.
_ALONE: contextvars.ContextVar[bool] = contextvars.ContextVar("psc_alone", default=False)


class ScenarioRegistry:
    """Running scenarios, and the subjects (test identities, client ids) each one owns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self._owners: dict[str, str] = {}
        self._groups: dict[str, frozenset[str]] = {}

    # -- the scenario of the calling thread --------------------------------------------------------

    @staticmethod
    def current() -> str | None:
        return _CURRENT.get()

    def enter(self, nodeid: str) -> None:
        """The calling thread now runs `nodeid` (what it records is tagged with it), and no longer the
        scenario it ran before, if any."""
        self.leave()
        _CURRENT.set(nodeid)
        with self._lock:
            self._running[nodeid] += 1

    def leave(self) -> None:
        nodeid = _CURRENT.get()
        _CURRENT.set(None)
        if nodeid is None:
            return
        with self._lock:
            self._running[nodeid] -= 1
            if self._running[nodeid] <= 0:
                del self._running[nodeid]

    @staticmethod
    def set_alone(alone: bool) -> None:
        """The calling thread's scenario is (no longer) the only one doing anything."""
        _ALONE.set(alone)

    @staticmethod
    def alone() -> bool:
        return _ALONE.get()

    def sole_running(self) -> str | None:
        """The only scenario running now, if exactly one is: it owns whatever concerns nobody else."""
        with self._lock:
            return next(iter(self._running)) if len(self._running) == 1 else None

    def group(self, nodeids: tuple[str, ...] | list[str]) -> None:
        """These scenarios share fixtures wider than one (a module's journey): what one of them did is
        evidence for all of them."""
        members = frozenset(nodeids)
        with self._lock:
            for nodeid in members:
                self._groups[nodeid] = members

    def scope_of(self, nodeid: str) -> frozenset[str]:
        """The scenarios whose traffic `nodeid` may judge: itself and the scenarios of its group."""
        with self._lock:
            return self._groups.get(nodeid, frozenset({nodeid}))

    # -- subjects ------------------------------------------------------------------------------------

    def claim(self, *subjects: str, nodeid: str | None = None) -> None:
        """Traffic concerning these subjects is the doing of `nodeid` (default: the current scenario)."""
        owner = nodeid or _CURRENT.get()
        if owner is None:
            return
        with self._lock:
            for subject in subjects:
                self._owners[subject] = owner

    def owner(self, subject: str | None) -> str | None:
        if subject is None:
            return None
        with self._lock:
            return self._owners.get(subject)

    def owner_of(self, subjects: list[str] | tuple[str, ...] = ()) -> str | None:
        """The scenario that owns the first of `subjects` it knows, if any."""
        for subject in subjects:
            owner = self.owner(subject)
            if owner is not None:
                return owner
        return None
