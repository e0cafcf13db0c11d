"""The proxy's trace records, served on GET /traces for the conformance process."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

EVENTS = ("CONNECT_SUCCESS", "CONNECT_REPLAY", "CONNECT_FAILURE", "SEND", "DISCONNECT")


class TraceLog:
    def __init__(self) -> None:
        self._records: list[tuple[dt.datetime, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def record(
        self,
        event: str,
        *,
        client_id: str | None,
        national_id: str | None,
        ip_address: str,
        session_id: str | None,
        session_state: str | None,
        dn: str | None,
        api_request: dict[str, str] | None = None,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        instant = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what the timestamp shows
        record: dict[str, Any] = {
            "type": event,
            "clientId": client_id,
            "IdRPPS": national_id,  # SubjectNameID, never PSC's technical `sub` (EXI PSC 18)
            "ipAddress": ip_address,
            "proxy_id_session": session_id,
            "session_state": session_state,
            "dn": dn,
            "timestamp": self.timestamp(instant),
        }
        if api_request is not None:
            record["apiRequest"] = api_request
        record = self.presented(record)
        with self._lock:
            self._records.append((instant, record))

    def timestamp(self, instant: dt.datetime) -> str:
        """ISO 8601 with milliseconds and the proxy's local UTC offset (`+00:00` for UTC, never `Z`)."""
        return instant.astimezone().isoformat(timespec="milliseconds")

    def presented(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as served: the contract's members only, `apiRequest` only on SEND records."""
        return record

    def within(self, instant: dt.datetime, start: dt.datetime, end: dt.datetime) -> bool:
        """Both bounds exclusive, as the ANS example proxy reads them: start < instant < end."""
        return start < instant < end

    def between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._records)
        return [record for instant, record in records if self.within(instant, start, end)]
