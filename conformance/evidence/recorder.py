"""The campaign's evidence store: every exchange, in both directions, recorded from any thread.

Counterparts record from their server threads (through `server_observer`), the harness records its own
calls to the SUT (through `recording_client`). Each exchange is tagged with the scenario it belongs to
(`conformance.evidence.scenario`): the scenario of the recording thread, else the owner of the subject the
counterpart named, else the only scenario running.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar
from urllib.parse import urlencode

from conformance.evidence.model import TO_HARNESS, Exchange, TLSDetails
from conformance.evidence.scenario import ScenarioRegistry

if TYPE_CHECKING:
    from conformance.evidence.export import SerializedExchange
    from conformance.evidence.redact import ExchangeView
    from conformance.tls.server import Request, Response

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ServerObserver = Callable[["Request", "Response", float, float], None]

_NO_BODY_STATUSES: Final = frozenset({204, 304})
NO_ANSWER: Final = "NoAnswer: the counterpart closed the connection without answering (on purpose)"
_EPOCH_2001: Final = 1e9  # a "duration" this large is an end timestamp, not a duration


class EvidenceRecorder:
    """Thread-safe, append-only list of exchanges with an index by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Exchange] = []
        self._by_id: dict[str, Exchange] = {}
        self._redacted: dict[str, tuple[Exchange, ExchangeView]] = {}
        self._serialized: dict[str, tuple[Exchange, SerializedExchange]] = {}
        self._counter = itertools.count(1)
        self.scenarios = ScenarioRegistry()

    # -- recording ---------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh exchange id, for callers that must name an exchange before recording it."""
        return f"ex-{next(self._counter):06d}"

    def record(self, exchange: Exchange) -> str:
        """Store `exchange` and return its id (assigned if empty, suffixed if already taken).

        An exchange without a scenario is tagged with the current one.
        """
        with self._lock:
            wanted = exchange.id or self.new_id()
            exchange_id = wanted
            while exchange_id in self._by_id:
                exchange_id = f"{wanted}-{next(self._counter)}"
            scenario = exchange.scenario or self.scenarios.current()
            shared = exchange.shared or scenario is None
            stored = replace(
                exchange, id=exchange_id, scenario=scenario or self.scenarios.sole_running(), shared=shared
            )
            self._items.append(stored)
            self._by_id[exchange_id] = stored
        return exchange_id

    @property
    def current_scenario(self) -> str | None:
        """The scenario of the calling thread (None outside any scenario)."""
        return self.scenarios.current()

    def set_scenario(self, nodeid: str | None) -> None:
        """Tag what the calling thread records from now on with `nodeid` (None: it left its scenario)."""
        if nodeid is None:
            self.scenarios.leave()
        else:
            self.scenarios.enter(nodeid)

    @contextlib.contextmanager
    def scenario(self, nodeid: str) -> Iterator[None]:
        """`set_scenario` for the duration of a block, the previous scenario restored after it."""
        previous = self.current_scenario
        self.set_scenario(nodeid)
        try:
            yield
        finally:
            self.set_scenario(previous)

    def server_observer(self, counterpart: str, *, server_subject: str | None = None) -> ServerObserver:
        """Adapter for `TLSServer(observer=...)`: records what a counterpart served to the SUT.

        The observer takes `(request, response, started_at, duration_s)`; a fourth argument that is an
        epoch timestamp rather than a duration is taken as the end time. It never raises into the server
        thread: a recording failure is logged and the exchange is lost, the response is not.
        """

        def observe(request: Request, response: Response, started_at: float, duration_s: float) -> None:
            try:
                if duration_s > _EPOCH_2001:
                    duration_s = max(0.0, duration_s - started_at)
                exchange = _server_exchange(
                    counterpart, request, response, started_at, duration_s, server_subject
                )
                owner = self.scenarios.owner_of(getattr(request, "subjects", ()))
                self.record(replace(exchange, scenario=owner, shared=owner is None))
            except Exception:
                log.exception("could not record an exchange of %s", counterpart)

        return observe

    # -- reading -----------------------------------------------------------------------------------

    def exchanges(
        self,
        *,
        counterpart: str | None = None,
        since: float | None = None,
        scenario: str | None = None,
        direction: str | None = None,
    ) -> list[Exchange]:
        """Recorded exchanges in recording order, filtered; `since` is an epoch time (started at or after)."""
        with self._lock:
            items = list(self._items)
        return [
            e
            for e in items
            if (counterpart is None or e.counterpart == counterpart)
            and (since is None or e.started_at >= since)
            and (scenario is None or e.scenario == scenario)
            and (direction is None or e.direction == direction)
        ]

    def count(
        self,
        *,
        counterpart: str | None = None,
        since: float | None = None,
        scenario: str | None = None,
        direction: str | None = None,
    ) -> int:
        found = self.exchanges(counterpart=counterpart, since=since, scenario=scenario, direction=direction)
        return len(found)

    def get(self, exchange_id: str) -> Exchange | None:
        with self._lock:
            return self._by_id.get(exchange_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._by_id.clear()
            self._redacted.clear()
            self._serialized.clear()

    # -- redaction, once per exchange --------------------------------------------------------------

    def redacted(self, exchange: Exchange) -> ExchangeView:
        """The redacted form of a recorded exchange, computed once: the evidence files and results.json
        both need it, and `redact_ahead` computes it while the campaign waits on timers."""
        from conformance.evidence.redact import view

        return self._once(self._redacted, exchange, view)

    def serialized(self, exchange: Exchange) -> SerializedExchange:
        """The exchange's entries in the evidence files, from its redacted form, computed once."""
        from conformance.evidence.export import serialize

        return self._once(self._serialized, exchange, lambda e: serialize(self.redacted(e)))

    def _once(
        self, cache: dict[str, tuple[Exchange, _T]], exchange: Exchange, make: Callable[[Exchange], _T]
    ) -> _T:
        """`make(exchange)`, kept by id for as long as that id names this very exchange."""
        with self._lock:
            cached = cache.get(exchange.id)
        if cached is not None and cached[0] is exchange:
            return cached[1]
        made = make(exchange)
        with self._lock:
            cache[exchange.id] = (exchange, made)
        return made

    def redact_ahead(self, keep_going: Callable[[], bool] = lambda: True) -> None:
        """Redact and serialize what was recorded so far and not yet, while `keep_going()` holds."""
        with self._lock:
            todo = [e for e in self._items if e.id not in self._serialized]
        for exchange in todo:
            if not keep_going():
                return
            self.serialized(exchange)

    # -- export ------------------------------------------------------------------------------------

    def write(self, directory: str | Path, *, scenario: str | None = None) -> tuple[Path, Path]:
        """Write `evidence.json` and `evidence.har` (redacted) into `directory`; returns their paths."""
        from conformance.evidence.export import write_evidence

        return write_evidence(self.exchanges(scenario=scenario), directory, serialized=self.serialized)


def _server_exchange(
    counterpart: str,
    request: Request,
    response: Response,
    started_at: float,
    duration_s: float,
    server_subject: str | None,
) -> Exchange:
    headers = [(str(k), str(v)) for k, v in request.headers.items()]
    host = request.headers.get("Host") or "unknown-host"
    url = f"https://{host}{request.path}"
    if request.query:
        url += "?" + urlencode(request.query, doseq=True)
    tls = request.tls
    request_id = getattr(request, "id", None)
    exchange = Exchange(
        id=request_id if isinstance(request_id, str) else "",
        counterpart=counterpart,
        direction=TO_HARNESS,
        method=request.method,
        url=url,
        started_at=started_at,
        duration_s=duration_s,
        request_headers=headers,
        request_body=request.body,
        tls=TLSDetails(
            version=tls.version,
            cipher=tls.cipher,
            alpn_protocol=tls.alpn_protocol,
            client_subject=tls.peer_subject,
            client_issuer=tls.peer_issuer,
            client_x5t_s256=tls.peer_x5t_s256,
            server_subject=server_subject,
        ),
    )
    if response.status == 0:  # TLSServer's marker for "no answer" (a reset mode)
        return replace(exchange, error=NO_ANSWER)
    response_headers = [(str(k), str(v)) for k, v in response.headers.items()]
    bodiless = response.status in _NO_BODY_STATUSES or response.status < 200 or request.method == "HEAD"
    if not bodiless and not any(k.lower() == "content-length" for k, _ in response_headers):
        response_headers.append(("Content-Length", str(len(response.body))))  # the server adds it
    return replace(
        exchange,
        status=response.status,
        response_headers=response_headers,
        response_body=b"" if bodiless else response.body,
    )
