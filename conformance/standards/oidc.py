"""OpenID Connect pieces the harness uses on both sides: provider metadata (Discovery 1.0 §3, §4), the ID
token claim set (Core 1.0 §2, §3.1.3.6), and the end-session request (RP-Initiated Logout 1.0 §2).

Pure: no keys, no HTTP. The simulated PSC builds its discovery document and ID tokens with these, and
reads end-session requests with :func:`parse_end_session`; the profile-specific parts (Keycloak's `typ`,
PSC's `SubjectNameID`, CIBA metadata) stay with the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from conformance.standards.jose import b64url

# Endpoint names (keys of a provider's path table) → the metadata member that publishes their URL.
ENDPOINT_METADATA: Final = {
    "authorization": "authorization_endpoint",  # Discovery §3
    "token": "token_endpoint",
    "userinfo": "userinfo_endpoint",
    "jwks": "jwks_uri",
    "registration": "registration_endpoint",
    "introspection": "introspection_endpoint",  # RFC 8414 §2
    "revocation": "revocation_endpoint",
    "backchannel": "backchannel_authentication_endpoint",  # CIBA Core §4
    "end_session": "end_session_endpoint",  # RP-Initiated Logout §2.1
}
WELL_KNOWN_PATH: Final = "/.well-known/openid-configuration"  # Discovery §4


def well_known_url(issuer: str) -> str:
    """Discovery §4.1: the configuration document lives under the issuer, trailing slash removed."""
    return issuer.rstrip("/") + WELL_KNOWN_PATH


def endpoint_metadata(issuer: str, paths: Mapping[str, str]) -> dict[str, str]:
    """`<member>: <issuer><path>` for every endpoint of `paths` that has a metadata member (others, such
    as the discovery paths themselves, are left out)."""
    return {
        ENDPOINT_METADATA[name]: issuer + path for name, path in paths.items() if name in ENDPOINT_METADATA
    }


def discovery_document(
    issuer: str, paths: Mapping[str, str], *, mtls_aliases: Sequence[str] = (), **metadata: Any
) -> dict[str, Any]:
    """A provider configuration document: `issuer`, the endpoint URLs, then `metadata` as given.

    `mtls_aliases` names the endpoints (keys of `paths`) to list again in RFC 8705 §5
    `mtls_endpoint_aliases`, for a provider that serves them with mutual TLS at the same URL.
    """
    endpoints = endpoint_metadata(issuer, paths)
    document: dict[str, Any] = {"issuer": issuer, **endpoints, **metadata}
    if mtls_aliases:
        aliased = [ENDPOINT_METADATA[name] for name in mtls_aliases]
        document["mtls_endpoint_aliases"] = {member: endpoints[member] for member in aliased}
    return document


# -- ID token (Core §2, §3.1.3.6) ------------------------------------------------------------------------

_HASHES: Final[dict[str, Callable[[bytes], Any]]] = {
    "256": hashlib.sha256,
    "384": hashlib.sha384,
    "512": hashlib.sha512,
}


def token_hash(value: str, alg: str) -> str:
    """`at_hash` (§3.1.3.6) / `c_hash` (§3.3.2.11): base64url of the left half of the hash of the ASCII
    value, with the hash of the ID token's JWS `alg` (SHA-256 for RS256 / ES256 / PS256)."""
    hash_function = _HASHES.get(alg[-3:])
    if hash_function is None:
        raise ValueError(f"no hash defined for alg {alg!r}")
    digest: bytes = hash_function(value.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    subject: str,
    issued_at: float,
    ttl_s: float,
    auth_time: float | None = None,
    acr: str | None = None,
    nonce: str | None = None,
    session_state: str | None = None,
    access_token: str | None = None,
    alg: str = "RS256",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of an ID token issued to `client_id`; times are whole seconds.

    `azp` is the client (Core §2, as Keycloak always sends it); `session_state` goes in both
    `session_state` (Session Management 1.0) and `sid` (Front-/Back-Channel Logout); `at_hash` is set
    when the token comes with an access token; `nonce` only when the authentication request had one.
    `extra` adds profile claims; it cannot override the ones above.
    """
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "sub": subject,
        "exp": int(issued_at + ttl_s),
        "iat": int(issued_at),
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time)
    claims["azp"] = client_id
    if session_state is not None:
        claims["session_state"] = claims["sid"] = session_state
    if access_token is not None:
        claims["at_hash"] = token_hash(access_token, alg)
    if acr is not None:
        claims["acr"] = acr
    if nonce is not None:
        claims["nonce"] = nonce
    return {**(extra or {}), **claims}


# -- RP-initiated logout (RP-Initiated Logout 1.0 §2) -----------------------------------------------------


@dataclass(frozen=True)
class EndSessionRequest:
    """An end-session request as read: the parameters §2 defines, and how it departs from §2.

    An empty `id_token_hint`, `client_id`, `logout_hint` or `post_logout_redirect_uri` counts as absent;
    `state` is kept as sent (an empty one is still echoed back).
    """

    id_token_hint: str | None
    post_logout_redirect_uri: str | None
    state: str | None
    client_id: str | None = None
    logout_hint: str | None = None
    ui_locales: str | None = None
    problems: tuple[str, ...] = ()


def parse_end_session(params: Mapping[str, Sequence[str]]) -> EndSessionRequest:
    """Read an end-session request from its parameters (query for GET, form for POST, both as
    `parse_qs` decodes them; merge them first, form over query, for a server that takes either)."""

    def first(name: str) -> str | None:
        values = params.get(name) or ()
        return values[0] if values else None

    def present(name: str) -> str | None:
        return first(name) or None

    request = EndSessionRequest(
        id_token_hint=present("id_token_hint"),
        post_logout_redirect_uri=present("post_logout_redirect_uri"),
        state=first("state"),
        client_id=present("client_id"),
        logout_hint=present("logout_hint"),
        ui_locales=present("ui_locales"),
    )
    problems: list[str] = []
    if request.id_token_hint is None:
        problems.append("no id_token_hint (RECOMMENDED)")
    if request.post_logout_redirect_uri is not None and not (request.id_token_hint or request.client_id):
        problems.append("post_logout_redirect_uri without id_token_hint or client_id (MUST)")
    if request.state is not None and request.post_logout_redirect_uri is None:
        problems.append("state without post_logout_redirect_uri (it is returned to that URI only)")
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        problems.append(f"parameters sent more than once: {', '.join(repeated)}")
    return replace(request, problems=tuple(problems))
