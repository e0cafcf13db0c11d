"""OAuth 2.0 (RFC 6749) pieces the counterparts share: client authentication by HTTP Basic."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret of an `Authorization: Basic` header (§2.3.1), None if there is none.

    Both parts are form-encoded before being joined, so they are decoded with `unquote_plus`.
    A Basic header that does not decode gives ("", ""): present, but naming nobody.
    """
    if authorization is None:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)
