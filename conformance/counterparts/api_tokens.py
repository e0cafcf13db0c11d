"""API access tokens the harness's authorization server issues without a token exchange, good and bad.

A provider's resource server is judged by what it accepts: the harness hands it tokens minted here,
valid ones and every classic forgery (unsigned, HS256 keyed with the public key, a bit flipped in the
signature, an unknown key, a wrong issuer, audience, scope, binding or lifetime), and checks that only
the valid ones open the API. Signed tokens are registered with the authorization server, so its RFC 7662
introspection endpoint answers them as it answers the tokens of its token exchange.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any, Final, Literal, Protocol

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conformance.clock import Clock
from conformance.counterparts.signing_keys import KeyPurpose, shared_signing_key
from conformance.standards.jose import (
    SigningKey,
    b64url_decode,
    hs256_token,
    tamper_signature,
    unsigned_token,
)

ACCESS_TOKEN_TYP: Final = "at+jwt"  # RFC 9068 §2.1

CnfForm = Literal["rfc8705", "ans_hex", "none"]
TokenForm = Literal["signed", "none", "hs256_public_key", "tampered", "foreign_key"]

_FORMS: Final[dict[str, str]] = {
    "signed": "signed with the AS key",
    "none": "unsigned (alg none)",
    "hs256_public_key": "HS256 keyed with the AS public key (algorithm confusion)",
    "tampered": "AS signature with a flipped bit",
    "foreign_key": "signed with a key absent from the JWKS",
}
_CNF: Final[dict[str, str]] = {
    "rfc8705": "bound (cnf x5t#S256, RFC 8705 form)",
    "ans_hex": "bound (cnf x5t#S256, ANS hex form)",
    "none": "not certificate-bound",
}


class _Default(Enum):
    """Marks an argument left to the authorization server's own value (None means "leave it out")."""

    AS_VALUE = "as-value"


AS_VALUE: Final = _Default.AS_VALUE


class TokenIssuer(Protocol):
    """What a minter needs of the authorization server it mints for."""

    @property
    def issuer(self) -> str: ...

    @property
    def signing_key(self) -> SigningKey: ...

    @property
    def audiences(self) -> tuple[str, ...]: ...

    @property
    def api_scope(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    def register_issued(self, jti: str) -> None:
        """Remember a token the server signed, so that its introspection can answer it."""
        ...


@dataclass(frozen=True)
class MintedToken:
    token: str
    claims: dict[str, Any]
    description: str  # what the token is, for the evidence of the check that uses it


def audience_claim(audiences: Sequence[str]) -> str | list[str]:
    """`aud` as Keycloak writes it: a string for one audience, an array for several (RFC 7519 §4.1.3)."""
    return audiences[0] if len(audiences) == 1 else list(audiences)


def api_access_token_claims(
    *,
    issuer: str,
    subject: str,
    audience: str | list[str] | None,
    issued_at: int,
    expires_at: int,
    jti: str,
    scope: str | None,
    client_id: str,
    cnf: dict[str, str] | None,
    not_before: int | None = None,
) -> dict[str, Any]:
    """The claims of an API access token (RFC 9068 shape); None leaves `aud`, `scope`, `cnf`, `nbf` out."""
    claims: dict[str, Any] = {"iss": issuer, "sub": subject}
    if audience is not None:
        claims["aud"] = audience
    claims |= {"exp": expires_at, "iat": issued_at}
    if not_before is not None:
        claims["nbf"] = not_before
    claims["jti"] = jti
    if scope is not None:
        claims["scope"] = scope
    claims["client_id"] = client_id
    if cnf is not None:
        claims["cnf"] = cnf
    return claims


def ans_hex_thumbprint(x5t_s256: str) -> str:
    """The ANS-example encoding (base64 of the hex digest) of an RFC 8705 base64url thumbprint."""
    digest = b64url_decode(x5t_s256)
    if len(digest) != 32:
        raise ValueError(f"not a SHA-256 thumbprint: {x5t_s256!r}")
    return base64.b64encode(digest.hex().encode("ascii")).decode("ascii")


class ApiTokenMinter:
    """Mints API access tokens for one authorization server, on its clock."""

    def __init__(self, server: TokenIssuer) -> None:
        self.server = server

    @cached_property
    def foreign_key(self) -> SigningKey:
        """A key of the same algorithm whose kid (its own RFC 7638 thumbprint) is not in the JWKS."""
        return shared_signing_key(KeyPurpose.API_AS_FOREIGN, self.server.signing_key.alg)

    def mint(
        self,
        *,
        national_id: str,
        client_id: str,
        x5t_s256: str | None,
        ttl_s: float = 3600,
        not_before_s: float = 0,
        issued_offset_s: float = 0,
        audience: str | list[str] | _Default | None = AS_VALUE,
        scope: str | _Default | None = AS_VALUE,
        cnf: CnfForm = "rfc8705",
        alg: TokenForm = "signed",
        issuer: str | None = None,
    ) -> MintedToken:
        """One token for professional `national_id` and client `client_id`.

        Times are offsets from the server's clock: `iat` = now + `issued_offset_s`, `exp` = `iat` +
        `ttl_s` (negative for an expired token), `nbf` = now + `not_before_s`. `x5t_s256` is the
        base64url thumbprint of the certificate to bind to (`cnf` picks the encoding, or none).
        `issuer` replaces the server's `iss`.
        """
        server = self.server
        if cnf != "none" and x5t_s256 is None:
            raise ValueError(f"cnf={cnf!r} needs the certificate thumbprint x5t_s256")
        now = server.clock.now()
        issued_at = now + issued_offset_s
        claims = api_access_token_claims(
            issuer=issuer or server.issuer,
            subject=national_id,
            audience=audience_claim(server.audiences) if audience is AS_VALUE else audience,
            issued_at=int(issued_at),
            expires_at=int(issued_at + ttl_s),
            not_before=int(now + not_before_s),
            jti=str(uuid.uuid4()),
            scope=server.api_scope if scope is AS_VALUE else scope,
            client_id=client_id,
            cnf=_cnf(cnf, x5t_s256),
        )
        token = self._encode(claims, alg)
        if alg == "signed":
            server.register_issued(claims["jti"])
        return MintedToken(
            token, claims, self._describe(alg, cnf, ttl_s, not_before_s, issued_offset_s, claims)
        )

    def _encode(self, claims: dict[str, Any], alg: TokenForm) -> str:
        key = self.server.signing_key
        header = {"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
        if alg == "signed":
            return key.sign(claims, typ=ACCESS_TOKEN_TYP)
        if alg == "tampered":
            return tamper_signature(key.sign(claims, typ=ACCESS_TOKEN_TYP))
        if alg == "foreign_key":
            return self.foreign_key.sign(claims, typ=ACCESS_TOKEN_TYP)
        if alg == "none":
            return unsigned_token(claims, header)
        if alg == "hs256_public_key":
            pem = key.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            return hs256_token(claims, pem, header)
        raise ValueError(f"unknown token form {alg!r}")

    def _describe(
        self,
        alg: TokenForm,
        cnf: CnfForm,
        ttl_s: float,
        not_before_s: float,
        issued_offset_s: float,
        claims: dict[str, Any],
    ) -> str:
        server = self.server
        parts = [_FORMS[alg], _CNF[cnf]]
        parts.append(
            f"expired {-(issued_offset_s + ttl_s):g} s ago"
            if issued_offset_s + ttl_s <= 0
            else f"expires in {issued_offset_s + ttl_s:g} s"
        )
        if not_before_s > 0:
            parts.append(f"not valid before {not_before_s:g} s from now")
        if issued_offset_s > 0:
            parts.append(f"issued {issued_offset_s:g} s in the future")
        if claims["iss"] != server.issuer:
            parts.append(f"iss {claims['iss']}")
        if claims.get("aud") != audience_claim(server.audiences):
            parts.append(f"aud {claims.get('aud', 'absent')}")
        if claims.get("scope") != server.api_scope:
            parts.append(f"scope {claims.get('scope', 'absent')!r}")
        return "; ".join(parts)


def _cnf(form: CnfForm, x5t_s256: str | None) -> dict[str, str] | None:
    if form == "none" or x5t_s256 is None:
        return None
    return {"x5t#S256": x5t_s256 if form == "rfc8705" else ans_hex_thumbprint(x5t_s256)}
