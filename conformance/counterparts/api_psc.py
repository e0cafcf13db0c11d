"""The simulated API PSC of the conformance tests: its authorization server and its resource server.

Two listeners, as at the real data provider (a Keycloak realm ``signsessiondata`` and the Platines mock
service):

* :class:`SimulatedApiAuthorizationServer` exchanges a PSC access token for a certificate-bound API access
  token (RFC 8693 token exchange, client authenticated by mTLS, token bound by RFC 8705 ``cnf``);
* :class:`SimulatedApiPsc` serves ``POST <base>/signsessiondata`` (the API PSC OpenAPI document) to a
  caller holding such a token over a connection made with the same certificate.

They serve what a real service would, and record every deviation of the caller as an
:class:`~conformance.counterparts.observations.Observation` for the scenarios to judge; they never judge.
Each adversarial switch (token lifetimes, no refresh token, the introspection of subject tokens at the AS;
a stalled, failing or reset answer at the API) exists globally and for one professional only (`behave`),
so that scenarios running at the same time misbehave each toward its own professional.

The token-exchange answer is shaped as the trust space's Keycloak sends it: besides RFC 8693's
``access_token``, ``issued_token_type``, ``token_type``, ``expires_in`` and ``scope``, a ``refresh_token``
with ``refresh_expires_in``, ``not-before-policy`` and ``session_state``. That refresh token is served
by the ``refresh_token`` grant (RFC 6749 §6) at the same endpoint. ``omit_refresh_token = True`` leaves
the optional ``refresh_token`` (and ``refresh_expires_in``) out, as RFC 8693 §2.2.1 allows: an
adversarial check that a proxy does not depend on it.

What still gets a success answer (a lenient, Keycloak-like AS; the deviation is only observed):

* ``token_exchange.basic_auth`` / ``token_exchange.client_secret`` / ``token_exchange.client_assertion``:
  the client is authenticated by its certificate only; other credentials are ignored;
* ``token_exchange.scope_missing``: the token gets the API scope, as a default client scope would;
* ``token_exchange.query_parameters``: parameters in the query string are ignored (not an error by
  themselves; the request fails if the body then lacks something);
* ``api.cnf_ans_hex_form``: a ``cnf`` in the ANS-example encoding that does match the certificate;
* ``api.client_id_mismatch``: ``clientID`` of the body differs from the certificate's client id (the API
  signs the session data it is given; the caller is identified by its certificate and token).

Everything else is refused as a real service would: no or unregistered client certificate (401
``invalid_client``), malformed request (400 ``invalid_request`` / ``unsupported_grant_type`` /
``invalid_scope`` / ``invalid_target``), inactive subject token or token of another client (400
``invalid_grant``, the IG's error case 1a: the caller refreshes its PSC token and retries; RFC 8693
§2.2.2 would allow ``invalid_request``, but ``invalid_grant`` is what RFC 6749 §5.2 names for an invalid or
expired grant and what Keycloak answers); at the API,
a missing, misplaced, invalid, expired or unbound token (401), a token without the API scope or for
another professional than ``nationalId`` (403), a malformed body (400).

At the TLS level a client certificate is requested and verified (chain and CRL) but not required, so
that a call without one reaches the handler and is observed (``token_exchange.no_client_cert``,
``api.no_client_cert``) instead of vanishing in a failed handshake; ``handshake_requires_cert=True``
refuses it in the handshake instead.

Observation kinds (counterpart ``api-as``, then ``api``); ``token_exchange.<code>`` also covers every
:class:`conformance.standards.rfc8693.Deviation` code (``grant_type``, ``duplicate_parameter``,
``subject_token_missing``, ``subject_token_type``, ``actor_token``, ``requested_token_type``,
``scope_missing``, ``scope_syntax``), with ``data["fatal"]``:

* ``token_exchange.content_type``, ``.query_parameters``, ``.basic_auth``, ``.client_secret``,
  ``.client_assertion``: how the request was sent;
* ``token_exchange.no_client_cert``, ``.unknown_client``, ``.client_id_mismatch``: client authentication;
* ``token_exchange.invalid_scope``, ``.invalid_target``: scope, audience, resource this AS does not serve;
* ``token_exchange.introspection_failed`` (the harness's PSC failed), ``.subject_token_inactive``,
  ``.client_mismatch`` (subject token of another client), ``.subject_without_national_id``;
* ``token_exchange.request`` (informational, every token request that is not a refresh): the request as
  :func:`conformance.standards.rfc8693.parse_request` read it (``data["parsed"]``), ``x5t_s256`` of the client
  certificate, and ``credentials`` (:func:`conformance.standards.rfc8693.other_client_credentials`): what the
  harness judges the exchange by, once;
* ``token_exchange.issued`` (informational): jti, ``x5t_s256`` of the certificate, sub, scope, exp;
* ``token_refresh.issued``, ``token_refresh.invalid``: the refresh-token grant (not an exchange);
* ``api_as.introspection`` (informational, every answered RFC 7662 request; the caller as client_id): method
  (``tls_client_auth`` / ``client_secret_basic``), active, jti; ``api_as.introspection_client_auth``
  (401 ``invalid_client``, with ``reason``) and ``api_as.introspection_invalid`` (no token);
* ``api.token_missing``, ``api.authorization_scheme``, ``api.token_invalid``, ``api.token_expired``,
  ``api.cnf_missing``, ``api.no_client_cert``, ``api.cnf_mismatch``, ``api.cnf_ans_hex_form``;
* ``api.call`` (informational, every authenticated call): ``x5t_s256``, jti, sub, method, path;
* ``api.insufficient_scope``, ``api.session_data_invalid``, ``api.identity_mismatch``,
  ``api.client_id_mismatch``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar, Final, Self

import jwt

from conformance.clock import Clock, SystemClock
from conformance.counterparts.api_tokens import (
    ACCESS_TOKEN_TYP,
    ApiTokenMinter,
    api_access_token_claims,
    audience_claim,
)
from conformance.counterparts.base import Counterpart
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.keyed import KeyedBehaviour, identity_keys
from conformance.counterparts.observations import ObservationLog
from conformance.counterparts.signing_keys import KeyPurpose, shared_signing_key
from conformance.pki import TestPKI
from conformance.standards import rfc6749, rfc6750, rfc7662, rfc8693, rfc8705
from conformance.standards.jose import Alg, SigningKey, unverified
from conformance.tls.modes import ListenerMode, ModeSettings
from conformance.tls.server import Request, Response, answer_in_mode

log = logging.getLogger(__name__)

AS_COUNTERPART: Final = "api-as"
API_COUNTERPART: Final = "api"

DEFAULT_REALM_PATH: Final = "/realms/signsessiondata"
OIDC_PROTOCOL_PATH: Final = "/protocol/openid-connect"
DEFAULT_TOKEN_PATH: Final = DEFAULT_REALM_PATH + OIDC_PROTOCOL_PATH + "/token"
DEFAULT_API_SCOPE: Final = "signsessiondata"
DEFAULT_API_AUDIENCE: Final = "apipsc"
DEFAULT_API_TOKEN_TTL_S: Final = 14400  # 4 h, the lifetime of the ANS conformance API's tokens
DEFAULT_REFRESH_TOKEN_TTL_S: Final = 1800  # Keycloak's default SSO session idle: its refresh_expires_in
DEFAULT_BASE_PATH: Final = "/mockservice/apipsc"
SESSION_DATA_FIELDS: Final = ("nationalId", "clientID", "proxy_session_id", "session_state")
API_ACCESS_TOKEN_TYP: Final = ACCESS_TOKEN_TYP  # RFC 9068
# RFC 7662 §2.2 members of an active answer of this AS: the claims its tokens carry.
INTROSPECTED_CLAIMS: Final = ("iss", "sub", "aud", "scope", "exp", "iat", "nbf", "jti", "client_id", "cnf")
INTROSPECTION_AUTH_METHODS: Final = ("tls_client_auth", "client_secret_basic")
SIGNATURE_TYP: Final = "JOSE"

# RFC 7662 answer of PSC's introspection endpoint for the subject token (the simulated PSC plugs in here).
Introspect = Callable[[str], Mapping[str, Any]]


def canonical_session_data(data: Mapping[str, Any]) -> bytes:
    """The bytes the API PSC signs: the four SessionData fields as sorted, compact UTF-8 JSON."""
    return json.dumps(
        {name: data[name] for name in SESSION_DATA_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def registered_clients(pki: TestPKI) -> dict[str, str]:
    """Subject DN (RFC 4514) → client id of the LPS certificates: the AS's ``Client_ID_AS`` mapping."""
    return {pki.clients[cid].subject: cid for cid in pki.lps_client_ids}


# What a handler returns for the server to reset the connection instead of answering: `TLSServer` sends a
# TCP RST for a None answer, as in its RESET mode (its `Handler` type does not admit None yet).
def _json_object(body: bytes) -> Mapping[str, Any]:
    """A request body parsed as a JSON object; empty when it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _json(response: rfc8693.EndpointResponse) -> Response:
    return Response.json(response.body, response.status, response.headers)


def _without_secrets(exchange: rfc8693.TokenExchangeRequest) -> rfc8693.TokenExchangeRequest:
    """The parsed request as observed: credential values (never the harness's to keep) masked."""
    masked = {
        name: ("***",) * len(values) if name in ("client_secret", "client_assertion") else values
        for name, values in exchange.extra.items()
    }
    return replace(exchange, extra=masked)


def _string_members(document: Mapping[str, Any], *names: str) -> tuple[str, ...]:
    """The members `names` of a JSON object that are strings (whom a token or answer names)."""
    return tuple(value for name in names if isinstance(value := document.get(name), str))


def _claimed_subjects(token: str | None, *names: str) -> tuple[str, ...]:
    """The string claims `names` of a JWT, unverified: whom a token names even when it is refused."""
    decoded = unverified(token) if token else None
    return _string_members(decoded[1] if decoded is not None else {}, *names)


@dataclass(frozen=True)
class ApiAsBehaviour:
    """What the authorization server does for one professional instead of its global default (None:
    the default)."""

    api_token_ttl_s: int | None = None
    refresh_token_ttl_s: int | None = None
    omit_refresh_token: bool | None = None
    introspect: Introspect | None = None


@dataclass(frozen=True)
class ApiBehaviour:
    """How the API answers one professional's calls: an HTTP-level listener mode, for those calls only."""

    mode: ModeSettings | None = None


@dataclass(frozen=True)
class _RefreshGrant:
    """What a refresh token this AS issued stands for (RFC 6749 §6)."""

    client_id: str
    sub: str
    scope: tuple[str, ...]
    expires_at: float


class SimulatedApiAuthorizationServer(Counterpart):
    """The API's authorization server: RFC 8693 token exchange with mTLS client authentication.

    Also serves its discovery document and JWKS under the realm path, as Keycloak does, its RFC 8414
    metadata, and RFC 7662 introspection of the tokens it signed: a resource server judged alone (no
    authorization server of the vendor's) validates the harness's tokens either way, as real ones do.
    Introspection callers are any client of the PKI, by certificate (CN = client id) or by
    client_secret_basic with `client_secrets` (the PSC client secrets the harness minted).
    """

    counterpart = AS_COUNTERPART

    def __init__(
        self,
        pki: TestPKI,
        *,
        introspect: Introspect,
        observations: ObservationLog | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        public_host: str | None = None,
        realm_path: str = DEFAULT_REALM_PATH,
        token_path: str | None = None,
        api_scope: str = DEFAULT_API_SCOPE,
        api_audience: str | Sequence[str] = DEFAULT_API_AUDIENCE,
        api_token_ttl_s: int = DEFAULT_API_TOKEN_TTL_S,
        clients: Mapping[str, str] | None = None,
        client_secrets: Mapping[str, str] | None = None,
        signing_key: SigningKey | None = None,
        psc_authentication_url: str | None = None,
        handshake_requires_cert: bool = False,
        observer: Callable[..., None] | None = None,
    ) -> None:
        """`clients` maps certificate subject DNs to client ids (default: the PKI's LPS certificates);
        `psc_authentication_url` goes in `error_uri` when the subject token is refused (IG error case 1a);
        `public_host` is the name the SUT reaches the listener by, when it is not the bind address."""
        super().__init__(
            pki,
            observations=observations if observations is not None else ObservationLog(),
            clock=clock or SystemClock(),
            host=host,
            port=port,
            public_host=public_host,
            server_name="api",
            handshake_requires_cert=handshake_requires_cert,
            observer=observer,
        )
        self.introspect = introspect
        self.realm_path = realm_path.rstrip("/")
        self.token_path = token_path or f"{self.realm_path}{OIDC_PROTOCOL_PATH}/token"
        self.jwks_path = f"{self.realm_path}{OIDC_PROTOCOL_PATH}/certs"
        self.api_scope = api_scope
        self.audiences: tuple[str, ...] = (
            (api_audience,) if isinstance(api_audience, str) else tuple(api_audience)
        )
        self.api_token_ttl_s = api_token_ttl_s
        self.clients: dict[str, str] = dict(clients) if clients is not None else registered_clients(pki)
        self.client_secrets: dict[str, str] = dict(client_secrets or {})
        self.signing_key = signing_key or shared_signing_key(KeyPurpose.API_AS, "RS256")
        self.psc_authentication_url = psc_authentication_url
        # `resource` values the AS issues tokens for; a SimulatedApiPsc adds its base URL when it starts.
        self.accepted_resources: set[str] = set()
        # Keycloak-shaped answers carry a refresh token; leaving it out is an adversarial switch.
        self.omit_refresh_token = False
        self.refresh_token_ttl_s = DEFAULT_REFRESH_TOKEN_TTL_S
        self._behaviours = KeyedBehaviour(ApiAsBehaviour())  # by national id and PSC sub
        self._refresh_grants: dict[str, _RefreshGrant] = {}
        self._issued_jtis: set[str] = set()  # every access token signed here: what introspection knows
        self._lock = threading.Lock()
        self.introspection_path = f"{self.token_path}/introspect"
        self.metadata_path = f"/.well-known/oauth-authorization-server{self.realm_path}"  # RFC 8414 §3
        self.router.add("POST", self.token_path, self._token)
        self.router.add("POST", self.introspection_path, self._introspection)
        self.router.add("GET", self.jwks_path, self._jwks)
        self.router.add("GET", f"{self.realm_path}/.well-known/openid-configuration", self._discovery)
        self.router.add("GET", self.metadata_path, self._discovery)

    @property
    def api_token_ttl_s(self) -> int:
        """Lifetime of the API access tokens issued from now on (`expires_in`)."""
        return self._api_token_ttl_s

    @api_token_ttl_s.setter
    def api_token_ttl_s(self, value: int) -> None:
        if value <= 0:
            raise ValueError("api_token_ttl_s must be positive")
        self._api_token_ttl_s = value

    def reset(self) -> None:
        """Between scenarios: answers back to their Keycloak shape (issued refresh tokens stay valid).
        What was set for one professional stays: that professional's scenario may still be running."""
        self.omit_refresh_token = False
        self.refresh_token_ttl_s = DEFAULT_REFRESH_TOKEN_TTL_S

    def behave(
        self,
        identity: TestIdentity | str,
        *,
        api_token_ttl_s: int | None = None,
        refresh_token_ttl_s: int | None = None,
        omit_refresh_token: bool | None = None,
        introspect: Introspect | None = None,
    ) -> None:
        """What the AS does for this professional only (the subject of the exchanged token, the `sub` of
        the API token), instead of the global settings of the same names: scenarios running at the same
        time each misbehave toward their own professional. Arguments left None keep what was set before."""
        for name, ttl in (("api_token_ttl_s", api_token_ttl_s), ("refresh_token_ttl_s", refresh_token_ttl_s)):
            if ttl is not None and ttl <= 0:
                raise ValueError(f"{name} must be positive")
        self._behaviours.update(
            identity_keys(identity),
            api_token_ttl_s=api_token_ttl_s,
            refresh_token_ttl_s=refresh_token_ttl_s,
            omit_refresh_token=omit_refresh_token,
            introspect=introspect,
        )

    def forget(self, identity: TestIdentity | str) -> None:
        """This professional is served with the global settings again."""
        self._behaviours.forget(identity_keys(identity))

    @property
    def issuer(self) -> str:
        return self.url + self.realm_path

    @property
    def token_endpoint(self) -> str:
        return self.url + self.token_path

    @property
    def jwks_uri(self) -> str:
        return self.url + self.jwks_path

    @property
    def introspection_endpoint(self) -> str:
        return self.url + self.introspection_path

    @property
    def metadata_url(self) -> str:
        return self.url + self.metadata_path

    @cached_property
    def token_minter(self) -> ApiTokenMinter:
        """Signs API access tokens outside any exchange (valid and forged), for a provider campaign."""
        return ApiTokenMinter(self)

    def register_issued(self, jti: str) -> None:
        """Remember an access token this AS signed: introspection answers only those."""
        with self._lock:
            self._issued_jtis.add(jti)

    @property
    def allowed_scopes(self) -> frozenset[str]:
        """Scopes a client may request: the API's, and `openid` that OIDC clients add by habit."""
        return frozenset({self.api_scope, "openid"})

    # -- metadata ----------------------------------------------------------------------------------

    def _jwks(self, request: Request) -> Response:
        return Response.json({"keys": [self.signing_key.public_jwk]})

    def metadata(self) -> dict[str, Any]:
        """The document served both as OpenID configuration and as RFC 8414 metadata."""
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "introspection_endpoint": self.introspection_endpoint,
            "grant_types_supported": [rfc8693.GRANT_TYPE, rfc8693.REFRESH_GRANT_TYPE],
            "token_endpoint_auth_methods_supported": ["tls_client_auth"],
            "introspection_endpoint_auth_methods_supported": list(INTROSPECTION_AUTH_METHODS),
            "tls_client_certificate_bound_access_tokens": True,
            "scopes_supported": sorted(self.allowed_scopes),
        }

    def _discovery(self, request: Request) -> Response:
        return Response.json(self.metadata())

    # -- introspection (RFC 7662) --------------------------------------------------------------------

    def introspect_token(self, token: str) -> dict[str, Any]:
        """Active only for a token signed here (signature, `iss`, registered jti) that is within its
        `nbf`..`exp` on this AS's clock; anything else gets the bare inactive answer (§2.2)."""
        try:
            claims = self.signing_key.verify(
                token,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "require": ["exp", "jti"],
                },
            )
        except jwt.PyJWTError:
            return rfc7662.inactive()
        now = self.clock.now()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        with self._lock:
            known = str(claims.get("jti")) in self._issued_jtis
        if (
            not known
            or not isinstance(exp, int | float)
            or exp <= now
            or (isinstance(nbf, int | float) and nbf > now)
        ):
            return rfc7662.inactive()
        answer: dict[str, Any] = {name: claims[name] for name in INTROSPECTED_CLAIMS if name in claims}
        return rfc7662.active_answer(answer, token_type="Bearer")

    def _introspection(self, request: Request) -> Response:
        request.concerns(*_claimed_subjects(request.param("token"), "sub"))
        caller = self._introspection_caller(request)
        if isinstance(caller, Response):
            return caller
        client_id, method = caller
        parsed = rfc7662.parse_request(request.form(), request.query)
        if parsed.error is not None or parsed.token is None:
            self.observe(request, "api_as.introspection_invalid", client_id, "introspection without a token")
            return _json(rfc8693.error_response(rfc8693.INVALID_REQUEST, "token is required"))
        answer = self.introspect_token(parsed.token)
        self.observe(
            request,
            "api_as.introspection",
            client_id,
            f"introspection by {client_id} ({method})",
            method=method,
            active=answer["active"],
            jti=answer.get("jti"),
        )
        return Response.json(answer, headers=rfc8693.NO_STORE_HEADERS)

    def _introspection_caller(self, request: Request) -> tuple[str, str] | Response:
        """(client id, method) of an authenticated caller: client_secret_basic with a secret the
        harness minted, else a PKI client certificate (CN = client id, `client_id` optional)."""
        basic = rfc6749.basic_credentials(request.header("Authorization"))
        claimed = next(iter(request.form().get("client_id") or ()), None)
        cert_cn = request.tls.peer_common_name if request.tls.peer_cert_der else None

        def refuse(reason: str, who: str | None, detail: str) -> Response:
            self.observe(request, "api_as.introspection_client_auth", who, detail, reason=reason)
            return _json(
                rfc8693.error_response(
                    rfc8693.INVALID_CLIENT, "client authentication failed", challenge="Basic"
                )
            )

        if basic is not None:
            client_id, secret = basic
            expected = self.client_secrets.get(client_id)
            if expected is None or not secrets.compare_digest(expected.encode(), secret.encode()):
                return refuse("bad_secret", client_id, "client_secret_basic with a wrong secret")
            if claimed is not None and claimed != client_id:
                return refuse("client_id_mismatch", client_id, f"client_id {claimed!r} is not the Basic user")
            return client_id, "client_secret_basic"
        if cert_cn is None:
            return refuse("no_credentials", claimed, "no client certificate and no client secret")
        if cert_cn not in self.pki.clients:
            return refuse("unknown_client", cert_cn, f"certificate CN {cert_cn!r} is no registered client")
        if claimed is not None and claimed != cert_cn:
            return refuse("client_id_mismatch", claimed, f"client_id {claimed!r} is not the certificate CN")
        return cert_cn, "tls_client_auth"

    # -- token exchange ----------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        tls = request.tls
        client_id = self.clients.get(tls.peer_subject or "") if tls.peer_subject else None
        who = client_id or tls.peer_common_name
        form = request.form()

        def observe(kind: str, detail: str, **data: Any) -> None:
            self.observe(request, f"token_exchange.{kind}", who, detail, **data)

        refresh = rfc8693.is_refresh_request(form)
        exchange = rfc8693.parse_request(form)
        subjects = _claimed_subjects(exchange.subject_token, "SubjectNameID", "sub")
        request.concerns(*subjects)
        if not refresh:
            observe(
                "request",
                "token request as parsed",
                parsed=_without_secrets(exchange),
                x5t_s256=tls.peer_x5t_s256,
                credentials=rfc8693.other_client_credentials(request.header("Authorization"), form),
            )
        credentials = rfc6749.basic_credentials(request.header("Authorization"))
        basic = credentials[0] if credentials is not None else None
        self._observe_transport(request, form, basic, observe)

        challenge = "Basic" if basic is not None else None
        if tls.peer_cert_der is None:
            observe("no_client_cert", "token exchange without a client certificate")
            return _json(
                rfc8693.error_response(
                    rfc8693.INVALID_CLIENT, "a client certificate is required", challenge=challenge
                )
            )
        if client_id is None:
            observe(
                "unknown_client",
                "the client certificate subject is not registered at the AS",
                subject=tls.peer_subject,
                x5t_s256=tls.peer_x5t_s256,
            )
            return _json(
                rfc8693.error_response(
                    rfc8693.INVALID_CLIENT, "unknown client certificate", challenge=challenge
                )
            )
        claimed = [c for c in (*form.get("client_id", ()), basic) if c is not None]
        if any(c != client_id for c in claimed):
            observe(
                "client_id_mismatch",
                "client_id sent differs from the certificate's client",
                claimed=claimed,
                certificate_client_id=client_id,
            )
            return _json(
                rfc8693.error_response(
                    rfc8693.INVALID_CLIENT, "client_id does not match the certificate", challenge=challenge
                )
            )

        if refresh:
            return self._refresh(request, form, client_id, who)
        for deviation in exchange.deviations:
            observe(deviation.code, deviation.detail, fatal=deviation.fatal)
        if exchange.error is not None:
            return _json(rfc8693.error_response(exchange.error.error or "", exchange.error.detail))
        refusal = self._check_targets(exchange, observe)
        if refusal is not None:
            return refusal

        assert exchange.subject_token is not None  # parse_request reports its absence as fatal
        introspect = self._behaviours.get(*subjects).introspect or self.introspect
        try:
            introspection = dict(introspect(exchange.subject_token))
        except Exception as exc:
            log.exception("introspection of the subject token failed")
            observe("introspection_failed", f"introspection at PSC failed: {exc!r}")
            return _json(
                rfc8693.error_response("temporarily_unavailable", "introspection at PSC failed", status=503)
            )
        request.concerns(*_string_members(introspection, "SubjectNameID", "sub"))
        refusal = self._check_subject(introspection, client_id, observe)
        if refusal is not None:
            return refusal
        return self._issue(request, exchange, introspection, client_id, observe)

    def _observe_transport(
        self,
        request: Request,
        form: Mapping[str, list[str]],
        basic: str | None,
        observe: Callable[..., None],
    ) -> None:
        """Deviations about how the request is sent and authenticated; none of them is refused."""
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            observe("content_type", f"Content-Type is {content_type or 'absent'!r}, not a form")
        if request.query:
            observe(
                "query_parameters",
                "parameters in the query string (ignored)",
                names=sorted(request.query),
            )
        authorization = request.header("Authorization")
        if authorization is not None and authorization.split(" ", 1)[0].lower() == "basic":
            # The IG 1.2.0 removed the Basic header from the token exchange: mTLS only.
            observe("basic_auth", "an Authorization: Basic header was sent", basic_client_id=basic)
        if "client_secret" in form:
            observe("client_secret", "client_secret in the form (mTLS only in the trust space)")
        if "client_assertion" in form:
            observe("client_assertion", "client_assertion in the form (mTLS only in the trust space)")

    def _check_targets(
        self, exchange: rfc8693.TokenExchangeRequest, observe: Callable[..., None]
    ) -> Response | None:
        """Scope, audience and resource against what this AS serves."""
        unknown = sorted(set(exchange.scope or ()) - self.allowed_scopes)
        if unknown:
            observe("invalid_scope", f"scopes this AS does not grant: {' '.join(unknown)}", scopes=unknown)
            return _json(rfc8693.error_response(rfc8693.INVALID_SCOPE, "unknown scope requested"))
        bad_audience = sorted(set(exchange.audience) - set(self.audiences))
        bad_resource = sorted(set(exchange.resource) - self.accepted_resources)
        if bad_audience or bad_resource:
            observe(
                "invalid_target",
                "audience or resource this AS issues no token for",
                audience=bad_audience,
                resource=bad_resource,
            )
            return _json(rfc8693.error_response(rfc8693.INVALID_TARGET, "unknown audience or resource"))
        return None

    def _check_subject(
        self, introspection: Mapping[str, Any], client_id: str, observe: Callable[..., None]
    ) -> Response | None:
        """The subject token must be active, unexpired, issued to this client, and name a professional."""
        exp = introspection.get("exp")
        expired = isinstance(exp, int | float) and exp <= self.clock.now()
        if introspection.get("active") is not True or expired:
            observe(
                "subject_token_inactive",
                "PSC says the subject token is not active"
                if not expired
                else "the subject token has expired",
                exp=exp,
            )
            return self._invalid_grant("the PSC access token is expired or invalid")
        presenter = introspection.get("azp") or introspection.get("client_id")
        if presenter is not None and presenter != client_id:
            observe(
                "client_mismatch",
                "the subject token was issued to another client than the certificate's",
                token_client_id=presenter,
                certificate_client_id=client_id,
            )
            return self._invalid_grant("the PSC access token was issued to another client")
        if not isinstance(introspection.get("SubjectNameID"), str):
            observe("subject_without_national_id", "the introspection response has no SubjectNameID")
            return self._invalid_grant("the PSC access token names no professional")
        return None

    def _invalid_grant(self, description: str) -> Response:
        return _json(
            rfc8693.error_response(rfc8693.INVALID_GRANT, description, uri=self.psc_authentication_url)
        )

    def _refresh(
        self, request: Request, form: Mapping[str, list[str]], client_id: str, who: str | None
    ) -> Response:
        """RFC 6749 §6 for the refresh tokens of this AS's answers: one use (rotated), same client."""

        def observe(kind: str, detail: str, **data: Any) -> None:
            self.observe(request, f"token_refresh.{kind}", who, detail, **data)

        value = (form.get("refresh_token") or [""])[0]
        with self._lock:
            grant = self._refresh_grants.get(value)
            valid = grant is not None and grant.client_id == client_id and grant.expires_at > self.clock.now()
            if valid:
                del self._refresh_grants[value]
        if grant is not None:
            request.concerns(grant.sub)
        if not valid or grant is None:
            observe("invalid", "refresh with an unknown, expired or foreign refresh token")
            return _json(rfc8693.error_response(rfc8693.INVALID_GRANT, "invalid or expired refresh token"))
        return self._answer(request, client_id, grant.sub, grant.scope, observe)

    def _issue(
        self,
        request: Request,
        exchange: rfc8693.TokenExchangeRequest,
        introspection: Mapping[str, Any],
        client_id: str,
        observe: Callable[..., None],
    ) -> Response:
        return self._answer(
            request,
            client_id,
            str(introspection["SubjectNameID"]),
            exchange.scope or (self.api_scope,),
            observe,
            subject_token_type=exchange.subject_token_type,
            subject_token_jti=introspection.get("jti"),
        )

    def _answer(
        self,
        request: Request,
        client_id: str,
        sub: str,
        scope: Sequence[str],
        observe: Callable[..., None],
        **observed: Any,
    ) -> Response:
        """A certificate-bound API token, answered as Keycloak does (a refresh token unless omitted)."""
        now = int(self.clock.now())
        behaviour = self._behaviours.get(sub)
        ttl = behaviour.api_token_ttl_s or self.api_token_ttl_s
        refresh_ttl = behaviour.refresh_token_ttl_s or self.refresh_token_ttl_s
        omit_refresh_token = (
            self.omit_refresh_token if behaviour.omit_refresh_token is None else behaviour.omit_refresh_token
        )
        scope = tuple(scope)
        x5t = request.tls.peer_x5t_s256
        jti = str(uuid.uuid4())
        claims = api_access_token_claims(
            issuer=self.issuer,
            subject=sub,
            audience=audience_claim(self.audiences),
            issued_at=now,
            expires_at=now + ttl,
            jti=jti,
            scope=" ".join(scope),
            client_id=client_id,
            cnf={"x5t#S256": x5t} if x5t is not None else None,
        )
        token = self.signing_key.sign(claims, typ=API_ACCESS_TOKEN_TYP)
        self.register_issued(jti)
        refresh_token = None
        extra: dict[str, Any] = {"not-before-policy": 0, "session_state": str(uuid.uuid4())}
        if not omit_refresh_token:
            refresh_token = secrets.token_urlsafe(32)
            extra["refresh_expires_in"] = refresh_ttl
            with self._lock:
                self._refresh_grants[refresh_token] = _RefreshGrant(client_id, sub, scope, now + refresh_ttl)
        observe(
            "issued",
            "API access token issued",
            jti=jti,
            x5t_s256=x5t,
            sub=claims["sub"],
            scope=claims["scope"],
            exp=claims["exp"],
            refresh_token=refresh_token is not None,
            **observed,
        )
        return _json(
            rfc8693.success_response(
                token, expires_in=ttl, scope=scope, refresh_token=refresh_token, extra=extra
            )
        )


class SimulatedApiPsc(Counterpart):
    """The API PSC resource server: `POST <base>/signsessiondata` for a bound API access token.

    Verifies tokens locally with the AS's key (a signed JWS, as the IG allows) and signs the session data
    with its own key, so that the harness can check that the proxy relayed an answer it did not forge.
    """

    counterpart = API_COUNTERPART
    realm: ClassVar[str] = "apipsc"  # of the WWW-Authenticate challenges

    def __init__(
        self,
        pki: TestPKI,
        *,
        authorization_server: SimulatedApiAuthorizationServer,
        observations: ObservationLog | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        public_host: str | None = None,
        base_path: str = DEFAULT_BASE_PATH,
        signing_key: SigningKey | None = None,
        signature_alg: Alg = "ES256",
        handshake_requires_cert: bool = False,
        observer: Callable[..., None] | None = None,
    ) -> None:
        """`observations` and `clock` default to the AS's: one log, and one ManualClock drives issuance
        and expiry."""
        super().__init__(
            pki,
            observations=observations if observations is not None else authorization_server.observations,
            clock=clock or authorization_server.clock,
            host=host,
            port=port,
            public_host=public_host,
            server_name="api",
            handshake_requires_cert=handshake_requires_cert,
            observer=observer,
        )
        self.authorization_server = authorization_server
        self.base_path = base_path.rstrip("/")
        self.signing_key = signing_key or shared_signing_key(KeyPurpose.API_SESSION_DATA, signature_alg)
        self._behaviours = KeyedBehaviour(ApiBehaviour())  # by national id (the API token's sub) and sub
        self._calls: Counter[str] = Counter()  # business calls per professional
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # cuts a stall short, as stop() does for the SLOW mode
        self.router.add("POST", f"{self.base_path}/signsessiondata", self._business_call)

    def start(self) -> Self:
        self._stopping.clear()
        super().start()
        self.authorization_server.accepted_resources.add(self.base_url)
        return self

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    # -- behaviour for one professional --------------------------------------------------------------

    def behave(
        self,
        identity: TestIdentity | str,
        mode: ListenerMode | str,
        *,
        slow_s: float | None = None,
        status: int | None = None,
    ) -> None:
        """Answer this professional's business calls (found by the API token's `sub`, else the body's
        `nationalId`) as the listener would in `mode`, with the parameters of `TLSServer.set_mode`: a
        concurrent scenario's calls are served normally. HTTP-level modes only: the TLS handshake comes
        before anyone is known. `ListenerMode.NORMAL` serves the professional normally again."""
        settings = ModeSettings.for_mode(mode, slow_s=slow_s, status=status)
        if settings.mode is not ListenerMode.NORMAL and not settings.mode.http_level:
            raise ValueError(f"{settings.mode} acts at the TLS handshake, before anyone is known")
        if settings.mode is ListenerMode.NORMAL:
            self._behaviours.forget(identity_keys(identity))
        else:
            self._behaviours.update(identity_keys(identity), mode=settings)

    def calls_concerning(self, identity: TestIdentity | str) -> int:
        """How many business calls named this professional so far, whatever they were answered (a
        scenario waits for the calls it started before reading the evidence)."""
        with self._lock:
            return sum(self._calls[key] for key in identity_keys(identity))

    def _business_call(self, request: Request) -> Response | None:
        """`POST /signsessiondata`, unless its professional's behaviour says otherwise: stalled, then
        served; answered with a canned error; or the connection reset (what the listener modes do)."""
        token = rfc6750.bearer_token(request.header("Authorization"))
        subjects = _claimed_subjects(token, "sub") + _string_members(_json_object(request.body), "nationalId")
        request.concerns(*subjects)
        if subjects:
            with self._lock:
                self._calls[subjects[0]] += 1
        settings = self._behaviours.get(*subjects).mode
        if settings is None:
            return self._sign_session_data(request)
        return answer_in_mode(settings, self._stopping, lambda: self._sign_session_data(request))

    @property
    def base_url(self) -> str:
        """The API's base URL (the `servers` entry of the OpenAPI document)."""
        return self.url + self.base_path

    @property
    def signsessiondata_url(self) -> str:
        return self.base_url + "/signsessiondata"

    @property
    def signature_jwk(self) -> dict[str, Any]:
        """Public JWK of the key that signs `SignedSessionData.signature`."""
        return self.signing_key.public_jwk

    # -- signature ---------------------------------------------------------------------------------

    def sign(self, data: Mapping[str, Any]) -> str:
        """Compact JWS whose payload is :func:`canonical_session_data` of `data`."""
        return jwt.api_jws.encode(
            canonical_session_data(data),
            self.signing_key.private_key,
            algorithm=self.signing_key.alg,
            headers={"kid": self.signing_key.kid, "typ": SIGNATURE_TYP, "cty": "json"},
        )

    def verify_signature(self, signed: Mapping[str, Any]) -> bool:
        """True when `signed["signature"]` is our JWS over exactly the four other fields of `signed`."""
        signature = signed.get("signature")
        if not isinstance(signature, str) or not all(
            isinstance(signed.get(f), str) for f in SESSION_DATA_FIELDS
        ):
            return False
        try:
            payload = jwt.api_jws.decode(
                signature, self.signing_key.private_key.public_key(), algorithms=[self.signing_key.alg]
            )
        except jwt.PyJWTError:
            return False
        return payload == canonical_session_data(signed)

    # -- the business call -------------------------------------------------------------------------

    def _challenge(
        self, status: int, error: str | None, description: str | None = None, scope: str | None = None
    ) -> Response:
        """RFC 6750 §3 answer: `WWW-Authenticate: Bearer …`, with a {code, message} body for the proxy."""
        challenge = rfc6750.bearer_challenge(
            realm=self.realm, error=error, error_description=description, scope=scope
        )
        body = {"code": error or "unauthorized", "message": description or "authentication required"}
        return Response.json(body, status, {"WWW-Authenticate": challenge})

    def _sign_session_data(self, request: Request) -> Response:
        tls = request.tls
        who = tls.peer_common_name

        def observe(kind: str, detail: str, **data: Any) -> None:
            self.observe(request, f"api.{kind}", who, detail, **data)

        token = self._bearer_token(request, observe)
        if isinstance(token, Response):
            return token
        claims = self._verify_token(token, observe)
        if isinstance(claims, Response):
            return claims
        refusal = self._check_binding(request, claims, observe)
        if refusal is not None:
            return refusal
        observe(
            "call",
            "authenticated call",
            x5t_s256=tls.peer_x5t_s256,
            jti=claims.get("jti"),
            sub=claims.get("sub"),
            token_client_id=claims.get("client_id"),
            method=request.method,
            path=request.path,
        )
        if self.authorization_server.api_scope not in str(claims.get("scope", "")).split():
            observe("insufficient_scope", "the token lacks the API scope", scope=claims.get("scope"))
            return self._challenge(
                403,
                "insufficient_scope",
                "the token lacks the API scope",
                scope=self.authorization_server.api_scope,
            )

        data = self._session_data(request, observe)
        if isinstance(data, Response):
            return data
        if data["nationalId"] != claims.get("sub"):
            observe(
                "identity_mismatch",
                "nationalId is not the professional the token was issued for",
                national_id=data["nationalId"],
                token_sub=claims.get("sub"),
            )
            return Response.json(
                {"code": "forbidden", "message": "nationalId does not match the access token"}, 403
            )
        if data["clientID"] != who:
            observe(
                "client_id_mismatch",
                "clientID is not the client id of the certificate",
                body_client_id=data["clientID"],
            )
        fields = {name: data[name] for name in SESSION_DATA_FIELDS}
        return Response.json({**fields, "signature": self.sign(fields)})

    def _bearer_token(self, request: Request, observe: Callable[..., None]) -> str | Response:
        """The token of an `Authorization: Bearer` header (RFC 6750 §2.1, the only method the API takes)."""
        authorization = request.header("Authorization")
        if authorization is None:
            if "access_token" in request.query:
                observe("authorization_scheme", "the access token is sent in the query string")
                return self._challenge(401, "invalid_request", "send the token in an Authorization header")
            observe("token_missing", "no access token")
            return self._challenge(401, None)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            observe(
                "authorization_scheme",
                f"Authorization header with scheme {scheme!r}, not a Bearer token",
                scheme=scheme,
            )
            return self._challenge(401, "invalid_request", "use the Bearer scheme")
        return token

    def _verify_token(self, token: str, observe: Callable[..., None]) -> dict[str, Any] | Response:
        """Signature, issuer and audience with PyJWT; time against our clock (PyJWT reads the real one)."""
        authorization_server = self.authorization_server
        try:
            claims = authorization_server.signing_key.verify(
                token,
                issuer=authorization_server.issuer,
                audience=list(authorization_server.audiences),
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "iss", "aud"],
                },
            )
        except jwt.PyJWTError as exc:
            observe("token_invalid", f"the access token does not verify: {exc}", reason=type(exc).__name__)
            return self._challenge(401, "invalid_token", "the access token is invalid")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self.clock.now():
            observe("token_expired", "the access token has expired", exp=exp, jti=claims.get("jti"))
            return self._challenge(401, "invalid_token", "the access token has expired")
        return claims

    def _check_binding(
        self, request: Request, claims: Mapping[str, Any], observe: Callable[..., None]
    ) -> Response | None:
        """RFC 8705 §3: `cnf.x5t#S256` must be the thumbprint of this connection's client certificate."""
        der = request.tls.peer_cert_der
        cnf = claims.get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
        if not isinstance(bound, str):
            observe("cnf_missing", "the access token is not bound to a certificate", jti=claims.get("jti"))
            return self._challenge(401, "invalid_token", "the access token is not certificate-bound")
        if der is None:
            observe("no_client_cert", "call without a client certificate", token_x5t_s256=bound)
            return self._challenge(401, "invalid_token", "a client certificate is required")
        form = rfc8705.classify_thumbprint(bound, der)
        if form is None:
            observe(
                "cnf_mismatch",
                "the access token is bound to another certificate than this connection's",
                token_x5t_s256=bound,
                connection_x5t_s256=request.tls.peer_x5t_s256,
                jti=claims.get("jti"),
            )
            return self._challenge(401, "invalid_token", "the access token is bound to another certificate")
        if form == "ans-hex":
            observe(
                "cnf_ans_hex_form",
                "cnf x5t#S256 in the ANS-example hex form, not RFC 8705",
                jti=claims.get("jti"),
            )
        return None

    def _session_data(self, request: Request, observe: Callable[..., None]) -> dict[str, str] | Response:
        """The SessionData body: a JSON object whose four fields are all strings."""
        problems: list[str] = []
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            problems.append(f"Content-Type is {content_type or 'absent'!r}, not application/json")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
            problems.append("the body is not JSON")
        if body is not None and not isinstance(body, dict):
            problems.append("the body is not a JSON object")
        elif isinstance(body, dict):
            problems += [f"{name} is missing" for name in SESSION_DATA_FIELDS if name not in body]
            problems += [
                f"{name} is not a string"
                for name in SESSION_DATA_FIELDS
                if name in body and not isinstance(body[name], str)
            ]
        if problems:
            observe("session_data_invalid", "; ".join(problems), problems=problems)
            return Response.json({"code": "bad_request", "message": "; ".join(problems)}, 400)
        assert isinstance(body, dict)
        return {name: body[name] for name in SESSION_DATA_FIELDS}
