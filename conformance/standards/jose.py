"""JSON Web Keys and signed JWTs for the simulated issuers (PSC, the API's authorization server).

PyJWT signs and verifies; this module adds what a simulated issuer needs around it: a key with
a `kid`, its public JWK for the JWKS endpoint, and a way to show a token in evidence without
its signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

Alg = Literal["RS256", "ES256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url` (padding restored)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    alg: Alg
    private_key: PrivateKey = field(repr=False)
    kid: str

    @classmethod
    def generate(cls, alg: Alg = "RS256") -> SigningKey:
        key: PrivateKey
        if alg == "RS256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        jwk = _public_jwk(key, alg)
        # RFC 7638 thumbprint as kid: stable for the key, and says nothing else about it.
        required = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")}
        kid = b64url(hashlib.sha256(json.dumps(required, separators=(",", ":")).encode()).digest())
        return cls(alg=alg, private_key=key, kid=kid)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {**_public_jwk(self.private_key, self.alg), "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(
        self, claims: dict[str, Any], *, typ: str = "JWT", extra_headers: dict[str, Any] | None = None
    ) -> str:
        headers = {"kid": self.kid, "typ": typ, **(extra_headers or {})}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers=headers)

    def verify(self, token: str, **options: Any) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token, self.private_key.public_key(), algorithms=[self.alg], **options
        )
        return claims


def _public_jwk(key: PrivateKey, alg: Alg) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk for k in keys]}


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a compact JWS, without verifying it (for evidence); None if it is not one."""
    try:
        return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None


def looks_like_jwt(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 3 and all(parts[:2]) and unverified(value) is not None


# -- hand-built tokens: what PyJWT refuses to produce, for adversarial tests of a verifier --------------


def _signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def segment(value: dict[str, Any]) -> str:
        return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))

    return f"{segment(header)}.{segment(claims)}"


def unsigned_token(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """An RFC 7519 §6 unsecured JWT: `alg: none` and an empty signature (a verifier must refuse it)."""
    return _signing_input({**(header or {}), "alg": "none"}, claims) + "."


def hs256_token(claims: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None) -> str:
    """An HS256 JWS keyed with arbitrary bytes. PyJWT refuses a PEM public key as HMAC secret, which is
    exactly the algorithm-confusion forgery a verifier trusting the header's `alg` would accept."""
    signing_input = _signing_input({**(header or {}), "alg": "HS256"}, claims)
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def tamper_signature(token: str) -> str:
    """The same compact JWS with one bit of its decoded signature flipped: header and claims intact, so
    only a verifier that checks the signature notices (editing the text could hit padding bits only)."""
    signing_input, _, signature = token.rpartition(".")
    raw = bytearray(b64url_decode(signature))
    if not signing_input or not raw:
        raise ValueError("not a signed compact JWS")
    raw[0] ^= 0x01
    return f"{signing_input}.{b64url(bytes(raw))}"
