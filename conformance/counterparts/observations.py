"""What the counterparts saw the SUT do, for scenarios to judge.

A counterpart serves what the real service would and never judges: when a caller deviates
from the rules of the trust space (wrong scope, Basic where mTLS is required, polling too
fast…) it records an observation and carries on as the real service would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

# Kinds that record what was received or parsed, deviation or not: conditions judge the rules from
# them, once. Any other kind is a deviation a counterpart noticed.
RECORDS: Final = frozenset(
    {"metadata.discovery", "metadata.jwks", "ciba.received", "token.request", "token_exchange.request"}
)


@dataclass(frozen=True)
class Observation:
    counterpart: str  # psc, api-as, api
    kind: str  # a stable name, e.g. "ciba.scope", "token.client_auth"; scenarios filter on it
    client_id: str | None
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    exchange_id: str | None = None
    at: float = field(default_factory=time.time)
    # Whom the request concerned (`Request.subjects`, the live list): which scenario's doing this is,
    # known as soon as the counterpart knows it, before the exchange is recorded.
    subjects: list[str] = field(default_factory=list, compare=False, repr=False)


class ObservationLog:
    """Thread-safe list of observations shared by the counterparts of a campaign."""

    def __init__(self) -> None:
        self._items: list[Observation] = []
        self._lock = threading.Lock()

    def add(self, observation: Observation) -> None:
        with self._lock:
            self._items.append(observation)

    def __iter__(self) -> Iterator[Observation]:
        with self._lock:
            return iter(list(self._items))

    def find(
        self,
        kind: str | None = None,
        *,
        counterpart: str | None = None,
        client_id: str | None = None,
        since: float | None = None,
    ) -> list[Observation]:
        return [
            o
            for o in self
            if (kind is None or o.kind == kind or o.kind.startswith(kind + "."))
            and (counterpart is None or o.counterpart == counterpart)
            and (client_id is None or o.client_id == client_id)
            and (since is None or o.at >= since)
        ]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
