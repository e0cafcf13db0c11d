"""The proxy's trace records, served on GET /traces for the conformance process."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

EVENTS = ("CONNECT_SUCCESS", "CONNECT_REPLAY", "CONNECT_FAILURE", "SEND", "DISCONNECT")


class TraceLog:
    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
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
        record: dict[str, Any] = {
            "type": event,
            "clientId": client_id,
            "IdRPPS": national_id,  # SubjectNameID, never PSC's technical `sub` (EXI PSC 18)
            "ipAddress": ip_address,
            "proxy_id_session": session_id,
            "session_state": session_state,
            "dn": dn,
            "timestamp": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="milliseconds"),
        }
        if api_request is not None:
            record["apiRequest"] = api_request
        with self._lock:
            self._records.append(record)

    def between(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._records)
        return [r for r in records if start < dt.datetime.fromisoformat(r["timestamp"]) < end]
