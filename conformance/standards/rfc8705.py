"""Certificate thumbprints for certificate-bound access tokens (RFC 8705 §3.1, `cnf.x5t#S256`).

Two encodings of the same SHA-256 digest of the DER certificate meet in the PSC trust space:

* ``rfc8705``: what the RFC defines, base64url of the 32-byte digest without padding (43 characters);
* ``ans-hex``: what the ANS examples (transport-security IG, EdC test realm) carry, standard base64 of
  the *lowercase hex string* of the digest (88 characters ending in ``==``).

A harness computes both, accepts the ANS form where ANS infrastructure issued the token, and reports
which form it saw.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

ThumbprintEncoding = Literal["rfc8705", "ans-hex"]


def x5t_s256(der: bytes) -> str:
    """RFC 8705 thumbprint: base64url(SHA-256(DER)), no padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def x5t_s256_ans_hex(der: bytes) -> str:
    """ANS-example thumbprint: base64(lowercase hex of SHA-256(DER)), padded."""
    return base64.b64encode(hashlib.sha256(der).hexdigest().encode("ascii")).decode("ascii")


def classify_thumbprint(value: str, der: bytes) -> ThumbprintEncoding | None:
    """Which encoding of the thumbprint of `der` `value` is, or None if it is neither (exact match only)."""
    candidate = value.encode("utf-8")
    if hmac.compare_digest(candidate, x5t_s256(der).encode("ascii")):
        return "rfc8705"
    if hmac.compare_digest(candidate, x5t_s256_ans_hex(der).encode("ascii")):
        return "ans-hex"
    return None
