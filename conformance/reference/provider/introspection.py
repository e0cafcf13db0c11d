"""RFC 7662 token introspection, as a client: the AS asking PSC about a subject token, the RS (in one
variant) asking an AS about an API token. Plus the cache the AS keeps of PSC's answers.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx


class IntrospectionFailed(Exception):
    """No usable answer: the endpoint was unreachable, refused the call, or did not answer RFC 7662 JSON."""


def introspect(
    http: httpx.Client,
    endpoint: str,
    token: str,
    *,
    form: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """POST `token` (and the client's `form` fields) to `endpoint`; the JSON answer, `active` checked."""
    try:
        answer = http.post(
            endpoint,
            data={"token": token, **form},
            headers={"Accept": "application/json", **(headers or {})},
        )
    except httpx.HTTPError as exc:
        raise IntrospectionFailed(f"{endpoint} unreachable: {type(exc).__name__}") from None
    if answer.status_code != 200:
        raise IntrospectionFailed(f"{endpoint} answered {answer.status_code}")
    try:
        result = json.loads(answer.content)
    except ValueError:
        raise IntrospectionFailed(f"{endpoint} did not answer JSON") from None
    if not isinstance(result, dict) or not isinstance(result.get("active"), bool):
        raise IntrospectionFailed(f"{endpoint} answered no boolean `active` (RFC 7662 §2.2)")
    return result


class IntrospectionCache:
    """Introspection answers by token (kept as a SHA-256 digest), each until its own deadline."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def get(self, token: str) -> dict[str, Any] | None:
        now = time.time()
        with self._lock:
            entry = self._entries.get(self._key(token))
            if entry is None:
                return None
            if entry[1] <= now:
                del self._entries[self._key(token)]
                return None
            return dict(entry[0])

    def put(self, token: str, answer: Mapping[str, Any], until: float) -> None:
        now = time.time()
        if until <= now:
            return
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}  # drop the stale ones
            self._entries[self._key(token)] = (dict(answer), until)


__all__ = ["IntrospectionCache", "IntrospectionFailed", "introspect"]
