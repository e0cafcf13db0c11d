"""Session: logout, idleness and the refresh of the PSC token along the life of a proxy session.

What the SUT must do at PSC and towards the APIs while one of its sessions lives and ends:

- logout (`DELETE /disconnect`) ends the proxy session *and* the PSC session (EXI PSC 20, EDC-08);
- idleness ends the proxy session only, never the PSC session (EXI PSC 32);
- the PSC token is refreshed while the LPS is active, never while it is idle (EXI PSC 11);
- the session cookie dies with the LPS (RECO PSC 06).

Whether the proxy still *acts* for a session is read from the wire, not from its answers: the
`Footprint` of a PSC session is every upstream request that carried its credentials (its PSC
tokens, and the API tokens obtained by exchanging them).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.counterparts.observations import Observation
from conformance.evidence.calls import Call, exchange_of
from conformance.evidence.model import Exchange

REFERENTIEL = "Référentiel PSC v1.8"
UPSTREAM = "OpenAPI API Conformité 1.0 (upstream)"
COOKIE = "proxy_session_id"

# What the SUT may still finish after an LPS call has been answered (a refresh triggered by the call
# but completed just after it, a trace written late): not counted as done "while idle".
ACTIVITY_GRACE_S = 0.5


# -- evidence: what the SUT did upstream for one PSC session ------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _values(exchange: Exchange) -> list[str]:
    """Every parameter and header value of a request: where a credential can travel."""
    values = [v for _, v in exchange.request_headers]
    for text in (urlsplit(exchange.url).query, exchange.request_body.decode("utf-8", "replace")):
        values += [v for vs in parse_qs(text).values() for v in vs]
    return values


def _where(exchange: Exchange) -> str:
    return (
        f"{exchange.counterpart} {exchange.method} {urlsplit(exchange.url).path} @{exchange.started_at:.2f}"
    )


@dataclass(frozen=True)
class Footprint:
    """Every upstream request of the SUT that carried the credentials of one PSC session.

    PSC requests count at the token and userinfo endpoints (a refresh, a userinfo call); the
    end-session request that logs the session out is not acting for it. Token exchanges count when
    they present one of its PSC tokens, API calls when they carry one of the API tokens obtained.
    """

    session_state: str
    exchanges: tuple[Exchange, ...] = ()

    def between(self, start: float, end: float | None = None) -> list[Exchange]:
        return [e for e in self.exchanges if e.started_at >= start and (end is None or e.started_at <= end)]

    def relayed(self, call: Call) -> list[Exchange]:
        """The API calls made with the session's credentials while `call` was being answered."""
        return [e for e in self.between(call.started_at, call.ended_at) if e.counterpart == "api"]


def footprint(
    session_state: str,
    issued: Iterable[Observation],
    exchanges: Sequence[Exchange],
    psc_paths: Collection[str],
) -> Footprint:
    """The footprint of PSC session `session_state`.

    `issued` are PSC's `token.issued` observations (each names the exchange whose answer carried the
    tokens), `exchanges` the recorded upstream exchanges, `psc_paths` the URL paths of PSC's token
    and userinfo endpoints.
    """
    by_id = {e.id: e for e in exchanges}
    psc_tokens: set[str] = set()
    for o in issued:
        exchange = by_id.get(o.exchange_id or "")
        body = _json(exchange.response_body) if exchange is not None else None
        if o.data.get("session_state") == session_state and isinstance(body, dict):
            psc_tokens |= {
                body[k] for k in ("access_token", "refresh_token", "id_token") if isinstance(body.get(k), str)
            }
    if not psc_tokens:
        return Footprint(session_state)
    acting: list[Exchange] = []
    api_tokens: set[str] = set()
    for e in exchanges:
        if e.counterpart == "api-as" and psc_tokens & set(_values(e)):
            acting.append(e)
            answer = _json(e.response_body) if e.status == 200 else None
            if isinstance(answer, dict) and isinstance(answer.get("access_token"), str):
                api_tokens.add(answer["access_token"])
    for e in exchanges:
        if e.counterpart == "psc" and urlsplit(e.url).path in psc_paths:
            if any(t in v for v in _values(e) for t in psc_tokens):
                acting.append(e)
        elif e.counterpart == "api" and any(
            t in v for v in [*_values(e), e.url] for t in api_tokens | psc_tokens
        ):
            acting.append(e)
    return Footprint(session_state, tuple(sorted(acting, key=lambda e: e.started_at)))


def psc_session_of(issued: Iterable[Observation], call: Call, client_id: str) -> str | None:
    """The PSC session opened for `client_id` while `call` (its connect) ran, as PSC saw it."""
    for o in issued:
        if (
            o.client_id == client_id
            and call.started_at <= o.at <= call.ended_at
            and isinstance(o.data.get("session_state"), str)
        ):
            return str(o.data["session_state"])
    return None


def psc_token_expiry(
    issued: Iterable[Observation], session_state: str, before: float, ttl_s: float
) -> float | None:
    """When the last PSC access token issued for the session before `before` expired (PSC's TTL)."""
    times = [o.at for o in issued if o.data.get("session_state") == session_state and o.at < before]
    return max(times) + ttl_s if times else None


# -- prerequisite: a live session's call is relayed -----------------------------------------------------


@condition(
    "session_call_relayed",
    ("EDC-06",),
    basis=f"{UPSTREAM}, /send (tag Send: the request is transmitted via the proxy to the API PSC)",
    strength=Strength.MUST,
    precondition="the LPS holds a session the SUT handed out",
    fr="La requête /send d'une session vivante est relayée à l'API PSC avec les jetons de la session",
    en="The /send of a live session is relayed to the API PSC with the session's tokens",
)
def session_call_relayed(call: Call, trail: Footprint) -> Judgement:
    relayed = trail.relayed(call)
    return judged(
        bool(relayed),
        f"/send: {call.describe()}; {len(relayed)} API call(s) with the session's credentials meanwhile",
        [call.exchange_id, *(e.id for e in relayed)],
    )


# -- logout (EXI PSC 20, EDC-08) --------------------------------------------------------------------------


@condition(
    "disconnect_answers_200",
    ("EDC-08",),
    basis=f"{UPSTREAM}, DELETE /disconnect, 200 (disconnect the user from the proxy)",
    strength=Strength.MUST,
    precondition="the LPS sent DELETE /disconnect with the cookie of its live session",
    fr="DELETE /disconnect avec la session répond 200",
    en="DELETE /disconnect with the session answers 200",
)
def disconnect_answers_200(call: Call) -> Judgement:
    return judged(call.status == 200, f"DELETE /disconnect: {call.describe()}", [call.exchange_id])


@condition(
    "disconnect_ends_psc_session",
    ("EXI PSC 20",),
    basis=f"{REFERENTIEL}, EXI PSC 20 (log the user out of the service and of PSC); OpenID Connect "
    "RP-Initiated Logout 1.0 §2: the end-session request names the session with id_token_hint, without "
    "which PSC (Keycloak) asks the user to confirm and ends nothing on a server-to-server call",
    strength=Strength.MUST,
    precondition="the LPS logged out of a live session whose PSC session is known",
    fr="La déconnexion clôt aussi la session PSC (end-session avec id_token_hint, par GET ou POST)",
    en="Logging out also ends the PSC session (end-session with id_token_hint, by GET or POST)",
)
def disconnect_ends_psc_session(session_state: str | None, logouts: Sequence[Observation]) -> Judgement:
    """`logouts`: PSC's end-session observations since the logout began (ended and refused ones)."""
    if not session_state:
        return inconclusive("the PSC session of the proxy session is unknown (PSC issued no token for it)")
    ended = [o for o in logouts if o.kind == "logout" and o.data.get("session_state") == session_state]
    refused = [o for o in logouts if o.kind != "logout"]
    evidence = [o.exchange_id for o in ended + refused]
    if ended:
        methods = sorted({str(o.data.get("method", "?")) for o in ended})
        return passed(
            f"PSC session {session_state} ended at PSC's end-session ({', '.join(methods)})", evidence
        )
    if refused:
        return failed(
            f"PSC session {session_state} still open: PSC refused the end-session request(s): "
            + "; ".join(o.detail for o in refused),
            evidence,
        )
    return failed(f"PSC session {session_state} still open: no end-session request reached PSC", evidence)


def _acting(trail: Footprint, after: float) -> list[Exchange]:
    return trail.between(after)


@condition(
    "no_action_after_disconnect",
    ("EXI PSC 20",),
    basis=f"{REFERENTIEL}, EXI PSC 20 (the user is logged out of the service: the proxy no longer acts "
    "for the session)",
    strength=Strength.MUST,
    precondition="the SUT accepted the logout (200)",
    fr="Après la déconnexion, le proxy n'agit plus pour la session (ni PSC, ni échange, ni API)",
    en="After logout, the proxy no longer acts for the session (no PSC, exchange or API call)",
)
def no_action_after_disconnect(trail: Footprint, disconnected: Call, probes: Sequence[Call]) -> Judgement:
    """`probes`: the LPS's calls with the old cookie after the logout."""
    acting = _acting(trail, disconnected.ended_at)
    return judged(
        not acting,
        f"calls with the old cookie: {[p.describe() for p in probes]}; {len(acting)} upstream request(s) "
        f"with the session's credentials since the logout: {[_where(e) for e in acting]}",
        [*(p.exchange_id for p in probes), *(e.id for e in acting)],
    )


# -- idleness (EXI PSC 32) ---------------------------------------------------------------------------------


@condition(
    "idle_session_ended",
    ("EXI PSC 32",),
    basis=f"{REFERENTIEL}, EXI PSC 32 (log the user out of the service after a period of inactivity), "
    "with the SUT's declared idle timeout",
    strength=Strength.MUST,
    precondition="the LPS stayed idle longer than the declared idle timeout after a relayed call",
    fr="Passé le délai d'inactivité déclaré, le proxy n'agit plus pour la session (ni PSC, échange, API)",
    en="Past the declared idle timeout the proxy no longer acts for the session (no PSC, exchange, API call)",
)
def idle_session_ended(trail: Footprint, last: Call, late: Call, idle_timeout_s: float) -> Judgement:
    quiet = late.started_at - last.ended_at
    if quiet <= idle_timeout_s:
        return inconclusive(
            f"the LPS was idle {quiet:.1f} s only, not more than the declared {idle_timeout_s:g} s"
        )
    acting = _acting(trail, late.started_at)
    return judged(
        not acting,
        f"/send after {quiet:.1f} s idle (declared timeout {idle_timeout_s:g} s): {late.describe()}; "
        f"{len(acting)} upstream request(s) with the idle session's credentials: "
        f"{[_where(e) for e in acting]}",
        [late.exchange_id, *(e.id for e in acting)],
    )


@condition(
    "idle_end_keeps_psc_session",
    ("EXI PSC 32",),
    basis=f"{REFERENTIEL}, EXI PSC 32 (… without closing the PSC session)",
    strength=Strength.MUST,
    precondition="the proxy ended the session for idleness",
    fr="La fin de session par inactivité ne clôt pas la session PSC (aucun end-session)",
    en="The end of a session by idleness does not end the PSC session (no end-session)",
)
def idle_end_keeps_psc_session(session_state: str, logouts: Sequence[Observation]) -> Judgement:
    ended = [o for o in logouts if o.data.get("session_state") == session_state]
    return judged(
        not ended,
        f"{len(ended)} end-session request(s) at PSC for the idle session's PSC session {session_state}",
        [o.exchange_id for o in ended],
    )


@condition(
    "active_session_lives_on",
    ("EXI PSC 32",),
    basis=f"project reading of {REFERENTIEL}, EXI PSC 32: the timeout the SUT declares is one of "
    "inactivity, so a session used more often than it lives on (the text only requires ending idle ones)",
    strength=Strength.READING,
    precondition="the LPS called more often than the declared idle timeout, for longer than it",
    fr="Des requêtes espacées de moins que le délai d'inactivité restent relayées au-delà de ce délai "
    "(lecture du projet)",
    en="Calls spaced by less than the idle timeout are still relayed beyond that timeout (project reading)",
)
def active_session_lives_on(
    trail: Footprint, calls: Sequence[Call], idle_timeout_s: float, margin_s: float
) -> Judgement:
    """`calls`: the active LPS's /send calls, the first one included."""
    if len(calls) < 2:
        return inconclusive("the active LPS made fewer than two calls")
    gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(calls)]
    lived = calls[-1].started_at - calls[0].ended_at
    if max(gaps) >= idle_timeout_s - margin_s or lived <= idle_timeout_s:
        return inconclusive(
            f"calls every {max(gaps):.1f} s at most over {lived:.1f} s: not spaced by less than the declared "
            f"{idle_timeout_s:g} s (minus {margin_s:g} s) for longer than it"
        )
    relayed = [bool(trail.relayed(c)) for c in calls]
    message = (
        f"{len(calls)} call(s), at most {max(gaps):.1f} s apart, over {lived:.1f} s (declared idle timeout "
        f"{idle_timeout_s:g} s): {[c.describe() for c in calls]}, relayed to the API: {relayed}"
    )
    if all(relayed):
        return passed(message, [c.exchange_id for c in calls])
    return failed(
        message + "; the session of an active LPS ended (EXI PSC 32 only requires ending idle sessions)",
        [c.exchange_id for c in calls],
    )


# -- refresh (EXI PSC 11) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdlePhase:
    """A period where the LPS called nothing, between two of its calls, for one PSC session.

    `token_expired_at` is when the last PSC access token issued before the period expired, by the
    lifetime PSC gave it (None when PSC issued none).
    """

    session_state: str
    last: Call
    next: Call
    token_expired_at: float | None
    grace_s: float = ACTIVITY_GRACE_S

    @property
    def starts(self) -> float:
        return self.last.ended_at + self.grace_s

    @property
    def ends(self) -> float:
        return self.next.started_at

    @property
    def token_expired(self) -> bool:
        """The PSC access token expired while the LPS was idle: a refresh was due, not allowed."""
        return self.token_expired_at is not None and self.token_expired_at < self.ends


def _refreshes(
    phase: IdlePhase, refreshes: Iterable[Observation], start: float, end: float
) -> list[Observation]:
    return [
        o
        for o in refreshes
        if o.kind == "token.refresh"
        and o.data.get("session_state") == phase.session_state
        and start <= o.at < end
    ]


@condition(
    "no_psc_refresh_while_idle",
    ("EXI PSC 11",),
    basis=f"{REFERENTIEL}, EXI PSC 11 (refresh the authentication at PSC only while the user actively "
    "uses the service)",
    strength=Strength.MUST,
    precondition="the PSC access token expired while the LPS was idle",
    fr="Pendant l'inactivité du LPS, le proxy ne rafraîchit pas le jeton PSC, même expiré",
    en="While the LPS is idle, the proxy does not refresh the PSC token, even once expired",
)
def no_psc_refresh_while_idle(phase: IdlePhase, refreshes: Sequence[Observation]) -> Judgement:
    during = _refreshes(phase, refreshes, phase.starts, phase.ends)
    span = f"{phase.ends - phase.starts:.1f} s of idleness (from {phase.grace_s:g} s after the last call)"
    if during:
        return failed(
            f"{len(during)} refresh_token grant(s) at PSC during {span}", [o.exchange_id for o in during]
        )
    if not phase.token_expired:
        return inconclusive(f"no refresh during {span}, but the PSC access token did not expire meanwhile")
    return passed(f"no refresh_token grant at PSC during {span}; the PSC access token expired meanwhile")


@condition(
    "psc_refresh_on_activity",
    ("EXI PSC 11",),
    basis=f"{REFERENTIEL}, EXI PSC 11 (refresh periodically to keep the access token valid while the user "
    "is active)",
    strength=Strength.MUST,
    precondition="the PSC access token had expired when the LPS became active again",
    fr="Le LPS de nouveau actif après l'expiration du jeton PSC : le proxy le rafraîchit et s'en sert",
    en="The LPS active again after the PSC token expired: the proxy refreshes it and uses the new one",
)
def psc_refresh_on_activity(
    phase: IdlePhase,
    refreshes: Sequence[Observation],
    issued: Sequence[Observation],
    exchanged: Sequence[Observation],
) -> Judgement:
    """`issued`: PSC's token.issued; `exchanged`: the authorization server's token_exchange.issued."""
    if not phase.token_expired:
        return inconclusive("the PSC access token had not expired when the LPS became active again")
    active = _refreshes(phase, refreshes, phase.next.started_at, phase.next.ended_at + phase.grace_s)
    refreshed = {o.data.get("jti") for o in issued if o.exchange_id in {r.exchange_id for r in active}}
    used = [o for o in exchanged if o.data.get("subject_token_jti") in refreshed - {None}]
    return judged(
        bool(active) and bool(used),
        f"{len(active)} refresh_token grant(s) at PSC once the LPS was active, {len(used)} exchange(s) of "
        f"the refreshed token; /send {phase.next.describe()}",
        [*(o.exchange_id for o in active + used), phase.next.exchange_id],
    )


# -- the session cookie (RECO PSC 06) -------------------------------------------------------------------


def session_cookie_headers(answer: httpx.Response | None) -> list[str]:
    """The Set-Cookie headers of `answer` that set the proxy_session_id cookie."""
    if answer is None:
        return []
    return [h for h in answer.headers.get_list("set-cookie") if h.partition("=")[0].strip() == COOKIE]


def _lifetime_attributes(header: str) -> list[str]:
    names = [part.split("=", 1)[0].strip().lower() for part in header.split(";")[1:]]
    return [n for n in names if n in ("expires", "max-age")]


@condition(
    "session_cookie_without_expiry",
    ("RECO PSC 06",),
    basis=f"{REFERENTIEL}, RECO PSC 06 (a recommendation: the service may log the user out when the "
    "browser or thick client closes); RFC 6265 §4.1.2.1-2: a cookie without Expires or Max-Age ends "
    "with the client's session",
    strength=Strength.SHOULD,
    precondition="the connect answer set the proxy_session_id cookie",
    fr="Le cookie proxy_session_id est un cookie de session (ni Expires ni Max-Age) : il meurt avec le LPS",
    en="The proxy_session_id cookie is a session cookie (no Expires, no Max-Age): it dies with the LPS",
)
def session_cookie_without_expiry(answer: httpx.Response | None) -> Judgement:
    headers = session_cookie_headers(answer)
    evidence = [exchange_of(answer)]
    if not headers:
        return inconclusive(f"no Set-Cookie {COOKIE} in the connect answer", evidence)
    lasting = [h for h in headers if _lifetime_attributes(h)]
    if lasting:
        return failed(
            "; ".join(f"Set-Cookie: {h} ({', '.join(_lifetime_attributes(h))})" for h in lasting)
            + ": the cookie outlives the LPS",
            evidence,
        )
    return passed("; ".join(f"Set-Cookie: {h}" for h in headers) + ": no Expires, no Max-Age", evidence)
