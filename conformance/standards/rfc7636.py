"""PKCE (RFC 7636): what a code challenge is, and whether a verifier answers it."""

from __future__ import annotations

import hashlib
import hmac

from conformance.standards.jose import b64url

METHODS = ("S256", "plain")


def s256_challenge(verifier: str) -> str:
    """§4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    """§4.6; `plain` is accepted here as PSC's discovery advertises it (the harness reports it)."""
    if method == "S256":
        expected = s256_challenge(verifier)
    elif method == "plain":
        expected = verifier
    else:
        return False
    return hmac.compare_digest(expected, challenge)
