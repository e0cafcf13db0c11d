"""The `results.json` entry of one exchange: what an auditor needs beside a verdict, redacted and short.

`results.json` must stay readable on its own (the HTML report is rendered from it alone), so each cited
exchange carries its request and response (headers, the start of the body), its TLS session and the JWTs
it carried, decoded. Everything goes through `redact.view`, the same rules as `evidence/`: a secret is
never copied here, and a token appears only shortened (its signature cut to 8 characters). The full
redacted exchange stays in `evidence/evidence.json` under the same id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from conformance.evidence.model import Exchange, Headers, TLSDetails
from conformance.evidence.redact import BodyView, ExchangeView, view

BODY_CHARS: Final = 2000  # a report shows the start of a body; the whole redacted body is in evidence/


def summarize(exchange: Exchange, redacted: ExchangeView | None = None) -> dict[str, Any]:
    """The redacted summary of `exchange` written under `exchanges[id]` in `results.json`; `redacted`:
    its redacted form when already computed (`EvidenceRecorder.redacted`)."""
    redacted = redacted or view(exchange)
    entry: dict[str, Any] = {
        "counterpart": exchange.counterpart,
        "direction": exchange.direction,
        "method": exchange.method,
        "url": redacted.url,
        "status": exchange.status,
        "error": redacted.error,
        "started_at": datetime.fromtimestamp(exchange.started_at, UTC).isoformat(timespec="milliseconds"),
        "duration_ms": round(max(0.0, exchange.duration_s) * 1000.0, 1),
        "tls": _tls(exchange.tls),
        "request": _message(redacted.request_headers, redacted.request_body),
        "tokens": [_token(jwt) for jwt in redacted.jwts],
    }
    if redacted.response_body is not None:
        entry["response"] = _message(redacted.response_headers, redacted.response_body)
    return entry


def _tls(tls: TLSDetails | None) -> dict[str, str | None] | None:
    """The session facts a transport requirement is judged on; the thumbprint proves a token binding."""
    if tls is None:
        return None
    return {
        "version": tls.version,
        "cipher": tls.cipher,
        "client_subject": tls.client_subject,
        "client_x5t_s256": tls.client_x5t_s256,
        "server_subject": tls.server_subject,
    }


def _message(headers: Headers, body: BodyView) -> dict[str, Any]:
    """Headers as on the wire and the start of the (already redacted) body; binary bodies are not shown."""
    text = "" if body.base64 else body.text
    message: dict[str, Any] = {
        "headers": [[name, value] for name, value in headers],
        "body": text[:BODY_CHARS],
        "size": body.size,
        "truncated": body.truncated or len(text) > BODY_CHARS,
    }
    if body.base64:
        message["binary"] = True
    return message


def _token(jwt: dict[str, Any]) -> dict[str, Any]:
    """A JWT as `redact` decoded it (never verified): where it was, header, claims, shortened signature."""
    token = {
        "where": jwt["where"],
        "header": jwt.get("header"),
        "claims": jwt.get("claims"),
        "signature": jwt.get("signature"),
    }
    if jwt.get("encrypted"):
        token["encrypted"] = True
    return token


__all__ = ["BODY_CHARS", "summarize"]
