"""The reference Proxy e-Santé: the API Conformité over HTTPS, in front of PSC and the API PSC.

POST /connect        CIBA at PSC for the LPS named by clientId, with that LPS's certificate; ID token
                     validated; access token introspected with the proxy's own certificate; token
                     exchange at every API with the LPS's certificate; a session cookie.
/send/<api>/<path>   the LPS's request forwarded with the session's API token (Bearer) over mTLS
                     with the session's LPS certificate.
DELETE /disconnect   PSC end-session with id_token_hint, then the session is forgotten.
GET /traces          what happened, for the conformance process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import ssl
import threading
import time
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from conformance.reference.consumer.exchange import ApiToken, TokenExchanger
from conformance.reference.consumer.psc_client import PscClient, PscTokens
from conformance.reference.consumer.sessions import Session, SessionStore
from conformance.reference.consumer.settings import ProxySettings
from conformance.reference.consumer.traces import TraceLog
from conformance.reference.consumer.upstream import Identities, UpstreamRefusal, UpstreamUnavailable, call
from conformance.reference.https import HttpsListener, Request, Response

COOKIE = "proxy_session_id"
MAX_BODY_BYTES = 16 * 1024 * 1024  # what the LPS may send through /send
CHANNELS = ("CARD", "MOBILE")
_FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Accept-Language")
_FORWARDED_RESPONSE_HEADERS = ("Content-Type",)

# The wording of the proxy's own error messages, by key; `ReferenceProxy.wording` fills them in.
MESSAGES = {
    "method_not_allowed": "method {method} not allowed on {path}",
    "no_such_endpoint": "no such endpoint: {path}",
    "body_not_object": "The request body must be a JSON object.",
    "missing_fields": "Missing or invalid field(s): {fields}.",
    "bad_channel": "channel must be CARD or MOBILE.",
    "bad_binding_message": "bindingMessage must be two digits (00-99).",
    "unknown_client": "User National ID or Software Client ID Not Found.",
    "no_session": "No session found.",
    "unknown_api": "Unknown API {api!r}.",
    "api_unavailable": "API {api} unavailable: {detail}",
    "session_not_found": "Session ID not found.",
    "bad_trace_bounds": "start (required) and end must be ISO 8601 date-times.",
    "id_token_rejected": "PSC ID token rejected: {detail}",
    "refused": "{detail}",
}


def descriptor(
    status: int, message: str, metadata: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The API Conformité's error descriptor `{code, message, metadata}`."""
    body: dict[str, Any] = {"code": str(status), "message": message}
    if metadata is not None:
        body["metadata"] = metadata
    return Response.json(body, status, headers)


class CannotListen(Exception):
    """The proxy's address cannot be bound (in use, or not this host's)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({cause.strerror or cause})")


class ReferenceProxy:
    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self.identities = Identities(settings)
        self.psc = PscClient(settings, self.identities)
        self.exchanger = TokenExchanger(self.identities)
        self.sessions = SessionStore(settings.idle_timeout_s, settings.session_timeout_s)
        self.traces = TraceLog()
        context = self.server_context()  # OSError: the certificate or key cannot be loaded
        try:
            self.server = HttpsListener(
                "reference-proxy",
                context,
                settings.host,
                settings.port,
                max_body=MAX_BODY_BYTES,
                keep_alive=True,
                malformed=lambda status, message: self.descriptor(status, message),
            )
        except OSError as exc:
            raise CannotListen(settings.host, settings.port, exc) from exc
        self.server.app = self
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="session-reaper", daemon=True)

    def server_context(self) -> ssl.SSLContext:
        """The API Conformité's own endpoint: TLS 1.2 at least; the LPS presents no certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.settings.server_cert, self.settings.server_key)
        return context

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> ReferenceProxy:
        self.server.start()
        self._reaper.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.stop()
        self.identities.close()

    def __enter__(self) -> ReferenceProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def _reap(self) -> None:
        period = max(0.05, min(1.0, self.settings.idle_timeout_s / 4))
        while not self._stopping.wait(period):
            self.sessions.reap()

    # -- dispatch ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path, method = request.path, request.method.upper()
        if path.startswith("/send/"):
            return self.send(request)
        routes = {
            ("POST", "/connect"): self.connect,
            ("DELETE", "/disconnect"): self.disconnect,
            ("GET", "/traces"): self.list_traces,
            ("GET", "/check/alive"): self.alive,
        }
        handler = routes.get((method, path))
        if handler is not None:
            return handler(request)
        if any(p == path for _, p in routes):
            return self.descriptor(405, self.wording("method_not_allowed", method=method, path=path))
        return self.descriptor(404, self.wording("no_such_endpoint", path=path))

    def alive(self, request: Request) -> Response:
        return Response.text("OK")

    # -- what the LPS reads --------------------------------------------------------------------------

    def wording(self, key: str, **values: object) -> str:
        """The proxy's own error messages, in English (the contract fixes no wording): `MESSAGES`."""
        return MESSAGES[key].format(**values)

    def internal_error(self, exc: Exception) -> Response:
        """500 as an error descriptor, never the exception's text."""
        return self.descriptor(500, "internal error")

    def descriptor(self, status: int, message: str, metadata: dict[str, Any] | None = None) -> Response:
        """The error descriptor `{code, message, metadata}`; metadata, when given, has both members."""
        return descriptor(status, message, metadata)

    def caller_ip(self, request: Request) -> str:
        """The LPS's address as traced: the first X-Forwarded-For value, else the peer's, in dotted form."""
        return caller_ip(request)

    # -- connect -----------------------------------------------------------------------------------

    def connect(self, request: Request) -> Response:
        ip = self.caller_ip(request)
        replay = self.sessions.alive(session_cookie(request))
        if replay is not None:
            self.sessions.touch(replay)
            self.trace("CONNECT_REPLAY", replay, ip)
            return Response(304)
        try:
            body = request.json()
        except ValueError:
            body = None
        fields = ("nationalId", "bindingMessage", "clientId", "channel")
        if not isinstance(body, dict):
            return self.bad_connect_request(
                self.wording("body_not_object"), {"nationalId": None, "clientId": None}
            )
        metadata = self.echoed_metadata(body)
        missing = [f for f in fields if not isinstance(body.get(f), str) or not body[f]]
        if missing:
            message = self.wording("missing_fields", fields=", ".join(missing))
            return self.bad_connect_request(message, metadata)
        if body["channel"] not in CHANNELS:
            return self.bad_connect_request(self.wording("bad_channel"), metadata)
        if not self.binding_message_accepted(body["bindingMessage"]):
            return self.bad_connect_request(self.wording("bad_binding_message"), metadata)
        client_id = body["clientId"]
        if client_id not in self.settings.lps_clients:
            return self.unknown_client(metadata)
        try:
            session = self.open_session(
                client_id, body["nationalId"], body["bindingMessage"], body["channel"]
            )
        except (UpstreamRefusal, UpstreamUnavailable, jwt.InvalidTokenError) as failure:
            self.traces.record(
                "CONNECT_FAILURE",
                client_id=client_id,
                national_id=body["nationalId"],
                ip_address=ip,
                session_id=None,
                session_state=None,
                dn=self.identities.subject(self.upstream_identity(client_id)),
            )
            return self.connect_failure(failure, metadata)
        self.sessions.add(session)
        self.trace("CONNECT_SUCCESS", session, ip)
        return Response.json(self.session_view(session), headers={"Set-Cookie": self.cookie(session.id)})

    def echoed_metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        """The caller's nationalId and clientId, echoed only when they are strings (else null)."""
        return {k: v if isinstance(v := body.get(k), str) else None for k in ("nationalId", "clientId")}

    def binding_message_accepted(self, binding_message: str) -> bool:
        """Two decimal digits, as the contract describes bindingMessage (00 to 99)."""
        return re.fullmatch(r"[0-9]{2}", binding_message) is not None

    def bad_connect_request(self, message: str, metadata: dict[str, Any]) -> Response:
        """400 with the API Conformité's error descriptor (EDC-03)."""
        return self.descriptor(400, message, metadata)

    def unknown_client(self, metadata: dict[str, Any]) -> Response:
        """404 with the descriptor the API Conformité defines for an unknown clientId (EDC-04)."""
        return self.descriptor(404, self.wording("unknown_client"), metadata)

    def connect_failure(self, failure: Exception, metadata: dict[str, Any]) -> Response:
        """PSC or an API refused (401 with the descriptor) or could not be reached (503, no body)."""
        if isinstance(failure, UpstreamUnavailable):
            return Response(503)
        if isinstance(failure, jwt.InvalidTokenError):
            return self.descriptor(401, self.wording("id_token_rejected", detail=failure), metadata)
        return self.descriptor(401, self.wording("refused", detail=failure), metadata)

    def open_session(self, client_id: str, national_id: str, binding_message: str, channel: str) -> Session:
        identity = self.upstream_identity(client_id)
        tokens = self.psc.authenticate(identity, national_id, binding_message, channel)
        introspection = self.psc.introspect(tokens.access_token, identity)
        if not introspection.get("active"):
            raise UpstreamRefusal(401, "invalid_token", "PSC access token is not active")
        api_tokens = self.initial_api_tokens(identity, tokens)
        return Session(
            client_id=client_id,
            identity=identity,
            national_id=self.professional_id(tokens, introspection),
            psc=tokens,
            api_tokens=api_tokens,
            certificate_dn=self.identities.subject(identity),
        )

    def initial_api_tokens(self, identity: str, tokens: PscTokens) -> dict[str, ApiToken]:
        """At connect, the token of every configured API (as the ANS example proxy does)."""
        return {
            name: self.exchanger.exchange(identity, api, self.subject_token(tokens))
            for name, api in self.settings.apis.items()
        }

    def upstream_identity(self, client_id: str) -> str:
        """The PSC client, and certificate, the proxy acts as for this LPS: the LPS's own (EDC-12, EDC-14)."""
        return client_id

    def professional_id(self, tokens: PscTokens, introspection: dict[str, Any]) -> str:
        """SubjectNameID (idNat_PS), never PSC's technical `sub`: the identifier traced (EXI PSC 18)."""
        return str(introspection.get("SubjectNameID") or tokens.claims.get("SubjectNameID") or "")

    def subject_token(self, tokens: PscTokens) -> str:
        """What the token exchange presents as subject_token: the PSC access token (IG-SEC-06)."""
        return tokens.access_token

    def session_view(self, session: Session) -> dict[str, str]:
        """The connect answer: the session's ids, never a token (IG-SEC-20)."""
        return {"proxy_session_id": session.id, "session_state": session.psc.session_state}

    def cookie(self, session_id: str) -> str:
        """A session cookie: no Expires/Max-Age, so it ends with the LPS (RECO PSC 06)."""
        return f"{COOKIE}={session_id}; {self.cookie_attributes()}"

    def cookie_attributes(self) -> str:
        """The attributes of the session cookie, and of the expired one /disconnect sends."""
        return "Path=/; Secure; HttpOnly; SameSite=Strict"

    # -- send --------------------------------------------------------------------------------------

    def send(self, request: Request) -> Response:
        session = self.sessions.alive(session_cookie(request))
        if session is None:
            return self.descriptor(401, self.wording("no_session"))
        _, _, rest = request.path.partition("/send/")
        api_name, _, endpoint = rest.partition("/")
        api = self.settings.apis.get(api_name)
        if api is None:
            return self.descriptor(404, self.wording("unknown_api", api=api_name))
        self.sessions.touch(session)
        try:
            with session.lock:
                self.refresh_on_activity(session)
                token = self.api_token(session, api_name)
            response = self.forward(session, api_name, token, request, endpoint)
        except UpstreamRefusal as refusal:
            return self.descriptor(401, self.wording("refused", detail=refusal))
        except UpstreamUnavailable as exc:
            status = 504 if exc.timeout else (502 if exc.status else 503)
            return self.descriptor(status, self.wording("api_unavailable", api=api_name, detail=exc))
        self.trace(
            "SEND",
            session,
            self.caller_ip(request),
            api_request=self.api_request(api_name, request.method.upper(), endpoint),
        )
        return response

    def api_request(self, api_name: str, method: str, endpoint: str) -> dict[str, str]:
        """The SEND record's apiRequest: the API's name, the method, the path below the API's base URL."""
        return {"nomApiPsc": api_name, "methode": method, "path": "/" + endpoint}

    def refresh_on_activity(self, session: Session) -> None:
        """Nothing on every /send: the PSC tokens are refreshed when a new exchange needs them (api_token)."""

    def api_token(self, session: Session, api_name: str) -> str:
        """A valid API token: exchanged again when expired, after refreshing the PSC token if needed."""
        token = session.api_tokens.get(api_name)
        if token is not None and token.expires_at > time.time() + 5:
            return token.access_token
        api = self.settings.apis[api_name]
        self.refresh_psc_if_needed(session)
        try:
            fresh = self.exchanger.exchange(session.identity, api, self.subject_token(session.psc))
        except UpstreamRefusal as refusal:
            if not self.retry_after_refresh(refusal):
                raise
            session.psc = self.psc.refresh(session.identity, session.psc)
            fresh = self.exchanger.exchange(session.identity, api, self.subject_token(session.psc))
        session.api_tokens[api_name] = fresh
        return fresh.access_token

    def retry_after_refresh(self, refusal: UpstreamRefusal) -> bool:
        """IG error case 1a: invalid_grant means the PSC token expired; refresh it, exchange again."""
        return refusal.error == "invalid_grant"

    def refresh_psc_if_needed(self, session: Session) -> None:
        """Only on the LPS's activity: never in the background (EXI PSC 11)."""
        if session.psc.expires_at - time.time() < self.settings.refresh_margin_s:
            session.psc = self.psc.refresh(session.identity, session.psc)

    def authorization(self, api_token: str) -> str:
        return f"Bearer {api_token}"

    def forwarding_identity(self, session: Session) -> str:
        """The certificate of the business call: the one of the session's token exchange (IG-SEC-10)."""
        return session.identity

    def forwarded_headers(self, request: Request) -> dict[str, str]:
        """What of the LPS's request headers reaches the API: content negotiation only. The LPS's
        cookie is the proxy's session credential; it stays between the LPS and the proxy."""
        return {h: v for h in _FORWARDED_REQUEST_HEADERS if (v := request.header(h))}

    def forward(
        self, session: Session, api_name: str, token: str, request: Request, endpoint: str
    ) -> Response:
        api = self.settings.apis[api_name]
        url = f"{api.base_url}/{endpoint}"
        query = {k: v for k, v in request.query.items()}
        if query:
            url += "?" + urlencode(query, doseq=True)
        headers = self.forwarded_headers(request)
        headers["Authorization"] = self.authorization(token)
        answer = call(
            self.identities.http(self.forwarding_identity(session)),
            request.method.upper(),
            url,
            headers=headers,
            content=request.body,
        )
        failure = self.api_failure(api_name, answer)
        if failure is not None:
            raise failure
        out_headers = {h: v for h in _FORWARDED_RESPONSE_HEADERS if (v := answer.headers.get(h))}
        return Response(answer.status_code, out_headers, answer.content)

    def api_failure(self, api_name: str, answer: httpx.Response) -> UpstreamUnavailable | None:
        """An API's 5xx is the API failing: answered 502 (EDC-07); anything else is relayed as it is."""
        if answer.status_code >= 500:
            return UpstreamUnavailable(f"{api_name} answered {answer.status_code}", status=answer.status_code)
        return None

    # -- disconnect --------------------------------------------------------------------------------

    def disconnect(self, request: Request) -> Response:
        session = self.sessions.alive(session_cookie(request))
        if session is None:
            return self.descriptor(401, self.wording("session_not_found"))
        self.sessions.remove(session.id)
        with contextlib.suppress(UpstreamUnavailable):  # over either way; PSC's own session expires by itself
            self.end_psc_session(session)
        self.trace("DISCONNECT", session, self.caller_ip(request))
        return Response(200, {"Set-Cookie": f"{COOKIE}=; Max-Age=0; {self.cookie_attributes()}"})

    def end_psc_session(self, session: Session) -> None:
        self.psc.end_session(session.identity, session.psc)
        session.api_tokens.clear()

    # -- traces ------------------------------------------------------------------------------------

    def list_traces(self, request: Request) -> Response:
        try:
            start = parse_instant(request.query.get("start", [""])[0])
            end_text = request.query.get("end", [""])[0]
            end = parse_instant(end_text) if end_text else dt.datetime.now(dt.UTC)
        except ValueError:
            return self.descriptor(400, self.wording("bad_trace_bounds"))
        return Response.json(self.traces.between(start, end))

    def trace(self, event: str, session: Session, ip: str, api_request: dict[str, str] | None = None) -> None:
        self.traces.record(
            event,
            client_id=session.client_id,
            national_id=session.national_id,
            ip_address=ip,
            session_id=session.id,
            session_state=session.psc.session_state,
            dn=session.certificate_dn,
            api_request=api_request,
        )


def session_cookie(request: Request) -> str | None:
    header = request.header("Cookie")
    if not header:
        return None
    try:
        cookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = cookie.get(COOKIE)
    return morsel.value if morsel else None


def caller_ip(request: Request) -> str:
    forwarded = request.header("X-Forwarded-For")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client_address[0]


def parse_instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


__all__ = ["COOKIE", "PscTokens", "ReferenceProxy", "descriptor"]
