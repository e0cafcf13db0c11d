"""Injectable defects of the reference data provider: how the harness proves that it catches them.

Each fault is a defect a real provider could plausibly have. It is injected into one provider instance
by replacing a *seam* (`seams.py`): a small, named method of the authorization server, the resource
server, or the provider's listener contexts. The conformant behaviour each fault departs from is in
the docstring of the seam it replaces. A fault breaks its own behaviour only: `as_issues_unbound_token`
makes the AS omit cnf, and the RS still refuses unbound tokens.

`requirements` lists the requirement ids a correct provider campaign must make fail for the defect
(a `recommended` one, or a project reading, gives a warning instead).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import ssl
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import jwt

from conformance.reference.https import Request, Response, allow_legacy_versions
from conformance.reference.provider.authorization_server import (
    AuthenticatedClient,
    OAuthError,
    basic_credentials,
    unverified_claims,
)
from conformance.reference.provider.keys import KeyFetchFailed, KeySource, VerificationKey
from conformance.reference.provider.openssl_verify import X509_V_ERR_INVALID_PURPOSE, tolerate_verify_errors
from conformance.reference.provider.provider import ReferenceProvider
from conformance.reference.provider.resource_server import BadSessionData, InvalidToken
from conformance.reference.provider.seams import change_listener_contexts, replace_seam, seam
from conformance.reference.provider.settings import ClientIdentity
from conformance.reference.provider.tls import pem_certificate_der, x5t_s256_ans_hex
from conformance.reference.registry import Catalogue, Fault
from conformance.roles import Role

X509_V_FLAG_NO_CHECK_TIME: Final = 0x200000  # OpenSSL: skip the validity dates of the chain
CACHED_PAST_EXPIRY_S: Final = 3600.0
SHORT_TOKEN_LIFETIME_S: Final = 300


# -- resource server: the token ----------------------------------------------------------------------------


def _rs_accepts_expired_token(provider: ReferenceProvider) -> None:
    def check_expiry(claims: Mapping[str, Any], now: float) -> None:
        return None

    replace_seam(provider.resource_server, "check_expiry", check_expiry)


def _rs_accepts_future_nbf(provider: ReferenceProvider) -> None:
    def check_not_before(claims: Mapping[str, Any], now: float) -> None:
        return None

    replace_seam(provider.resource_server, "check_not_before", check_not_before)


def _also_accept_algorithm(
    provider: ReferenceProvider,
    alg: str,
    verify: Callable[[str, Mapping[str, Any], KeySource], dict[str, Any]],
) -> None:
    """Let `alg` through the algorithm check, and verify tokens of that alg with `verify`."""
    server = provider.resource_server
    original_check, original_verify = seam(server, "check_algorithm"), seam(server, "verified_claims")

    def check_algorithm(token_alg: object) -> None:
        if token_alg != alg:
            original_check(token_alg)

    def verified_claims(token: str, header: Mapping[str, Any], source: KeySource) -> dict[str, Any]:
        if header.get("alg") == alg:
            return verify(token, header, source)
        claims: dict[str, Any] = original_verify(token, header, source)
        return claims

    replace_seam(server, "check_algorithm", check_algorithm)
    replace_seam(server, "verified_claims", verified_claims)


def _rs_accepts_alg_none(provider: ReferenceProvider) -> None:
    def unsigned(token: str, header: Mapping[str, Any], source: KeySource) -> dict[str, Any]:
        return unverified_claims(token)

    _also_accept_algorithm(provider, "none", unsigned)


def _candidate_keys(header: Mapping[str, Any], source: KeySource) -> list[VerificationKey]:
    try:
        named = source.key(header["kid"]) if isinstance(header.get("kid"), str) else None
        return [named] if named is not None else source.keys()
    except KeyFetchFailed:
        return []


def _rs_accepts_hs256_public_key(provider: ReferenceProvider) -> None:
    """The classic algorithm confusion: an HMAC verified with the issuer's public key PEM as the secret."""

    def hmac_with_public_key(token: str, header: Mapping[str, Any], source: KeySource) -> dict[str, Any]:
        signing_input, _, encoded = token.rpartition(".")
        try:
            signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken("the token's signature does not verify") from None
        for key in _candidate_keys(header, source):
            for secret in (key.pem, key.pem.rstrip(b"\n")):
                expected = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
                if hmac.compare_digest(expected, signature):
                    return unverified_claims(token)
        raise InvalidToken("the token's signature does not verify")

    _also_accept_algorithm(provider, "HS256", hmac_with_public_key)


def _rs_signature_not_checked(provider: ReferenceProvider) -> None:
    def verified_claims(token: str, header: Mapping[str, Any], source: KeySource) -> dict[str, Any]:
        return unverified_claims(token)

    replace_seam(provider.resource_server, "verified_claims", verified_claims)


class _EveryKnownKey:
    """The keys of every trusted issuer, for a token of any issuer (the defect)."""

    def __init__(self, sources: Iterable[KeySource]) -> None:
        self.sources = list(sources)

    def key(self, kid: str) -> VerificationKey | None:
        for source in self.sources:
            try:
                found = source.key(kid)
            except KeyFetchFailed:
                continue
            if found is not None:
                return found
        return None

    def keys(self) -> list[VerificationKey]:
        found: list[VerificationKey] = []
        for source in self.sources:
            try:
                found += source.keys()
            except KeyFetchFailed:
                continue
        return found


def _rs_accepts_unknown_issuer(provider: ReferenceProvider) -> None:
    server = provider.resource_server
    original = seam(server, "key_source")

    def key_source(issuer: object) -> KeySource | None:
        source: KeySource | None = original(issuer)
        return source if source is not None else _EveryKnownKey(server.key_sources.values())

    replace_seam(server, "key_source", key_source)


def _rs_skips_audience_check(provider: ReferenceProvider) -> None:
    def check_audience(claims: Mapping[str, Any]) -> None:
        return None

    replace_seam(provider.resource_server, "check_audience", check_audience)


def _rs_skips_scope_check(provider: ReferenceProvider) -> None:
    def has_api_scope(claims: Mapping[str, Any]) -> bool:
        return True

    replace_seam(provider.resource_server, "has_api_scope", has_api_scope)


def _rs_skips_cnf_check(provider: ReferenceProvider) -> None:
    def check_binding(claims: Mapping[str, Any], certificate: bytes | None) -> None:
        return None

    replace_seam(provider.resource_server, "check_binding", check_binding)


def _rs_accepts_unbound_token(provider: ReferenceProvider) -> None:
    original = seam(provider.resource_server, "check_binding")

    def check_binding(claims: Mapping[str, Any], certificate: bytes | None) -> None:
        cnf = claims.get("cnf")
        if isinstance(cnf, Mapping) and "x5t#S256" in cnf:
            original(claims, certificate)

    replace_seam(provider.resource_server, "check_binding", check_binding)


def _rs_401_without_www_authenticate(provider: ReferenceProvider) -> None:
    original = seam(provider.resource_server, "unauthorized")

    def unauthorized(error: str | None, description: str | None) -> Response:
        answer: Response = original(error, description)
        answer.headers = {k: v for k, v in answer.headers.items() if k.lower() != "www-authenticate"}
        return answer

    replace_seam(provider.resource_server, "unauthorized", unauthorized)


# -- resource server: the connection -----------------------------------------------------------------------


def _rs_accepts_no_client_cert(provider: ReferenceProvider) -> None:
    server = provider.resource_server
    original_require, original_binding = (
        seam(server, "require_client_certificate"),
        seam(server, "check_binding"),
    )

    def require_client_certificate(certificate: bytes | None) -> None:
        if certificate is not None:
            original_require(certificate)

    def check_binding(claims: Mapping[str, Any], certificate: bytes | None) -> None:
        if certificate is not None:
            original_binding(claims, certificate)

    replace_seam(server, "require_client_certificate", require_client_certificate)
    replace_seam(server, "check_binding", check_binding)


def _rs_trusts_rogue_ca(provider: ReferenceProvider) -> None:
    def accept_any_certificate(context: ssl.SSLContext) -> None:
        tolerate_verify_errors(context, None)

    change_listener_contexts(provider, accept_any_certificate, ["rs"])


# -- resource server: bad input ----------------------------------------------------------------------------


def _bad_input_raises(provider: ReferenceProvider) -> None:
    """Body validation errors escape as exceptions instead of becoming 400 answers."""
    original = seam(provider.resource_server, "session_data")

    def session_data(request: Request) -> dict[str, str]:
        try:
            data: dict[str, str] = original(request)
        except BadSessionData as problem:
            raise ValueError(f"cannot read SessionData: {problem}") from problem
        return data

    replace_seam(provider.resource_server, "session_data", session_data)


def _rs_answers_500_to_bad_input(provider: ReferenceProvider) -> None:
    _bad_input_raises(provider)


def _rs_leaks_stack_trace(provider: ReferenceProvider) -> None:
    def internal_error(exc: Exception) -> Response:
        text = "".join(traceback.format_exception(exc))
        return Response(500, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8"))

    _bad_input_raises(provider)
    replace_seam(provider.resource_server, "internal_error", internal_error)


# -- authorization server: client authentication -----------------------------------------------------------


def _as_accepts_expired_client_cert(provider: ReferenceProvider) -> None:
    def ignore_validity_dates(context: ssl.SSLContext) -> None:
        context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME

    change_listener_contexts(provider, ignore_validity_dates, ["as"])


def _as_accepts_wrong_eku_cert(provider: ReferenceProvider) -> None:
    def ignore_purpose(context: ssl.SSLContext) -> None:
        tolerate_verify_errors(context, {X509_V_ERR_INVALID_PURPOSE})

    def certificate_usable(der: bytes) -> bool:
        return True

    change_listener_contexts(provider, ignore_purpose, ["as"])
    replace_seam(provider.authorization_server, "certificate_usable", certificate_usable)


def _as_accepts_revoked_client_cert(provider: ReferenceProvider) -> None:
    def no_crl_check(context: ssl.SSLContext) -> None:
        context.verify_flags &= ~ssl.VERIFY_CRL_CHECK_LEAF

    change_listener_contexts(provider, no_crl_check, ["as"])


def _as_maps_unknown_dn(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "client_for_subject")

    def client_for_subject(
        subject: str | None, allowed: Mapping[str, ClientIdentity]
    ) -> ClientIdentity | None:
        known: ClientIdentity | None = original(subject, allowed)
        if known is not None or subject is None:
            return known
        return next((c for c in allowed.values() if c.role == "lps"), None)  # "the default client"

    replace_seam(provider.authorization_server, "client_for_subject", client_for_subject)


def _as_accepts_basic_without_cert(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "authenticate_client")

    def authenticate_client(request: Request, allowed: Mapping[str, ClientIdentity]) -> AuthenticatedClient:
        credentials = basic_credentials(request) if request.peer_cert_der is None else None
        client = allowed.get(credentials[0]) if credentials else None
        if credentials and client and client.secret and secrets.compare_digest(client.secret, credentials[1]):
            # Bound to the client's registered certificate: the connection has none.
            return AuthenticatedClient(client, pem_certificate_der(client.cert.read_bytes()))
        authenticated: AuthenticatedClient = original(request, allowed)
        return authenticated

    replace_seam(provider.authorization_server, "authenticate_client", authenticate_client)


# -- authorization server: the subject token ---------------------------------------------------------------


def _claims_as_active(subject_token: str) -> dict[str, Any]:
    try:
        return {**unverified_claims(subject_token), "active": True}
    except jwt.PyJWTError:
        raise OAuthError(400, "invalid_grant", "the subject token is not a JWT") from None


def _as_skips_introspection(provider: ReferenceProvider) -> None:
    def subject(subject_token: str) -> dict[str, Any]:
        return _claims_as_active(subject_token)

    replace_seam(provider.authorization_server, "subject", subject)


def _as_ignores_inactive_subject_token(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "introspect_subject")

    def introspect_subject(subject_token: str) -> dict[str, Any]:
        answer: dict[str, Any] = original(subject_token)
        return answer if answer.get("active") is True else _claims_as_active(subject_token)

    replace_seam(provider.authorization_server, "introspect_subject", introspect_subject)


def _as_caches_introspection_past_expiry(provider: ReferenceProvider) -> None:
    def introspection_cached_until(answer: Mapping[str, Any]) -> float:
        return time.time() + CACHED_PAST_EXPIRY_S

    replace_seam(provider.authorization_server, "introspection_cached_until", introspection_cached_until)


# -- authorization server: the issued token and the answer -------------------------------------------------


def _without_claim(provider: ReferenceProvider, claim: str) -> None:
    original = seam(provider.authorization_server, "access_token_claims")

    def access_token_claims(
        client: AuthenticatedClient, subject: Mapping[str, Any], scope: str, lifetime_s: int
    ) -> dict[str, Any]:
        claims: dict[str, Any] = original(client, subject, scope, lifetime_s)
        claims.pop(claim, None)
        return claims

    replace_seam(provider.authorization_server, "access_token_claims", access_token_claims)


def _as_issues_unbound_token(provider: ReferenceProvider) -> None:
    _without_claim(provider, "cnf")


def _as_token_without_aud(provider: ReferenceProvider) -> None:
    _without_claim(provider, "aud")


def _as_cnf_hex_form(provider: ReferenceProvider) -> None:
    def confirmation(certificate_der: bytes) -> dict[str, str]:
        return {"x5t#S256": x5t_s256_ans_hex(certificate_der)}

    replace_seam(provider.authorization_server, "confirmation", confirmation)


def _as_sub_is_psc_sub(provider: ReferenceProvider) -> None:
    def professional_id(subject: Mapping[str, Any]) -> str:
        return str(subject.get("sub"))

    replace_seam(provider.authorization_server, "professional_id", professional_id)


def _as_omits_cache_control(provider: ReferenceProvider) -> None:
    def exchange_headers() -> dict[str, str]:
        return {}

    replace_seam(provider.authorization_server, "exchange_headers", exchange_headers)


def _as_omits_issued_token_type(provider: ReferenceProvider) -> None:
    original = seam(provider.authorization_server, "exchange_answer")

    def exchange_answer(access_token: str, scope: str, expires_in: int) -> dict[str, Any]:
        answer: dict[str, Any] = original(access_token, scope, expires_in)
        answer.pop("issued_token_type", None)
        return answer

    replace_seam(provider.authorization_server, "exchange_answer", exchange_answer)


def _as_short_token_lifetime(provider: ReferenceProvider) -> None:
    def token_lifetime_s() -> int:
        return SHORT_TOKEN_LIFETIME_S

    replace_seam(provider.authorization_server, "token_lifetime_s", token_lifetime_s)


def _as_grants_unallowed_scope(provider: ReferenceProvider) -> None:
    server = provider.authorization_server

    def granted_scope(client: ClientIdentity, requested: str | None) -> str:
        return " ".join(dict.fromkeys((requested or "").split())) or server.settings.scope

    replace_seam(server, "granted_scope", granted_scope)


def _as_accepts_unknown_grant_type(provider: ReferenceProvider) -> None:
    def check_grant_type(grant_type: str | None) -> None:
        return None

    replace_seam(provider.authorization_server, "check_grant_type", check_grant_type)


# -- both listeners ----------------------------------------------------------------------------------------


def _provider_accepts_tls_1_1(provider: ReferenceProvider) -> None:
    change_listener_contexts(provider, allow_legacy_versions)


# -- the catalogue -----------------------------------------------------------------------------------------


def _fault(
    name: str, requirements: Sequence[str], description: str, apply: Callable[[ReferenceProvider], None]
) -> Fault:
    return Fault(name, tuple(requirements), description, apply, Role.PROVIDER)


_CATALOGUE = (
    # resource server: the token
    _fault(
        "rs_accepts_expired_token",
        ["IG-SEC-21"],
        "The resource server ignores exp: expired tokens are served.",
        _rs_accepts_expired_token,
    ),
    _fault(
        "rs_accepts_future_nbf",
        ["IG-SEC-21"],
        "The resource server ignores nbf (and iat): tokens not valid yet are served.",
        _rs_accepts_future_nbf,
    ),
    _fault(
        "rs_accepts_alg_none",
        ["IG-SEC-21"],
        "The resource server accepts unsigned tokens (alg none).",
        _rs_accepts_alg_none,
    ),
    _fault(
        "rs_accepts_hs256_public_key",
        ["IG-SEC-21"],
        "Algorithm confusion: the resource server verifies an HS256 token with the issuer's public key PEM "
        "as the HMAC secret.",
        _rs_accepts_hs256_public_key,
    ),
    _fault(
        "rs_signature_not_checked",
        ["IG-SEC-21"],
        "The resource server decodes tokens without verifying their signature.",
        _rs_signature_not_checked,
    ),
    _fault(
        "rs_accepts_unknown_issuer",
        ["IG-SEC-21"],
        "The resource server accepts a token of any issuer whose signature verifies with a key it has.",
        _rs_accepts_unknown_issuer,
    ),
    _fault(
        "rs_skips_audience_check",
        ["IG-SEC-22"],
        "The resource server does not check aud: tokens for another service are served.",
        _rs_skips_audience_check,
    ),
    _fault(
        "rs_skips_scope_check",
        ["IG-SEC-23"],
        "The resource server does not check the API scope.",
        _rs_skips_scope_check,
    ),
    _fault(
        "rs_skips_cnf_check",
        ["IG-SEC-15"],
        "The resource server never compares cnf.x5t#S256 with the connection's certificate.",
        _rs_skips_cnf_check,
    ),
    _fault(
        "rs_accepts_unbound_token",
        ["IG-SEC-15"],
        "The resource server serves a token without cnf.",
        _rs_accepts_unbound_token,
    ),
    _fault(
        "rs_401_without_www_authenticate",
        ["IG-SEC-24"],
        "The resource server's 401 answers carry no WWW-Authenticate challenge.",
        _rs_401_without_www_authenticate,
    ),
    # resource server: the connection
    _fault(
        "rs_accepts_no_client_cert",
        ["IG-SEC-25"],
        "The resource server serves a call made without a client certificate (the cnf check is skipped "
        "when there is no certificate).",
        _rs_accepts_no_client_cert,
    ),
    _fault(
        "rs_trusts_rogue_ca",
        ["IG-SEC-25"],
        "The resource server's listener accepts any client certificate, from any CA, without verifying "
        "it, and reads it anyway.",
        _rs_trusts_rogue_ca,
    ),
    # resource server: bad input
    _fault(
        "rs_answers_500_to_bad_input",
        ["EDC-18"],
        "A body that is not SessionData gets 500 instead of 400.",
        _rs_answers_500_to_bad_input,
    ),
    _fault(
        "rs_leaks_stack_trace",
        ["EDC-18"],
        "A body that is not SessionData gets 500 with the Python traceback as its body.",
        _rs_leaks_stack_trace,
    ),
    # authorization server: client authentication
    _fault(
        "as_accepts_expired_client_cert",
        ["IG-SEC-17"],
        "The authorization server accepts an expired client certificate.",
        _as_accepts_expired_client_cert,
    ),
    _fault(
        "as_accepts_wrong_eku_cert",
        ["IG-SEC-17"],
        "The authorization server accepts a client certificate without the clientAuth extended key usage.",
        _as_accepts_wrong_eku_cert,
    ),
    _fault(
        "as_accepts_revoked_client_cert",
        ["IG-SEC-17"],
        "The authorization server does not check the CRL.",
        _as_accepts_revoked_client_cert,
    ),
    _fault(
        "as_maps_unknown_dn",
        ["IG-SEC-17"],
        "The authorization server maps a certificate whose subject no client is registered for (same CA) "
        "to a default client.",
        _as_maps_unknown_dn,
    ),
    _fault(
        "as_accepts_basic_without_cert",
        ["IG-SEC-17"],
        "The authorization server authenticates client_id:secret in a Basic header, with no certificate.",
        _as_accepts_basic_without_cert,
    ),
    # authorization server: the subject token
    _fault(
        "as_skips_introspection",
        ["IG-SEC-13", "IG-SEC-18"],
        "The authorization server trusts the subject token by decoding it: no introspection at PSC.",
        _as_skips_introspection,
    ),
    _fault(
        "as_ignores_inactive_subject_token",
        ["IG-SEC-18"],
        "The authorization server introspects the subject token but ignores active=false.",
        _as_ignores_inactive_subject_token,
    ),
    _fault(
        "as_caches_introspection_past_expiry",
        ["IG-SEC-18"],
        "The authorization server reuses PSC's introspection answer for an hour, past the token's exp.",
        _as_caches_introspection_past_expiry,
    ),
    # authorization server: the issued token and the answer
    _fault(
        "as_issues_unbound_token", ["IG-SEC-11"], "Issued API tokens carry no cnf.", _as_issues_unbound_token
    ),
    _fault(
        "as_cnf_hex_form",
        ["IG-SEC-11"],
        "cnf.x5t#S256 is base64 of the hex SHA-256 (as ANS's Keycloak writes it), not RFC 8705's base64url.",
        _as_cnf_hex_form,
    ),
    _fault(
        "as_omits_cache_control",
        ["IG-SEC-14"],
        "The exchange answer has no Cache-Control: no-store.",
        _as_omits_cache_control,
    ),
    _fault(
        "as_omits_issued_token_type",
        ["IG-SEC-14"],
        "The exchange answer has no issued_token_type.",
        _as_omits_issued_token_type,
    ),
    _fault(
        "as_sub_is_psc_sub",
        ["IG-SEC-26"],
        "The API token's sub is PSC's technical sub, not SubjectNameID.",
        _as_sub_is_psc_sub,
    ),
    _fault("as_token_without_aud", ["IG-SEC-26"], "Issued API tokens have no aud.", _as_token_without_aud),
    _fault(
        "as_grants_unallowed_scope",
        ["IG-SEC-27"],
        "The authorization server grants any requested scope.",
        _as_grants_unallowed_scope,
    ),
    _fault(
        "as_accepts_unknown_grant_type",
        ["IG-SEC-27"],
        "The authorization server treats any grant_type (or none) as a token exchange.",
        _as_accepts_unknown_grant_type,
    ),
    _fault(
        "provider_accepts_tls_1_1",
        ["IG-SEC-03"],
        "Both listeners accept TLS 1.0 and 1.1 (minimum TLSv1, DEFAULT:@SECLEVEL=0).",
        _provider_accepts_tls_1_1,
    ),
    _fault(
        "as_short_token_lifetime",
        ["IG-SEC-19"],
        f"API tokens live {SHORT_TOKEN_LIFETIME_S} s, below the IG's recommended 1 to 4 h (a warning).",
        _as_short_token_lifetime,
    ),
)

FAULT_CATALOGUE: Catalogue[Fault] = Catalogue("fault", _CATALOGUE)
FAULTS: dict[str, Fault] = FAULT_CATALOGUE.entries


def apply_faults(provider: ReferenceProvider, names: Sequence[str]) -> None:
    """Apply the named faults to `provider`; all names are checked first (UsageError for an unknown one)."""
    FAULT_CATALOGUE.apply(provider, names, Role.PROVIDER)


__all__ = ["FAULTS", "FAULT_CATALOGUE", "apply_faults"]
