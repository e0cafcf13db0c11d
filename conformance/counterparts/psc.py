"""The simulated Pro Santé Connect: the OpenID provider a Proxy e-Santé talks to.

It serves what the real PSC (a Keycloak realm `esante-wallet`) would, under the same paths:
discovery (both file names), JWKS, CIBA in poll mode with a controllable authentication device
per test identity, the token endpoint (CIBA, refresh_token, authorization_code with PKCE),
userinfo (`scope_all`), RFC 7662 introspection and end-session.

Timings, ID-token tampering and the authentication device are global defaults that can be overridden
for one professional (`behave`): scenarios running at the same time each misbehave toward their own.

It does not judge. Every deviation of the caller from the rules of the trust space (a missing
`scope_all`, no `acr_values`, polling faster than `interval`, Basic instead of mTLS, …) becomes
an `Observation`; the scenarios decide what it means for which requirement.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

from conformance.clock import Clock, SystemClock
from conformance.counterparts.base import Counterpart
from conformance.counterparts.identities import TestIdentity, load_identities
from conformance.counterparts.keyed import KeyedBehaviour
from conformance.counterparts.observations import ObservationLog
from conformance.counterparts.settings import PATHS, REALM_PATH, PscTimings
from conformance.counterparts.signing_keys import KeyPurpose, shared_signing_key
from conformance.pki import TestPKI
from conformance.standards import ciba, oidc, rfc6749, rfc6750, rfc7636, rfc7662
from conformance.standards.ciba import AuthenticationRequest, DeviceBehaviour, PollResult
from conformance.standards.jose import Alg, SigningKey, jwks, unverified
from conformance.tls import Request, Response

# Realm of another issuer: the `iss` of tokens this PSC did not issue (tampered ID tokens, foreign tokens).
FOREIGN_REALM_PATH = "/auth/realms/not-esante-wallet"
REQUIRED_SCOPES = ("openid", "scope_all")
SUPPORTED_SCOPES = frozenset(
    {
        "openid",
        "scope_all",
        "rpps",
        "referentiel",
        "identity",
        "interop",
        "profile",
        "email",
        "offline_access",
        "roles",
    }
)
REQUIRED_ACR = "eidas1"
CHANNELS = ("CARD", "MOBILE")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Time claims are judged against the injected clock (grant expiry), never PyJWT's wall clock.
_SIGNATURE_ONLY = {"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False}


class IdTokenTamper(StrEnum):
    """Defects the simulated PSC can put in the ID tokens it issues, to see whether the SUT validates."""

    NONE = "none"
    BAD_SIGNATURE = "bad_signature"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"
    WRONG_ACR = "wrong_acr"


@dataclass(frozen=True)
class PscBehaviour:
    """What PSC does for one professional instead of its global default (None: the default)."""

    timings: PscTimings | None = None
    id_token_tamper: IdTokenTamper | None = None
    device: DeviceBehaviour | None = None


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    role: str  # "lps" | "proxy" | "provider"
    secret: str = field(repr=False)


@dataclass
class PscSession:
    session_state: str
    client_id: str
    identity: TestIdentity
    scope: tuple[str, ...]
    created_at: float
    active: bool = True


@dataclass(frozen=True)
class AccessGrant:
    """What an access or refresh token stands for, looked up by its jti (access) or value (refresh)."""

    kind: str  # "access" | "refresh"
    client_id: str
    session_state: str
    scope: tuple[str, ...]
    issued_at: float
    expires_at: float
    claims: Mapping[str, Any] = field(default_factory=dict)
    cnf_x5t: str | None = None


@dataclass
class _CodeGrant:
    client_id: str
    redirect_uri: str | None
    identity: TestIdentity
    scope: tuple[str, ...]
    nonce: str | None
    challenge: str | None
    challenge_method: str | None
    expires_at: float


class _AuthFailure(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True)
class _Client:
    """The outcome of client authentication on one request."""

    client_id: str
    method: str  # tls_client_auth | client_secret_basic
    cert_x5t: str | None


def oauth_error(
    error: str, description: str, status: int = 400, headers: Mapping[str, str] | None = None
) -> Response:
    return Response.json(
        {"error": error, "error_description": description}, status, {**NO_STORE, **(headers or {})}
    )


class SimulatedPSC(Counterpart):
    """Pro Santé Connect over real TLS, with mTLS client authentication (CN = client id)."""

    counterpart = "psc"

    def __init__(
        self,
        pki: TestPKI,
        *,
        identities: Sequence[TestIdentity] | None = None,
        clock: Clock | None = None,
        timings: PscTimings | None = None,
        observations: ObservationLog | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        require_client_certificate: bool = True,
        signing_alg: Alg = "RS256",
        observer: Callable[..., None] | None = None,
        public_host: str | None = None,
        client_secrets: Mapping[str, str] | None = None,
    ) -> None:
        # Discovery, JWKS and the browser-facing authorization endpoint take callers without a
        # certificate; every other endpoint refuses them in `_authenticate`, and observes it.
        super().__init__(
            pki,
            observations=observations if observations is not None else ObservationLog(),
            clock=clock or SystemClock(),
            host=host,
            port=port,
            public_host=public_host,
            server_name="psc",
            handshake_requires_cert=False,
            observer=observer,
        )
        self.identities = {i.national_id: i for i in (identities or load_identities())}
        self.timings = timings or PscTimings()
        self.require_client_certificate = require_client_certificate
        self.signing_key = shared_signing_key(KeyPurpose.PSC, signing_alg)
        known_secrets = client_secrets or {}
        self.clients = {
            cid: RegisteredClient(
                cid, pki.client_profiles[cid].role, known_secrets.get(cid) or secrets.token_urlsafe(18)
            )
            for cid in pki.clients
        }
        self.default_device = DeviceBehaviour()
        self.id_token_tamper = IdTokenTamper.NONE
        self._behaviours = KeyedBehaviour(PscBehaviour())  # by national id
        self._minted: set[str] = set()  # national ids of `mint_identity`
        self.ciba_requests: dict[str, AuthenticationRequest] = {}
        self.sessions: dict[str, PscSession] = {}
        self._grants: dict[str, AccessGrant] = {}  # access jti or refresh token value -> grant
        self._codes: dict[str, _CodeGrant] = {}
        self._lock = threading.RLock()
        for key in ("discovery", "discovery_standard"):
            self.router.add("GET", REALM_PATH + PATHS[key], self._discovery)
        self.router.add("GET", REALM_PATH + PATHS["jwks"], self._jwks)
        self.router.add("GET", REALM_PATH + PATHS["authorization"], self._authorize)
        self.router.add("POST", REALM_PATH + PATHS["backchannel"], self._backchannel)
        self.router.add("POST", REALM_PATH + PATHS["token"], self._token)
        self.router.add(("GET", "POST"), REALM_PATH + PATHS["userinfo"], self._userinfo)
        self.router.add("POST", REALM_PATH + PATHS["introspection"], self._introspection)
        self.router.add(("GET", "POST"), REALM_PATH + PATHS["end_session"], self._end_session)

    @cached_property
    def _impostor_key(self) -> SigningKey:
        """Signs tampered tokens; never published in the JWKS."""
        return shared_signing_key(KeyPurpose.PSC_IMPOSTOR, self.signing_key.alg)

    # -- addresses ----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def issuer(self) -> str:
        return self.base_url + REALM_PATH

    def endpoint(self, name: str) -> str:
        return self.issuer + PATHS[name]

    @property
    def discovery_url(self) -> str:
        return self.endpoint("discovery")

    # -- controls for scenarios -------------------------------------------------------------------

    def set_device(self, national_id: str, behaviour: DeviceBehaviour) -> None:
        """How the professional's device answers the next CIBA requests for this identity."""
        self.behave(national_id, device=behaviour)

    def behave(
        self,
        identity: TestIdentity | str,
        *,
        timings: PscTimings | None = None,
        id_token_tamper: IdTokenTamper | None = None,
        device: DeviceBehaviour | None = None,
    ) -> None:
        """What PSC does for this professional only (an identity or its national id), instead of the
        global `timings`, `id_token_tamper` and `default_device`: scenarios running at the same time each
        misbehave toward their own professional. Arguments left None keep what was set before."""
        national_id = identity if isinstance(identity, str) else identity.national_id
        if national_id not in self.identities:
            raise KeyError(f"unknown test identity {national_id!r}; known: {sorted(self.identities)}")
        self._behaviours.update(
            (national_id,), timings=timings, id_token_tamper=id_token_tamper, device=device
        )

    def forget(self, identity: TestIdentity | str) -> None:
        """This professional is served with the global defaults again."""
        self._behaviours.forget((identity if isinstance(identity, str) else identity.national_id,))

    def timings_for(self, identity: TestIdentity | str | None) -> PscTimings:
        """The timings PSC applies to this professional (its own, else the global ones)."""
        national_id = identity.national_id if isinstance(identity, TestIdentity) else identity
        return self._behaviours.get(national_id).timings or self.timings

    def _tamper_for(self, identity: TestIdentity) -> IdTokenTamper:
        return self._behaviours.get(identity.national_id).id_token_tamper or self.id_token_tamper

    def _device_for(self, national_id: str) -> DeviceBehaviour:
        return self._behaviours.get(national_id).device or self.default_device

    def mint_identity(self) -> TestIdentity:
        """A professional no SUT has seen yet, so no token it cached can stand in for a new login.

        National ids are test values (prefix 8, then 8999 and a counter) that real PSC never issues.
        """
        with self._lock:
            base = next(iter(self.identities.values()))
            number = len(self.identities) + 1
            while True:
                national_id = f"8999{number:08d}"
                if national_id not in self.identities:
                    break
                number += 1
            identity = replace(
                base,
                national_id=national_id,
                sub=str(uuid.uuid4()),
                given_name=f"PRO{number}",
                family_name="FRAIS-TEST",
            )
            self.identities[national_id] = identity
            self._minted.add(national_id)
            return identity

    def reset(self) -> None:
        """Between scenarios: no global tampering, and the fixed test identities back to the defaults.

        A minted identity keeps its behaviour: it belongs to one scenario, which may still be running
        while another one ends. Sessions and tokens stay valid.
        """
        self.id_token_tamper = IdTokenTamper.NONE
        with self._lock:
            fixed = [national_id for national_id in self.identities if national_id not in self._minted]
        self._behaviours.forget(fixed)

    # -- tokens without a login, for a provider campaign --------------------------------------------

    def issue_access_token(
        self,
        identity: TestIdentity,
        client_id: str,
        *,
        ttl_s: float | None = None,
        scope: str = "openid scope_all",
    ) -> str:
        """A PSC access token as a CIBA login of `identity` by `client_id` yields it, in a new PSC session.

        The data provider never logs anyone in: the harness plays the LPS and hands the provider tokens
        made here. Same claims, key and `cnf` (the client's certificate) as a CIBA token; introspectable
        and active until its `exp` (`ttl_s`, default the configured access-token lifetime) or `revoke`.
        """
        if client_id not in self.clients:
            raise KeyError(f"unknown client {client_id!r}; registered: {sorted(self.clients)}")
        session = self._new_session(client_id, identity, tuple(scope.split()))
        ttl = self.timings_for(identity).access_token_ttl_s if ttl_s is None else ttl_s
        x5t = self.pki.clients[client_id].x5t_s256  # self.clients are the PKI's clients
        token, _ = self._grant_access(client_id, session, self.clock.now(), ttl, x5t, bind=True)
        return token

    def revoke(self, token: str) -> None:
        """End the PSC session of an access or refresh token, as a PSC logout would: every token of that
        session is inactive at introspection from now on."""
        with self._lock:
            grant = self._grants.get(token) or self._access_grant(token)
            session = self.sessions.get(grant.session_state) if grant else None
            if session is None:
                raise KeyError("not a token this PSC issued")
            session.active = False

    def foreign_access_token(self, identity: TestIdentity, client_id: str) -> str:
        """A token shaped like this PSC's but from another issuer: another `iss`, signed by a key (and
        `kid`) this PSC does not publish, unknown here (introspection answers inactive)."""
        now = self.clock.now()
        session = PscSession(str(uuid.uuid4()), client_id, identity, REQUIRED_SCOPES, now)
        x5t = self.pki.clients[client_id].x5t_s256 if client_id in self.pki.clients else None
        claims = access_token_claims(
            self.base_url + FOREIGN_REALM_PATH,
            client_id,
            session,
            now=now,
            ttl_s=self.timings_for(identity).access_token_ttl_s,
            cnf_x5t=x5t,
        )
        return self._impostor_key.sign(claims)

    # -- whom a request concerns (evidence of concurrent scenarios) ---------------------------------

    def _hint_subjects(self, login_hint: str | None) -> tuple[str | None, ...]:
        """A login_hint names a professional by national id; a known one also has its `sub`."""
        identity = self.identities.get(login_hint or "")
        return (login_hint,) if identity is None else _subjects(identity)

    def _token_subjects(self, token: str | None) -> tuple[str | None, ...]:
        """Whom a token names, whatever its state: a refresh token by its grant, a JWT (access or ID
        token, even expired, tampered or foreign) by its `SubjectNameID` and `sub` claims."""
        if not token:
            return ()
        with self._lock:
            grant = self._grants.get(token)
            session = self.sessions.get(grant.session_state) if grant else None
        if session is not None:
            return _subjects(session.identity)
        decoded = unverified(token)
        claims = decoded[1] if decoded is not None else {}
        return tuple(v for v in (claims.get("SubjectNameID"), claims.get("sub")) if isinstance(v, str))

    def _token_request_subjects(self, request: Request) -> tuple[str | None, ...]:
        """Whom a token request concerns, looked up without consuming its grant (before client
        authentication, so that a refused request is attributed too)."""
        grant_type = request.param("grant_type")
        if grant_type == ciba.GRANT_TYPE:
            with self._lock:
                auth = self.ciba_requests.get(request.param("auth_req_id") or "")
            return self._hint_subjects(auth.login_hint) if auth is not None else ()
        if grant_type == "refresh_token":
            return self._token_subjects(request.param("refresh_token"))
        if grant_type == "authorization_code":
            with self._lock:
                code = self._codes.get(request.param("code") or "")
            return _subjects(code.identity) if code is not None else ()
        return ()

    # -- discovery and keys -----------------------------------------------------------------------

    def discovery_document(self) -> dict[str, Any]:
        auth_methods = ["tls_client_auth", "client_secret_basic"]
        return oidc.discovery_document(
            self.issuer,
            PATHS,
            mtls_aliases=("token", "userinfo", "introspection", "backchannel"),
            grant_types_supported=["authorization_code", "refresh_token", ciba.GRANT_TYPE],
            response_types_supported=["code"],
            response_modes_supported=["query"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=[self.signing_key.alg],
            token_endpoint_auth_methods_supported=auth_methods,
            introspection_endpoint_auth_methods_supported=auth_methods,
            backchannel_token_delivery_modes_supported=["poll"],
            backchannel_user_code_parameter_supported=False,
            scopes_supported=sorted(SUPPORTED_SCOPES),
            claims_supported=[
                "sub",
                "SubjectNameID",
                "preferred_username",
                "given_name",
                "family_name",
                "acr",
            ],
            acr_values_supported=[REQUIRED_ACR],
            code_challenge_methods_supported=["plain", "S256"],
            tls_client_certificate_bound_access_tokens=True,
        )

    def _discovery(self, request: Request) -> Response:
        self.observe(request, "metadata.discovery", None, f"discovery document served ({request.path})")
        return Response.json(self.discovery_document())

    def _jwks(self, request: Request) -> Response:
        self.observe(request, "metadata.jwks", None, "JWKS served")
        return Response.json(jwks(self.signing_key))

    # -- client authentication --------------------------------------------------------------------

    def _authenticate(self, request: Request, endpoint: str) -> _Client:
        """RFC 8705 §2.1 tls_client_auth (CN = client_id), or client_secret_basic (recorded as such)."""
        tls = request.tls
        cert_cn = tls.peer_common_name if tls else None
        cert_x5t = tls.peer_x5t_s256 if tls else None
        basic = rfc6749.basic_credentials(request.header("Authorization"))
        form_client_id = request.param("client_id")

        def refuse(kind: str, client_id: str | None, detail: str, answer: str, **data: Any) -> NoReturn:
            """Every client authentication failure: observed, then 401 invalid_client."""
            self.observe(
                request, f"client_auth.{kind}", client_id, f"{endpoint}: {detail}", endpoint=endpoint, **data
            )
            raise _AuthFailure(oauth_error("invalid_client", answer, 401))

        if cert_cn is None and self.require_client_certificate:
            refuse(
                "no_certificate",
                form_client_id or (basic[0] if basic else None),
                "no client certificate; the trust space requires mTLS",
                "a client certificate is required",
            )
        if basic is not None:
            client_id, secret = basic
            client = self.clients.get(client_id)
            if client is None or not secrets.compare_digest(client.secret, secret):
                refuse("bad_secret", client_id, "wrong client secret", "client authentication failed")
            self.observe(
                request,
                "client_auth.basic",
                client_id,
                f"{endpoint}: client_secret_basic used; the trust space requires mTLS (tls_client_auth)",
                endpoint=endpoint,
                certificate_cn=cert_cn,
            )
            return self._authenticated(request, endpoint, _Client(client_id, "client_secret_basic", cert_x5t))
        if form_client_id is None:
            refuse(
                "client_id_missing",
                cert_cn,
                "tls_client_auth without the client_id parameter",
                "client_id is required with tls_client_auth",
            )
        if form_client_id not in self.clients:
            refuse(
                "unknown_client", form_client_id, f"unknown client_id {form_client_id!r}", "unknown client"
            )
        if cert_cn != form_client_id:
            refuse(
                "cn_mismatch",
                form_client_id,
                f"certificate CN {cert_cn!r} is not client_id {form_client_id!r}",
                "certificate does not match client_id",
                certificate_cn=cert_cn,
            )
        return self._authenticated(request, endpoint, _Client(form_client_id, "tls_client_auth", cert_x5t))

    def _authenticated(self, request: Request, endpoint: str, client: _Client) -> _Client:
        tls = request.tls
        self.observe(
            request,
            "client_auth",
            client.client_id,
            f"{endpoint}: {client.method}",
            endpoint=endpoint,
            method=client.method,
            role=self.clients[client.client_id].role,
            certificate_subject=tls.peer_subject if tls else None,
            certificate_x5t=client.cert_x5t,
            tls_version=tls.version if tls else None,
        )
        return client

    # -- CIBA ---------------------------------------------------------------------------------------

    def _backchannel(self, request: Request) -> Response:
        request.concerns(*self._hint_subjects(request.param("login_hint")))
        basic = rfc6749.basic_credentials(request.header("Authorization"))
        self.observe(
            request,
            "ciba.received",
            request.param("client_id") or (basic[0] if basic else None),
            "backchannel authentication request as received",
            scope=tuple((request.param("scope") or "").split()),
            acr_values=request.param("acr_values"),
            login_hint=request.param("login_hint"),
            binding_message=request.param("binding_message"),
            channel=request.param("channel"),
            certificate_x5t=request.tls.peer_x5t_s256 if request.tls else None,
        )
        try:
            client = self._authenticate(request, "backchannel")
        except _AuthFailure as failure:
            return failure.response
        cid = client.client_id
        scope = tuple((request.param("scope") or "").split())
        acr = request.param("acr_values")
        login_hint = request.param("login_hint")
        binding = request.param("binding_message")
        channel = request.param("channel")
        if "openid" not in scope:
            self.observe(request, "ciba.scope", cid, f"scope {' '.join(scope)!r} lacks openid", scope=scope)
            return oauth_error("invalid_scope", "the openid scope is required")
        unexpected = sorted(set(scope) - SUPPORTED_SCOPES)
        if unexpected:
            self.observe(request, "ciba.scope", cid, f"unexpected scope(s) {unexpected}", scope=scope)
            return oauth_error("invalid_scope", f"unsupported scope(s): {' '.join(unexpected)}")
        if "scope_all" not in scope:
            self.observe(
                request, "ciba.scope", cid, f"scope {' '.join(scope)!r} lacks scope_all", scope=scope
            )
        if acr is None:
            self.observe(request, "ciba.acr_values", cid, "acr_values missing (eidas1 required)")
        elif acr != REQUIRED_ACR:
            self.observe(
                request, "ciba.acr_values", cid, f"acr_values={acr!r}, only eidas1 is accepted", acr=acr
            )
            return oauth_error("invalid_request", "only acr_values=eidas1 is supported")
        if not login_hint:
            self.observe(request, "ciba.login_hint", cid, "login_hint missing")
            return oauth_error("invalid_request", "login_hint is required")
        identity = self.identities.get(login_hint)
        if identity is None:
            self.observe(
                request, "ciba.unknown_user", cid, f"login_hint {login_hint!r} is not a known identity"
            )
            return oauth_error("unknown_user_id", "no user matches login_hint")
        if binding is None or not re.fullmatch(r"\d{2}", binding):
            self.observe(
                request, "ciba.binding_message", cid, f"binding_message={binding!r}, expected 2 digits"
            )
        if channel not in CHANNELS:
            self.observe(request, "ciba.channel", cid, f"channel={channel!r}, expected CARD or MOBILE")
        timings = self.timings_for(identity)
        auth = AuthenticationRequest(
            client_id=cid,
            login_hint=login_hint,
            scope=scope,
            acr_values=acr,
            binding_message=binding,
            channel=channel,
            created_at=self.clock.now(),
            expires_in=timings.ciba_expires_in_s,
            interval=timings.ciba_interval_s,
            behaviour=self._device_for(login_hint),
        )
        with self._lock:
            self.ciba_requests[auth.auth_req_id] = auth
        self.observe(
            request,
            "ciba.request",
            cid,
            f"CIBA request for {login_hint}",
            auth_req_id=auth.auth_req_id,
            scope=scope,
            acr_values=acr,
            binding_message=binding,
            channel=channel,
            certificate_x5t=client.cert_x5t,
        )
        interval = int(auth.interval) if float(auth.interval).is_integer() else auth.interval
        return Response.json(
            {"auth_req_id": auth.auth_req_id, "expires_in": auth.expires_in, "interval": interval},
            headers=NO_STORE,
        )

    def _ciba_grant(self, request: Request, client: _Client) -> Response:
        auth_req_id = request.param("auth_req_id") or ""
        with self._lock:
            auth = self.ciba_requests.get(auth_req_id)
            if auth is None:
                self.observe(request, "ciba.unknown_auth_req_id", client.client_id, "unknown auth_req_id")
                return oauth_error("invalid_grant", "unknown auth_req_id")
            if auth.client_id != client.client_id:
                self.observe(
                    request,
                    "ciba.client_mismatch",
                    client.client_id,
                    f"auth_req_id issued to {auth.client_id}, redeemed by {client.client_id}",
                )
                return oauth_error("invalid_grant", "auth_req_id was issued to another client")
            timings = self.timings_for(auth.login_hint)
            since = None if auth.last_poll_at is None else self.clock.now() - auth.last_poll_at
            interval = auth.interval
            result = auth.poll(
                self.clock.now(),
                tolerance_s=timings.poll_tolerance_s,
                slow_down_increment_s=timings.slow_down_increment_s,
            )
        self.observe(
            request,
            "ciba.poll",
            client.client_id,
            f"poll #{auth.polls}: {result.value}",
            auth_req_id=auth_req_id,
            result=result.value,
            seconds_since_last_poll=since,
            interval=interval,
            tolerance_s=timings.poll_tolerance_s,
            increment_s=timings.slow_down_increment_s,
        )
        # Not the device's scheduled slow_down: the caller really came too early.
        if (
            result is PollResult.SLOW_DOWN
            and since is not None
            and since < interval - timings.poll_tolerance_s
        ):
            self.observe(
                request,
                "ciba.poll_too_fast",
                client.client_id,
                f"polled {since:.2f} s after the previous poll; interval is {interval:g} s",
                seconds_since_last_poll=since,
                interval=interval,
            )
        if result is not PollResult.APPROVED:
            messages = {
                PollResult.AUTHORIZATION_PENDING: "the user has not answered yet",
                PollResult.SLOW_DOWN: "polling too fast; increase the interval",
                PollResult.ACCESS_DENIED: "the user denied the authentication",
                PollResult.EXPIRED_TOKEN: "the auth_req_id has expired",
                PollResult.INVALID_GRANT: "the auth_req_id was already redeemed",
            }
            return oauth_error(result.value, messages[result])
        identity = self.identities[auth.login_hint]
        session = self._new_session(client.client_id, identity, auth.scope)
        return self._token_response(request, client, session, nonce=None)

    # -- authorization code flow -------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        """Front channel: the professional logs in at once (the login_hint identity, or the first one)."""
        q = {k: v[0] for k, v in request.query.items() if v}
        request.concerns(*self._hint_subjects(q.get("login_hint")))
        cid = q.get("client_id")
        redirect_uri = q.get("redirect_uri")
        if cid not in self.clients or not redirect_uri:
            return Response.json(
                {"error": "invalid_request", "error_description": "unknown client or no redirect"}, 400
            )
        scope = tuple(q.get("scope", "").split())
        if not set(REQUIRED_SCOPES) <= set(scope):
            self.observe(request, "authorize.scope", cid, f"scope {' '.join(scope)!r} lacks openid/scope_all")
        if q.get("acr_values") != REQUIRED_ACR:
            self.observe(request, "authorize.acr_values", cid, f"acr_values={q.get('acr_values')!r}")
        method = q.get("code_challenge_method", "plain") if "code_challenge" in q else None
        if method is not None and method != "S256":
            self.observe(
                request, "authorize.pkce_method", cid, f"code_challenge_method={method!r}, S256 expected"
            )
        if q.get("response_type") != "code":
            self.observe(request, "authorize.response_type", cid, f"response_type={q.get('response_type')!r}")
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": q.get("state")})
        identity = self.identities.get(q.get("login_hint", "")) or next(iter(self.identities.values()))
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _CodeGrant(
                cid,
                redirect_uri,
                identity,
                scope,
                q.get("nonce"),
                q.get("code_challenge"),
                method,
                self.clock.now() + 60,
            )
        return _redirect(redirect_uri, {"code": code, "state": q.get("state")})

    def _code_grant(self, request: Request, client: _Client) -> Response:
        with self._lock:
            grant = self._codes.pop(request.param("code") or "", None)
        if grant is None or grant.client_id != client.client_id or grant.expires_at < self.clock.now():
            return oauth_error("invalid_grant", "invalid, expired or already used code")
        if grant.redirect_uri != request.param("redirect_uri"):
            return oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
        if grant.challenge is not None:
            verifier = request.param("code_verifier")
            if verifier is None or not rfc7636.verifier_matches(
                verifier, grant.challenge, grant.challenge_method or ""
            ):
                return oauth_error("invalid_grant", "PKCE verification failed")
        session = self._new_session(client.client_id, grant.identity, grant.scope)
        return self._token_response(request, client, session, nonce=grant.nonce)

    # -- token endpoint ----------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        parsed = rfc6749.parse_token_request(
            request.form(),
            request.query,
            content_type=request.header("Content-Type"),
            authorization=request.header("Authorization"),
        )
        request.concerns(*self._token_request_subjects(request))
        self.observe(
            request,
            "token.request",
            parsed.client_id,
            f"token request, grant_type={parsed.grant_type!r}",
            parsed=parsed,
            grant_type=parsed.grant_type,
        )
        try:
            client = self._authenticate(request, "token")
        except _AuthFailure as failure:
            return failure.response
        grant_type = request.param("grant_type")
        if grant_type == ciba.GRANT_TYPE:
            return self._ciba_grant(request, client)
        if grant_type == "refresh_token":
            return self._refresh_grant(request, client)
        if grant_type == "authorization_code":
            return self._code_grant(request, client)
        self.observe(
            request, "token.grant_type", client.client_id, f"grant_type={grant_type!r} is not a PSC flow"
        )
        return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _refresh_grant(self, request: Request, client: _Client) -> Response:
        value = request.param("refresh_token") or ""
        with self._lock:
            grant = self._grants.get(value)
            session = self.sessions.get(grant.session_state) if grant else None
            valid = (
                grant is not None
                and grant.kind == "refresh"
                and grant.client_id == client.client_id
                and grant.expires_at > self.clock.now()
                and session is not None
                and session.active
            )
            if valid:
                del self._grants[value]  # rotation, as Keycloak does
        if not valid or session is None:
            self.observe(
                request, "token.refresh_invalid", client.client_id, "refresh with an invalid refresh token"
            )
            return oauth_error("invalid_grant", "invalid or expired refresh token")
        self.observe(
            request,
            "token.refresh",
            client.client_id,
            "refresh_token grant",
            session_state=session.session_state,
        )
        return self._token_response(request, client, session, nonce=None)

    def _new_session(self, client_id: str, identity: TestIdentity, scope: tuple[str, ...]) -> PscSession:
        session = PscSession(str(uuid.uuid4()), client_id, identity, scope, self.clock.now())
        with self._lock:
            self.sessions[session.session_state] = session
        return session

    def _token_response(
        self, request: Request, client: _Client, session: PscSession, nonce: str | None
    ) -> Response:
        now = self.clock.now()
        t = self.timings_for(session.identity)
        scope = " ".join(session.scope)
        access_token, jti = self._grant_access(
            client.client_id,
            session,
            now,
            t.access_token_ttl_s,
            client.cert_x5t,
            bind=client.method == "tls_client_auth",
        )
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[refresh_token] = AccessGrant(
                "refresh",
                client.client_id,
                session.session_state,
                session.scope,
                now,
                now + t.refresh_token_ttl_s,
            )
        id_token = self._id_token(client.client_id, session, access_token, nonce, now)
        self.observe(
            request,
            "token.issued",
            client.client_id,
            f"tokens issued to {client.client_id}",
            session_state=session.session_state,
            jti=jti,
            method=client.method,
            certificate_x5t=client.cert_x5t,
            id_token_tamper=self._tamper_for(session.identity).value,
        )
        body = {
            "access_token": access_token,
            "expires_in": t.access_token_ttl_s,
            "refresh_expires_in": t.refresh_token_ttl_s,
            "refresh_token": refresh_token,
            "token_type": "Bearer",
            "id_token": id_token,
            "not-before-policy": 0,
            "session_state": session.session_state,
            "scope": scope,
        }
        return Response.json(body, headers=NO_STORE)

    def _id_token(
        self, client_id: str, session: PscSession, access_token: str, nonce: str | None, now: float
    ) -> str:
        identity = session.identity
        claims = oidc.id_token_claims(
            issuer=self.issuer,
            client_id=client_id,
            subject=identity.sub,
            issued_at=now,
            ttl_s=self.timings_for(identity).id_token_ttl_s,
            auth_time=session.created_at,
            acr=REQUIRED_ACR,
            nonce=nonce,
            session_state=session.session_state,
            access_token=access_token,
            alg=self.signing_key.alg,
            extra={
                "jti": str(uuid.uuid4()),
                "typ": "ID",  # Keycloak's marker of an ID token
                "SubjectNameID": identity.national_id,
                "preferred_username": identity.national_id,
                "given_name": identity.given_name,
                "family_name": identity.family_name,
            },
        )
        tamper = self._tamper_for(identity)
        key = self.signing_key
        if tamper is IdTokenTamper.BAD_SIGNATURE:
            key = replace(self._impostor_key, kid=self.signing_key.kid)  # same kid, unpublished key
        elif tamper is IdTokenTamper.WRONG_ISSUER:
            claims["iss"] = self.base_url + FOREIGN_REALM_PATH
        elif tamper is IdTokenTamper.WRONG_AUDIENCE:
            claims["aud"] = "another-client"
        elif tamper is IdTokenTamper.EXPIRED:
            claims["iat"], claims["exp"] = int(now - 3600), int(now - 1800)
        elif tamper is IdTokenTamper.WRONG_ACR:
            claims["acr"] = "eidas0"
        return key.sign(claims)

    def _grant_access(
        self,
        client_id: str,
        session: PscSession,
        now: float,
        ttl_s: float,
        cert_x5t: str | None,
        *,
        bind: bool,
    ) -> tuple[str, str]:
        """Sign an access token of `session` for `client_id` and remember it (by jti); `bind` puts the
        certificate's thumbprint in `cnf` (RFC 8705), as PSC does for a client authenticated by mTLS."""
        claims = access_token_claims(
            self.issuer, client_id, session, now=now, ttl_s=ttl_s, cnf_x5t=cert_x5t if bind else None
        )
        jti = str(claims["jti"])
        access_token = self.signing_key.sign(claims)
        grant = AccessGrant(
            "access", client_id, session.session_state, session.scope, now, now + ttl_s, claims, cert_x5t
        )
        with self._lock:
            self._grants[jti] = grant
        return access_token, jti

    # -- userinfo, introspection, end-session -------------------------------------------------------

    def _bearer_grant(self, request: Request) -> AccessGrant | None:
        token = rfc6750.bearer_token(request.header("Authorization"))
        return None if token is None else self._active_access(token)

    def _access_grant(self, token: str) -> AccessGrant | None:
        """The access grant of a token this PSC signed, active or not; None for any other token."""
        try:
            claims = self.signing_key.verify(token, options=_SIGNATURE_ONLY)
        except Exception:  # any invalid token is simply not ours
            return None
        with self._lock:
            grant = self._grants.get(str(claims.get("jti")))
        return grant if grant is not None and grant.kind == "access" else None

    def _active_access(self, token: str) -> AccessGrant | None:
        grant = self._access_grant(token)
        with self._lock:
            session = self.sessions.get(grant.session_state) if grant else None
        if grant is None or grant.expires_at <= self.clock.now() or session is None or not session.active:
            return None
        return grant

    def _userinfo(self, request: Request) -> Response:
        # RFC 6750 §2.1 (header) and §2.2 (form body, as Keycloak accepts); never §2.3 (the query).
        token_in = rfc6750.bearer_token_location(
            request.header("Authorization"), request.form(), request.query
        )
        for token in (rfc6750.bearer_token(request.header("Authorization")), request.param("access_token")):
            request.concerns(*self._token_subjects(token))
        grant = self._bearer_grant(request)
        if grant is None and token_in == "body":
            grant = self._active_access(request.param("access_token") or "")
        if grant is None:
            self.observe(
                request,
                "userinfo.invalid_token",
                None,
                f"userinfo without a valid Bearer access token (token in: {token_in or 'nowhere'})",
                token_in=token_in,
            )
            return _invalid_token()
        presented = request.tls.peer_x5t_s256 if request.tls else None
        if grant.cnf_x5t is not None and presented != grant.cnf_x5t:
            self.observe(
                request,
                "userinfo.cnf_mismatch",
                grant.client_id,
                "certificate-bound access token presented with another certificate",
                token_in=token_in,
            )
            return _invalid_token()
        self.observe(request, "userinfo", grant.client_id, "userinfo served", token_in=token_in)
        return Response.json(self.sessions[grant.session_state].identity.userinfo())

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2 answer for a token; `SubjectNameID` only for access tokens (as PSC does)."""
        grant = self._active_access(token)
        if grant is not None:
            return rfc7662.active_answer(grant.claims, client_id=grant.client_id, token_type="Bearer")
        with self._lock:
            refresh = self._grants.get(token)
            session = self.sessions.get(refresh.session_state) if refresh else None
        if (
            refresh is None
            or refresh.kind != "refresh"
            or refresh.expires_at <= self.clock.now()
            or not (session and session.active)
        ):
            return rfc7662.inactive()
        refresh_claims = {
            "typ": "Refresh",
            "azp": refresh.client_id,
            "sub": session.identity.sub,
            "iss": self.issuer,
            "exp": int(refresh.expires_at),
            "iat": int(refresh.issued_at),
            "session_state": session.session_state,
            "scope": " ".join(refresh.scope),
        }
        return rfc7662.active_answer(refresh_claims, client_id=refresh.client_id)

    def _introspection(self, request: Request) -> Response:
        request.concerns(*self._token_subjects(request.param("token")))
        try:
            client = self._authenticate(request, "introspection")
        except _AuthFailure as failure:
            return failure.response
        parsed = rfc7662.parse_request(request.form(), request.query)
        for deviation in parsed.deviations:
            self.observe(
                request,
                f"introspection_request.{deviation.code}",
                client.client_id,
                deviation.detail,
                fatal=deviation.fatal,
            )
        if parsed.error is not None or parsed.token is None:
            return oauth_error(rfc7662.INVALID_REQUEST, "token is required")
        token = parsed.token
        answer = self.introspect(token)
        role = self.clients[client.client_id].role
        tls = request.tls
        self.observe(
            request,
            "introspection",
            client.client_id,
            f"introspection by {client.client_id} ({role})",
            role=role,
            client_role=role,
            active=answer["active"],
            token_kind=answer.get("typ", "Bearer") if answer["active"] else None,
            jti=answer.get("jti") if answer["active"] else None,
            method=client.method,
            certificate_subject=tls.peer_subject if tls else None,
            tls_version=tls.version if tls else None,
            token_sha256=hashlib.sha256(token.encode("utf-8")).hexdigest(),
        )
        return Response.json(answer, headers=NO_STORE)

    def _end_session(self, request: Request) -> Response:
        logout = oidc.parse_end_session({**request.query, **request.form()})
        hint = logout.id_token_hint
        request.concerns(*self._token_subjects(hint))
        tls = request.tls
        if not hint:
            self.observe(
                request,
                "logout.id_token_hint_missing",
                tls.peer_common_name if tls else None,
                "end-session without id_token_hint",
            )
            return Response.json(
                {"error": "invalid_request", "error_description": "id_token_hint is required"}, 400
            )
        try:
            claims = self.signing_key.verify(hint, options=_SIGNATURE_ONLY)
        except Exception:
            self.observe(
                request, "logout.id_token_hint_invalid", None, "end-session with an invalid id_token_hint"
            )
            return Response.json(
                {"error": "invalid_request", "error_description": "invalid id_token_hint"}, 400
            )
        session_state = str(claims.get("session_state"))
        with self._lock:
            session = self.sessions.get(session_state)
            if session is not None:
                session.active = False
        self.observe(
            request,
            "logout",
            str(claims.get("azp")),
            f"PSC session {session_state} ended",
            session_state=session_state,
            method=request.method,
            certificate_cn=tls.peer_common_name if tls else None,
        )
        redirect = logout.post_logout_redirect_uri
        if redirect:
            return _redirect(redirect, {"state": logout.state})
        return Response.text("logged out")


def access_token_claims(
    issuer: str,
    client_id: str,
    session: PscSession,
    *,
    now: float,
    ttl_s: float,
    cnf_x5t: str | None,
) -> dict[str, Any]:
    """The claims of a PSC access token (Keycloak-shaped, `SubjectNameID` = the national id), bound to a
    certificate by `cnf` when `cnf_x5t` is given."""
    identity = session.identity
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": identity.sub,
        "aud": [client_id],
        "azp": client_id,
        "typ": "Bearer",
        "exp": int(now + ttl_s),
        "iat": int(now),
        "jti": str(uuid.uuid4()),
        "session_state": session.session_state,
        "sid": session.session_state,
        "acr": REQUIRED_ACR,
        "scope": " ".join(session.scope),
        "name": f"{identity.given_name} {identity.family_name}",
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "preferred_username": identity.national_id,
        "SubjectNameID": identity.national_id,
        "email_verified": False,
    }
    if cnf_x5t:
        claims["cnf"] = {"x5t#S256": cnf_x5t}
    return claims


def _subjects(identity: TestIdentity) -> tuple[str, str]:
    """The two names of a professional a request may concern: national id and PSC `sub`."""
    return identity.national_id, identity.sub


def _invalid_token() -> Response:
    """RFC 6750 §3.1 answer of userinfo to a missing, invalid or unbound access token."""
    challenge = rfc6750.bearer_challenge(error=rfc6750.INVALID_TOKEN)
    return Response.json({"error": rfc6750.INVALID_TOKEN}, 401, {"WWW-Authenticate": challenge})


def _redirect(uri: str, params: Mapping[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(uri).query else "?"
    return Response(302, {"Location": f"{uri}{separator}{query}"})
