"""Evidence export: the harness's own JSON and HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/).

Both go through `redact.view`, so the same rules apply to both (see `conformance.evidence.redact`).
HAR carries what it has no field for in custom fields prefixed with `_`, as the specification allows.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import conformance
from conformance.evidence.model import Exchange, Headers
from conformance.evidence.redact import DEFAULT_MAX_BODY, BodyView, ExchangeView, view

JSON_NAME: Final = "evidence.json"
HAR_NAME: Final = "evidence.har"
FORMAT: Final = "psc-conformance-evidence"
FORMAT_VERSION: Final = 1
REDACTION_NOTE: Final = (
    "Secrets redacted: Authorization Basic credentials, client_secret/password/client_assertion fields, "
    "JSON secrets and JWK private members, PEM private keys. JWT signatures shortened to 8 characters. "
    "Cookie values kept. Bodies capped."
)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000.0, 3)


def _pairs(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


# -- JSON ----------------------------------------------------------------------------------------------


def _body_json(body: BodyView) -> dict[str, Any]:
    data: dict[str, Any] = {
        "size": body.size,
        "mime_type": body.mime_type,
        "text": body.text,
        "base64": body.base64,
        "truncated": body.truncated,
        "redacted": body.redacted,
    }
    if body.decoded_from:
        data["decoded_from"] = body.decoded_from
    return data


def exchange_json(v: ExchangeView) -> dict[str, Any]:
    e = v.exchange
    response = None
    if e.status is not None and v.response_body is not None:
        response = {
            "status": e.status,
            "reason": e.reason,
            "headers": _pairs(v.response_headers),
            "body": _body_json(v.response_body),
        }
    return {
        "id": e.id,
        "scenario": e.scenario,
        "shared": e.shared,  # concerns no scenario in particular (metadata, JWKS)
        "counterpart": e.counterpart,
        "direction": e.direction,
        "started_at": _iso(e.started_at),
        "started_at_epoch": e.started_at,
        "duration_ms": _ms(e.duration_s),
        "request": {
            "method": e.method,
            "url": v.url,
            "http_version": e.http_version,
            "headers": _pairs(v.request_headers),
            "query": _pairs(v.query),
            "body": _body_json(v.request_body),
        },
        "response": response,
        "tls": asdict(e.tls) if e.tls is not None else None,
        "error": v.error,
        "jwts": v.jwts,
    }


def to_json(exchanges: Iterable[Exchange], *, max_body: int = DEFAULT_MAX_BODY) -> list[dict[str, Any]]:
    """Redacted, JSON-ready form of `exchanges` (one dict each, in order)."""
    return [exchange_json(view(e, max_body=max_body)) for e in exchanges]


# -- HAR 1.2 -------------------------------------------------------------------------------------------


def _request_cookies(headers: Headers) -> list[dict[str, Any]]:
    cookies: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() != "cookie":
            continue
        for item in value.split(";"):
            key, eq, val = item.strip().partition("=")
            if key and eq:
                cookies.append({"name": key, "value": val})
    return cookies


def _response_cookies(headers: Headers) -> list[dict[str, Any]]:
    cookies: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() != "set-cookie":
            continue
        first, *attributes = value.split(";")
        key, _, val = first.strip().partition("=")
        cookie: dict[str, Any] = {"name": key, "value": val}
        for attribute in attributes:
            attr, _, attr_value = attribute.strip().partition("=")
            lower = attr.lower()
            if lower in ("path", "domain", "expires"):
                cookie[lower] = attr_value
            elif lower == "httponly":
                cookie["httpOnly"] = True
            elif lower == "secure":
                cookie["secure"] = True
        cookies.append(cookie)
    return cookies


def _status_text(e: Exchange) -> str:
    if e.reason is not None:
        return e.reason
    try:
        return http.HTTPStatus(e.status or 0).phrase
    except ValueError:
        return ""


def _har_request(v: ExchangeView) -> dict[str, Any]:
    e = v.exchange
    request: dict[str, Any] = {
        "method": e.method,
        "url": v.url,
        "httpVersion": e.http_version,
        "cookies": _request_cookies(v.request_headers),
        "headers": _pairs(v.request_headers),
        "queryString": _pairs(v.query),
        "headersSize": -1,
        "bodySize": len(e.request_body),
    }
    body = v.request_body
    if body.size:
        post: dict[str, Any] = {"mimeType": body.mime_type, "text": body.text}
        if body.params is not None:
            post["params"] = _pairs(body.params)
        if body.base64:
            post["_encoding"] = "base64"
        if body.truncated:
            post["_truncated"] = True
        request["postData"] = post
    return request


def _har_response(v: ExchangeView) -> dict[str, Any]:
    e = v.exchange
    body = v.response_body or BodyView(size=0, mime_type="", text="")
    content: dict[str, Any] = {"size": body.size, "mimeType": body.mime_type, "text": body.text}
    if body.base64:
        content["encoding"] = "base64"
    if body.truncated:
        content["_truncated"] = True
    if body.decoded_from:
        content["_decodedFrom"] = body.decoded_from
    location = next((value for name, value in v.response_headers if name.lower() == "location"), "")
    return {
        "status": e.status if e.status is not None else 0,  # 0: no response, as browsers write it
        "statusText": _status_text(e) if e.status is not None else "",
        "httpVersion": e.http_version if e.status is not None else "",
        "cookies": _response_cookies(v.response_headers),
        "headers": _pairs(v.response_headers),
        "content": content,
        "redirectURL": location,
        "headersSize": -1,
        "bodySize": len(e.response_body) if e.status is not None else -1,
    }


def _har_timings(e: Exchange) -> dict[str, float]:
    total = _ms(e.duration_s)
    wait = min(total, _ms(e.headers_received_s)) if e.headers_received_s is not None else total
    return {"send": 0.0, "wait": wait, "receive": round(total - wait, 3)}


def har_entry(v: ExchangeView) -> dict[str, Any]:
    e = v.exchange
    timings = _har_timings(e)
    entry: dict[str, Any] = {
        "startedDateTime": _iso(e.started_at),
        "time": round(sum(timings.values()), 3),
        "request": _har_request(v),
        "response": _har_response(v),
        "cache": {},
        "timings": timings,
        "_exchangeId": e.id,
        "_counterpart": e.counterpart,
        "_direction": e.direction,
        "_scenario": e.scenario,
        "_tls": asdict(e.tls) if e.tls is not None else None,
        "_jwts": v.jwts,
    }
    if v.error is not None:
        entry["_error"] = v.error
    return entry


def to_har(exchanges: Iterable[Exchange], *, max_body: int = DEFAULT_MAX_BODY) -> dict[str, Any]:
    """HAR 1.2 document of `exchanges`, redacted like `to_json`."""
    return _har_document([har_entry(view(e, max_body=max_body)) for e in exchanges])


def _har_document(entries: list[Any]) -> dict[str, Any]:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "psc-conformance", "version": conformance.__version__},
            "entries": entries,
            "comment": REDACTION_NOTE,
        }
    }


def _evidence_document(exchanges: list[Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generator": {"name": "psc-conformance", "version": conformance.__version__},
        "redaction": REDACTION_NOTE,
        "exchanges": exchanges,
    }


# -- files ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SerializedExchange:
    """An exchange's entry in `evidence.json` and in `evidence.har`, each as compact JSON text: computed
    ahead while the campaign waits on timers (`EvidenceRecorder.serialized`), joined at the end."""

    evidence: str
    har: str


def serialize(v: ExchangeView) -> SerializedExchange:
    return SerializedExchange(_compact(exchange_json(v)), _compact(har_entry(v)))


def write_evidence(
    exchanges: Iterable[Exchange],
    directory: str | Path,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    serialized: Callable[[Exchange], SerializedExchange] | None = None,
) -> tuple[Path, Path]:
    """Write `evidence.json` and `evidence.har` into `directory` (created); returns their paths.

    Each exchange is redacted and serialized once for both files: that is most of their cost (a
    campaign's exchanges took 0.4 s of CPU to redact). `serialized` gives an exchange's entries computed
    beforehand (`EvidenceRecorder.serialized`, with the default `max_body`). The files are the documents
    of `to_json` and `to_har`, byte for byte what `json.dumps` writes of them, joined from the entries."""
    entries = [serialized(e) if serialized else serialize(view(e, max_body=max_body)) for e in exchanges]
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    json_path, har_path = out / JSON_NAME, out / HAR_NAME
    _write_joined(json_path, _evidence_document, [e.evidence for e in entries])
    _write_joined(har_path, _har_document, [e.har for e in entries])
    return json_path, har_path


def _compact(document: Any) -> str:
    """Compact, not indented: only then does `json` use its C encoder, 3 to 4 times faster on a campaign's
    evidence (0.07 against 0.02 s per file, several times that under load). A viewer indents it."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


_SLOT: Final = "\x00psc-conformance entries\x00"  # never in a document's own members


def _write_joined(path: Path, document: Callable[[list[Any]], Any], entries: list[str]) -> None:
    """Write `document(entries)` compact, its entries given as JSON text: the document is encoded around a
    placeholder, which the joined entries replace."""
    opening, closing = _compact(document([_SLOT])).split(_compact(_SLOT))
    path.write_text(opening + ",".join(entries) + closing + "\n", encoding="utf-8")
