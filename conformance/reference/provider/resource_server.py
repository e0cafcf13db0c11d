"""The reference provider's resource server: the API PSC operation `POST /mockservice/apipsc/signsessiondata`.

A call needs a Bearer API token (RFC 6750 §2.1) signed by a trusted issuer (the provider's own AS,
and the harness's AS so that the harness can judge it with tokens it forges), valid now, for this
API's audience and scope, bound (RFC 8705 `cnf.x5t#S256`) to the client certificate of the very
connection it arrives on. Refusals follow RFC 6750 §3. The answer is the session data signed.

Each check is a small named method (a *seam*) whose docstring states the reference's choice; faults
and variants replace seams on one instance (`faults.py`, `variants.py`).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, Final

import jwt

from conformance.reference.https import Request, Response, json_response
from conformance.reference.provider.keys import KeyFetchFailed, KeySource, LocalKeys, RemoteJwks, SigningKey
from conformance.reference.provider.outgoing import OutgoingHttp
from conformance.reference.provider.settings import ProviderSettings
from conformance.reference.provider.tls import has_client_auth_usage, x5t_s256
from conformance.reference.provider.urls import SIGN_SESSION_DATA_PATH, ProviderUrls

SESSION_DATA_FIELDS: Final = ("nationalId", "clientID", "proxy_session_id", "session_state")
ACCEPTED_ALGORITHMS: Final = frozenset({"ES256", "RS256"})  # never `none`, never a symmetric HS*
LEEWAY_S: Final = 2.0  # clock skew tolerated on exp, nbf and iat
SIGNATURE_TYP: Final = "JOSE"


class InvalidToken(Exception):
    """401 invalid_token (RFC 6750 §3.1), with a description for the challenge."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class BadSessionData(Exception):
    """400: the body is not the SessionData JSON object."""


def canonical_session_data(data: Mapping[str, Any]) -> bytes:
    """What the signature covers: the four SessionData fields as sorted, compact UTF-8 JSON."""
    fields = {name: data[name] for name in SESSION_DATA_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _quoted(value: str) -> str:
    """An RFC 6750 §3 attribute value: only %x20-21 / %x23-5B / %x5D-7E, so no quote nor backslash."""
    return "".join(c for c in value if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


def _number(value: object) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)


class ResourceServer:
    def __init__(
        self,
        settings: ProviderSettings,
        urls: ProviderUrls,
        as_key: SigningKey,
        signature_key: SigningKey,
        outgoing: OutgoingHttp,
    ) -> None:
        self.settings = settings
        self.urls = urls
        self.signature_key = signature_key
        self.outgoing = outgoing
        self.key_sources: dict[str, KeySource] = {urls.issuer: LocalKeys(as_key)}
        self.introspection_endpoints: dict[str, str] = {urls.issuer: urls.introspection_endpoint}
        harness = settings.harness_as
        if settings.trust_harness_as and harness is not None:
            self.key_sources[harness.issuer] = RemoteJwks(harness.jwks_uri, outgoing.client)
            self.introspection_endpoints[harness.issuer] = harness.introspection_endpoint

    # -- dispatch -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path != SIGN_SESSION_DATA_PATH:
            return json_response({"code": "not_found", "message": f"no such endpoint: {request.path}"}, 404)
        if request.method != "POST":
            return json_response(
                {"code": "method_not_allowed", "message": "use POST"}, 405, {"Allow": "POST"}
            )
        return self.sign_session_data(request)

    def internal_error(self, exc: Exception) -> Response:
        """500 with a fixed message: never a stack trace or an exception's text."""
        return json_response({"code": "internal_error", "message": "internal error"}, 500)

    def sign_session_data(self, request: Request) -> Response:
        token = self.bearer_token(request)
        if token is None:
            return self.unauthorized(None, None)
        try:
            claims = self.validate(token)
            certificate = request.peer_cert_der
            self.require_client_certificate(certificate)
            self.check_binding(claims, certificate)
        except InvalidToken as refusal:
            return self.unauthorized("invalid_token", refusal.description)
        if not self.has_api_scope(claims):
            return self.insufficient_scope()
        try:
            data = self.session_data(request)
        except BadSessionData as problem:
            return self.bad_request(str(problem))
        if data["nationalId"] != claims.get("sub"):
            return json_response(
                {
                    "code": "forbidden",
                    "message": "nationalId is not the professional the token was issued for",
                },
                403,
            )
        return json_response({**data, "signature": self.signature(data)})

    # -- RFC 6750 answers -------------------------------------------------------------------------------

    def challenge(self, error: str | None, description: str | None, scope: str | None = None) -> str:
        """RFC 6750 §3: the Bearer scheme with the API's realm, and the error attributes when known."""
        attributes = [f'realm="{_quoted(self.settings.audience)}"']
        if error is not None:
            attributes.append(f'error="{error}"')
        if description is not None:
            attributes.append(f'error_description="{_quoted(description)}"')
        if scope is not None:
            attributes.append(f'scope="{_quoted(scope)}"')
        return "Bearer " + ", ".join(attributes)

    def unauthorized(self, error: str | None, description: str | None) -> Response:
        """401 with a Bearer challenge (RFC 6750 §3): no error attribute when no token was sent (§3.1)."""
        body = {"code": error or "unauthorized", "message": description or "an access token is required"}
        return json_response(body, 401, {"WWW-Authenticate": self.challenge(error, description)})

    def insufficient_scope(self) -> Response:
        """403 insufficient_scope naming the scope needed (RFC 6750 §3.1)."""
        description = "the access token lacks the API scope"
        return json_response(
            {"code": "insufficient_scope", "message": description},
            403,
            {"WWW-Authenticate": self.challenge("insufficient_scope", description, self.settings.scope)},
        )

    def bad_request(self, message: str) -> Response:
        """400 with the API's {code, message} error (swagger ApiError)."""
        return json_response({"code": "invalid_request", "message": message}, 400)

    # -- the token ------------------------------------------------------------------------------------

    def bearer_token(self, request: Request) -> str | None:
        """RFC 6750 §2.1, the only method taken: `Authorization: Bearer <token>` (never form nor query)."""
        scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token and " " not in token else None

    def check_algorithm(self, alg: object) -> None:
        """ES256 or RS256 only (RFC 8725 §3.1): `none` and every HS* refused before any key is looked up."""
        if alg not in ACCEPTED_ALGORITHMS:
            raise InvalidToken(f"signature algorithm {alg!r} is not accepted")

    def key_source(self, issuer: object) -> KeySource | None:
        """The keys of a trusted issuer: our AS, and the harness's AS when trust_harness_as is set."""
        return self.key_sources.get(issuer) if isinstance(issuer, str) else None

    def verified_claims(self, token: str, header: Mapping[str, Any], source: KeySource) -> dict[str, Any]:
        """The claims, once the signature verifies with the issuer's key named by `kid`."""
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        try:
            key = source.key(kid)
        except KeyFetchFailed:
            raise InvalidToken("the issuer's keys are not available") from None
        if key is None:
            raise InvalidToken("the token's key is unknown")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[str(header.get("alg"))],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("the token's signature does not verify") from None
        return claims

    def check_expiry(self, claims: Mapping[str, Any], now: float) -> None:
        """RFC 7519 §4.1.4: exp is required and must be in the future."""
        exp = _number(claims.get("exp"))
        if exp is None:
            raise InvalidToken("the token has no exp")
        if exp <= now - LEEWAY_S:
            raise InvalidToken("the token has expired")

    def check_not_before(self, claims: Mapping[str, Any], now: float) -> None:
        """RFC 7519 §4.1.5-4.1.6: not before nbf, and not issued in the future."""
        for name in ("nbf", "iat"):
            if name in claims:
                moment = _number(claims[name])
                if moment is None or moment > now + LEEWAY_S:
                    raise InvalidToken(f"the token is not valid yet ({name})")

    def check_audience(self, claims: Mapping[str, Any]) -> None:
        """RFC 7519 §4.1.3: aud (a string or a list) names this API."""
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.settings.audience not in audiences:
            raise InvalidToken("the token is not for this API (aud)")

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        """What any token must say, however it was validated: valid now, for this API, for someone."""
        now = time.time()
        self.check_expiry(claims, now)
        self.check_not_before(claims, now)
        self.check_audience(claims)
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("the token has no sub")

    def validate(self, token: str) -> dict[str, Any]:
        """A signed JWS verified locally (IG 1.2.0 step 12 allows it instead of introspection)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        self.check_algorithm(header.get("alg"))
        source = self.key_source(unverified.get("iss"))
        if source is None:
            raise InvalidToken("the token's issuer is not trusted")
        claims = self.verified_claims(token, header, source)
        self.check_claims(claims)
        return claims

    # -- the connection's certificate --------------------------------------------------------------------

    def require_client_certificate(self, certificate: bytes | None) -> None:
        """RFC 8705 §3: a bound token is only usable over mTLS, with an AUTH_CLI (clientAuth) certificate."""
        if certificate is None:
            raise InvalidToken("a client certificate is required")
        if not has_client_auth_usage(certificate):
            raise InvalidToken("the client certificate is not for client authentication")

    def check_binding(self, claims: Mapping[str, Any], certificate: bytes | None) -> None:
        """RFC 8705 §3.1: cnf.x5t#S256 is required and is the base64url SHA-256 of this connection's
        certificate (the ANS hex form is another value: no match)."""
        cnf = claims.get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
        if not isinstance(bound, str):
            raise InvalidToken("the token is not bound to a certificate (cnf)")
        if certificate is None or not hmac.compare_digest(bound, x5t_s256(certificate)):
            raise InvalidToken("the token is bound to another certificate")

    def has_api_scope(self, claims: Mapping[str, Any]) -> bool:
        """The space-separated `scope` claim lists the API scope (IG 1.2.0 step 12)."""
        scope = claims.get("scope")
        return isinstance(scope, str) and self.settings.scope in scope.split()

    # -- the operation --------------------------------------------------------------------------------

    def session_data(self, request: Request) -> dict[str, str]:
        """A JSON object whose four SessionData fields are strings (swagger api-psc.json); else 400."""
        if request.media_type != "application/json" and not request.media_type.endswith("+json"):
            raise BadSessionData("Content-Type must be application/json")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise BadSessionData("the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadSessionData("the body must be a SessionData JSON object")
        problems = [f"{name} is missing" for name in SESSION_DATA_FIELDS if name not in body]
        problems += [
            f"{name} is not a string"
            for name in SESSION_DATA_FIELDS
            if name in body and not isinstance(body[name], str)
        ]
        if problems:
            raise BadSessionData("; ".join(problems))
        return {name: body[name] for name in SESSION_DATA_FIELDS}

    def signature(self, data: Mapping[str, Any]) -> str:
        """A compact ES256 JWS over `canonical_session_data`."""
        return self.signature_key.sign_payload(canonical_session_data(data), SIGNATURE_TYP)


__all__ = [
    "ACCEPTED_ALGORITHMS",
    "SESSION_DATA_FIELDS",
    "BadSessionData",
    "InvalidToken",
    "ResourceServer",
    "canonical_session_data",
]
