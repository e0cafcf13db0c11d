"""Requêtes métier : le proxy échange le jeton PSC contre un jeton de l'API et relaie l'appel du LPS.

The harness plays the LPS calling /send, PSC, the API's authorization server (RFC 8693 token
exchange, IG 1.2.0 step 9) and the API PSC (step 12). It judges what the SUT sent to each of them,
read from the exchanges the counterparts recorded, and what the SUT gave back to the LPS.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conformance import rfc8693
from conformance.checks import Check, CheckRecorder
from conformance.consumer_bench import ConsumerBench
from conformance.evidence import Exchange
from conformance.tls import ListenerMode
from conformance.verdicts import Severity

# -- checks -------------------------------------------------------------------------------------------

CONNECTED = Check(
    "lps_session_established",
    ("EDC-01",),
    fr="Le LPS obtient une session du proxy (prérequis de la requête métier)",
    en="The LPS gets a proxy session (prerequisite of the business call)",
)
SEND_FORWARDS_REQUEST = Check(
    "send_forwards_method_path_body",
    ("EDC-06",),
    fr="L'API PSC reçoit la méthode, le chemin et le corps que le LPS a envoyés à /send",
    en="The API PSC receives the method, path and body the LPS sent to /send",
)
SEND_RELAYS_ANSWER = Check(
    "send_relays_the_api_answer",
    ("EDC-06",),
    fr="Le LPS reçoit la réponse de l'API PSC telle quelle (statut et corps ; signature vérifiée si 200)",
    en="The LPS gets the API PSC's answer unchanged (status and body; signature verified on a 200)",
)
EXCHANGE_GRANT_TYPE = Check(
    "token_exchange_grant_type",
    ("IG-SEC-05",),
    fr="La demande d'échange porte grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
    en="The exchange request carries grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
)
EXCHANGE_SUBJECT_TOKEN = Check(
    "token_exchange_subject_is_psc_access_token",
    ("IG-SEC-06",),
    fr="Le subject_token est le jeton d'accès que PSC a émis pour la session (ni ID token ni refresh token)",
    en="The subject_token is the access token PSC issued for the session (neither ID nor refresh token)",
)
EXCHANGE_SUBJECT_TOKEN_TYPE = Check(
    "token_exchange_subject_token_type",
    ("IG-SEC-07",),
    fr="Le subject_token_type vaut …:token-type:access_token ou …:token-type:jwt",
    en="The subject_token_type is …:token-type:access_token or …:token-type:jwt",
)
EXCHANGE_SCOPE = Check(
    "token_exchange_scope",
    ("IG-SEC-08",),
    fr="La demande d'échange porte le scope de l'API",
    en="The exchange request carries the API's scope",
)
EXCHANGE_MTLS_ONLY = Check(
    "token_exchange_mtls_only",
    ("IG-SEC-09",),
    fr="Le client s'authentifie à l'échange par son certificat seul : ni Basic, ni client_secret, "
    "ni client_assertion",
    en="The client authenticates to the exchange by its certificate only: no Basic, client_secret "
    "or client_assertion",
)
AUTH_CLI_UPSTREAM = Check(
    "auth_cli_certificate_to_as_and_api",
    ("IG-SEC-04",),
    fr="Chaque connexion au serveur d'autorisation et à l'API présente un certificat AUTH_CLI de l'IGC-Santé",
    en="Every connection to the authorization server and to the API presents an IGC-Santé AUTH_CLI "
    "certificate",
)
SAME_CERTIFICATE = Check(
    "same_certificate_exchange_and_call",
    ("IG-SEC-10",),
    fr="L'appel métier est fait avec le certificat qui a servi à obtenir son jeton",
    en="The business call is made with the certificate that obtained its token",
)
LPS_CERTIFICATE = Check(
    "lps_certificate_for_exchange_and_call",
    ("EDC-13",),
    fr="Échange de jetons et appel métier se font avec le certificat du LPS de la session",
    en="Token exchange and business call both use the certificate of the session's LPS",
)
BEARER_API_TOKEN = Check(
    "business_call_bearer_api_token",
    ("IG-SEC-12",),
    fr="L'appel métier porte Authorization: Bearer <jeton valide du serveur d'autorisation de l'API>",
    en="The business call carries Authorization: Bearer <valid token of the API's authorization server>",
)
NO_TOKEN_TO_LPS = Check(
    "no_token_handed_to_the_lps",
    ("IG-SEC-20",),
    fr="Aucune réponse du proxy au LPS ne contient un jeton de PSC ou de l'API",
    en="No answer of the proxy to the LPS contains a PSC or API token",
)
SESSIONS_APART = Check(
    "lps_sessions_share_no_certificate_or_token",
    ("EDC-14",),
    fr="Les sessions de deux LPS ne se croisent pas : ni le certificat de l'autre LPS, ni un jeton ou une "
    "session en commun",
    en="The sessions of two LPS never cross: not the other LPS's certificate, no shared token or session",
)
SEND_WITHOUT_SESSION_401 = Check(
    "send_without_session_401_descriptor",
    ("EDC-05",),
    fr="Sans session valide, /send répond 401 avec un descripteur {code, message}",
    en="Without a valid session, /send answers 401 with a {code, message} descriptor",
)
NOTHING_FORWARDED = Check(
    "send_without_session_forwards_nothing",
    ("EDC-05",),
    fr="Sans session valide, l'API PSC ne reçoit aucun appel",
    en="Without a valid session, the API PSC receives no call",
)
UPSTREAM_5XX = Check(
    "api_failure_answered_502_503_504",
    ("EDC-07",),
    fr="Une panne de l'API PSC est rendue au LPS en 502, 503 ou 504, sans le faire attendre indéfiniment",
    en="An API PSC failure reaches the LPS as 502, 503 or 504, without leaving it waiting",
)
UPSTREAM_DESCRIPTOR = Check(
    "api_failure_error_descriptor",
    ("EDC-07",),
    fr="La réponse 5xx porte un descripteur d'erreur {code, message}",
    en="The 5xx answer carries a {code, message} error descriptor",
    severity=Severity.WARNING,  # the API Conformité gives these statuses no body schema
)
REFRESH_THEN_RETRY = Check(
    "expired_psc_token_refreshed_then_exchanged",
    ("IG-SEC-16",),
    fr="Jeton PSC expiré : le proxy le rafraîchit auprès de PSC, refait l'échange avec le nouveau jeton, "
    "puis fait l'appel métier",
    en="Expired PSC token: the proxy refreshes it at PSC, exchanges the new one, then calls the API",
)

# The PSC and API tokens of the expiry scenario live this long (seconds): less than the embedded
# campaign's idle timeout, so the session outlives them.
SHORT_TTL_S = 2
EXPIRY_MARGIN_S = 0.3
API_STATUSES_FOR_FAILURES = (502, 503, 504)
CREDENTIAL_FIELDS = ("client_secret", "client_assertion")


# -- what the counterparts saw, from the evidence ------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _content(body: bytes) -> Any:
    """A body as meant: its JSON value when it is JSON (key order and spacing aside), else its bytes."""
    value = _json(body)
    return body if value is None else value


def _form(exchange: Exchange) -> dict[str, list[str]]:
    return parse_qs(exchange.request_body.decode("utf-8", "replace"), keep_blank_values=True)


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    return values[0] if len(values) == 1 else None


def _json_response(exchange: Exchange) -> Any:
    return _json(exchange.response_body) if exchange.status == 200 else None


def _bearer(exchange: Exchange) -> str | None:
    scheme, _, token = (exchange.request_header("Authorization") or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _x5t(exchange: Exchange) -> str | None:
    return exchange.tls.client_x5t_s256 if exchange.tls else None


@dataclasses.dataclass
class PscSession:
    """What PSC handed out for one of its sessions (from its token responses)."""

    session_state: str
    client_id: str | None
    access: set[str] = dataclasses.field(default_factory=set)
    refresh: set[str] = dataclasses.field(default_factory=set)
    id: set[str] = dataclasses.field(default_factory=set)
    refreshed_access: set[str] = dataclasses.field(default_factory=set)  # from refresh_token grants

    @property
    def tokens(self) -> set[str]:
        return self.access | self.refresh | self.id


@dataclasses.dataclass
class Upstream:
    """The SUT's calls to PSC, the API's authorization server and the API, since a given instant."""

    psc: dict[str, PscSession]  # by session_state
    exchanges: list[Exchange]  # token-exchange requests at the AS
    calls: list[Exchange]  # requests at the API
    handshake_failures: list[str]
    psc_exchange_ids: list[str]

    @classmethod
    def since(cls, consumer: ConsumerBench, since: float) -> Upstream:
        evidence = consumer.evidence
        psc: dict[str, PscSession] = {}
        ids: list[str] = []
        refreshes = {o.exchange_id for o in consumer.observed("token.refresh", since=since)}
        for o in consumer.observed("token.issued", since=since):
            if o.kind != "token.issued":
                continue
            exchange = evidence.get(o.exchange_id) if o.exchange_id else None
            body = _json(exchange.response_body) if exchange else None
            if not isinstance(body, dict):
                continue
            state = str(o.data.get("session_state"))
            session = psc.setdefault(state, PscSession(state, o.client_id))
            for key, bucket in (("access_token", session.access), ("refresh_token", session.refresh)):
                if isinstance(body.get(key), str):
                    bucket.add(body[key])
            if isinstance(body.get("id_token"), str):
                session.id.add(body["id_token"])
            if o.exchange_id in refreshes and isinstance(body.get("access_token"), str):
                session.refreshed_access.add(body["access_token"])
            ids.append(o.exchange_id or "")
        token_path = consumer.counterparts.api_as.token_path
        exchanges = [
            e
            for e in evidence.exchanges(counterpart="api-as", since=since)
            if e.method == "POST" and urlsplit(e.url).path == token_path
        ]
        calls = evidence.exchanges(counterpart="api", since=since)
        failures = [
            f"{name}: {f.message}"
            for name, server in (
                ("api-as", consumer.counterparts.api_as.server),
                ("api", consumer.counterparts.api.server),
            )
            for f in server.handshake_failures
            if f.at >= since
        ]
        return cls(psc, exchanges, calls, failures, [i for i in ids if i])

    # -- derived views --------------------------------------------------------------------------------

    @property
    def psc_tokens(self) -> set[str]:
        return {t for s in self.psc.values() for t in s.tokens}

    @property
    def api_tokens(self) -> set[str]:
        """Access tokens the AS issued in its 200 answers."""
        return self.api_tokens_of(self.exchanges)

    def issuer_of(self, api_token: str) -> Exchange | None:
        for e in self.exchanges:
            body = _json_response(e)
            if isinstance(body, dict) and body.get("access_token") == api_token:
                return e
        return None

    def psc_session(self, client_id: str, answered: Mapping[str, str] | None) -> PscSession:
        """The PSC session opened for an LPS, as PSC saw it (the SUT's answer only when PSC saw none)."""
        for session in self.psc.values():
            if session.client_id == client_id:
                return session
        state = answered["session_state"] if answered else ""
        return self.psc.get(state, PscSession(state, client_id))

    def api_tokens_of(self, exchanges: Iterable[Exchange]) -> set[str]:
        tokens = set()
        for e in exchanges:
            body = _json_response(e)
            if isinstance(body, dict) and isinstance(body.get("access_token"), str):
                tokens.add(body["access_token"])
        return tokens

    def exchanges_of(self, session: PscSession) -> list[Exchange]:
        return [e for e in self.exchanges if _one(_form(e), "subject_token") in session.tokens]

    def calls_of(self, proxy_session_id: str | None, api_tokens: set[str]) -> list[Exchange]:
        """API requests for a proxy session: its session data in the body, or one of its API tokens."""
        found = []
        for e in self.calls:
            body = _json(e.request_body)
            named = isinstance(body, dict) and body.get("proxy_session_id")
            if (proxy_session_id and named == proxy_session_id) or _bearer(e) in api_tokens:
                found.append(e)
        return found

    @staticmethod
    def ids(exchanges: Iterable[Exchange]) -> list[str]:
        return [e.id for e in exchanges]


def _exchange_id(answer: httpx.Response) -> str:
    return str(answer.extensions.get("exchange_id", ""))


def _describe_token(token: str | None, api_tokens: set[str], psc_tokens: set[str]) -> str:
    if token is None:
        return "none"
    if token in api_tokens:
        return "API token"
    return "PSC token" if token in psc_tokens else "unknown token"


def _session(answer: httpx.Response | None) -> dict[str, str] | None:
    if answer is None or answer.status_code != 200:
        return None
    body = _json(answer.content)
    if isinstance(body, dict) and isinstance(body.get("proxy_session_id"), str) and body.get("session_state"):
        return {"proxy_session_id": body["proxy_session_id"], "session_state": str(body["session_state"])}
    return None


def _descriptor(answer: httpx.Response) -> tuple[bool, str]:
    body = _json(answer.content)
    ok = isinstance(body, dict) and "code" in body and "message" in body
    shown = body if body is not None else answer.text[:160]
    return ok, f"HTTP {answer.status_code} {shown!r}"


def _connected_message(answer: httpx.Response | None, session: Mapping[str, str] | None) -> str:
    if answer is None:
        return "no answer"
    return f"HTTP {answer.status_code}" + ("" if session else f", no session in {answer.text[:160]!r}")


def _auth_cli_thumbprints(consumer: ConsumerBench) -> dict[str, str]:
    """The AUTH_CLI client certificates of the (test) IGC-Santé, by thumbprint: the LPS's and the proxy's."""
    return {issued.x5t_s256: cid for cid, issued in consumer.counterparts.pki.clients.items()}


def _name_certificates(consumer: ConsumerBench, thumbprints: Iterable[str | None]) -> list[str]:
    pki = consumer.counterparts.pki
    names = {issued.x5t_s256: cid for cid, issued in pki.clients.items()}
    return [names.get(t or "", "none" if t is None else f"unknown {t[:10]}…") for t in thumbprints]


# -- judging the token exchange -----------------------------------------------------------------------


def judge_token_exchanges(checks: CheckRecorder, consumer: ConsumerBench, seen: Upstream) -> None:
    """IG 1.2.0 step 9, on every token-exchange request the SUT made since the scenario began."""
    exchanges = seen.exchanges
    evidence = Upstream.ids(exchanges)
    none = "no token-exchange request reached the authorization server"
    forms = [_form(e) for e in exchanges]

    grant_types = [f.get("grant_type") for f in forms]
    checks.record(
        EXCHANGE_GRANT_TYPE,
        bool(exchanges) and all(g == [rfc8693.GRANT_TYPE] for g in grant_types),
        f"grant_type {grant_types}" if exchanges else none,
        evidence=evidence,
    )

    kinds = []
    for f in forms:
        subject = _one(f, "subject_token")
        kind = "absent or repeated"
        if subject is not None:
            kind = "a token PSC did not issue in this scenario"
            for s in seen.psc.values():
                if subject in s.access:
                    kind = "PSC access token"
                elif subject in s.id:
                    kind = "PSC ID token"
                elif subject in s.refresh:
                    kind = "PSC refresh token"
        kinds.append(kind)
    checks.record(
        EXCHANGE_SUBJECT_TOKEN,
        bool(exchanges) and all(k == "PSC access token" for k in kinds),
        f"subject_token: {kinds}" if exchanges else none,
        evidence=evidence + seen.psc_exchange_ids,
    )

    types = [f.get("subject_token_type") for f in forms]
    allowed = rfc8693.PSC_SUBJECT_TOKEN_TYPES
    checks.record(
        EXCHANGE_SUBJECT_TOKEN_TYPE,
        bool(exchanges) and all(t is not None and len(t) == 1 and t[0] in allowed for t in types),
        f"subject_token_type {types}" if exchanges else none,
        evidence=evidence,
    )

    api_scope = consumer.counterparts.api_as.api_scope
    scopes = [f.get("scope") for f in forms]
    checks.record(
        EXCHANGE_SCOPE,
        bool(exchanges) and all(s is not None and len(s) == 1 and api_scope in s[0].split() for s in scopes),
        f"scope {scopes}, expected to include {api_scope!r}" if exchanges else none,
        evidence=evidence,
    )

    secrets = []
    for e, f in zip(exchanges, forms, strict=True):
        authorization = e.request_header("Authorization")
        if authorization is not None:
            secrets.append(f"{e.id}: Authorization {authorization.split(' ', 1)[0]}")
        secrets += [f"{e.id}: {name} in the form" for name in CREDENTIAL_FIELDS if name in f]
        if _x5t(e) is None:
            secrets.append(f"{e.id}: no client certificate")
    checks.record(
        EXCHANGE_MTLS_ONLY,
        bool(exchanges) and not secrets,
        "; ".join(secrets)
        or (f"{len(exchanges)} exchange(s) authenticated by certificate only" if exchanges else none),
        evidence=evidence,
    )


def judge_certificates(checks: CheckRecorder, consumer: ConsumerBench, seen: Upstream) -> None:
    """IG-SEC-04: every connection to the AS and the API shows an AUTH_CLI certificate of the IGC.

    Which one (the session's LPS's) is EDC-13's concern; a failed handshake is a connection without one.
    """
    upstream = seen.exchanges + seen.calls
    auth_cli = _auth_cli_thumbprints(consumer)
    wrong = [e for e in upstream if _x5t(e) not in auth_cli]
    problems = [f"{e.counterpart} {e.id}: {_name_certificates(consumer, [_x5t(e)])[0]}" for e in wrong]
    problems += seen.handshake_failures
    checks.record(
        AUTH_CLI_UPSTREAM,
        bool(upstream) and not problems,
        "; ".join(problems)
        or (
            f"certificates {sorted(set(_name_certificates(consumer, (_x5t(e) for e in upstream))))}"
            if upstream
            else "no request reached the authorization server or the API"
        ),
        evidence=Upstream.ids(upstream),
    )


def judge_leaks(checks: CheckRecorder, consumer: ConsumerBench, seen: Upstream, since: float) -> None:
    """IG-SEC-20: no PSC or API token in any answer (headers, cookies, body) the SUT gave the LPS."""
    secrets = seen.psc_tokens | seen.api_tokens
    # A token re-encoded around its signature is still the token: look for the signature too.
    signatures = {t.rsplit(".", 1)[1] for t in secrets if t.count(".") == 2}
    needles = secrets | {s for s in signatures if len(s) >= 32}
    answers = consumer.evidence.exchanges(counterpart="sut", since=since)
    leaks = []
    for e in answers:
        headers = "\n".join(f"{k}: {v}" for k, v in e.response_headers)
        text = headers + "\n" + e.response_body.decode("latin-1")
        if any(n in text for n in needles):
            leaks.append(f"{e.method} {urlsplit(e.url).path} ({e.id})")
    checks.record(
        NO_TOKEN_TO_LPS,
        bool(secrets) and bool(answers) and not leaks,
        ("token found in: " + ", ".join(leaks))
        if leaks
        else f"{len(answers)} answer(s) to the LPS checked against {len(secrets)} PSC/API token(s)",
        evidence=Upstream.ids(answers),
    )


# -- scenarios ----------------------------------------------------------------------------------------


@pytest.mark.verifies(
    "EDC-01",
    "EDC-06",
    "EDC-13",
    "IG-SEC-04",
    "IG-SEC-05",
    "IG-SEC-06",
    "IG-SEC-07",
    "IG-SEC-08",
    "IG-SEC-09",
    "IG-SEC-10",
    "IG-SEC-12",
    "IG-SEC-20",
)
def test_business_call_is_relayed_with_an_exchanged_token(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Requête métier : le proxy échange le jeton PSC puis relaie l'appel du LPS à l'API PSC"""
    client_id = consumer.lps_ids[0]
    identity = consumer.identities[0]
    sent: httpx.Response | None = None
    data: dict[str, str] = {}
    with consumer.lps() as lps:
        connected = consumer.connect(lps, client_id=client_id, national_id=identity.national_id)
        session = _session(connected)
        if session is not None:
            data = consumer.session_data(session, client_id=client_id, national_id=identity.national_id)
            sent = lps.post(consumer.send_path(), json=data)
    seen = Upstream.since(consumer, since)

    # The exchange is judged even if the connection failed: a SUT may exchange while connecting.
    if seen.exchanges or sent is not None:
        judge_token_exchanges(checks, consumer, seen)
    if seen.exchanges or seen.calls:
        judge_certificates(checks, consumer, seen)
        lps_cert = consumer.counterparts.pki.clients[client_id].x5t_s256
        used = seen.exchanges + seen.calls
        checks.record(
            LPS_CERTIFICATE,
            all(_x5t(e) == lps_cert for e in used),
            f"exchange with {_name_certificates(consumer, (_x5t(e) for e in seen.exchanges))}, "
            f"call with {_name_certificates(consumer, (_x5t(e) for e in seen.calls))}; "
            f"session of {client_id}",
            evidence=Upstream.ids(used),
        )
    checks.require(CONNECTED, session is not None, _connected_message(connected, session))
    assert sent is not None

    api = consumer.counterparts.api
    expected_path = urlsplit(api.signsessiondata_url).path
    forwarded = [
        e
        for e in seen.calls
        if e.method == "POST" and urlsplit(e.url).path == expected_path and _json(e.request_body) == data
    ]
    checks.record(
        SEND_FORWARDS_REQUEST,
        len(forwarded) >= 1,
        f"the API saw {[(e.method, urlsplit(e.url).path) for e in seen.calls]}; "
        f"{len(forwarded)} with the LPS's body, expected POST {expected_path}",
        evidence=[*Upstream.ids(seen.calls), _exchange_id(sent)],
    )
    if forwarded:
        # What the API answered that call, the LPS must get: same status, same body.
        answer = _json(sent.content)
        relayed = any(
            e.status == sent.status_code and _content(e.response_body) == _content(sent.content)
            for e in forwarded
        )
        signed = isinstance(answer, dict) and api.verify_signature(answer)
        checks.record(
            SEND_RELAYS_ANSWER,
            relayed and (sent.status_code != 200 or signed),
            f"LPS got HTTP {sent.status_code}"
            + (
                f", signature {'verified' if signed else 'absent or invalid'}"
                if sent.status_code == 200
                else ""
            )
            + f"; {'identical to' if relayed else 'differs from'} the API's answer"
            + ("" if relayed else f" {[(e.status, e.response_body[:80]) for e in forwarded]}"),
            evidence=[*Upstream.ids(forwarded), _exchange_id(sent)],
        )

    if seen.calls:
        api_tokens = seen.api_tokens
        pairs = [(seen.issuer_of(t), e) for e in seen.calls if (t := _bearer(e)) in api_tokens]
        pairs_found = [(x, c) for x, c in pairs if x is not None]
        if pairs_found:
            same = all(_x5t(x) == _x5t(c) for x, c in pairs_found)
            shown = [_name_certificates(consumer, (_x5t(x), _x5t(c))) for x, c in pairs_found]
        else:  # no call bore a token of this scenario's exchanges (judged by IG-SEC-12): compare the sets
            same = bool(seen.exchanges) and {_x5t(e) for e in seen.exchanges} == {_x5t(e) for e in seen.calls}
            shown = [
                _name_certificates(consumer, (_x5t(e) for e in seen.exchanges)),
                _name_certificates(consumer, (_x5t(e) for e in seen.calls)),
            ]
        checks.record(
            SAME_CERTIFICATE,
            same,
            f"(exchange certificate, call certificate): {shown}",
            evidence=Upstream.ids(seen.exchanges + seen.calls),
        )
        refused = [
            o
            for kind in ("authorization_scheme", "token_missing", "token_invalid", "token_expired")
            for o in consumer.observed(f"api.{kind}", since=since)
        ]
        bearers = [_bearer(e) for e in seen.calls]
        described = [_describe_token(b, api_tokens, seen.psc_tokens) for b in bearers]
        checks.record(
            BEARER_API_TOKEN,
            all(b is not None and b in api_tokens for b in bearers) and not refused,
            f"Authorization: Bearer <{described}>" + "".join(f"; {o.detail}" for o in refused),
            evidence=Upstream.ids(seen.calls),
        )

    judge_leaks(checks, consumer, seen, since)


@pytest.mark.verifies("EDC-01", "EDC-13", "EDC-14")
def test_two_lps_sessions_never_share_certificate_or_token(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Deux LPS en parallèle : chacun son certificat et ses jetons, jamais croisés"""

    def one_lps(index: int) -> tuple[str, httpx.Response, dict[str, str] | None, httpx.Response | None]:
        client_id, identity = consumer.lps_ids[index], consumer.identities[index]
        with consumer.lps() as lps:
            connected = consumer.connect(lps, client_id=client_id, national_id=identity.national_id)
            session = _session(connected)
            sent = None
            if session is not None:
                data = consumer.session_data(session, client_id=client_id, national_id=identity.national_id)
                sent = lps.post(consumer.send_path(), json=data)
        return client_id, connected, session, sent

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(one_lps, (0, 1)))
    seen = Upstream.since(consumer, since)

    # Each LPS's own trail: its PSC session, the exchanges of that session's tokens, the API calls
    # for its proxy session or with the API tokens those exchanges obtained.
    pki = consumer.counterparts.pki
    trails = []
    for client_id, _, session, _ in runs:
        psc = seen.psc_session(client_id, session)
        exchanges = seen.exchanges_of(psc)
        api_tokens = seen.api_tokens_of(exchanges)
        calls = seen.calls_of(session["proxy_session_id"] if session else None, api_tokens)
        certificates = {_x5t(e) for e in exchanges + calls}
        tokens = psc.tokens | api_tokens | {b for e in calls if (b := _bearer(e))}
        trails.append((client_id, session, psc, exchanges, calls, certificates, tokens))

    for client_id, _, _, exchanges, calls, certificates, _ in trails:
        if exchanges or calls:
            checks.record(
                LPS_CERTIFICATE,
                certificates == {pki.clients[client_id].x5t_s256},
                f"session of {client_id}: exchange with "
                f"{_name_certificates(consumer, (_x5t(e) for e in exchanges))}, call with "
                f"{_name_certificates(consumer, (_x5t(e) for e in calls))}",
                evidence=Upstream.ids(exchanges + calls),
            )

    (lps1, s1, psc1, x1, c1, certs1, tokens1), (lps2, s2, psc2, x2, c2, certs2, tokens2) = trails
    if (x1 or c1) and (x2 or c2):
        # Crossed: a session used the other LPS's certificate, or both used the same token or session.
        crossed = [
            f"the session of {mine} used the certificate of {other}"
            for mine, used, other in ((lps1, certs1, lps2), (lps2, certs2, lps1))
            if pki.clients[other].x5t_s256 in used
        ]
        if tokens1 & tokens2:
            crossed.append(f"{len(tokens1 & tokens2)} token(s) used by both sessions")
        if psc1.session_state and psc1.session_state == psc2.session_state:
            crossed.append("one PSC session for both")
        if s1 and s2 and s1["proxy_session_id"] == s2["proxy_session_id"]:
            crossed.append("one proxy session for both")
        jtis = [o.data.get("jti") for o in consumer.observed("api.call", since=since)]
        checks.record(
            SESSIONS_APART,
            not crossed,
            "; ".join(crossed)
            or f"{lps1}: {_name_certificates(consumer, certs1)}, "
            f"{lps2}: {_name_certificates(consumer, certs2)}; "
            f"no token in common; distinct PSC and proxy sessions; API token jti {jtis}",
            evidence=Upstream.ids(x1 + c1 + x2 + c2),
        )
    checks.require(
        CONNECTED,
        all(session is not None for _, _, session, _ in runs),
        "; ".join(f"{cid}: {_connected_message(answer, session)}" for cid, answer, session, _ in runs),
    )


@pytest.mark.verifies("EDC-01", "EDC-05")
@pytest.mark.parametrize("cookie", ["absent", "forged"])
def test_send_without_a_valid_session_gets_401(
    checks: CheckRecorder, consumer: ConsumerBench, cookie: str
) -> None:
    """/send sans session valide : 401 avec descripteur, et rien n'est relayé"""
    # A live session exists meanwhile: a proxy that falls back on "the" session is caught.
    with consumer.lps() as other:
        connected = consumer.connect(other, client_id=consumer.lps_ids[0])
    live = _session(connected)
    checks.require(CONNECTED, live is not None, _connected_message(connected, live))
    assert live is not None
    after_connect = time.time()
    forged = str(uuid.uuid4())
    # The body names the live session: only the cookie may open it (cookieAuth), never the body.
    data = consumer.session_data(live)
    headers = {"Cookie": f"proxy_session_id={forged}"} if cookie == "forged" else {}
    with consumer.lps() as lps:
        answer = lps.post(consumer.send_path(), json=data, headers=headers)
    ok, detail = _descriptor(answer)
    checks.record(SEND_WITHOUT_SESSION_401, ok and answer.status_code == 401, f"cookie {cookie}: {detail}")
    upstream = consumer.evidence.exchanges(counterpart="api", since=after_connect)
    checks.record(
        NOTHING_FORWARDED,
        not upstream,
        f"{len(upstream)} request(s) reached the API: {[(e.method, urlsplit(e.url).path) for e in upstream]}",
        evidence=Upstream.ids(upstream),
    )


@pytest.mark.verifies("EDC-01", "IG-SEC-16", "IG-SEC-20")
@pytest.mark.parametrize("expiry", ["lifetime-elapsed", "expired-at-psc"])
def test_expired_psc_token_is_refreshed_then_exchanged_again(
    checks: CheckRecorder, consumer: ConsumerBench, since: float, expiry: str
) -> None:
    """Jeton PSC expiré au moment de l'échange : le proxy le rafraîchit auprès de PSC puis réessaie"""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    client_id = consumer.lps_ids[0]
    timings, api_ttl, introspect = psc.timings, api_as.api_token_ttl_s, api_as.introspect
    # The API token is short-lived: the next call needs a new exchange. Its subject token has expired
    # by then: either its announced lifetime elapsed, or PSC holds it expired while the proxy cannot
    # know it yet (clocks apart: the IG's error case 1a, where only the AS's refusal tells).
    psc_ttl = SHORT_TTL_S if expiry == "lifetime-elapsed" else timings.access_token_ttl_s
    api_ttl_now = SHORT_TTL_S if expiry == "lifetime-elapsed" else 1
    with consumer.lps() as lps:
        try:
            psc.timings = dataclasses.replace(timings, access_token_ttl_s=psc_ttl)
            api_as.api_token_ttl_s = api_ttl_now
            try:
                connected = consumer.connect(lps, client_id=client_id)
            finally:
                psc.timings, api_as.api_token_ttl_s = timings, api_ttl
            connected_at = time.time()
            session = _session(connected)
            checks.require(CONNECTED, session is not None, _connected_message(connected, session))
            assert session is not None
            if expiry == "expired-at-psc":
                stale = {o.data.get("jti") for o in consumer.observed("token.issued", since=since)}

                def introspect_at_psc(token: str) -> Mapping[str, Any]:
                    answer = introspect(token)
                    return {"active": False} if answer.get("jti") in stale else answer

                api_as.introspect = introspect_at_psc
            # Until the API token has expired (and, in the first case, the PSC token with it).
            time.sleep(max(0.0, connected_at + api_ttl_now + EXPIRY_MARGIN_S - time.time()))
            expired_at = time.time()
            sent = lps.post(consumer.send_path(), json=consumer.session_data(session, client_id=client_id))
        finally:
            api_as.introspect = introspect
    seen = Upstream.since(consumer, since)
    mine = seen.psc_session(client_id, session)
    retried = [
        e
        for e in seen.exchanges
        if e.started_at >= expired_at
        and e.status == 200
        and _one(_form(e), "subject_token") in mine.refreshed_access
    ]
    called = [e for e in seen.calls if retried and e.started_at >= retried[0].started_at]
    refused = [e for e in seen.exchanges if e.started_at >= expired_at and e.status != 200]
    checks.record(
        REFRESH_THEN_RETRY,
        bool(mine.refreshed_access) and bool(retried) and bool(called),
        f"{expiry}: {len(refused)} exchange(s) refused "
        f"{[(e.status, (_json(e.response_body) or {}).get('error')) for e in refused]}; "
        f"{len(mine.refreshed_access)} refresh(es) at PSC; {len(retried)} exchange(s) of a refreshed token "
        f"accepted; then {len(called)} business call(s) (API HTTP {[e.status for e in called]}); "
        f"/send HTTP {sent.status_code}",
        evidence=[
            *Upstream.ids(seen.exchanges),
            *seen.psc_exchange_ids,
            *Upstream.ids(called),
            _exchange_id(sent),
        ],
    )
    judge_leaks(checks, consumer, seen, since)


@pytest.mark.verifies("EDC-01", "EDC-07")
@pytest.mark.parametrize(
    "mode",
    [ListenerMode.SERVER_ERROR, ListenerMode.RESET, ListenerMode.SLOW],
    ids=["server-error", "reset", "too-slow"],
)
def test_api_failure_is_answered_502_503_504(
    checks: CheckRecorder, consumer: ConsumerBench, mode: ListenerMode
) -> None:
    """Panne de l'API PSC (erreur, coupure, lenteur) : le proxy répond 502, 503 ou 504 sans se bloquer"""
    bound = consumer.read_timeout_s  # how long the LPS waits for the proxy
    server = consumer.counterparts.api.server
    with consumer.lps() as lps:
        connected = consumer.connect(lps)
        session = _session(connected)
        checks.require(CONNECTED, session is not None, _connected_message(connected, session))
        assert session is not None
        served_before, switched = server.requests_served, time.time()
        if mode is ListenerMode.SLOW:  # slower than the LPS waits: only the proxy's own timeout is in time
            server.set_mode(mode, slow_s=bound + 1)
        elif mode is ListenerMode.SERVER_ERROR:
            server.set_mode(mode, status=500)
        else:
            server.set_mode(mode)
        started = time.monotonic()
        answer: httpx.Response | None = None
        failure = ""
        try:
            answer = lps.post(consumer.send_path(), json=consumer.session_data(session), timeout=bound)
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__}: {exc}"
        waited = time.monotonic() - started
        server.set_mode(ListenerMode.NORMAL)
        _drain(consumer, served_before, switched, deadline=switched + bound + 3)
    reached = consumer.evidence.exchanges(counterpart="api", since=switched)
    outcome = f"HTTP {answer.status_code}" if answer else f"no answer within {bound:.0f} s ({failure})"
    checks.record(
        UPSTREAM_5XX,
        answer is not None and answer.status_code in API_STATUSES_FOR_FAILURES,
        f"API {mode.value}: {outcome} after {waited:.1f} s; the API saw {len(reached)} request(s)",
        evidence=Upstream.ids(reached) + ([_exchange_id(answer)] if answer is not None else []),
    )
    if answer is not None and answer.status_code in API_STATUSES_FOR_FAILURES:
        ok, detail = _descriptor(answer)
        checks.record(UPSTREAM_DESCRIPTOR, ok, detail)


def _drain(consumer: ConsumerBench, served_before: int, switched: float, deadline: float) -> None:
    """Wait until the API has finished what it was given: a slow answer must not land in the next scenario."""
    server = consumer.counterparts.api.server
    while time.time() < deadline:
        started = server.requests_served - served_before
        if consumer.evidence.count(counterpart="api", since=switched) >= started:
            return
        time.sleep(0.05)
