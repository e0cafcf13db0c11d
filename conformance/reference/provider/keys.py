"""Signing keys of the provider, and the keys its resource server verifies tokens with.

The authorization server signs API tokens with an ES256 key generated at start-up (never written to
disk); its public half is published in the JWKS with a `kid`. The resource server looks a token's key
up by issuer and `kid`: its own AS's key in memory, the harness's AS keys from its `jwks_uri`
(fetched over TLS, cached, fetched again once when a `kid` is unknown).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    key: PublicKey

    @property
    def pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM: what an algorithm-confusion attacker uses as an HMAC secret."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class SigningKey:
    alg: str
    kid: str
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def generate(cls, alg: str = "ES256") -> SigningKey:
        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if alg == "ES256":
            private_key = ec.generate_private_key(ec.SECP256R1())
        elif alg == "RS256":
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        return cls(alg, str(uuid.uuid4()), private_key)

    @property
    def verification_key(self) -> VerificationKey:
        return VerificationKey(self.kid, self.private_key.public_key())

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK, with `kid`, `alg` and `use` (RFC 7517 §4)."""
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: Mapping[str, Any], typ: str) -> str:
        return jwt.encode(
            dict(claims), self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": typ}
        )

    def sign_payload(self, payload: bytes, typ: str) -> str:
        """A compact JWS over arbitrary bytes (the signature of the session data)."""
        return jwt.api_jws.encode(
            payload, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": typ}
        )


class KeySource(Protocol):
    """Where the verification keys of one issuer come from."""

    def key(self, kid: str) -> VerificationKey | None: ...

    def keys(self) -> list[VerificationKey]: ...


class LocalKeys:
    """The provider's own AS key, in memory."""

    def __init__(self, signing_key: SigningKey) -> None:
        self._key = signing_key.verification_key

    def key(self, kid: str) -> VerificationKey | None:
        return self._key if kid == self._key.kid else None

    def keys(self) -> list[VerificationKey]:
        return [self._key]


class KeyFetchFailed(Exception):
    """The JWKS could not be fetched or read."""


def keys_of_jwks(document: Any) -> dict[str, VerificationKey]:
    """The signature keys of a JWKS that carry a `kid`, by kid; other keys are ignored."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFetchFailed("not a JWK set")
    found: dict[str, VerificationKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(jwk).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            found[jwk["kid"]] = VerificationKey(jwk["kid"], key)
    return found


class RemoteJwks:
    """An issuer's keys from its `jwks_uri`: fetched when first needed, cached, fetched again once when
    a token names an unknown `kid` (the issuer may have rotated its keys)."""

    def __init__(self, jwks_uri: str, http: Callable[[], httpx.Client]) -> None:
        self.jwks_uri = jwks_uri
        self._http = http
        self._keys: dict[str, VerificationKey] | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> dict[str, VerificationKey]:
        try:
            answer = self._http().get(self.jwks_uri, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise KeyFetchFailed(f"{self.jwks_uri} unreachable: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise KeyFetchFailed(f"{self.jwks_uri} answered {answer.status_code}")
        try:
            document = json.loads(answer.content)
        except ValueError:
            raise KeyFetchFailed(f"{self.jwks_uri} did not answer JSON") from None
        return keys_of_jwks(document)

    def key(self, kid: str) -> VerificationKey | None:
        with self._lock:
            if self._keys is None or kid not in self._keys:
                self._keys = self._fetch()
            return self._keys.get(kid)

    def keys(self) -> list[VerificationKey]:
        with self._lock:
            if self._keys is None:
                self._keys = self._fetch()
            return list(self._keys.values())


__all__ = [
    "KeyFetchFailed",
    "KeySource",
    "LocalKeys",
    "PublicKey",
    "RemoteJwks",
    "SigningKey",
    "VerificationKey",
    "keys_of_jwks",
]
