"""Requêtes métier: the token exchange (IG 1.2.0 step 9), the business call (step 12), and /send.

What the SUT did upstream is read once here, from what the counterparts recorded:

- the API's authorization server parsed every token-exchange request with
  :func:`conformance.standards.rfc8693.parse_request` and recorded it
  (observation ``token_exchange.request``):
  RFC 8693 and the IG profile are judged from that parse, never re-parsed from the wire;
- PSC's token answers (observation ``token.issued`` and the answer's body) tell which PSC token is
  which (access, refresh, ID token) and for which professional;
- the API's recorded exchanges give each business call: certificate, headers, body, and its answer.

Exchanges are looked for *since the scenario began*, wherever they happened: a proxy that exchanges
at connect, and one that waits for the first /send, are both conformant. A scenario that needs an
exchange mints a professional the SUT never saw (`ConsumerBench.fresh_identity`), so that no token
cached by an earlier session lets it skip one; when none happened anyway, the exchange rules are
`inconclusive`, never failed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import jwt

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.evidence.calls import Call, exchange_of
from conformance.evidence.model import Exchange
from conformance.roles.consumer.conditions.answers import ConnectAnswer
from conformance.roles.consumer.conditions.transport import LinkTraffic
from conformance.standards import rfc8693

if TYPE_CHECKING:
    from conformance.roles.consumer.bench import ConsumerBench

UPSTREAM: Final = "OpenAPI API Conformité 1.0 (upstream)"
IG_STEP_9: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 9)"
IG_STEP_12: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 12)"
IG_ERRORS: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web_erreurs.html (cas 1a)"
IG_PROXY: Final = "IG Sécurisation transport 1.2.0, principes_securisation.html (définition des proxys)"
ANS_SLIDES: Final = "Présentation ANS du 29/09/2025 (outil de conformité), Prérequis: certificats 1 et 2"
EXCHANGED: Final = "the SUT sent a token-exchange request to the API's authorization server in the scenario"
GATEWAY_STATUSES: Final = (502, 503, 504)
SEND_5XX: Final = (500, 502, 503, 504)  # what the upstream /send lists among its answers
COOKIE: Final = "proxy_session_id"


# -- evidence --------------------------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def content(body: bytes) -> Any:
    """A body as meant: its JSON value when it is JSON (key order and spacing aside), else its bytes."""
    value = _json(body) if body else None
    return body if value is None else value


def _claims(token: str | None) -> dict[str, Any]:
    """The payload of a JWS read without verification: only to tell whose token it is."""
    if not token or token.count(".") != 2:
        return {}
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class PscGrant:
    """The tokens of one PSC token answer (a CIBA grant, or a refresh when `refreshed`)."""

    exchange_id: str
    at: float
    session_state: str
    client_id: str | None
    access_token: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    refreshed: bool = False

    @property
    def tokens(self) -> set[str]:
        return {t for t in (self.access_token, self.refresh_token, self.id_token) if t}

    @property
    def national_id(self) -> str | None:
        claims = _claims(self.access_token)
        value = claims.get("SubjectNameID") or claims.get("preferred_username")
        return str(value) if value else None

    def kind_of(self, token: str) -> str | None:
        kinds = {self.access_token: "PSC access token", self.refresh_token: "PSC refresh token"}
        kinds[self.id_token] = "PSC ID token"
        return kinds.get(token)


@dataclass(frozen=True)
class ExchangeAttempt:
    """One token-exchange request, as the authorization server parsed it, and what it answered."""

    exchange_id: str
    at: float
    parsed: rfc8693.TokenExchangeRequest
    x5t_s256: str | None  # the client certificate of the connection
    credentials: tuple[str, ...] = ()  # besides the certificate (rfc8693.other_client_credentials)
    status: int | None = None
    error: str | None = None  # the OAuth error of a refusal
    access_token: str | None = None  # issued, on a 200

    @property
    def subject_token(self) -> str | None:
        return self.parsed.subject_token


@dataclass(frozen=True)
class IssuedApiToken:
    """An access token the API's authorization server issued, and the certificate that obtained it."""

    exchange_id: str
    at: float
    x5t_s256: str | None
    grant: str = "exchange"  # or "refresh" (RFC 6749 §6 at the same endpoint)


@dataclass(frozen=True)
class ApiCall:
    """One request the SUT made to the API, and the API's answer (status None: none was sent)."""

    exchange_id: str
    at: float
    method: str
    path: str
    x5t_s256: str | None
    request_headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    status: int | None = None
    answer: bytes = b""
    error: str | None = None
    refusals: tuple[str, ...] = ()  # what the API observed against the call's credentials

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.request_headers if k.lower() == wanted), None)

    @property
    def authorization(self) -> tuple[str | None, str | None]:
        """(scheme, credentials) of the Authorization header, (None, None) without one."""
        value = self.header("Authorization")
        if value is None:
            return None, None
        scheme, _, rest = value.strip().partition(" ")
        return scheme, rest.strip() or None

    @property
    def bearer(self) -> str | None:
        scheme, token = self.authorization
        return token if scheme is not None and scheme.lower() == "bearer" else None

    @property
    def token(self) -> str | None:
        """The credentials of the Authorization header, whatever its scheme: which token the call used."""
        return self.authorization[1]

    @property
    def session_id(self) -> str | None:
        """The proxy_session_id the call's body names (the SessionData of /signsessiondata)."""
        body = _json(self.body)
        value = body.get("proxy_session_id") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Upstream:
    """What the SUT did upstream during a scenario, and what the counterparts issued during the campaign.

    `psc`, `exchanges`, `refreshes` and `calls` are the scenario's; `psc_known` and `api_tokens` cover the
    whole campaign, to recognise a token whichever scenario issued it. `certificates` names the client
    certificates of the test IGC-Santé (x5t#S256 -> client id: the LPS and the proxy).
    """

    psc: tuple[PscGrant, ...] = ()
    exchanges: tuple[ExchangeAttempt, ...] = ()
    # refresh-token grants at the authorization server (RFC 6749 §6, not exchanges): (exchange id, at)
    refreshes: tuple[tuple[str, float], ...] = ()
    calls: tuple[ApiCall, ...] = ()
    psc_known: tuple[PscGrant, ...] = ()
    api_tokens: Mapping[str, IssuedApiToken] = field(default_factory=dict)
    api_refresh_tokens: frozenset[str] = frozenset()
    certificates: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, tuple[Exchange, ...]] = field(default_factory=dict)  # raw, by counterpart

    def name(self, x5t: str | None) -> str:
        """Whose certificate a thumbprint is, for messages."""
        if x5t is None:
            return "no certificate"
        return self.certificates.get(x5t) or f"an unknown certificate {x5t[:10]}…"

    def x5t_of(self, client_id: str) -> str | None:
        return next((t for t, cid in self.certificates.items() if cid == client_id), None)

    def psc_kind(self, token: str | None) -> str:
        """What a token is, among those PSC issued during the campaign."""
        if token is None:
            return "none"
        for grant in self.psc_known:
            kind = grant.kind_of(token)
            if kind is not None:
                return kind
        return "API token" if token in self.api_tokens else "a token PSC never issued"

    @property
    def tokens(self) -> set[str]:
        """Every PSC and API token issued during the campaign (access, refresh and ID tokens)."""
        psc = {t for g in self.psc_known for t in g.tokens}
        return psc | set(self.api_tokens) | set(self.api_refresh_tokens)

    def link(self, counterpart: str) -> LinkTraffic:
        return LinkTraffic(counterpart, self.links.get(counterpart, ()))

    def since(self, instant: float) -> Upstream:
        """The same, restricted to what happened from `instant` on."""
        return Upstream(
            psc=tuple(g for g in self.psc if g.at >= instant),
            exchanges=tuple(x for x in self.exchanges if x.at >= instant),
            refreshes=tuple(r for r in self.refreshes if r[1] >= instant),
            calls=tuple(c for c in self.calls if c.at >= instant),
            psc_known=self.psc_known,
            api_tokens=self.api_tokens,
            api_refresh_tokens=self.api_refresh_tokens,
            certificates=self.certificates,
            links={k: tuple(e for e in v if e.started_at >= instant) for k, v in self.links.items()},
        )

    def trail(self, client_id: str, national_id: str, session: Mapping[str, str] | None) -> Trail:
        """One LPS session's part: its professional's PSC tokens, their exchanges, and the API calls made
        with the API tokens obtained (or naming its proxy session)."""
        grants = tuple(g for g in self.psc if g.national_id == national_id)
        psc_tokens = {t for g in grants for t in g.tokens}
        exchanges = tuple(x for x in self.exchanges if x.subject_token in psc_tokens)
        api_tokens = {x.access_token for x in exchanges if x.access_token}
        session_id = session.get("proxy_session_id") if session else None
        calls = tuple(
            c
            for c in self.calls
            if (c.token is not None and c.token in api_tokens) or (session_id and c.session_id == session_id)
        )
        return Trail(client_id, national_id, session, grants, exchanges, calls, self.x5t_of(client_id))


@dataclass(frozen=True)
class Trail:
    """What the SUT did upstream for one LPS's session."""

    client_id: str
    national_id: str
    session: Mapping[str, str] | None
    psc: tuple[PscGrant, ...]
    exchanges: tuple[ExchangeAttempt, ...]
    calls: tuple[ApiCall, ...]
    lps_x5t: str | None  # the certificate of the LPS (its AUTH_CLI certificate)

    @property
    def certificates(self) -> set[str | None]:
        return {x.x5t_s256 for x in self.exchanges} | {c.x5t_s256 for c in self.calls}

    @property
    def tokens(self) -> set[str]:
        psc = {t for g in self.psc for t in g.tokens}
        api = {x.access_token for x in self.exchanges if x.access_token}
        return psc | api | {t for c in self.calls if (t := c.token)}

    @property
    def evidence(self) -> list[str]:
        return [x.exchange_id for x in self.exchanges] + [c.exchange_id for c in self.calls]


def _psc_grants(consumer: ConsumerBench, since: float) -> tuple[PscGrant, ...]:
    refreshed = {o.exchange_id for o in consumer.observed("token.refresh", since=since)}
    grants = []
    for o in consumer.observed("token.issued", since=since):
        exchange = consumer.evidence.get(o.exchange_id) if o.exchange_id else None
        body = _json(exchange.response_body) if exchange is not None else None
        if o.kind != "token.issued" or not isinstance(body, dict):
            continue

        def text(key: str, body: dict[str, Any] = body) -> str | None:
            value = body.get(key)
            return value if isinstance(value, str) else None

        grants.append(
            PscGrant(
                exchange_id=o.exchange_id or "",
                at=o.at,
                session_state=str(o.data.get("session_state")),
                client_id=o.client_id,
                access_token=text("access_token"),
                refresh_token=text("refresh_token"),
                id_token=text("id_token"),
                refreshed=o.exchange_id in refreshed,
            )
        )
    return tuple(grants)


def collect(consumer: ConsumerBench, since: float) -> Upstream:
    """Read what the counterparts recorded since `since` (and the tokens issued since the campaign began)."""
    evidence = consumer.evidence
    campaign = min(consumer.started_at, since)

    exchanges = []
    for o in consumer.observed("token_exchange.request", since=since):
        parsed = o.data.get("parsed")
        if not isinstance(parsed, rfc8693.TokenExchangeRequest):
            continue
        recorded = evidence.get(o.exchange_id) if o.exchange_id else None
        body = _json(recorded.response_body) if recorded is not None else None
        body = body if isinstance(body, dict) else {}
        status = recorded.status if recorded is not None else None
        exchanges.append(
            ExchangeAttempt(
                exchange_id=o.exchange_id or "",
                at=o.at,
                parsed=parsed,
                x5t_s256=o.data.get("x5t_s256"),
                credentials=tuple(o.data.get("credentials") or ()),
                status=status,
                error=body.get("error") if status != 200 and isinstance(body.get("error"), str) else None,
                access_token=body.get("access_token")
                if status == 200 and isinstance(body.get("access_token"), str)
                else None,
            )
        )

    api_tokens: dict[str, IssuedApiToken] = {}
    api_refresh: set[str] = set()
    for kind, grant in (("token_exchange.issued", "exchange"), ("token_refresh.issued", "refresh")):
        for o in consumer.observed(kind, since=campaign):
            recorded = evidence.get(o.exchange_id) if o.exchange_id else None
            body = _json(recorded.response_body) if recorded is not None else None
            if not isinstance(body, dict):
                continue
            if isinstance(body.get("access_token"), str):
                api_tokens[body["access_token"]] = IssuedApiToken(
                    o.exchange_id or "", o.at, o.data.get("x5t_s256"), grant
                )
            if isinstance(body.get("refresh_token"), str):
                api_refresh.add(body["refresh_token"])
    refreshes = tuple((o.exchange_id or "", o.at) for o in consumer.observed("token_refresh", since=since))

    refusals: dict[str, list[str]] = {}
    for o in consumer.observed("api", since=since):
        if o.kind != "api.call" and o.exchange_id:
            refusals.setdefault(o.exchange_id, []).append(f"{o.kind}: {o.detail}")
    calls = tuple(
        ApiCall(
            exchange_id=e.id,
            at=e.started_at,
            method=e.method,
            path=urlsplit(e.url).path,
            x5t_s256=e.tls.client_x5t_s256 if e.tls else None,
            request_headers=tuple(e.request_headers),
            body=e.request_body,
            status=e.status,
            answer=e.response_body,
            error=e.error,
            refusals=tuple(refusals.get(e.id, ())),
        )
        for e in consumer.exchanges(counterpart="api", since=since)
    )
    pki = consumer.counterparts.pki
    return Upstream(
        psc=_psc_grants(consumer, since),
        exchanges=tuple(exchanges),
        refreshes=refreshes,
        calls=calls,
        psc_known=_psc_grants(consumer, campaign),
        api_tokens=api_tokens,
        api_refresh_tokens=frozenset(api_refresh),
        certificates={issued.x5t_s256: cid for cid, issued in pki.clients.items()},
        links={cp: tuple(consumer.exchanges(counterpart=cp, since=since)) for cp in ("api-as", "api")},
    )


def _no_exchange(upstream: Upstream) -> Judgement:
    calls = f"; {len(upstream.calls)} API call(s)" if upstream.calls else ""
    return inconclusive(
        "no token-exchange request reached the authorization server in this scenario" + calls,
        [c.exchange_id for c in upstream.calls],
        root_cause="the SUT made no token exchange during the scenario (it may hold an API token from an "
        "earlier one, or its connect failed before)",
    )


def _ids(items: Sequence[ExchangeAttempt | ApiCall]) -> list[str]:
    return [i.exchange_id for i in items]


# -- the token exchange (IG 1.2.0 step 9, RFC 8693 §2.1), as the authorization server parsed it ----------


@condition(
    "exchange_grant_type_token_exchange",
    ("IG-SEC-05",),
    basis=f"RFC 8693 §2.1 (grant_type REQUIRED: urn:ietf:params:oauth:grant-type:token-exchange); "
    f"{IG_STEP_9}",
    strength=Strength.MUST,
    precondition=EXCHANGED,
    fr="La demande d'échange porte grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
    en="The exchange request carries grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
)
def exchange_grant_type_token_exchange(upstream: Upstream) -> Judgement:
    if not upstream.exchanges:
        return _no_exchange(upstream)
    wrong = [x for x in upstream.exchanges if x.parsed.has("grant_type")]
    seen = sorted({str(x.parsed.grant_type) for x in upstream.exchanges})
    return judged(
        not wrong,
        f"{len(upstream.exchanges)} request(s), grant_type {seen}"
        + (f"; the AS answered {sorted({str(x.error or x.status) for x in wrong})}" if wrong else ""),
        _ids(upstream.exchanges),
    )


@condition(
    "exchange_subject_is_psc_access_token",
    ("IG-SEC-06",),
    basis=f"{IG_STEP_9}: subject_token is the PSC access token (RFC 8693 §2.1 subject_token)",
    strength=Strength.MUST,
    precondition=EXCHANGED,
    fr="Le subject_token est un jeton d'accès émis par PSC (ni ID token, ni refresh token)",
    en="The subject_token is an access token PSC issued (neither its ID token nor its refresh token)",
)
def exchange_subject_is_psc_access_token(upstream: Upstream) -> Judgement:
    if not upstream.exchanges:
        return _no_exchange(upstream)
    kinds = [upstream.psc_kind(x.subject_token) for x in upstream.exchanges]
    return judged(
        all(k == "PSC access token" for k in kinds),
        f"subject_token: {kinds}",
        _ids(upstream.exchanges) + [g.exchange_id for g in upstream.psc],
    )


@condition(
    "exchange_subject_token_type_allowed",
    ("IG-SEC-07",),
    basis=f"{IG_STEP_9}: subject_token_type …:token-type:access_token or …:token-type:jwt (IG 1.2.0 allows "
    "both); RFC 8693 §2.1 (REQUIRED)",
    strength=Strength.MUST,
    precondition=EXCHANGED,
    fr="Le subject_token_type vaut …:token-type:access_token ou …:token-type:jwt",
    en="The subject_token_type is …:token-type:access_token or …:token-type:jwt",
)
def exchange_subject_token_type_allowed(upstream: Upstream) -> Judgement:
    if not upstream.exchanges:
        return _no_exchange(upstream)
    wrong = [x for x in upstream.exchanges if x.parsed.has("subject_token_type")]
    seen = sorted({str(x.parsed.subject_token_type) for x in upstream.exchanges})
    return judged(not wrong, f"subject_token_type {seen}", _ids(upstream.exchanges))


@condition(
    "exchange_scope_of_the_api",
    ("IG-SEC-08",),
    basis=f"{IG_STEP_9}: scope, optional in RFC 8693 §2.1, is mandatory in the IG and names the API",
    strength=Strength.MUST,
    precondition=EXCHANGED,
    fr="La demande d'échange porte le scope déclaré pour l'API",
    en="The exchange request carries the scope declared for the API",
)
def exchange_scope_of_the_api(upstream: Upstream, api_scope: str) -> Judgement:
    if not upstream.exchanges:
        return _no_exchange(upstream)
    scopes = [x.parsed.scope for x in upstream.exchanges]
    ok = all(s is not None and api_scope in s for s in scopes)
    shown = [" ".join(s) if s is not None else "absent" for s in scopes]
    return judged(ok, f"scope {shown}, expected to include {api_scope!r}", _ids(upstream.exchanges))


@condition(
    "exchange_client_authenticated_by_certificate_only",
    ("IG-SEC-09",),
    basis=f"{IG_STEP_9}: the client authenticates by mTLS only (IG 1.2.0 removed the Basic header); "
    "RFC 8705 §2 tls_client_auth",
    strength=Strength.MUST,
    precondition=EXCHANGED,
    fr="Le client s'authentifie à l'échange par son certificat seul : ni en-tête Authorization, ni "
    "client_secret, ni client_assertion",
    en="The client authenticates to the exchange by its certificate only: no Authorization header, "
    "client_secret or client_assertion",
)
def exchange_client_authenticated_by_certificate_only(upstream: Upstream) -> Judgement:
    if not upstream.exchanges:
        return _no_exchange(upstream)
    problems = [f"{x.exchange_id}: {c}" for x in upstream.exchanges for c in x.credentials]
    problems += [f"{x.exchange_id}: no client certificate" for x in upstream.exchanges if x.x5t_s256 is None]
    return judged(
        not problems,
        "; ".join(problems) or f"{len(upstream.exchanges)} request(s) authenticated by certificate only",
        _ids(upstream.exchanges),
    )


@condition(
    "exchange_answer_without_refresh_token_suffices",
    ("IG-SEC-05",),
    basis="project reading of RFC 8693 §2.2.1: refresh_token is OPTIONAL in the exchange answer (Keycloak "
    "sends one); a client that needs it fails with a conforming server that leaves it out",
    strength=Strength.READING,
    precondition="the journey worked with a Keycloak-shaped answer (session, /send 200), then the "
    "authorization server answered an exchange of the same journey without refresh_token",
    fr="Le proxy fonctionne sans refresh_token dans la réponse d'échange (optionnel en RFC 8693 ; lecture "
    "du projet)",
    en="The proxy works without refresh_token in the exchange answer (optional in RFC 8693; project reading)",
)
def exchange_answer_without_refresh_token_suffices(
    control: tuple[ConnectAnswer, Call | None],
    upstream: Upstream,
    connected: ConnectAnswer,
    sent: Call | None,
) -> Judgement:
    """`control`: the same journey (connect, /send) while the answers carried refresh_token; `upstream`,
    `connected` and `sent`: the journey once the authorization server left it out."""
    control_connected, control_sent = control
    worked = control_connected.session is not None and control_sent is not None and control_sent.status == 200
    if not worked:
        return inconclusive(
            "the journey did not work even with refresh_token (/send "
            f"{control_sent.describe() if control_sent else 'not sent'}): nothing to compare",
            [exchange_of(control_connected.answer), control_sent.exchange_id if control_sent else None],
            root_cause="the business call failed with the Keycloak-shaped exchange answer",
        )
    answered = [x for x in upstream.exchanges if x.status == 200]
    if not answered:
        return inconclusive(
            "no token exchange was answered 200 (without refresh_token) in the second journey",
            _ids(upstream.exchanges),
            root_cause="the SUT made no token exchange once the authorization server left refresh_token out",
        )
    evidence = [*_ids(answered), exchange_of(connected.answer), sent.exchange_id if sent else None]
    beyond = "; it worked with refresh_token — beyond RFC 8693, which makes it optional"
    if connected.session is None:
        shown = connected.answer.status_code if connected.answer is not None else "no answer"
        return failed(
            f"{len(answered)} exchange(s) answered without refresh_token, then /connect gave no session "
            f"({shown}){beyond}",
            evidence,
        )
    status = sent.status if sent is not None else None
    return judged(
        status == 200,
        f"{len(answered)} exchange(s) answered without refresh_token; /send answered "
        f"{sent.describe() if sent else 'not sent'}" + ("" if status == 200 else beyond),
        evidence,
    )


# -- certificates (IG-SEC-10, EDC-13, EDC-14) ------------------------------------------------------------


@condition(
    "business_call_with_the_exchange_certificate",
    ("IG-SEC-10",),
    basis=f"{IG_STEP_12} (étapes 9 et 12): the call is made with the certificate that obtained its token "
    "(RFC 8705 §3 binds the token to it)",
    strength=Strength.MUST,
    precondition="the SUT called the API with a token the authorization server issued",
    fr="L'appel métier est fait avec le certificat qui a obtenu son jeton",
    en="The business call is made with the certificate that obtained its token",
)
def business_call_with_the_exchange_certificate(upstream: Upstream) -> Judgement:
    pairs = [
        (issued, c)
        for c in upstream.calls
        if c.token is not None and (issued := upstream.api_tokens.get(c.token)) is not None
    ]
    if not pairs:
        return inconclusive(
            f"no API call carried a token of the authorization server ({len(upstream.calls)} call(s))",
            _ids(upstream.calls),
            root_cause="the SUT made no business call with an API token during the scenario",
        )
    shown = sorted({f"{upstream.name(t.x5t_s256)} -> {upstream.name(c.x5t_s256)}" for t, c in pairs})
    return judged(
        all(t.x5t_s256 == c.x5t_s256 for t, c in pairs),
        f"(token obtained with -> call made with): {shown}",
        [i for t, c in pairs for i in (t.exchange_id, c.exchange_id)],
    )


@condition(
    "upstream_with_the_session_lps_certificate",
    ("EDC-13",),
    basis=f"{ANS_SLIDES} et Requête métier: the exchange and the business call use the certificate of the "
    "LPS the session belongs to",
    strength=Strength.MUST,
    precondition="the SUT exchanged a token or called the API for the LPS's session",
    fr="Échange de jetons et appel métier se font avec le certificat du LPS de la session",
    en="Token exchange and business call both use the certificate of the session's LPS",
)
def upstream_with_the_session_lps_certificate(trail: Trail, upstream: Upstream) -> Judgement:
    if not trail.exchanges and not trail.calls:
        return inconclusive(
            f"no token exchange and no API call for the session of {trail.client_id} in this scenario",
            root_cause="the SUT did nothing upstream for the session during the scenario",
        )
    used = [x.x5t_s256 for x in trail.exchanges] + [c.x5t_s256 for c in trail.calls]
    return judged(
        trail.lps_x5t is not None and all(t == trail.lps_x5t for t in used),
        f"session of {trail.client_id}: exchange with "
        f"{[upstream.name(x.x5t_s256) for x in trail.exchanges]}, "
        f"call with {[upstream.name(c.x5t_s256) for c in trail.calls]}",
        trail.evidence,
    )


@condition(
    "lps_sessions_share_no_certificate_or_token",
    ("EDC-14",),
    basis=f"{ANS_SLIDES} (certificats 1 et 2, PS 1 et PS 2): each LPS's session is its own",
    strength=Strength.MUST,
    precondition="the SUT exchanged a token or called the API for both LPS's sessions",
    fr="Les sessions de deux LPS ne se croisent pas : ni le certificat de l'autre LPS, ni un jeton ou une "
    "session en commun",
    en="The sessions of two LPS never cross: not the other LPS's certificate, no shared token or session",
)
def lps_sessions_share_no_certificate_or_token(first: Trail, second: Trail, upstream: Upstream) -> Judgement:
    idle = [t.client_id for t in (first, second) if not t.exchanges and not t.calls]
    if idle:
        return inconclusive(
            f"nothing upstream for the session(s) of {idle}: the sessions cannot be compared",
            first.evidence + second.evidence,
            root_cause="the SUT did nothing upstream for both sessions during the scenario",
        )
    crossed = [
        f"the session of {mine.client_id} used the certificate of {other.client_id}"
        for mine, other in ((first, second), (second, first))
        if other.lps_x5t is not None and other.lps_x5t in mine.certificates
    ]
    common = first.tokens & second.tokens
    if common:
        crossed.append(f"{len(common)} token(s) used by both sessions")
    states = {g.session_state for g in first.psc} & {g.session_state for g in second.psc}
    if states:
        crossed.append("one PSC session for both")
    ids = [t.session.get("proxy_session_id") if t.session else None for t in (first, second)]
    if ids[0] and ids[0] == ids[1]:
        crossed.append("one proxy session for both")
    return judged(
        not crossed,
        "; ".join(crossed)
        or f"{first.client_id}: {sorted(upstream.name(t) for t in first.certificates)}, "
        f"{second.client_id}: {sorted(upstream.name(t) for t in second.certificates)}; no token in common, "
        "distinct PSC and proxy sessions",
        first.evidence + second.evidence,
    )


# -- the business call (IG 1.2.0 step 12) ----------------------------------------------------------------


@condition(
    "business_call_bearer_api_token",
    ("IG-SEC-12",),
    basis=f"{IG_STEP_12}: Authorization: Bearer <the token of the API's authorization server> "
    "(RFC 6750 §2.1)",
    strength=Strength.MUST,
    precondition="the SUT called the API",
    fr="L'appel métier porte Authorization: Bearer <jeton émis par le serveur d'autorisation de l'API>",
    en="The business call carries Authorization: Bearer <token issued by the API's authorization server>",
)
def business_call_bearer_api_token(upstream: Upstream) -> Judgement:
    if not upstream.calls:
        return inconclusive(
            "the SUT made no call to the API in this scenario",
            root_cause="the SUT did not call the API during the scenario",
        )
    seen, bad = [], 0
    for c in upstream.calls:
        scheme, token = c.authorization
        if scheme is None:
            seen.append("no Authorization header")
        elif scheme.lower() != "bearer":
            seen.append(f"Authorization: {scheme} …")
        else:
            kind = upstream.psc_kind(token)
            seen.append(f"Bearer <{kind}>")
            if kind == "API token":
                continue
        bad += 1
    return judged(not bad, f"{len(upstream.calls)} call(s): {sorted(set(seen))}", _ids(upstream.calls))


# -- /send: the call relayed and its answer (API Conformité) ---------------------------------------------


def forwarded(calls: Sequence[ApiCall], path: str, data: Any) -> list[ApiCall]:
    """The API calls that carry the LPS's request: POST to the endpoint's path, with the LPS's body."""
    return [c for c in calls if c.method == "POST" and c.path == path and content(c.body) == data]


@condition(
    "send_forwards_the_lps_request",
    ("EDC-06",),
    basis=f"{UPSTREAM}, /send (tag Send: the request is transmitted to the API PSC); OpenAPI API PSC, "
    "POST /signsessiondata",
    strength=Strength.MUST,
    precondition="the LPS holds a session and the SUT obtained an API token (or called the API)",
    fr="L'API PSC reçoit la méthode, le chemin et le corps que le LPS a envoyés à /send",
    en="The API PSC receives the method, path and body the LPS sent to /send",
)
def send_forwards_the_lps_request(sent: Call, upstream: Upstream, path: str, data: Any) -> Judgement:
    evidence = [sent.exchange_id, *_ids(upstream.calls)]
    if not upstream.calls and not any(x.status == 200 for x in upstream.exchanges):
        return inconclusive(
            f"/send answered {sent.describe()}; the SUT obtained no API token in this scenario and called "
            "no API",
            evidence,
            root_cause="no token exchange succeeded during the scenario: "
            + (
                f"the AS answered {[x.error or x.status for x in upstream.exchanges]}"
                if upstream.exchanges
                else "none was made"
            ),
        )
    found = forwarded(upstream.calls, path, data)
    return judged(
        bool(found),
        f"/send answered {sent.describe()}; the API saw {[(c.method, c.path) for c in upstream.calls]}, "
        f"{len(found)} with the LPS's body (expected POST {path})",
        evidence,
    )


@condition(
    "send_relays_the_api_answer",
    ("EDC-06",),
    basis=f"{UPSTREAM}, /send: the API's answer is the answer (200 */* object, its other statuses listed)",
    strength=Strength.MUST,
    precondition="the API answered the call that carried the LPS's request",
    fr="Le LPS reçoit la réponse de l'API PSC telle quelle (statut et corps)",
    en="The LPS gets the API PSC's answer unchanged (status and body)",
)
def send_relays_the_api_answer(sent: Call, carried: Sequence[ApiCall]) -> Judgement:
    answered = [c for c in carried if c.status is not None]
    if sent.answer is None or not answered:
        return inconclusive(
            f"/send answered {sent.describe()}; {len(answered)} answered API call carried the LPS's request",
            [sent.exchange_id, *_ids(carried)],
            root_cause="the LPS's request did not reach the API, or nothing came back",
        )
    got = (sent.answer.status_code, content(sent.answer.content))
    same = any((c.status, content(c.answer)) == got for c in answered)
    return judged(
        same,
        f"LPS got HTTP {got[0]}; {'identical to' if same else 'differs from'} the API's answer"
        + ("" if same else f" {[(c.status, c.answer[:80]) for c in answered]}"),
        [sent.exchange_id, *_ids(answered)],
    )


@condition(
    "lps_session_cookie_kept_from_the_api",
    ("EDC-06",),
    basis=f"project reading: {IG_PROXY} (the proxy keeps the LPS's session to itself) and RFC 6265 §8 "
    "(a cookie is scoped to the origin that set it); no source forbids forwarding it in so many words",
    strength=Strength.READING,
    precondition="the SUT relayed the LPS's request to the API",
    fr="Le cookie de session du proxy n'est pas transmis à l'API (lecture du projet)",
    en="The proxy's session cookie is not passed on to the API (project reading)",
)
def lps_session_cookie_kept_from_the_api(carried: Sequence[ApiCall], session_id: str) -> Judgement:
    if not carried:
        return inconclusive(
            "no API call carried the LPS's request", root_cause="the SUT did not relay the LPS's request"
        )
    leaked = [
        c
        for c in carried
        if (cookie := c.header("Cookie")) is not None and (COOKIE in cookie or session_id in cookie)
    ]
    if leaked:
        return failed(
            f"{len(leaked)} call(s) to the API carried the LPS's session cookie (Cookie: {COOKIE}=…); "
            "beyond the sources, which do not forbid it in so many words",
            _ids(leaked),
        )
    return passed(f"{len(carried)} call(s) to the API, none with the {COOKIE} cookie", _ids(carried))


@condition(
    "send_without_session_reaches_no_api",
    ("EDC-05",),
    basis=f"{UPSTREAM}, /send: security cookieAuth, 401 'No session found.'",
    strength=Strength.MUST,
    precondition="the LPS called /send without a valid session cookie",
    fr="Sans session valide, l'API PSC ne reçoit aucun appel",
    en="Without a valid session, the API PSC receives no call",
)
def send_without_session_reaches_no_api(sent: Call, calls: Sequence[ApiCall]) -> Judgement:
    return judged(
        not calls,
        f"/send answered {sent.describe()}; {len(calls)} request(s) reached the API: "
        f"{[(c.method, c.path) for c in calls]}",
        [sent.exchange_id, *_ids(calls)],
    )


# -- the API failing (EDC-07), the answer still relayed as is (EDC-06) -----------------------------------


@condition(
    "api_error_relayed_or_gateway_status",
    ("EDC-07",),
    basis=f"{UPSTREAM}, /send lists 500, 502, 503 and 504; EDC-06: the API's answer is relayed as is",
    strength=Strength.MUST,
    precondition="the API received the relayed call and answered it with a 5xx",
    fr="Une erreur 5xx de l'API est rendue telle quelle, ou en 500, 502, 503 ou 504 — jamais en succès",
    en="A 5xx of the API is relayed as is, or answered 500, 502, 503 or 504 — never as a success",
)
def api_error_relayed_or_gateway_status(sent: Call, calls: Sequence[ApiCall]) -> Judgement:
    failing = [c for c in calls if c.status is not None and c.status >= 500]
    evidence = [sent.exchange_id, *_ids(calls)]
    if not failing:
        return inconclusive(
            f"the API answered no call with a 5xx ({[c.status for c in calls]}); "
            f"/send answered {sent.describe()}",
            evidence,
            root_cause="the SUT did not call the API while it was failing",
        )
    if sent.answer is None:
        return failed(
            f"the API answered {failing[-1].status}; the LPS got no answer ({sent.error})", evidence
        )
    got = (sent.answer.status_code, content(sent.answer.content))
    relayed = any((c.status, content(c.answer)) == got for c in failing)
    how = "the API's answer as is" if relayed else ("a 5xx the contract lists" if got[0] in SEND_5XX else "")
    return judged(
        bool(how),
        f"the API answered {sorted({c.status or 0 for c in failing})}; the LPS got HTTP {got[0]}"
        + (f" ({how})" if how else f", expected the API's answer or one of {list(SEND_5XX)}"),
        evidence,
    )


def api_link_failure(calls: Sequence[ApiCall], failure: str) -> str:
    """How the SUT's link to the API failed, for `upstream_failure_answered_502_503_504`: "" when the
    API received no call in the failure window (the SUT never met the failure: nothing to judge)."""
    return f"the API received the relayed call and {failure}" if calls else ""


@condition(
    "stalled_api_fits_the_scenario_bound",
    ("EDC-07",),
    basis="project reading: the harness holds the API longer than the SUT's declared upstream timeout "
    "([sut.declared] upstream_timeout_s), within the scenario's bound ([timeouts] scenario_s)",
    strength=Strength.READING,
    precondition="the scenario stalls the API beyond the SUT's declared upstream timeout",
    fr="Le banc peut faire attendre l'API plus longtemps que le délai déclaré du proxy",
    en="The harness can stall the API longer than the proxy's declared timeout",
)
def stalled_api_fits_the_scenario_bound(stall_s: float, needed_s: float, scenario_s: float) -> Judgement:
    if needed_s >= scenario_s:
        return inconclusive(
            f"stalling the API {stall_s:g} s (beyond the declared upstream timeout) needs about "
            f"{needed_s:g} s, more than the scenario bound of {scenario_s:g} s",
            root_cause="[timeouts] scenario_s is too short for [sut.declared] upstream_timeout_s: raise it",
        )
    return passed(f"API stalled {stall_s:g} s, scenario bound {scenario_s:g} s")


# -- IG-SEC-16: an expired subject token is refreshed at PSC, then exchanged again -----------------------


@condition(
    "expired_psc_token_refreshed_then_exchanged",
    ("IG-SEC-16",),
    basis=f"{IG_ERRORS}: the AS refuses an expired PSC token (invalid_grant); the proxy refreshes it at PSC "
    "and exchanges the new one",
    strength=Strength.MUST,
    precondition="the API token and the PSC access token had expired and the SUT renewed upstream",
    fr="Jeton PSC expiré : le proxy le rafraîchit auprès de PSC, refait l'échange avec le nouveau jeton, "
    "puis fait l'appel métier",
    en="Expired PSC token: the proxy refreshes it at PSC, exchanges the new one, then calls the API",
)
def expired_psc_token_refreshed_then_exchanged(after: Upstream, sent: Call, case: str) -> Judgement:
    refreshed = [g for g in after.psc if g.refreshed]
    evidence = [*_ids(after.exchanges), *(g.exchange_id for g in refreshed), sent.exchange_id or ""]
    if not after.exchanges and not refreshed:
        renewed = f", {len(after.refreshes)} refresh-token grant(s) at the AS" if after.refreshes else ""
        return inconclusive(
            f"{case}: after expiry the SUT made no token exchange and no PSC refresh{renewed} (/send "
            f"answered {sent.describe()})",
            evidence,
            root_cause="the SUT did not renew its API token during the scenario",
        )
    new_access = {g.access_token for g in refreshed if g.access_token}
    refused = [x for x in after.exchanges if x.status != 200]
    if not refused and not refreshed:
        # Its PSC token was still valid when it exchanged (renewed earlier, e.g. ahead of expiry):
        # the IG's error case 1a never arose, so how the SUT handles it is not shown.
        return inconclusive(
            f"{case}: after expiry the SUT exchanged a still-valid PSC token ({len(after.exchanges)} "
            f"exchange(s) accepted, none refused, no refresh at PSC): the expired-token case did not arise",
            evidence,
            root_cause="the SUT renewed its PSC token before the scenario's expiry",
        )
    retried = [x for x in after.exchanges if x.status == 200 and x.subject_token in new_access]
    called = [c for c in after.calls if retried and c.at >= retried[0].at]
    return judged(
        bool(refreshed) and bool(retried) and bool(called),
        f"{case}: {len(refused)} exchange(s) refused {[x.error or x.status for x in refused]}; "
        f"{len(refreshed)} refresh(es) at PSC; {len(retried)} exchange(s) of a refreshed token accepted; "
        f"then {len(called)} business call(s) (API HTTP {[c.status for c in called]}); "
        f"/send {sent.describe()}",
        evidence + _ids(called),
    )


# -- IG-SEC-20: the tokens stay in the proxy -------------------------------------------------------------


def _needles(tokens: Collection[str]) -> set[str]:
    """The tokens, and the signatures of the JWS among them: a re-encoded token is still the token."""
    signatures = {t.rsplit(".", 1)[1] for t in tokens if t.count(".") == 2}
    return set(tokens) | {s for s in signatures if len(s) >= 32}


@condition(
    "no_token_in_answers_to_the_lps",
    ("IG-SEC-20",),
    basis=f"{IG_PROXY}; api_prosanteconnectee_client_lourd.html: the PSC and API tokens stay in the proxy",
    strength=Strength.MUST,
    precondition="the SUT answered the LPS, and PSC or the authorization server issued tokens",
    fr="Aucune réponse du proxy au LPS (en-têtes, cookies, corps) ne contient un jeton de PSC ou de l'API",
    en="No answer of the proxy to the LPS (headers, cookies, body) contains a PSC or API token",
)
def no_token_in_answers_to_the_lps(answers: Sequence[Exchange], tokens: Collection[str]) -> Judgement:
    if not answers or not tokens:
        return inconclusive(
            f"{len(answers)} answer(s) to the LPS, {len(tokens)} token(s) issued: nothing to look for",
            root_cause="the SUT answered nothing, or no token was issued during the campaign",
        )
    needles = _needles(tokens)
    leaks = []
    for e in answers:
        headers = "\n".join(f"{k}: {v}" for k, v in e.response_headers)
        text = headers + "\n" + e.response_body.decode("latin-1")
        if any(n in text for n in needles):
            leaks.append(e)
    if leaks:
        return failed(
            "token found in: " + ", ".join(f"{e.method} {urlsplit(e.url).path} ({e.id})" for e in leaks),
            [e.id for e in leaks],
        )
    return passed(
        f"{len(answers)} answer(s) to the LPS checked against {len(tokens)} PSC/API token(s)",
        [e.id for e in answers],
    )
