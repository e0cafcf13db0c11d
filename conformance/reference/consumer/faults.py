"""Injectable defects of the reference Proxy e-Santé: how the harness proves that it catches them.

Each fault is a defect a real proxy could plausibly have. It is injected into one proxy instance by
replacing a *seam*: a small, named method of the proxy or of one of its components (PSC client,
token exchanger, sessions, traces, TLS identities), with the helpers of `injection.py` that the
allowed variants (`variants.py`) share. The proxy's own modules know nothing about faults.

`requirements` lists the requirement ids that a correct campaign must make fail for this defect
(a RECO or a `recommended` rule gives a warning instead), and nothing else. A few defects make
every /connect fail, because the authorization server refuses what the proxy sends. For these,
EDC-01 is listed too: a valid connect then returns no session. Scenarios that need a session
cannot reach their own checks.

The conformant behaviour each fault departs from is in the docstring of the seam it replaces.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import jwt
from jwt.types import Options

from conformance.errors import UsageError
from conformance.reference.consumer.exchange import ID_TOKEN_TYPE
from conformance.reference.consumer.injection import (
    Catalogue,
    change_client_contexts,
    change_exchange_form,
    change_server_context,
    replace_seam,
    seam,
)
from conformance.reference.consumer.proxy import COOKIE, ReferenceProxy, session_cookie
from conformance.reference.consumer.psc_client import PscTokens
from conformance.reference.consumer.sessions import Session
from conformance.reference.consumer.settings import ProxySettings
from conformance.reference.consumer.upstream import UpstreamRefusal, UpstreamUnavailable, call
from conformance.reference.https import Request, Response, allow_legacy_versions
from conformance.reference.registry import Fault
from conformance.roles import Role

# -- helpers ----------------------------------------------------------------------------------------


def _basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-encoded, then Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _secret(proxy: ReferenceProxy, client_id: str) -> str:
    secret = proxy.settings.clients[client_id].secret
    if not secret:
        raise UsageError(f"counterparts.json gives no secret for client {client_id!r}; this fault needs one")
    return secret


def _without_cookie(request: Request) -> Request:
    headers = http.client.HTTPMessage()
    for name, value in request.headers.items():
        if name.lower() != "cookie":
            headers[name] = value
    return replace(request, headers=headers)


def _with_cookie(request: Request, session_id: str) -> Request:
    stripped = _without_cookie(request)
    stripped.headers["Cookie"] = f"{COOKIE}={session_id}"
    return stripped


# -- PSC: CIBA ----------------------------------------------------------------------------------------


def _ciba_scope_openid_only(proxy: ReferenceProxy) -> None:
    original = seam(proxy.psc, "backchannel_form")

    def backchannel_form(
        client_id: str, national_id: str, binding_message: str, channel: str
    ) -> dict[str, str]:
        return {**original(client_id, national_id, binding_message, channel), "scope": "openid"}

    replace_seam(proxy.psc, "backchannel_form", backchannel_form)


def _ciba_without_acr_values(proxy: ReferenceProxy) -> None:
    original = seam(proxy.psc, "backchannel_form")

    def backchannel_form(
        client_id: str, national_id: str, binding_message: str, channel: str
    ) -> dict[str, str]:
        form = original(client_id, national_id, binding_message, channel)
        form.pop("acr_values", None)
        return form

    replace_seam(proxy.psc, "backchannel_form", backchannel_form)


FIXED_POLL_PERIOD_S = 0.05


def _ciba_poll_ignores_interval(proxy: ReferenceProxy) -> None:
    def poll_delay(interval: float) -> float:
        return FIXED_POLL_PERIOD_S

    replace_seam(proxy.psc, "poll_delay", poll_delay)


def _ciba_with_proxy_certificate(proxy: ReferenceProxy) -> None:
    original = seam(proxy.psc, "authenticate")
    own = proxy.settings.proxy_client.client_id

    def authenticate(client_id: str, national_id: str, binding_message: str, channel: str) -> PscTokens:
        tokens: PscTokens = original(own, national_id, binding_message, channel)
        return tokens

    replace_seam(proxy.psc, "authenticate", authenticate)


def _psc_client_secret_basic(proxy: ReferenceProxy) -> None:
    secrets = {cid: _secret(proxy, cid) for cid in proxy.settings.clients}

    def auth_headers(client_id: str) -> dict[str, str]:
        return {"Authorization": _basic(client_id, secrets[client_id])}

    replace_seam(proxy.psc, "auth_headers", auth_headers)


def _psc_client_credentials_grant(proxy: ReferenceProxy) -> None:
    original = seam(proxy.psc, "authenticate")

    def authenticate(client_id: str, national_id: str, binding_message: str, channel: str) -> PscTokens:
        # A "registration check" before CIBA; its refusal is ignored.
        call(
            proxy.identities.http(client_id),
            "POST",
            proxy.psc.discovery()["token_endpoint"],
            data={"grant_type": "client_credentials", "client_id": client_id},
        )
        tokens: PscTokens = original(client_id, national_id, binding_message, channel)
        return tokens

    replace_seam(proxy.psc, "authenticate", authenticate)


def _userinfo_token_in_query(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "open_session")

    def open_session(client_id: str, national_id: str, binding_message: str, channel: str) -> Session:
        session: Session = original(client_id, national_id, binding_message, channel)
        with contextlib.suppress(UpstreamUnavailable):  # best effort: the profile is only informative
            call(
                proxy.identities.http(session.identity),
                "GET",
                proxy.psc.discovery()["userinfo_endpoint"],
                params={"access_token": session.psc.access_token},
            )
        return session

    replace_seam(proxy, "open_session", open_session)


# -- PSC: tokens ----------------------------------------------------------------------------------------


def _id_token_signature_not_checked(proxy: ReferenceProxy) -> None:
    original = seam(proxy.psc, "id_token_checks")

    def id_token_checks() -> Options:
        checks: Options = original()
        checks["verify_signature"] = False
        # Said explicitly, since PyJWT turns every other check off with the signature.
        checks["verify_exp"] = checks["verify_iat"] = checks["verify_iss"] = checks["verify_aud"] = True
        return checks

    replace_seam(proxy.psc, "id_token_checks", id_token_checks)


def _id_token_claims_not_checked(proxy: ReferenceProxy) -> None:
    def id_token_checks() -> Options:
        return {"verify_exp": False, "verify_iat": False, "verify_iss": False, "verify_aud": False}

    replace_seam(proxy.psc, "id_token_checks", id_token_checks)


def _id_token_acr_not_checked(proxy: ReferenceProxy) -> None:
    def check_acr(claims: dict[str, Any]) -> None:
        return None

    replace_seam(proxy.psc, "check_acr", check_acr)


def _introspection_with_lps_certificate(proxy: ReferenceProxy) -> None:
    def introspection_client(obtained_by: str) -> str:
        return obtained_by

    replace_seam(proxy.psc, "introspection_client", introspection_client)


def _trace_sub_as_idrpps(proxy: ReferenceProxy) -> None:
    def professional_id(tokens: PscTokens, introspection: dict[str, Any]) -> str:
        return str(tokens.claims.get("sub", ""))

    replace_seam(proxy, "professional_id", professional_id)


def _no_refresh_retry_on_invalid_grant(proxy: ReferenceProxy) -> None:
    def retry_after_refresh(refusal: UpstreamRefusal) -> bool:
        return False

    replace_seam(proxy, "retry_after_refresh", retry_after_refresh)


KEEP_ALIVE_PERIOD_S = 0.1


def _refresh_while_idle(proxy: ReferenceProxy) -> None:
    """A keep-alive thread that refreshes every session's PSC tokens, whether the LPS is active or not."""
    stopping = threading.Event()

    def keep_alive() -> None:
        while not stopping.wait(KEEP_ALIVE_PERIOD_S):
            for session in proxy.sessions.live():
                with (
                    session.lock,
                    contextlib.suppress(UpstreamRefusal, UpstreamUnavailable, jwt.InvalidTokenError),
                ):
                    proxy.refresh_psc_if_needed(session)

    original_stop = seam(proxy, "stop")

    def stop() -> None:
        stopping.set()
        original_stop()

    replace_seam(proxy, "stop", stop)
    threading.Thread(target=keep_alive, name="psc-keep-alive", daemon=True).start()


# -- API Conformité -----------------------------------------------------------------------------------


def _no_replay_304(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "connect")

    def connect(request: Request) -> Response:
        response: Response = original(_without_cookie(request))  # the cookie is never looked at
        return response

    replace_seam(proxy, "connect", connect)


def _error_descriptor_as_text(proxy: ReferenceProxy) -> None:
    def bad_connect_request(message: str, metadata: dict[str, Any]) -> Response:
        return Response.text(message, 400)

    replace_seam(proxy, "bad_connect_request", bad_connect_request)


def _unknown_client_as_500(proxy: ReferenceProxy) -> None:
    def unknown_client(metadata: dict[str, Any]) -> Response:
        return Response.text("Internal Server Error", 500)

    replace_seam(proxy, "unknown_client", unknown_client)


def _connect_leaks_psc_tokens(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "session_view")

    def session_view(session: Session) -> dict[str, str]:
        return {**original(session), "access_token": session.psc.access_token}

    replace_seam(proxy, "session_view", session_view)


def _session_state_not_from_psc(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "session_view")

    def session_view(session: Session) -> dict[str, str]:
        return {**original(session), "session_state": session.id}

    replace_seam(proxy, "session_view", session_view)


def _persistent_session_cookie(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "cookie")

    def cookie(session_id: str) -> str:
        return f"{original(session_id)}; Max-Age=86400"

    replace_seam(proxy, "cookie", cookie)


def _send_without_session_check(proxy: ReferenceProxy) -> None:
    """A "current session" remembered at each connect serves the /send calls that bring none."""
    current: list[Session] = []
    original_add = seam(proxy.sessions, "add")
    original_send = seam(proxy, "send")

    def add(session: Session) -> None:
        original_add(session)
        current[:] = [session]

    def send(request: Request) -> Response:
        if proxy.sessions.alive(session_cookie(request)) is None and current:
            request = _with_cookie(request, current[0].id)
        response: Response = original_send(request)
        return response

    replace_seam(proxy.sessions, "add", add)
    replace_seam(proxy, "send", send)


def _send_wraps_api_answer(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "forward")

    def forward(session: Session, api_name: str, token: str, request: Request, endpoint: str) -> Response:
        answer: Response = original(session, api_name, token, request, endpoint)
        try:
            body: Any = json.loads(answer.body or b"null")
        except ValueError:
            body = answer.body.decode("utf-8", errors="replace")
        return Response.json({"status": answer.status, "body": body}, answer.status)

    replace_seam(proxy, "forward", forward)


def _send_forwards_lps_cookie(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "forwarded_headers")

    def forwarded_headers(request: Request) -> dict[str, str]:
        headers: dict[str, str] = original(request)
        cookie = request.header("Cookie")
        if cookie:
            headers["Cookie"] = cookie
        return headers

    replace_seam(proxy, "forwarded_headers", forwarded_headers)


def _exchange_requires_refresh_token(proxy: ReferenceProxy) -> None:
    original = seam(proxy.exchanger, "api_token")

    def api_token(body: dict[str, Any]) -> Any:
        if "refresh_token" not in body or "refresh_expires_in" not in body:
            # What a client bound to Keycloak's answer shape does: dereference a field RFC 8693 leaves out.
            raise UpstreamUnavailable("token exchange answer without refresh_token: NullPointerException")
        return original(body)

    replace_seam(proxy.exchanger, "api_token", api_token)


def _upstream_5xx_as_200(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "forward")

    def forward(session: Session, api_name: str, token: str, request: Request, endpoint: str) -> Response:
        try:
            answer: Response = original(session, api_name, token, request, endpoint)
        except UpstreamUnavailable as exc:
            return Response.json({"error": f"API {api_name} unavailable: {exc}"}, 200)
        return answer

    replace_seam(proxy, "forward", forward)


def _disconnect_without_psc_logout(proxy: ReferenceProxy) -> None:
    def end_psc_session(session: Session) -> None:
        session.api_tokens.clear()

    replace_seam(proxy, "end_psc_session", end_psc_session)


def _logout_without_id_token_hint(proxy: ReferenceProxy) -> None:
    def end_session_params(client_id: str, tokens: PscTokens) -> dict[str, str]:
        return {"client_id": client_id}

    replace_seam(proxy.psc, "end_session_params", end_session_params)


def _disconnect_keeps_session(proxy: ReferenceProxy) -> None:
    def remove(session_id: str) -> Session | None:
        return proxy.sessions.alive(session_id)  # looked up, never forgotten

    def end_psc_session(session: Session) -> None:
        proxy.psc.end_session(session.identity, session.psc)  # the API tokens are kept

    replace_seam(proxy.sessions, "remove", remove)
    replace_seam(proxy, "end_psc_session", end_psc_session)


def _disconnect_idempotent_200(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "disconnect")

    def disconnect(request: Request) -> Response:
        if proxy.sessions.alive(session_cookie(request)) is None:
            return Response(200, {"Set-Cookie": f"{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly"})
        response: Response = original(request)
        return response

    replace_seam(proxy, "disconnect", disconnect)


def _idle_timeout_ignored(proxy: ReferenceProxy) -> None:
    store = proxy.sessions

    def expired(session: Session, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - session.created_at > store.session_timeout_s  # age only, idleness ignored

    replace_seam(store, "expired", expired)


def _idle_logout_at_psc(proxy: ReferenceProxy) -> None:
    def on_expiry(session: Session) -> None:
        with contextlib.suppress(UpstreamUnavailable):
            proxy.end_psc_session(session)

    replace_seam(proxy.sessions, "on_expiry", on_expiry)


def _traces_without_send(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "trace")

    def trace(event: str, session: Session, ip: str, api_request: dict[str, str] | None = None) -> None:
        if event != "SEND":
            original(event, session, ip, api_request)

    replace_seam(proxy, "trace", trace)


def _trace_without_dn(proxy: ReferenceProxy) -> None:
    original = seam(proxy.traces, "record")

    def record(event: str, **fields: Any) -> None:
        original(event, **{**fields, "dn": None})

    replace_seam(proxy.traces, "record", record)


# -- token exchange and business call ---------------------------------------------------------------


def _exchange_wrong_grant_type(proxy: ReferenceProxy) -> None:
    jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    change_exchange_form(proxy, lambda form: form.update(grant_type=jwt_bearer))


def _exchange_without_scope(proxy: ReferenceProxy) -> None:
    def drop_scope(form: dict[str, str]) -> None:
        form.pop("scope", None)

    change_exchange_form(proxy, drop_scope)


def _exchange_wrong_subject_token_type(proxy: ReferenceProxy) -> None:
    change_exchange_form(proxy, lambda form: form.update(subject_token_type=ID_TOKEN_TYPE))


def _exchange_basic_auth(proxy: ReferenceProxy) -> None:
    secrets = {cid: _secret(proxy, cid) for cid in proxy.settings.lps_clients}
    original = seam(proxy.exchanger, "headers")

    def headers(client_id: str) -> dict[str, str]:
        return {**original(client_id), "Authorization": _basic(client_id, secrets[client_id])}

    replace_seam(proxy.exchanger, "headers", headers)


def _exchange_id_token_as_subject(proxy: ReferenceProxy) -> None:
    def subject_token(tokens: PscTokens) -> str:
        return tokens.id_token

    replace_seam(proxy, "subject_token", subject_token)


def _business_call_with_proxy_certificate(proxy: ReferenceProxy) -> None:
    own = proxy.settings.proxy_client.client_id

    def forwarding_identity(session: Session) -> str:
        return own

    replace_seam(proxy, "forwarding_identity", forwarding_identity)


def _bearer_scheme_missing(proxy: ReferenceProxy) -> None:
    def authorization(api_token: str) -> str:
        return f"Token {api_token}"

    replace_seam(proxy, "authorization", authorization)


def _single_certificate_for_all_lps(proxy: ReferenceProxy) -> None:
    first = next(iter(proxy.settings.lps_clients))

    def upstream_identity(client_id: str) -> str:
        return first

    replace_seam(proxy, "upstream_identity", upstream_identity)


# -- TLS ------------------------------------------------------------------------------------------------


def _no_tls_1_3(context: ssl.SSLContext) -> None:
    context.maximum_version = ssl.TLSVersion.TLSv1_2


def _no_verification(context: ssl.SSLContext) -> None:
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE


def _upstream_tls_1_1_accepted(proxy: ReferenceProxy) -> None:
    change_client_contexts(proxy, allow_legacy_versions)


def _upstream_certificate_not_verified(proxy: ReferenceProxy) -> None:
    change_client_contexts(proxy, _no_verification)


def _api_conformite_accepts_tls_1_1(proxy: ReferenceProxy) -> None:
    change_server_context(proxy, allow_legacy_versions)


def _tls_1_3_disabled(proxy: ReferenceProxy) -> None:
    change_client_contexts(proxy, _no_tls_1_3)
    change_server_context(proxy, _no_tls_1_3)


# -- the catalogue ---------------------------------------------------------------------------------------

_CATALOGUE = (
    # PSC: CIBA
    Fault(
        "ciba_scope_openid_only",
        ("EXI PSC 17",),
        "The CIBA request asks for scope=openid only, without scope_all.",
        _ciba_scope_openid_only,
    ),
    Fault(
        "ciba_without_acr_values",
        ("EXI PSC 16",),
        "The CIBA request carries no acr_values (eidas1 is required).",
        _ciba_without_acr_values,
    ),
    Fault(
        "ciba_poll_ignores_interval",
        ("EXI PSC 09",),
        f"CIBA polls every {FIXED_POLL_PERIOD_S:g} s, whatever interval PSC gives and after slow_down.",
        _ciba_poll_ignores_interval,
    ),
    Fault(
        "ciba_with_proxy_certificate",
        ("EDC-12", "EDC-01"),
        "CIBA for an LPS is done with the proxy's own client id and certificate; the token "
        "exchange with the LPS's certificate is then refused, so no connect succeeds.",
        _ciba_with_proxy_certificate,
    ),
    Fault(
        "psc_client_secret_basic",
        ("EXI PSC 24",),
        "Authenticates to PSC with client_secret_basic (Authorization: Basic and the client secret) "
        "instead of tls_client_auth.",
        _psc_client_secret_basic,
    ),
    Fault(
        "psc_client_credentials_grant",
        ("EXI PSC 10",),
        "Before each CIBA, checks its PSC registration with a client_credentials grant, a flow PSC "
        "does not offer (the refusal is ignored).",
        _psc_client_credentials_grant,
    ),
    Fault(
        "userinfo_token_in_query",
        ("EXI PSC 15",),
        "After the CIBA, reads userinfo with the access token in the query string instead of an "
        "Authorization: Bearer header (the refusal is ignored).",
        _userinfo_token_in_query,
    ),
    # PSC: tokens
    Fault(
        "id_token_signature_not_checked",
        ("EXI PSC 09",),
        "The ID token's signature is not verified (its claims still are).",
        _id_token_signature_not_checked,
    ),
    Fault(
        "id_token_claims_not_checked",
        ("EXI PSC 09",),
        "The ID token's iss, aud and exp are not checked (its signature still is).",
        _id_token_claims_not_checked,
    ),
    Fault(
        "id_token_acr_not_checked",
        ("EXI PSC 16",),
        "An ID token whose acr is not eidas1 is accepted.",
        _id_token_acr_not_checked,
    ),
    Fault(
        "introspection_with_lps_certificate",
        ("EDC-15",),
        "PSC access tokens are introspected with the LPS's client id and certificate, not the proxy's.",
        _introspection_with_lps_certificate,
    ),
    Fault(
        "trace_sub_as_idrpps",
        ("EXI PSC 18", "EDC-11"),
        "The professional is identified, and traced as IdRPPS, by PSC's technical sub instead of "
        "SubjectNameID.",
        _trace_sub_as_idrpps,
    ),
    Fault(
        "refresh_while_idle",
        ("EXI PSC 11",),
        "A background thread refreshes the PSC tokens of every session when they near expiry, "
        "whether the LPS is active or not.",
        _refresh_while_idle,
    ),
    Fault(
        "no_refresh_retry_on_invalid_grant",
        ("IG-SEC-16",),
        "When the authorization server refuses an expired PSC token (invalid_grant), the proxy answers "
        "401 instead of refreshing the PSC token and exchanging again.",
        _no_refresh_retry_on_invalid_grant,
    ),
    # API Conformité
    Fault(
        "session_state_not_from_psc",
        ("EDC-01",),
        "The connect answer gives the proxy's own session id as session_state, not PSC's.",
        _session_state_not_from_psc,
    ),
    Fault(
        "no_replay_304",
        ("EDC-02",),
        "/connect ignores the session cookie: a live session gets a new CIBA and a new session, not a 304.",
        _no_replay_304,
    ),
    Fault(
        "error_descriptor_as_text",
        ("EDC-03", "EDC-16"),
        "An invalid /connect is answered 400 in text/plain, without the JSON error descriptor.",
        _error_descriptor_as_text,
    ),
    Fault(
        "unknown_client_as_500",
        ("EDC-04",),
        "An unknown clientId is not looked up before use: the failed lookup surfaces as a bare 500 "
        "instead of a 404 descriptor.",
        _unknown_client_as_500,
    ),
    Fault(
        "send_without_session_check",
        # EDC-08 too: a /send with the cookie of a disconnected session is relayed under another live one.
        ("EDC-05", "EDC-08"),
        "/send without a valid session cookie is forwarded with the session of the latest connect.",
        _send_without_session_check,
    ),
    Fault(
        "send_wraps_api_answer",
        ("EDC-06",),
        "/send returns the API's answer wrapped in an envelope {status, body} instead of unchanged.",
        _send_wraps_api_answer,
    ),
    Fault(
        "send_forwards_lps_cookie",
        ("EDC-06",),
        "/send forwards the LPS's Cookie header (the proxy session cookie) to the API along with the "
        "call (a warning: the project's reading, no source forbids it in so many words).",
        _send_forwards_lps_cookie,
    ),
    Fault(
        "exchange_requires_refresh_token",
        ("IG-SEC-05",),
        "The token exchange fails when the authorization server's answer has no refresh_token, which "
        "RFC 8693 §2.2.1 makes optional (a warning: the trust space's Keycloak always sends one).",
        _exchange_requires_refresh_token,
    ),
    Fault(
        "upstream_5xx_as_200",
        ("EDC-07",),
        "When the API fails or cannot be reached, /send answers 200 with an error message instead of "
        "502, 503 or 504.",
        _upstream_5xx_as_200,
    ),
    Fault(
        "disconnect_keeps_session",
        ("EXI PSC 20", "EDC-08", "EDC-09"),
        "/disconnect ends the PSC session and answers 200, but the proxy session and its API tokens "
        "stay usable.",
        _disconnect_keeps_session,
    ),
    Fault(
        "disconnect_idempotent_200",
        ("EDC-09",),
        "/disconnect without a valid session answers 200 instead of 401.",
        _disconnect_idempotent_200,
    ),
    Fault(
        "disconnect_without_psc_logout",
        ("EXI PSC 20",),
        "/disconnect forgets the proxy session without calling PSC's end-session endpoint.",
        _disconnect_without_psc_logout,
    ),
    Fault(
        "logout_without_id_token_hint",
        ("EXI PSC 20",),
        "PSC's end-session endpoint is called without id_token_hint, so PSC cannot end the session.",
        _logout_without_id_token_hint,
    ),
    Fault(
        "idle_timeout_ignored",
        ("EXI PSC 32",),
        "Sessions end only with their maximum age: an idle session stays usable.",
        _idle_timeout_ignored,
    ),
    Fault(
        "idle_logout_at_psc",
        ("EXI PSC 32",),
        "When a session expires for idleness, the proxy also ends the professional's PSC session.",
        _idle_logout_at_psc,
    ),
    Fault(
        "persistent_session_cookie",
        ("RECO PSC 06",),
        "The session cookie is persistent (Max-Age=86400), so it outlives the LPS.",
        _persistent_session_cookie,
    ),
    Fault(
        "traces_without_send",
        ("EDC-10",),
        "SEND events are not traced.",
        _traces_without_send,
    ),
    Fault(
        "trace_without_dn",
        ("EDC-11", "EDC-16"),
        "Trace records carry dn: null instead of the subject of the certificate used, also for the "
        "sessions of an LPS whose certificate the proxy presents at PSC (EDC-11); EDC-16 is a warning: only "
        "the project's document makes dn a required string.",
        _trace_without_dn,
    ),
    Fault(
        "connect_leaks_psc_tokens",
        ("IG-SEC-20",),
        "The connect answer hands the PSC access token to the LPS.",
        _connect_leaks_psc_tokens,
    ),
    # Token exchange and business call
    Fault(
        "exchange_wrong_grant_type",
        ("IG-SEC-05", "EDC-01"),
        "The token exchange is sent with the JWT-bearer grant type (RFC 7523) instead of token-exchange; "
        "the authorization server refuses it, so no connect succeeds.",
        _exchange_wrong_grant_type,
    ),
    Fault(
        "exchange_id_token_as_subject",
        ("IG-SEC-06", "EDC-01"),
        "The token exchange presents the PSC ID token as subject_token; the authorization server "
        "refuses it, so no connect succeeds.",
        _exchange_id_token_as_subject,
    ),
    Fault(
        "exchange_wrong_subject_token_type",
        ("IG-SEC-07", "EDC-01"),
        "The token exchange declares subject_token_type …:token-type:id_token; the authorization "
        "server refuses it, so no connect succeeds.",
        _exchange_wrong_subject_token_type,
    ),
    Fault(
        "exchange_without_scope",
        ("IG-SEC-08",),
        "The token exchange carries no scope.",
        _exchange_without_scope,
    ),
    Fault(
        "exchange_basic_auth",
        ("IG-SEC-09",),
        "The token exchange adds Authorization: Basic with the LPS's client secret to the mTLS "
        "authentication.",
        _exchange_basic_auth,
    ),
    Fault(
        "business_call_with_proxy_certificate",
        ("IG-SEC-10", "EDC-13"),
        "The business call is made with the proxy's certificate, not the LPS's one used for the "
        "token exchange.",
        _business_call_with_proxy_certificate,
    ),
    Fault(
        "bearer_scheme_missing",
        ("IG-SEC-12",),
        "The business call sends the API token as Authorization: Token … instead of Bearer.",
        _bearer_scheme_missing,
    ),
    Fault(
        "single_certificate_for_all_lps",
        ("EDC-12", "EDC-13", "EDC-14"),
        "Every LPS's session uses LPS 1's client id and certificate at PSC, the authorization server "
        "and the API.",
        _single_certificate_for_all_lps,
    ),
    # TLS
    Fault(
        "upstream_tls_1_1_accepted",
        ("IG-SEC-03", "EXI PSC 24"),
        "The proxy's client side accepts TLS 1.0 and 1.1 (security level 0): it talks to a PSC that "
        "offers nothing newer.",
        _upstream_tls_1_1_accepted,
    ),
    Fault(
        "upstream_certificate_not_verified",
        ("EXI PSC 24", "IG-SEC-04"),
        "The proxy does not verify the server certificates of PSC, the authorization server and the "
        "API (no chain, no host name check).",
        _upstream_certificate_not_verified,
    ),
    Fault(
        "api_conformite_accepts_tls_1_1",
        ("IG-SEC-03",),
        "The API Conformité's own endpoint accepts TLS 1.0 and 1.1.",
        _api_conformite_accepts_tls_1_1,
    ),
    Fault(
        "tls_1_3_disabled",
        ("IG-SEC-02",),
        "TLS 1.3 is disabled, upstream and on the API Conformité's endpoint: every hop uses TLS 1.2.",
        _tls_1_3_disabled,
    ),
)

FAULT_CATALOGUE: Catalogue[Fault] = Catalogue("fault", _CATALOGUE)
FAULTS: dict[str, Fault] = FAULT_CATALOGUE.entries


def faults_for_role(role: Role | str) -> list[Fault]:
    """The faults of the reference SUT of `role`, in catalogue order."""
    return FAULT_CATALOGUE.for_role(role)


def check_fault_names(names: Iterable[str], role: Role | str = Role.CONSUMER) -> list[str]:
    """The names, without repeats; an unknown one is a UsageError naming the known ones."""
    return FAULT_CATALOGUE.check_names(names, role)


def apply_faults(proxy: ReferenceProxy, names: Sequence[str]) -> None:
    """Inject the named faults into `proxy`, before or after it starts; all names are checked first."""
    FAULT_CATALOGUE.apply(proxy, names, Role.CONSUMER)


def proxy_with_faults(settings: ProxySettings, extra: Sequence[str] = ()) -> ReferenceProxy:
    """A reference proxy (not started) with the faults of its settings and `extra` injected."""
    names = check_fault_names([*settings.faults, *extra])
    proxy = ReferenceProxy(settings)
    apply_faults(proxy, names)
    return proxy


__all__ = [
    "FAULTS",
    "FAULT_CATALOGUE",
    "Fault",
    "apply_faults",
    "check_fault_names",
    "faults_for_role",
    "proxy_with_faults",
]
