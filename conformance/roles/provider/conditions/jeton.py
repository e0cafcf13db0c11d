"""Le jeton API: what the provider's authorization server puts in the access token it issues.

IG 1.2.0 standards.html (données de l'access token): iss, sub (the professional's national id), aud (the
target services), exp, iat, scope, and `cnf` binding the token to the client's TLS certificate (RFC 8705
§3.1). The token is read without verifying its signature: the rule is about what the server wrote in it,
and the resource server's side judges signatures. An opaque token cannot be read: its rules are
inconclusive, with the reason.

The thumbprint has two encodings in the trust space (`conformance.standards.rfc8705`): RFC 8705's
base64url of the SHA-256 digest, and the base64 of its hex form that the IG example and ANS's Keycloak
show. The binding is judged with either (the MUST); the encoding in its own rule, as a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    passed,
)
from conformance.counterparts.api_tokens import ans_hex_thumbprint
from conformance.roles.provider.bench import Exchanged
from conformance.roles.provider.conditions.echange import describe, issued_token, number
from conformance.standards import jose

IG_TOKEN_DATA: Final = "IG Sécurisation transport 1.2.0, standards.html (données de l'access token)"
ISSUED_JWT: Final = "the SUT issued an API token for the exchange, as a JWT"
CNF_MEMBER: Final = "x5t#S256"


def token_claims(exchanged: Exchanged) -> tuple[dict[str, Any] | None, Judgement | None]:
    """The claims of the issued token, or why there are none to judge (an inconclusive judgement)."""
    token = issued_token(exchanged.call)
    if token is None:
        return None, inconclusive(
            f"{describe(exchanged.call)}: no API token was issued",
            [exchanged.call.exchange_id],
            root_cause="valid_exchange_issues_token: the valid exchange was not served",
        )
    decoded = jose.unverified(token) if token.count(".") == 2 else None
    if decoded is None:
        return None, inconclusive(
            f"the API token is not a JWS ({len(token.split('.'))} segment(s)): its content cannot be read",
            [exchanged.call.exchange_id],
            root_cause="an opaque (or encrypted) API token",
        )
    return decoded[1], None


def _scopes(value: object) -> list[str]:
    """scope as RFC 9068 §2.2.3 writes it (space-delimited), or a list of strings (scp-like)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


@condition(
    "api_token_claims_of_the_professional",
    ("IG-SEC-26",),
    basis=f"{IG_TOKEN_DATA}: iss, sub = the professional's national identifier, aud = the target services, "
    "exp, iat, scope; RFC 7519 §4.1.3 (aud a string or an array); RFC 9068 §2.2",
    strength=Strength.MUST,
    precondition=ISSUED_JWT,
    fr="Le jeton API porte iss, sub (identifiant national du professionnel), aud (l'API), exp, iat, scope",
    en="The API token carries iss, sub (the professional's national id), aud (the API), exp, iat, scope",
)
def api_token_claims_of_the_professional(exchanged: Exchanged, audience: str, api_scope: str) -> Judgement:
    claims, blocked = token_claims(exchanged)
    if claims is None:
        assert blocked is not None
        return blocked
    national_id = exchanged.identity.national_id
    problems: list[str] = []
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        problems.append("no iss")
    sub = claims.get("sub")
    if sub != national_id:
        psc_sub = " (PSC's technical sub)" if sub == exchanged.identity.sub else ""
        problems.append(f"sub {sub!r}{psc_sub}, not the national id {national_id!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        problems.append(f"aud {aud!r} does not name {audience!r}")
    exp, iat = number(claims.get("exp")), number(claims.get("iat"))
    problems += [
        f"{n} {claims.get(n)!r} is not a NumericDate" for n, v in (("exp", exp), ("iat", iat)) if v is None
    ]
    if exp is not None and iat is not None and exp <= iat:
        problems.append("exp is not after iat")
    if api_scope not in _scopes(claims.get("scope")):
        problems.append(f"scope {claims.get('scope')!r} lacks {api_scope!r}")
    evidence = [exchanged.call.exchange_id]
    if problems:
        return failed("; ".join(problems), evidence)
    return passed(f"iss {claims['iss']}, sub {sub}, aud {aud!r}, scope {claims.get('scope')!r}", evidence)


def _thumbprint(exchanged: Exchanged) -> tuple[str | None, Judgement | None]:
    """cnf.x5t#S256 of the issued token (None when absent), or why it cannot be read."""
    claims, blocked = token_claims(exchanged)
    if claims is None:
        return None, blocked
    cnf = claims.get("cnf")
    value = cnf.get(CNF_MEMBER) if isinstance(cnf, Mapping) else None
    return (value if isinstance(value, str) else None), None


@condition(
    "api_token_bound_to_client_certificate",
    ("IG-SEC-11",),
    basis=f"{IG_TOKEN_DATA} (cnf: the thumbprint of the client certificate of the exchange); RFC 8705 §3.1 "
    "(cnf.x5t#S256, the SHA-256 thumbprint of the certificate the client authenticated with)",
    strength=Strength.MUST,
    precondition=ISSUED_JWT,
    fr="Le jeton API est lié au certificat du LPS qui l'a obtenu (cnf.x5t#S256)",
    en="The API token is bound to the certificate of the LPS that obtained it (cnf.x5t#S256)",
)
def api_token_bound_to_client_certificate(exchanged: Exchanged, certificates: Mapping[str, str]) -> Judgement:
    """`certificates`: client id -> RFC 8705 thumbprint of its certificate, for the test PKI's clients."""
    value, blocked = _thumbprint(exchanged)
    if blocked is not None:
        return blocked
    evidence = [exchanged.call.exchange_id]
    client = exchanged.client_id
    if value is None:
        return failed(f"the token obtained by {client} has no cnf.{CNF_MEMBER}: it is not bound", evidence)
    owners = {form: owner for owner, x5t in certificates.items() for form in (x5t, ans_hex_thumbprint(x5t))}
    owner = owners.get(value)
    if owner == client:
        return passed(f"cnf.{CNF_MEMBER} is the thumbprint of {client}'s certificate", evidence)
    whose = f"{owner}'s certificate" if owner else "no certificate the harness knows"
    return failed(f"cnf.{CNF_MEMBER} {value!r} of {client}'s token is the thumbprint of {whose}", evidence)


@condition(
    "api_token_thumbprint_rfc8705_encoding",
    ("IG-SEC-11",),
    basis="project reading of RFC 8705 §3.1 (x5t#S256: base64url of the SHA-256 digest of the DER "
    "certificate) against the IG 1.2.0 example and ANS's Keycloak, which show base64 of the hex digest",
    strength=Strength.READING,
    precondition="the API token carries the thumbprint of the client certificate",
    fr="La liaison cnf.x5t#S256 suit l'encodage de RFC 8705 (base64url du condensat)",
    en="The cnf.x5t#S256 binding follows RFC 8705's encoding (base64url of the digest)",
)
def api_token_thumbprint_rfc8705_encoding(exchanged: Exchanged, x5t_s256: str) -> Judgement:
    """`x5t_s256`: RFC 8705 thumbprint of the certificate of the client that obtained the token."""
    value, blocked = _thumbprint(exchanged)
    if blocked is not None:
        return blocked
    evidence = [exchanged.call.exchange_id]
    if value == x5t_s256:
        return passed(f"cnf.{CNF_MEMBER} in the RFC 8705 form", evidence)
    if value == ans_hex_thumbprint(x5t_s256):
        return failed(
            f"cnf.{CNF_MEMBER} is base64 of the hex digest: the IG example uses it, but RFC 8705 §3.1 "
            "defines base64url of the digest (the project's reading: resource servers following the RFC "
            "will not match it)",
            evidence,
        )
    return inconclusive(
        f"cnf.{CNF_MEMBER} {value!r} is not a thumbprint of the client's certificate in either encoding",
        evidence,
        root_cause="api_token_bound_to_client_certificate: the token is not bound to the client's "
        "certificate",
    )


__all__ = [
    "api_token_bound_to_client_certificate",
    "api_token_claims_of_the_professional",
    "api_token_thumbprint_rfc8705_encoding",
    "token_claims",
]
