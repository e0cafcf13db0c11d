"""OAuth 2.0 Token Exchange (RFC 8693), as the PSC trust space profiles it.

The protocol logic only: URNs, parsing a token-exchange request into a dataclass that lists every way it
departs from RFC 8693 and from the transport-security IG profile, and building the responses of the token
endpoint (RFC 8693 §2.2, RFC 6749 §5.1/§5.2). No HTTP, no policy about who may exchange what: the
simulated authorization server (`conformance.counterparts.api_psc`) composes this module, and the
provider-role scenarios use :func:`build_request` and :func:`response_deviations` the other way round.

Each :class:`Deviation` carries the RFC 6749/8693 error code an authorization server answers when the
deviation makes the request unprocessable (``error``), or None when a real server still serves it (the
IG makes ``scope`` mandatory, but an AS can fall back to its default scopes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
# RFC 6749 §6: renewing a token the token endpoint issued with its refresh token; not an exchange.
REFRESH_GRANT_TYPE: Final = "refresh_token"

# Token type identifiers (RFC 8693 §3).
ACCESS_TOKEN: Final = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN: Final = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN: Final = "urn:ietf:params:oauth:token-type:id_token"
SAML1: Final = "urn:ietf:params:oauth:token-type:saml1"
SAML2: Final = "urn:ietf:params:oauth:token-type:saml2"
JWT: Final = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPES: Final = frozenset({ACCESS_TOKEN, REFRESH_TOKEN, ID_TOKEN, SAML1, SAML2, JWT})
# The two values the IG 1.2.0 allows for a PSC access token used as subject_token.
PSC_SUBJECT_TOKEN_TYPES: Final = (ACCESS_TOKEN, JWT)

# Error codes of the token endpoint (RFC 6749 §5.2, RFC 8693 §2.2.2).
INVALID_REQUEST: Final = "invalid_request"
INVALID_CLIENT: Final = "invalid_client"
INVALID_GRANT: Final = "invalid_grant"
UNAUTHORIZED_CLIENT: Final = "unauthorized_client"
UNSUPPORTED_GRANT_TYPE: Final = "unsupported_grant_type"
INVALID_SCOPE: Final = "invalid_scope"
INVALID_TARGET: Final = "invalid_target"
ERROR_CODES: Final = frozenset(
    {
        INVALID_REQUEST,
        INVALID_CLIENT,
        INVALID_GRANT,
        UNAUTHORIZED_CLIENT,
        UNSUPPORTED_GRANT_TYPE,
        INVALID_SCOPE,
        INVALID_TARGET,
    }
)

# RFC 6749 §5.1: token responses must not be cached.
NO_STORE_HEADERS: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Parameters RFC 8693 §2.1 allows more than once; RFC 6749 §3.2 forbids repeating any other.
_REPEATABLE: Final = frozenset({"audience", "resource"})
_KNOWN: Final = frozenset(
    {
        "grant_type",
        "subject_token",
        "subject_token_type",
        "scope",
        "audience",
        "resource",
        "requested_token_type",
        "actor_token",
        "actor_token_type",
        "subject_issuer",  # not RFC 8693: Keycloak's legacy exchange, sent by the ANS proxy example
    }
)
# RFC 6749 §3.3 scope-token and §5.2 error / error_description character sets (printable ASCII minus " \).
_SCOPE_TOKEN_RE: Final = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_ERROR_TEXT_RE: Final = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")


@dataclass(frozen=True)
class Deviation:
    """One departure of a request or response from RFC 8693 / RFC 6749 / the IG profile.

    `code` is stable (scenarios and observations key on it); `error` is the error code an authorization
    server answers when it cannot serve the request because of it, None when it still can.
    """

    code: str
    detail: str
    error: str | None = None

    @property
    def fatal(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class TokenExchangeRequest:
    """A parsed token-exchange request. Absent single parameters are None; `scope` is None when absent."""

    grant_type: str | None
    subject_token: str | None
    subject_token_type: str | None
    scope: tuple[str, ...] | None
    audience: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    requested_token_type: str | None = None
    actor_token: str | None = None
    actor_token_type: str | None = None
    subject_issuer: str | None = None
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # e.g. client_id, client_secret
    deviations: tuple[Deviation, ...] = ()

    @property
    def error(self) -> Deviation | None:
        """The first deviation that makes the request unprocessable, in the order an AS checks them."""
        return next((d for d in self.deviations if d.fatal), None)

    def has(self, code: str) -> bool:
        return any(d.code == code for d in self.deviations)


def is_refresh_request(form: Mapping[str, Sequence[str]]) -> bool:
    """A refresh-token grant (RFC 6749 §6) at the same token endpoint: a renewal, not an exchange."""
    values = form.get("grant_type") or ()
    return len(values) == 1 and values[0] == REFRESH_GRANT_TYPE


def other_client_credentials(authorization: str | None, form: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """What a token request carries to authenticate its client besides the TLS certificate.

    The IG 1.2.0 profile authenticates the client of the token exchange by mTLS only (RFC 8705 §2,
    `tls_client_auth`); `client_id` is not a credential (RFC 8705 §2 even asks for it). Returned as
    readable labels: the Authorization header's scheme, `client_secret`, `client_assertion`.
    """
    found: list[str] = []
    if authorization is not None and authorization.strip():
        found.append(f"Authorization: {authorization.strip().split(' ', 1)[0]}")
    found += [name for name in ("client_secret", "client_assertion") if name in form]
    return tuple(found)


def parse_scope(value: str) -> tuple[str, ...]:
    """Space-delimited scope tokens (RFC 6749 §3.3), de-duplicated in order."""
    return tuple(dict.fromkeys(value.split()))


def parse_request(
    form: Mapping[str, Sequence[str]],
    *,
    subject_token_types: Sequence[str] = PSC_SUBJECT_TOKEN_TYPES,
    requested_token_types: Sequence[str] = (ACCESS_TOKEN, JWT),
    require_scope: bool = True,
) -> TokenExchangeRequest:
    """Read a decoded `application/x-www-form-urlencoded` body (``parse_qs`` shape) as RFC 8693 §2.1.

    `subject_token_types` are the types the exchanging AS accepts (the IG's two by default);
    `require_scope` applies the IG rule that `scope` is mandatory (a non-fatal deviation when absent).
    Checks are ordered as an AS applies them, so :attr:`TokenExchangeRequest.error` is the error to answer.
    """
    deviations: list[Deviation] = []

    def single(name: str) -> str | None:
        values = form.get(name) or ()
        return values[0] if values else None

    grant_type = single("grant_type")
    if grant_type is None or grant_type == "":
        deviations.append(Deviation("grant_type", "grant_type is missing", INVALID_REQUEST))
    elif grant_type != GRANT_TYPE:
        deviations.append(
            Deviation("grant_type", f"grant_type is {grant_type!r}, not {GRANT_TYPE}", UNSUPPORTED_GRANT_TYPE)
        )

    repeated = sorted(name for name, values in form.items() if len(values) > 1 and name not in _REPEATABLE)
    if repeated:
        deviations.append(
            Deviation(
                "duplicate_parameter",
                f"parameters sent more than once: {', '.join(repeated)}",
                INVALID_REQUEST,
            )
        )

    subject_token = single("subject_token") or None
    if subject_token is None:
        deviations.append(
            Deviation("subject_token_missing", "subject_token is missing or empty", INVALID_REQUEST)
        )

    subject_token_type = single("subject_token_type") or None
    if subject_token_type is None:
        deviations.append(Deviation("subject_token_type", "subject_token_type is missing", INVALID_REQUEST))
    elif subject_token_type not in subject_token_types:
        known = (
            "a registered token type" if subject_token_type in TOKEN_TYPES else "not a registered token type"
        )
        deviations.append(
            Deviation(
                "subject_token_type",
                f"subject_token_type {subject_token_type!r} ({known}) is not one of "
                + ", ".join(subject_token_types),
                INVALID_REQUEST,
            )
        )

    actor_token = single("actor_token") or None
    actor_token_type = single("actor_token_type") or None
    if actor_token is not None and actor_token_type is None:
        deviations.append(
            Deviation("actor_token", "actor_token is sent without actor_token_type", INVALID_REQUEST)
        )
    elif actor_token is None and actor_token_type is not None:
        deviations.append(
            Deviation("actor_token", "actor_token_type is sent without actor_token", INVALID_REQUEST)
        )
    elif actor_token_type is not None and actor_token_type not in TOKEN_TYPES:
        deviations.append(
            Deviation(
                "actor_token", f"actor_token_type {actor_token_type!r} is not a token type", INVALID_REQUEST
            )
        )

    requested_token_type = single("requested_token_type") or None
    if requested_token_type is not None and requested_token_type not in requested_token_types:
        deviations.append(
            Deviation(
                "requested_token_type",
                f"requested_token_type {requested_token_type!r} cannot be issued",
                INVALID_REQUEST,
            )
        )

    raw_scope = single("scope")
    scope = parse_scope(raw_scope) if raw_scope is not None else None
    if not scope:
        scope = None
        if require_scope:
            deviations.append(Deviation("scope_missing", "scope is missing or empty (mandatory in the IG)"))
    else:
        malformed = [token for token in scope if not _SCOPE_TOKEN_RE.match(token)]
        if malformed:
            deviations.append(
                Deviation(
                    "scope_syntax", f"scope tokens with forbidden characters: {malformed!r}", INVALID_SCOPE
                )
            )

    return TokenExchangeRequest(
        grant_type=grant_type,
        subject_token=subject_token,
        subject_token_type=subject_token_type,
        scope=scope,
        audience=tuple(form.get("audience") or ()),
        resource=tuple(form.get("resource") or ()),
        requested_token_type=requested_token_type,
        actor_token=actor_token,
        actor_token_type=actor_token_type,
        subject_issuer=single("subject_issuer"),
        extra={name: tuple(values) for name, values in form.items() if name not in _KNOWN},
        deviations=tuple(deviations),
    )


def build_request(
    subject_token: str,
    *,
    subject_token_type: str = ACCESS_TOKEN,
    scope: str | Sequence[str] | None = None,
    audience: Sequence[str] = (),
    resource: Sequence[str] = (),
    requested_token_type: str | None = None,
    actor_token: str | None = None,
    actor_token_type: str | None = None,
) -> dict[str, str | list[str]]:
    """Form fields of a token-exchange request; `audience` and `resource` are lists as they may repeat
    (what ``httpx``'s ``data=`` and ``urlencode(..., doseq=True)`` take)."""
    fields: dict[str, str | list[str]] = {
        "grant_type": GRANT_TYPE,
        "subject_token": subject_token,
        "subject_token_type": subject_token_type,
    }
    if scope is not None:
        fields["scope"] = scope if isinstance(scope, str) else " ".join(scope)
    if audience:
        fields["audience"] = list(audience)
    if resource:
        fields["resource"] = list(resource)
    optional = {
        "requested_token_type": requested_token_type,
        "actor_token": actor_token,
        "actor_token_type": actor_token_type,
    }
    fields |= {name: value for name, value in optional.items() if value is not None}
    return fields


@dataclass(frozen=True)
class EndpointResponse:
    """What the token endpoint answers, independent of the HTTP server that sends it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def success_response(
    access_token: str,
    *,
    issued_token_type: str = ACCESS_TOKEN,
    token_type: str = "Bearer",
    expires_in: int | None = None,
    scope: Sequence[str] | None = None,
    refresh_token: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> EndpointResponse:
    """RFC 8693 §2.2.1 success: `access_token`, `issued_token_type`, `token_type` always; `expires_in`
    (recommended), `scope` (required by the RFC when it differs from the request's; always sent here),
    `refresh_token` (optional). `extra` adds members a real server sends beside them (RFC 6749 §5.1
    allows more; e.g. Keycloak's `refresh_expires_in`, `not-before-policy`, `session_state`)."""
    if issued_token_type not in TOKEN_TYPES:
        raise ValueError(f"not a token type identifier: {issued_token_type!r}")
    body: dict[str, Any] = {
        "access_token": access_token,
        "issued_token_type": issued_token_type,
        "token_type": token_type,
    }
    if expires_in is not None:
        body["expires_in"] = expires_in
    if scope is not None:
        body["scope"] = " ".join(scope)
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    body.update({name: value for name, value in (extra or {}).items() if name not in body})
    return EndpointResponse(200, body, {"Content-Type": "application/json", **NO_STORE_HEADERS})


def error_response(
    error: str,
    description: str | None = None,
    *,
    uri: str | None = None,
    status: int | None = None,
    challenge: str | None = None,
) -> EndpointResponse:
    """RFC 6749 §5.2 error: 401 for `invalid_client`, 400 otherwise unless `status` says.

    `challenge` is the scheme of a `WWW-Authenticate` header, which RFC 6749 requires when the client tried
    to authenticate with the Authorization header (e.g. "Basic").
    """
    if not error or not _ERROR_TEXT_RE.match(error) or " " in error:
        raise ValueError(f"invalid error code: {error!r}")
    if description is not None and not _ERROR_TEXT_RE.match(description):
        raise ValueError(f"error_description has characters RFC 6749 forbids: {description!r}")
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    if uri is not None:
        body["error_uri"] = uri
    headers = {"Content-Type": "application/json", **NO_STORE_HEADERS}
    if challenge is not None:
        headers["WWW-Authenticate"] = f'{challenge} error="{error}"'
    return EndpointResponse(status or (401 if error == INVALID_CLIENT else 400), body, headers)


def response_deviations(status: int, headers: Mapping[str, str], body: Any) -> tuple[Deviation, ...]:
    """How a token-endpoint answer departs from RFC 8693 §2.2 / RFC 6749 §5 (for a SUT's AS).

    `headers` must be case-insensitive (an ``httpx.Headers`` or ``email.message.Message``).
    """
    deviations: list[Deviation] = []
    cache_control = (headers.get("Cache-Control") or "").lower()
    if "no-store" not in [part.strip() for part in cache_control.split(",")]:
        deviations.append(Deviation("cache_control", "Cache-Control: no-store is missing"))
    content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        deviations.append(Deviation("content_type", f"Content-Type is {content_type or 'absent'!r}"))
    if not isinstance(body, Mapping):
        deviations.append(Deviation("body", "the body is not a JSON object"))
        return tuple(deviations)
    if status == 200:
        for name in ("access_token", "issued_token_type", "token_type"):
            if not isinstance(body.get(name), str) or not body[name]:
                deviations.append(Deviation(name, f"{name} is missing or not a string"))
        if isinstance(body.get("issued_token_type"), str) and body["issued_token_type"] not in TOKEN_TYPES:
            deviations.append(
                Deviation(
                    "issued_token_type",
                    f"issued_token_type {body['issued_token_type']!r} is not a token type",
                )
            )
        expires_in = body.get("expires_in")
        if expires_in is None:
            deviations.append(Deviation("expires_in", "expires_in is absent (recommended)"))
        elif isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            deviations.append(
                Deviation("expires_in", f"expires_in is not a positive integer: {expires_in!r}")
            )
        if "scope" in body and not isinstance(body["scope"], str):
            deviations.append(Deviation("scope", "scope is not a space-delimited string"))
    elif 400 <= status < 500:
        error = body.get("error")
        if not isinstance(error, str):
            deviations.append(Deviation("error", "error is missing or not a string"))
        elif error not in ERROR_CODES:
            deviations.append(Deviation("error", f"error {error!r} is not defined by RFC 6749 or RFC 8693"))
        description = body.get("error_description")
        if description is not None and (
            not isinstance(description, str) or not _ERROR_TEXT_RE.match(description)
        ):
            deviations.append(Deviation("error_description", "error_description is not printable ASCII"))
        if error == INVALID_CLIENT and status not in (400, 401):
            deviations.append(Deviation("status", f"invalid_client answered with HTTP {status}"))
        elif error != INVALID_CLIENT and status != 400:
            deviations.append(Deviation("status", f"error {error!r} answered with HTTP {status}, not 400"))
    return tuple(deviations)
