"""The reference provider's authorization server: RFC 8693 token exchange of PSC access tokens.

POST {realm}/protocol/openid-connect/token             token exchange (client authenticated by mTLS)
POST {realm}/protocol/openid-connect/token/introspect  RFC 7662, for resource servers
GET  {realm}/protocol/openid-connect/certs             the JWKS of the API tokens
GET  {realm}/.well-known/openid-configuration and /.well-known/oauth-authorization-server{realm}

Each step of the exchange is a small named method (a *seam*) whose docstring states the reference's
choice and its source; faults and variants replace seams on one instance (`faults.py`, `variants.py`).
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt

from conformance.reference.https import Request, Response, json_response
from conformance.reference.provider.introspection import IntrospectionCache, IntrospectionFailed, introspect
from conformance.reference.provider.keys import SigningKey
from conformance.reference.provider.outgoing import OutgoingHttp
from conformance.reference.provider.settings import ClientIdentity, ProviderSettings
from conformance.reference.provider.tls import certificate_subject, has_client_auth_usage, x5t_s256
from conformance.reference.provider.urls import (
    INTROSPECTION_PATH,
    JWKS_PATH,
    OAUTH_METADATA_PATH,
    OIDC_METADATA_PATH,
    TOKEN_PATH,
    ProviderUrls,
)

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYP: Final = "at+jwt"  # RFC 9068 §2.1
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
# RFC 8693 §2.1: the only parameters that may be repeated; RFC 6749 §3.2 forbids it for the others.
REPEATABLE: Final = frozenset({"audience", "resource"})
OPENID_SCOPE: Final = "openid"

Form = dict[str, list[str]]


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(
        self, status: int, error: str, description: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class AuthenticatedClient:
    identity: ClientIdentity
    certificate_der: bytes  # what the issued token is bound to (cnf)


def authorization_scheme(request: Request) -> str | None:
    header = request.header("Authorization")
    return header.strip().partition(" ")[0].lower() if header and header.strip() else None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """client_id and secret of an `Authorization: Basic` header (RFC 6749 §2.3.1: form-encoded parts)."""
    header = request.header("Authorization") or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else None


def first(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without any check (only for the faults that trust them)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


class AuthorizationServer:
    def __init__(
        self, settings: ProviderSettings, urls: ProviderUrls, signing_key: SigningKey, outgoing: OutgoingHttp
    ) -> None:
        self.settings = settings
        self.urls = urls
        self.signing_key = signing_key
        self.outgoing = outgoing
        self.introspection_cache = IntrospectionCache()

    # -- dispatch -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        routes = {
            ("POST", TOKEN_PATH): self.token,
            ("POST", INTROSPECTION_PATH): self.introspection,
            ("GET", JWKS_PATH): self.jwks,
            ("GET", OIDC_METADATA_PATH): self.metadata,
            ("GET", OAUTH_METADATA_PATH): self.metadata,
        }
        route = routes.get((request.method, request.path))
        if route is not None:
            return route(request)
        allowed = [method for method, path in routes if path == request.path]
        if allowed:
            return self.error_response(
                OAuthError(405, "invalid_request", f"use {allowed[0]}", {"Allow": ", ".join(allowed)})
            )
        return json_response(
            {"error": "not_found", "error_description": f"no such endpoint: {request.path}"}, 404
        )

    def internal_error(self, exc: Exception) -> Response:
        """500 server_error, never the exception's text (RFC 6749 §5.2 has no code for it)."""
        return self.error_response(OAuthError(500, "server_error", "internal error"))

    def error_response(self, error: OAuthError) -> Response:
        """RFC 6749 §5.2: JSON {error, error_description}, not to be cached."""
        body = {"error": error.error, "error_description": error.description}
        return json_response(body, error.status, {**NO_STORE, **error.headers})

    # -- client authentication ---------------------------------------------------------------------------

    def authenticate_client(
        self, request: Request, allowed: Mapping[str, ClientIdentity]
    ) -> AuthenticatedClient:
        """RFC 8705 §2.1 tls_client_auth only (IG 1.2.0 removed Basic): the client is the one whose
        registered subject DN is the certificate's; a Basic header is ignored when a certificate is
        presented, and refused without one."""
        der = request.peer_cert_der
        if der is None:
            if authorization_scheme(request) == "basic":
                raise OAuthError(
                    401,
                    "invalid_client",
                    "clients authenticate by mTLS (tls_client_auth) only: client_secret_basic is refused",
                    {"WWW-Authenticate": 'Basic realm="signsessiondata"'},  # RFC 6749 §5.2: the scheme tried
                )
            raise OAuthError(401, "invalid_client", "a client certificate is required (tls_client_auth)")
        if not self.certificate_usable(der):
            raise OAuthError(401, "invalid_client", "the client certificate is not for client authentication")
        client = self.client_for_subject(certificate_subject(der), allowed)
        if client is None:
            raise OAuthError(401, "invalid_client", "no client is registered for this certificate's subject")
        return AuthenticatedClient(client, der)

    def certificate_usable(self, der: bytes) -> bool:
        """The AUTH_CLI profile: extendedKeyUsage clientAuth (chain, dates and CRL: in the handshake)."""
        return has_client_auth_usage(der)

    def client_for_subject(
        self, subject: str | None, allowed: Mapping[str, ClientIdentity]
    ) -> ClientIdentity | None:
        """The registered client whose subject DN is exactly the certificate's (IG: DN ↔ Client_ID_AS)."""
        return next((c for c in allowed.values() if subject is not None and c.subject == subject), None)

    def exchange_clients(self) -> Mapping[str, ClientIdentity]:
        """Who may exchange tokens: every LPS and the proxy of counterparts.json."""
        return self.settings.registered_clients

    def introspection_clients(self) -> Mapping[str, ClientIdentity]:
        """Who may introspect API tokens: the registered clients and the provider's own resource server."""
        provider = self.settings.provider_client
        return {**self.settings.registered_clients, provider.client_id: provider}

    # -- the exchange request -------------------------------------------------------------------------

    def token_form(self, request: Request) -> Form:
        """The form body (RFC 6749 §3.2): urlencoded, blank values as absent, no repeated parameter
        except those RFC 8693 lets repeat (audience, resource)."""
        if request.media_type != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "the body is not UTF-8") from None
        form = {
            name: [v for v in values if v] for name, values in parse_qs(text, keep_blank_values=True).items()
        }
        form = {name: values for name, values in form.items() if values}
        repeated = sorted(name for name, values in form.items() if len(values) > 1 and name not in REPEATABLE)
        if repeated:
            raise OAuthError(400, "invalid_request", f"parameter(s) repeated: {', '.join(repeated)}")
        return form

    def check_grant_type(self, grant_type: str | None) -> None:
        """RFC 8693 §2.1: the token-exchange grant; anything else is unsupported (RFC 6749 §5.2)."""
        if grant_type is None:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant_type != TOKEN_EXCHANGE:
            raise OAuthError(400, "unsupported_grant_type", f"only {TOKEN_EXCHANGE} is supported")

    def accepted_subject_token_types(self) -> frozenset[str]:
        """The type of a PSC access token (IG 1.2.0 step 9, RFC 8693 §3)."""
        return frozenset({ACCESS_TOKEN_TYPE})

    def check_subject_token(self, form: Form) -> str:
        """subject_token and an accepted subject_token_type are required (RFC 8693 §2.1, §2.2.2)."""
        subject_token = first(form, "subject_token")
        if subject_token is None:
            raise OAuthError(400, "invalid_request", "subject_token is required")
        token_type = first(form, "subject_token_type")
        if token_type is None:
            raise OAuthError(400, "invalid_request", "subject_token_type is required")
        if token_type not in self.accepted_subject_token_types():
            raise OAuthError(400, "invalid_request", f"subject_token_type {token_type} is not accepted")
        if first(form, "actor_token") is not None and first(form, "actor_token_type") is None:
            raise OAuthError(400, "invalid_request", "actor_token_type is required with actor_token")
        requested = first(form, "requested_token_type")
        if requested is not None and requested not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            raise OAuthError(400, "invalid_request", f"cannot issue a token of type {requested}")
        return subject_token

    def allowed_scopes(self, client: ClientIdentity) -> frozenset[str]:
        """IG 1.2.0 step 11 (Client_ID_AS × scopes): every registered client may have the API scope."""
        return frozenset({self.settings.scope, OPENID_SCOPE})

    def granted_scope(self, client: ClientIdentity, requested: str | None) -> str:
        """The requested scopes if all are allowed (else invalid_scope); the API scope when none is asked."""
        wanted = list(dict.fromkeys((requested or "").split()))
        if not wanted:
            return self.settings.scope
        refused = [scope for scope in wanted if scope not in self.allowed_scopes(client)]
        if refused:
            raise OAuthError(400, "invalid_scope", f"scope not allowed for this client: {' '.join(refused)}")
        return " ".join(wanted)

    def names_this_api(self, target: str) -> bool:
        """An `audience` naming this API, or a `resource` URL at or below the resource server's base URL."""
        if target == self.settings.audience:
            return True
        parts = urlsplit(target)
        base = urlsplit(self.urls.rs_base_url)
        try:
            port = parts.port
        except ValueError:
            return False
        path = parts.path.rstrip("/")
        return (
            parts.scheme == "https"
            and port == base.port
            and (parts.hostname or "") in self.host_names()
            and (path == base.path or path.startswith(base.path + "/"))
        )

    def host_names(self) -> frozenset[str]:
        host = self.settings.host.strip("[]")
        loopback = {"127.0.0.1", "localhost", "::1"}
        return frozenset(loopback if host in loopback else {host})

    def check_targets(self, form: Form) -> None:
        """RFC 8693 §2.2.2: an audience or resource this AS does not issue for is invalid_target."""
        for target in [*form.get("audience", []), *form.get("resource", [])]:
            if not self.names_this_api(target):
                raise OAuthError(
                    400, "invalid_target", f"this server issues tokens for {self.settings.audience} only"
                )

    # -- the subject token at PSC ------------------------------------------------------------------------

    def psc_introspection_credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """tls_client_auth with the provider's own PSC client certificate: `client_id` in the form
        (RFC 8705 §2.1; PSC checks it against the certificate's CN); no header."""
        return {"client_id": self.settings.provider_client.client_id}, {}

    def introspect_subject(self, subject_token: str) -> dict[str, Any]:
        """RFC 7662 at PSC (IG 1.2.0 step 10); PSC unreachable or refusing: invalid_grant."""
        form, headers = self.psc_introspection_credentials()
        try:
            return introspect(
                self.outgoing.client(),
                self.settings.psc_introspection_endpoint,
                subject_token,
                form=form,
                headers=headers,
            )
        except IntrospectionFailed as exc:
            raise OAuthError(
                400, "invalid_grant", f"the subject token could not be checked at PSC ({exc})"
            ) from None

    def introspection_cached_until(self, answer: Mapping[str, Any]) -> float:
        """How long PSC's answer is reused: introspection_cache_s, never past the token's own exp (an
        active answer without exp is not kept)."""
        limit = time.time() + self.settings.introspection_cache_s
        if answer.get("active") is not True:
            return limit
        exp = answer.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return 0.0
        return min(limit, float(exp))

    def subject(self, subject_token: str) -> dict[str, Any]:
        """PSC's introspection of the subject token, from the cache while it may be reused."""
        cached = self.introspection_cache.get(subject_token)
        if cached is not None:
            return cached
        answer = self.introspect_subject(subject_token)
        self.introspection_cache.put(subject_token, answer, self.introspection_cached_until(answer))
        return answer

    def check_subject(self, subject: Mapping[str, Any], client: ClientIdentity) -> None:
        """invalid_grant unless PSC says active, the token was issued to the authenticated client
        (`client_id`, else `azp`), and PSC names the professional (SubjectNameID)."""
        if subject.get("active") is not True:
            raise OAuthError(400, "invalid_grant", "the subject token is not active at PSC")
        issued_to = subject.get("client_id") or subject.get("azp")
        if issued_to != client.client_id:
            raise OAuthError(400, "invalid_grant", "the subject token was issued to another client")
        national_id = subject.get("SubjectNameID")
        if not isinstance(national_id, str) or not national_id:
            raise OAuthError(400, "invalid_grant", "PSC gives no SubjectNameID for the subject token")

    # -- the API token ----------------------------------------------------------------------------------

    def token_lifetime_s(self) -> int:
        """token_ttl_s (IG standards: 1 to 4 h; 4 h by default, as the trust space's realm)."""
        return self.settings.token_ttl_s

    def professional_id(self, subject: Mapping[str, Any]) -> str:
        """`sub` is the professional's national id: PSC's SubjectNameID, never PSC's technical `sub`."""
        return str(subject["SubjectNameID"])

    def token_audience(self) -> str | list[str]:
        """`aud` is this API's name, a single string (RFC 7519 §4.1.3)."""
        return self.settings.audience

    def confirmation(self, certificate_der: bytes) -> dict[str, str]:
        """RFC 8705 §3.1: `cnf.x5t#S256`, base64url of the SHA-256 of the client certificate."""
        return {"x5t#S256": x5t_s256(certificate_der)}

    def access_token_claims(
        self, client: AuthenticatedClient, subject: Mapping[str, Any], scope: str, lifetime_s: int
    ) -> dict[str, Any]:
        """IG standards (access token data): iss, sub, aud, exp, iat, scope; and nbf, jti, client_id
        (RFC 9068 §2.2), cnf (RFC 8705)."""
        now = int(time.time())
        return {
            "iss": self.urls.issuer,
            "sub": self.professional_id(subject),
            "aud": self.token_audience(),
            "exp": now + lifetime_s,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "scope": scope,
            "client_id": client.identity.client_id,
            "cnf": self.confirmation(client.certificate_der),
        }

    def exchange_answer(self, access_token: str, scope: str, expires_in: int) -> dict[str, Any]:
        """RFC 8693 §2.2.1 (and the IG example): the token, its type, Bearer, expires_in, scope."""
        return {
            "access_token": access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scope,
        }

    def exchange_headers(self) -> dict[str, str]:
        """RFC 6749 §5.1: a token answer is never cached."""
        return dict(NO_STORE)

    def token(self, request: Request) -> Response:
        try:
            client = self.authenticate_client(request, self.exchange_clients())
            form = self.token_form(request)
            self.check_grant_type(first(form, "grant_type"))
            subject_token = self.check_subject_token(form)
            scope = self.granted_scope(client.identity, first(form, "scope"))
            self.check_targets(form)
            subject = self.subject(subject_token)
            self.check_subject(subject, client.identity)
            lifetime = self.token_lifetime_s()
            claims = self.access_token_claims(client, subject, scope, lifetime)
            access_token = self.signing_key.sign(claims, ACCESS_TOKEN_TYP)
        except OAuthError as error:
            return self.error_response(error)
        return json_response(
            self.exchange_answer(access_token, scope, lifetime), 200, self.exchange_headers()
        )

    # -- introspection, keys, metadata ------------------------------------------------------------------

    def introspect_own(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2 for our own tokens: signature, issuer and exp checked, else inactive."""
        try:
            if jwt.get_unverified_header(token).get("kid") != self.signing_key.kid:
                return {"active": False}
            claims: dict[str, Any] = jwt.decode(
                token,
                self.signing_key.verification_key.key,
                algorithms=[self.signing_key.alg],
                issuer=self.urls.issuer,
                options={"verify_aud": False, "require": ["exp", "iat"]},
            )
        except jwt.PyJWTError:
            return {"active": False}
        fields = ("iss", "sub", "aud", "scope", "exp", "iat", "nbf", "jti", "client_id", "cnf")
        return {
            "active": True,
            **{name: claims[name] for name in fields if name in claims},
            "token_type": "Bearer",
        }

    def introspection(self, request: Request) -> Response:
        try:
            self.authenticate_client(request, self.introspection_clients())
            token = first(self.token_form(request), "token")
            if token is None:
                raise OAuthError(400, "invalid_request", "token is required")
        except OAuthError as error:
            return self.error_response(error)
        return json_response(self.introspect_own(token), 200, NO_STORE)

    def jwks(self, request: Request) -> Response:
        return json_response({"keys": [self.signing_key.public_jwk()]})

    def metadata(self, request: Request) -> Response:
        """RFC 8414 §2 (and OpenID discovery at the Keycloak path): the endpoints and mTLS binding."""
        return json_response(
            {
                "issuer": self.urls.issuer,
                "token_endpoint": self.urls.token_endpoint,
                "introspection_endpoint": self.urls.introspection_endpoint,
                "jwks_uri": self.urls.jwks_uri,
                "grant_types_supported": [TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": ["tls_client_auth"],
                "introspection_endpoint_auth_methods_supported": ["tls_client_auth"],
                "tls_client_certificate_bound_access_tokens": True,
                "scopes_supported": [self.settings.scope, OPENID_SCOPE],
            }
        )


__all__ = [
    "ACCESS_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "NO_STORE",
    "TOKEN_EXCHANGE",
    "AuthenticatedClient",
    "AuthorizationServer",
    "OAuthError",
    "basic_credentials",
    "first",
    "unverified_claims",
]
