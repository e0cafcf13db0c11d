"""Reading an answer against an OpenAPI document: the same reading for the API Conformité (consumer)
and the API PSC (provider); the conditions of each role judge what it finds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx

from conformance.openapi import OpenApiDocument


@dataclass(frozen=True)
class Reading:
    """One answer read against one document."""

    request: str  # e.g. "POST /connect"
    status: int
    operation: str | None  # the document's operation serving the request, None when it has none
    declared: tuple[str, ...]  # the statuses that operation lists
    status_listed: bool  # the status has an entry (exact, range or default)
    problems: tuple[str, ...]  # status, media type, body: what departs from the document

    def describe(self) -> str:
        return f"{self.request} → {self.status}"


_INDEX: Final = re.compile(r"\$\[\d+\]")


def compact(problems: Sequence[str]) -> list[str]:
    """The same problem on several items of an array, said once: `$[*].dn: … (12 items)`."""
    counts: dict[str, int] = {}
    for problem in problems:
        key = _INDEX.sub("$[*]", problem)
        counts[key] = counts.get(key, 0) + 1
    return [f"{key} ({n} items)" if n > 1 else key for key, n in counts.items()]


def read_answer(document: OpenApiDocument, answer: httpx.Response, base_path: str = "") -> Reading:
    """What `document` says of `answer` (of an API mounted at `base_path`, when the document's own
    server does not say where): its operation, whether it lists the status, and the problems."""
    request = answer.request
    label = f"{request.method} {request.url.path}"
    operation = document.operation(request.method, request.url.path, base_path=base_path)
    if operation is None:
        return Reading(label, answer.status_code, None, (), False, ())
    problems = operation.validate_response(
        answer.status_code, answer.headers.get("Content-Type"), answer.content, headers=dict(answer.headers)
    )
    return Reading(
        label,
        answer.status_code,
        str(operation),
        tuple(operation.declared_statuses()),
        operation.response_for(answer.status_code) is not None,
        tuple(compact(problems)),
    )
