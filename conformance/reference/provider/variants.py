"""Allowed variants of the reference data provider: behaviours the sources allow that it does not choose.

A campaign against the reference provider with a variant applied must fail nothing: each variant
proves that the harness judges by the sources, not by the reference's own choices. Like a fault, a
variant replaces seams (`seams.py`) on one provider instance; `basis` names the source and clause that
allow it. `settings` are the provider settings a variant needs (the launcher writes them to the TOML
file, so the campaign can read them back).
"""

from __future__ import annotations

import base64
import secrets
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import jwt

from conformance.errors import UsageError
from conformance.reference.provider.authorization_server import JWT_TOKEN_TYPE, unverified_claims
from conformance.reference.provider.introspection import IntrospectionFailed, introspect
from conformance.reference.provider.keys import LocalKeys, SigningKey
from conformance.reference.provider.provider import ReferenceProvider
from conformance.reference.provider.resource_server import InvalidToken
from conformance.reference.provider.seams import change_listener_contexts, replace_seam, seam
from conformance.reference.provider.settings import ClientIdentity
from conformance.reference.registry import Catalogue, Variant
from conformance.roles import Role

ONE_HOUR_S: Final = 3600
REFRESH_EXPIRES_IN_S: Final = 1800  # Keycloak's default SSO session idle, its refresh_expires_in


def _subject_token_type_jwt(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "accepted_subject_token_types")

    def accepted_subject_token_types() -> frozenset[str]:
        accepted: frozenset[str] = original()
        return accepted | {JWT_TOKEN_TYPE}

    replace_seam(provider.authorization_server, "accepted_subject_token_types", accepted_subject_token_types)


def _rs_introspection(provider: ReferenceProvider) -> None:
    """Validation by RFC 7662 at the issuer's AS (with the provider's client certificate) instead of JWKS."""
    server = provider.resource_server
    client_id = provider.settings.provider_client.client_id

    def validate(token: str) -> dict[str, Any]:
        try:
            issuer = unverified_claims(token).get("iss")
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        endpoint = server.introspection_endpoints.get(issuer) if isinstance(issuer, str) else None
        if endpoint is None:
            raise InvalidToken("the token's issuer is not trusted")
        try:
            answer = introspect(server.outgoing.client(), endpoint, token, form={"client_id": client_id})
        except IntrospectionFailed:
            raise InvalidToken("the token could not be checked at its issuer") from None
        if answer.get("active") is not True:
            raise InvalidToken("the token is not active")
        if answer.get("iss", issuer) != issuer:
            raise InvalidToken("the introspection names another issuer")
        server.check_claims(answer)
        return answer

    replace_seam(server, "validate", validate)


def _token_lifetime_1h(provider: ReferenceProvider) -> None:
    def token_lifetime_s() -> int:
        return ONE_HOUR_S

    replace_seam(provider.authorization_server, "token_lifetime_s", token_lifetime_s)


def _rfc6750_minimal_challenge(provider: ReferenceProvider) -> None:
    server = provider.resource_server
    original = seam(server, "challenge")

    def challenge(error: str | None, description: str | None, scope: str | None = None) -> str:
        minimal: str = original(None, None)
        return minimal

    replace_seam(server, "challenge", challenge)


def _aud_as_list(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "token_audience")

    def token_audience() -> list[str]:
        audience = original()
        return list(audience) if isinstance(audience, list) else [audience]

    replace_seam(provider.authorization_server, "token_audience", token_audience)


def _introspection_client_secret_basic(provider: ReferenceProvider) -> None:
    client = provider.settings.provider_client
    if not client.secret:
        raise UsageError(
            f"counterparts.json gives no secret for client {client.client_id!r}; this variant needs one"
        )
    raw = f"{quote(client.client_id, safe='')}:{quote(client.secret, safe='')}".encode()  # RFC 6749 §2.3.1
    authorization = "Basic " + base64.b64encode(raw).decode("ascii")

    def psc_introspection_credentials() -> tuple[dict[str, str], dict[str, str]]:
        return {}, {"Authorization": authorization}

    replace_seam(
        provider.authorization_server, "psc_introspection_credentials", psc_introspection_credentials
    )


def _rs_rejects_in_handshake(provider: ReferenceProvider) -> None:
    def certificate_required(context: ssl.SSLContext) -> None:
        context.verify_mode = ssl.CERT_REQUIRED

    change_listener_contexts(provider, certificate_required, ["rs"])


def _exchange_answer_with_refresh_token(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "exchange_answer")

    def exchange_answer(access_token: str, scope: str, expires_in: int) -> dict[str, Any]:
        answer: dict[str, Any] = original(access_token, scope, expires_in)
        return {
            **answer,
            "refresh_token": secrets.token_urlsafe(32),
            "refresh_expires_in": REFRESH_EXPIRES_IN_S,
        }

    replace_seam(provider.authorization_server, "exchange_answer", exchange_answer)


def _api_tokens_rs256(provider: ReferenceProvider) -> None:
    """Another signing key, everywhere the provider uses its AS key (the AS, its JWKS, its own RS)."""
    key = SigningKey.generate("RS256")
    provider.signing_key = provider.authorization_server.signing_key = key
    provider.resource_server.key_sources[provider.urls.issuer] = LocalKeys(key)


def _tls_1_3_only(provider: ReferenceProvider) -> None:
    def tls_1_3_only(context: ssl.SSLContext) -> None:
        context.minimum_version = ssl.TLSVersion.TLSv1_3

    change_listener_contexts(provider, tls_1_3_only)


def _variant(
    name: str, basis: str, description: str, apply: Any, settings: Mapping[str, float] | None = None
) -> Variant:
    return Variant(name, basis, description, apply, dict(settings or {}), Role.PROVIDER)


def _unallowed_scope_ignored(provider: ReferenceProvider) -> None:
    server = provider.authorization_server

    def granted_scope(client: ClientIdentity, requested: str | None) -> str:
        allowed = server.allowed_scopes(client)
        kept = [scope for scope in dict.fromkeys((requested or "").split()) if scope in allowed]
        return " ".join(kept) or server.settings.scope

    replace_seam(server, "granted_scope", granted_scope)


_CATALOGUE = (
    _variant(
        "subject_token_type_jwt",
        "IG 1.2.0 api_prosanteconnectee_web (étape 9): subject_token_type is "
        "urn:ietf:params:oauth:token-type:access_token or urn:ietf:params:oauth:token-type:jwt",
        "The authorization server also accepts subject_token_type urn:ietf:params:oauth:token-type:jwt.",
        _subject_token_type_jwt,
    ),
    _variant(
        "unallowed_scope_ignored",
        "RFC 6749 §3.3: the authorization server MAY fully or partially ignore the scope requested, and then "
        "MUST name the scope it granted in its answer",
        "Scopes the client may not have are dropped instead of refused (the API scope when none is left); "
        "the answer names the granted scope.",
        _unallowed_scope_ignored,
    ),
    _variant(
        "rs_introspection",
        "IG 1.2.0 api_prosanteconnectee_web (étape 12): the API introspects the token at its authorization "
        "server or verifies a signed JWS; RFC 7662 §2",
        "The resource server validates each token by RFC 7662 introspection at its issuer's authorization "
        "server (mTLS with the provider's certificate) instead of verifying it with the issuer's JWKS.",
        _rs_introspection,
    ),
    _variant(
        "token_lifetime_1h",
        "IG 1.2.0 standards (conservation de l'access token): an API token lives 1 to 4 hours",
        f"API tokens live {ONE_HOUR_S} s (1 h) instead of 4 h.",
        _token_lifetime_1h,
        {"token_ttl_s": ONE_HOUR_S},
    ),
    _variant(
        "rfc6750_minimal_challenge",
        "RFC 6750 §3: the error, error_description and scope attributes of the challenge are optional "
        "(SHOULD); only the Bearer scheme is required",
        'Every 401 and 403 challenge is just `Bearer realm="apipsc"`, without error attributes.',
        _rfc6750_minimal_challenge,
    ),
    _variant(
        "aud_as_list",
        "RFC 7519 §4.1.3: aud is an array of strings, or a single string when there is one audience",
        'Issued API tokens carry aud as a JSON array (["apipsc"]).',
        _aud_as_list,
    ),
    _variant(
        "introspection_client_secret_basic",
        "ANS introspection page (PSC documents client_secret_basic for introspection); RFC 7662 §2.1 "
        "leaves the client authentication method to the server",
        "The authorization server authenticates to PSC's introspection endpoint with client_secret_basic "
        "(still over TLS, its certificate presented) instead of tls_client_auth.",
        _introspection_client_secret_basic,
    ),
    _variant(
        "rs_rejects_in_handshake",
        "RFC 8705 §2 (the server may require the certificate in the handshake); RFC 8446 §4.4.2",
        "The resource server's listener requires a valid client certificate (CERT_REQUIRED): a call "
        "without one fails in the TLS handshake instead of getting a 401.",
        _rs_rejects_in_handshake,
    ),
    _variant(
        "exchange_answer_with_refresh_token",
        "RFC 8693 §2.2.1: refresh_token is OPTIONAL in the exchange answer (the trust space's Keycloak "
        "sends one, with refresh_expires_in)",
        "The exchange answer also carries refresh_token and refresh_expires_in, in the Keycloak shape.",
        _exchange_answer_with_refresh_token,
    ),
    _variant(
        "api_tokens_rs256",
        "RFC 9068 §2.1 and §4: JWT access tokens may be signed with RS256, which resource servers must "
        "support; the IG does not fix the algorithm",
        "API tokens are signed with an RSA key (RS256) instead of ES256.",
        _api_tokens_rs256,
    ),
    _variant(
        "tls_1_3_only",
        "IG 1.2.0 principes_securisation: TLS 1.2 at least, TLS 1.3 recommended; a listener that speaks "
        "only TLS 1.3 satisfies both",
        "Both listeners accept TLS 1.3 only.",
        _tls_1_3_only,
    ),
)

VARIANT_CATALOGUE: Catalogue[Variant] = Catalogue("variant", _CATALOGUE)
VARIANTS: dict[str, Variant] = VARIANT_CATALOGUE.entries


def apply_variants(provider: ReferenceProvider, names: Sequence[str]) -> None:
    """Apply the named variants to `provider`; all names are checked first (UsageError for an unknown one)."""
    VARIANT_CATALOGUE.apply(provider, names, Role.PROVIDER)


def variant_settings(names: Iterable[str]) -> dict[str, float]:
    """The provider settings the named variants need (checked names; a later variant wins)."""
    settings: dict[str, float] = {}
    for name in VARIANT_CATALOGUE.check_names(names, Role.PROVIDER):
        settings.update(VARIANTS[name].settings)
    return settings


__all__ = ["VARIANTS", "VARIANT_CATALOGUE", "apply_variants", "variant_settings"]
