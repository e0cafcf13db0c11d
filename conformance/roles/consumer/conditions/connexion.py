"""Connexion: the proxy logs the professional in at PSC by CIBA, on behalf of the LPS.

Judged from PSC's own record of what the SUT sent (`conformance.counterparts.psc` observes every
backchannel request, client authentication, poll, token and introspection it served) and from what
the LPS got back from POST /connect.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

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
from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.evidence.calls import exchange_of
from conformance.roles.consumer.conditions.answers import UPSTREAM, ConnectAnswer
from conformance.standards.ciba import PollResult

REQUIRED_SCOPES = ("openid", "scope_all")
REQUIRED_ACR = "eidas1"
TLS_1_2_OR_HIGHER = ("TLSv1.2", "TLSv1.3")
SECRET_AUTHENTICATION = ("client_auth.basic", "client_auth.bad_secret")
IDENTIFIER_REFUSALS = (
    "client_auth.unknown_client",
    "client_auth.cn_mismatch",
    "client_auth.client_id_missing",
)
SLIDES = "Présentation ANS du 29/09/2025 (outil de conformité de l'EdC), Prérequis"


def _ids(observations: Iterable[Observation]) -> list[str | None]:
    return [o.exchange_id for o in observations]


def _endpoint_auths(auths: Sequence[Observation], endpoint: str) -> list[Observation]:
    """Who authenticated at one endpoint: the accepted `client_auth`, and the refusals that name a
    client. How it authenticated (a secret, `client_auth.basic`) is EXI PSC 24's matter, not who."""
    return [o for o in auths if o.data.get("endpoint") == endpoint and o.kind not in SECRET_AUTHENTICATION]


def _certificate(o: Observation) -> object:
    return o.data.get("certificate_cn") or o.data.get("certificate_subject")


def _session_handed_out(connected: ConnectAnswer) -> bool:
    """The LPS got something it could use as a session: a 2xx answer, a session body or a cookie."""
    answer = connected.answer
    return (
        bool(connected.cookie)
        or connected.session is not None
        or (answer is not None and 200 <= answer.status_code < 300)
    )


def _connect_outcome(connected: ConnectAnswer) -> str:
    answer = connected.answer
    status = "no answer in time" if answer is None else f"HTTP {answer.status_code}"
    return f"{status}, cookie {'set' if connected.cookie else 'absent'}"


# -- what the SUT asked PSC -------------------------------------------------------------------------------


@condition(
    "ciba_on_behalf_of_the_lps",
    ("EDC-12",),
    basis=f"{SLIDES}: certificates 1 and 2 (CN = the LPS's client id) are what the proxy uses for the "
    "CIBA connection of the professional at PSC on behalf of LPS 1 and 2",
    strength=Strength.MUST,
    precondition="the SUT sent a CIBA (backchannel) request to PSC",
    fr="La demande CIBA est faite au nom du LPS, avec son client id et son certificat",
    en="The CIBA request is made on behalf of the LPS, with its client id and its certificate",
)
def ciba_on_behalf_of_the_lps(
    auths: Sequence[Observation], client_id: str, certificate_x5t: str | None
) -> Judgement:
    attempts = _endpoint_auths(auths, "backchannel")
    if not attempts:
        return inconclusive("no CIBA request reached PSC")
    wrong = [
        o
        for o in attempts
        if o.kind != "client_auth"
        or o.client_id != client_id
        or o.data.get("certificate_x5t") != certificate_x5t
    ]
    seen = "; ".join(
        f"{o.client_id or '-'} "
        + (
            "with the LPS's certificate"
            if o.data.get("certificate_x5t") == certificate_x5t
            else f"with another certificate ({_certificate(o)})"
        )
        + ("" if o.kind == "client_auth" else f", refused: {o.detail}")
        for o in attempts
    )
    return judged(
        not wrong, f"CIBA request(s) by {seen}; expected {client_id} with its own certificate", _ids(attempts)
    )


@condition(
    "ciba_scope_openid_scope_all",
    ("EXI PSC 17",),
    basis="Référentiel PSC v1.8, EXI PSC 17 (the authorization request carries the scopes openid and "
    "scope_all)",
    strength=Strength.MUST,
    precondition="the SUT sent a CIBA request to PSC",
    fr="La demande d'authentification porte les scopes openid et scope_all",
    en="The authentication request carries the openid and scope_all scopes",
)
def ciba_scope_openid_scope_all(received: Sequence[Observation]) -> Judgement:
    if not received:
        return inconclusive("no CIBA request reached PSC")
    scopes = [tuple(o.data.get("scope") or ()) for o in received]
    lacking = [s for s in scopes if not set(REQUIRED_SCOPES) <= set(s)]
    return judged(
        not lacking,
        "; ".join(f"scope {' '.join(s) or '(none)'!r}" for s in scopes)
        + (f" — lacks {' or '.join(REQUIRED_SCOPES)}" if lacking else ""),
        _ids(received),
    )


@condition(
    "ciba_acr_values_eidas1",
    ("EXI PSC 16",),
    basis="Référentiel PSC v1.8, EXI PSC 16 (acr_values = eidas1 in the authentication request)",
    strength=Strength.MUST,
    precondition="the SUT sent a CIBA request to PSC",
    fr="La demande d'authentification porte acr_values=eidas1",
    en="The authentication request carries acr_values=eidas1",
)
def ciba_acr_values_eidas1(received: Sequence[Observation]) -> Judgement:
    if not received:
        return inconclusive("no CIBA request reached PSC")
    values = [o.data.get("acr_values") for o in received]
    return judged(
        all(v == REQUIRED_ACR for v in values),
        "; ".join(f"acr_values {v!r}" for v in values) + f" (expected {REQUIRED_ACR!r})",
        _ids(received),
    )


@condition(
    "psc_client_auth_mtls",
    ("EXI PSC 24",),
    basis="Référentiel PSC v1.8, EXI PSC 24 (TLS 1.2 at least, with an IGC-Santé ORG AUTH_CLI certificate); "
    "ANS FAQ: mTLS is mandatory in the Espace de Confiance (the secret is for the Espace Communautaire); "
    "RFC 8705 §2.1 tls_client_auth",
    strength=Strength.MUST,
    precondition="the SUT made an authenticated call to PSC (CIBA, token or introspection)",
    fr="Le proxy s'authentifie à PSC par mTLS (TLS ≥ 1.2, certificat AUTH_CLI), sans secret",
    en="The proxy authenticates to PSC by mTLS (TLS >= 1.2, AUTH_CLI certificate), without a secret",
)
def psc_client_auth_mtls(auths: Sequence[Observation]) -> Judgement:
    if not auths:
        return inconclusive("the SUT made no authenticated call to PSC")
    accepted = [o for o in auths if o.kind == "client_auth"]
    problems = [
        o
        for o in auths
        if o.kind in (*SECRET_AUTHENTICATION, "client_auth.no_certificate")
        or (
            o.kind == "client_auth"
            and (
                o.data.get("method") != "tls_client_auth"
                or o.data.get("tls_version") not in TLS_1_2_OR_HIGHER
            )
        )
    ]
    if problems:
        return failed("; ".join(sorted({_auth_line(o) for o in problems})), _ids(problems))
    return passed("; ".join(sorted({_auth_line(o) for o in accepted})), _ids(accepted))


def _auth_line(o: Observation) -> str:
    if o.kind != "client_auth":
        return o.detail
    return f"{o.data.get('endpoint')}: {o.data.get('method')} over {o.data.get('tls_version')}"


@condition(
    "psc_client_id_is_registered",
    ("EXI PSC 21",),
    basis="Référentiel PSC v1.8, EXI PSC 21 (the connection identifiers PSC issued); RFC 8705 §2 (client_id "
    "in every request) and §2.1 (the certificate is the one registered for that client)",
    strength=Strength.MUST,
    precondition="the SUT made an authenticated call to PSC",
    fr="Le proxy utilise l'identifiant client attribué par PSC, cohérent avec son certificat",
    en="The proxy uses the client id PSC assigned, matching its certificate",
)
def psc_client_id_is_registered(auths: Sequence[Observation]) -> Judgement:
    if not auths:
        return inconclusive("the SUT made no authenticated call to PSC")
    refused = [o for o in auths if o.kind in IDENTIFIER_REFUSALS]
    if refused:
        return failed("; ".join(sorted({o.detail for o in refused})), _ids(refused))
    used = sorted({o.client_id or "-" for o in auths})
    return passed(f"client ids {used}, each with its own certificate", _ids(auths))


# -- what the LPS got -------------------------------------------------------------------------------------


@condition(
    "connect_session_state_is_psc_session",
    ("EDC-01",),
    basis=f"{UPSTREAM}, schema session: session_state is the PSC session state (to check that the user "
    "session maps to one PSC session)",
    strength=Strength.MUST,
    precondition="the connect handed out a session and PSC issued tokens during it",
    fr="Le session_state rendu au LPS est celui de la session PSC",
    en="The session_state given to the LPS is PSC's session",
)
def connect_session_state_is_psc_session(
    connected: ConnectAnswer, issued: Sequence[Observation]
) -> Judgement:
    session = connected.session
    if session is None:
        return inconclusive(f"no session was handed out ({_connect_outcome(connected)})")
    if not issued:
        return inconclusive("PSC issued no token during this connect: no PSC session to compare with")
    states = {str(o.data.get("session_state")) for o in issued}
    return judged(
        session["session_state"] in states,
        f"session_state {session['session_state']!r}; PSC session(s) {sorted(states)}",
        [exchange_of(connected.answer), *_ids(issued)],
    )


@condition(
    "connect_replay_304_without_psc",
    ("EDC-02",),
    basis=f"{UPSTREAM}, POST /connect 304: user session already active, no content, no Pro Santé Connect "
    "or downstream IdP call",
    strength=Strength.MUST,
    precondition="a first connect of the same LPS handed out a live session",
    fr="Un second /connect avec la session vivante répond 304 sans appeler PSC",
    en="A second /connect with the live session answers 304 without calling PSC",
)
def connect_replay_304_without_psc(
    replay: httpx.Response | None, psc_calls: Sequence[Observation]
) -> Judgement:
    status = "no answer in time" if replay is None else f"HTTP {replay.status_code}"
    return judged(
        replay is not None and replay.status_code == 304 and not psc_calls,
        f"{status}; {len(psc_calls)} new CIBA request(s) at PSC",
        [exchange_of(replay), *_ids(psc_calls)],
    )


@condition(
    "connect_value_outside_description_refused",
    ("EDC-03",),
    basis=f"project reading of {UPSTREAM}, schema connection: channel and bindingMessage are plain strings "
    "whose descriptions name CARD or MOBILE and two digits 00-99, with no enum or pattern",
    strength=Strength.READING,
    precondition="the SUT answered the connect",
    fr="Une valeur hors de la description du contrat (channel, bindingMessage) est refusée en 400 "
    "(lecture du projet : le contrat ne la contraint que par sa description)",
    en="A value outside the contract's description (channel, bindingMessage) is refused with 400 "
    "(project reading: the contract constrains it by its description only)",
)
def connect_value_outside_description_refused(answer: httpx.Response | None, case: str) -> Judgement:
    if answer is None:
        return inconclusive(f"{case}: no answer in time")
    if answer.status_code == 400:
        return passed(f"{case}: HTTP 400", [exchange_of(answer)])
    what = "accepted" if 200 <= answer.status_code < 300 else "answered"
    return failed(
        f"{case}: {what} with HTTP {answer.status_code}; 400 expected by the project's reading, beyond the "
        "upstream schema, which only describes the value",
        [exchange_of(answer)],
    )


# -- PSC's answers the SUT must act on ----------------------------------------------------------------------


def _polls_by_request(polls: Sequence[Observation]) -> dict[str, list[Observation]]:
    grouped: dict[str, list[Observation]] = defaultdict(list)
    for o in sorted(polls, key=lambda o: o.at):
        grouped[str(o.data.get("auth_req_id"))].append(o)
    return grouped


def _too_early(poll: Observation) -> bool:
    since = poll.data.get("seconds_since_last_poll")
    if since is None:
        return False
    return float(since) < float(poll.data.get("interval", 0)) - float(poll.data.get("tolerance_s", 0))


def _gap(poll: Observation) -> str:
    return (
        f"{float(poll.data['seconds_since_last_poll']):.2f} s (interval {float(poll.data['interval']):g} s)"
    )


@condition(
    "ciba_polls_no_faster_than_interval",
    ("EXI PSC 09",),
    basis="OpenID CIBA Core 1.0 §7.3 (interval: the minimum time the client MUST wait between polling "
    "requests) and §11 (after slow_down, the increased interval)",
    strength=Strength.MUST,
    precondition="the SUT polled PSC at least twice for one authentication request",
    fr="Le proxy n'interroge pas PSC plus vite que l'intervalle annoncé",
    en="The proxy polls PSC no faster than the announced interval",
)
def ciba_polls_no_faster_than_interval(polls: Sequence[Observation]) -> Judgement:
    measured = [o for o in polls if o.data.get("seconds_since_last_poll") is not None]
    if not measured:
        return inconclusive(
            f"{len(polls)} poll(s): no two polls of one request to measure an interval between"
        )
    early = [o for o in measured if _too_early(o)]
    if early:
        return failed(
            f"{len(early)} of {len(measured)} poll(s) too early: " + "; ".join(_gap(o) for o in early[:5]),
            _ids(early),
        )
    shortest = min(measured, key=lambda o: float(o.data["seconds_since_last_poll"]))
    return passed(f"{len(polls)} poll(s); shortest gap {_gap(shortest)}", _ids(measured))


@condition(
    "ciba_slow_down_increases_interval",
    ("EXI PSC 09",),
    basis="OpenID CIBA Core 1.0 §11 (slow_down: the interval MUST be increased, by at least 5 s, for this "
    "and all subsequent requests; the simulated PSC's increment stands for those 5 s and is shorter in "
    "the embedded campaign) and RFC 8628 §3.5",
    strength=Strength.MUST,
    precondition="PSC answered slow_down and the SUT polled again for the same request",
    fr="Après slow_down, le proxy espace ses interrogations de l'incrément demandé",
    en="After slow_down, the proxy spaces its polls by the requested increment",
)
def ciba_slow_down_increases_interval(polls: Sequence[Observation]) -> Judgement:
    after: list[Observation] = []
    slowed = 0
    for series in _polls_by_request(polls).values():
        first = next((i for i, o in enumerate(series) if o.data.get("result") == PollResult.SLOW_DOWN), None)
        if first is not None:
            slowed += 1
            after.extend(series[first + 1 :])
    if not slowed:
        return inconclusive("PSC answered no slow_down")
    if not after:
        return inconclusive("the SUT did not poll again after slow_down")
    early = [o for o in after if _too_early(o)]
    if early:
        return failed(
            f"after slow_down, {len(early)} of {len(after)} poll(s) came before the increased interval: "
            + "; ".join(_gap(o) for o in early[:5]),
            _ids(early),
        )
    return passed("after slow_down: " + "; ".join(_gap(o) for o in after[:5]), _ids(after))


@condition(
    "ciba_stops_polling_after_terminal_answer",
    ("EXI PSC 09",),
    basis="RFC 8628 §3.5 (on any error other than authorization_pending and slow_down the client MUST stop "
    "polling), the polling model OpenID CIBA Core 1.0 §11 takes up (access_denied, expired_token)",
    strength=Strength.MUST,
    precondition="PSC gave a terminal answer (tokens, access_denied, expired_token, invalid_grant) to a poll",
    fr="Le proxy cesse d'interroger PSC après une réponse finale (refus, expiration)",
    en="The proxy stops polling PSC after a final answer (denial, expiry)",
)
def ciba_stops_polling_after_terminal_answer(polls: Sequence[Observation]) -> Judgement:
    terminal: list[Observation] = []
    later: list[Observation] = []
    for series in _polls_by_request(polls).values():
        index = next(
            (i for i, o in enumerate(series) if not PollResult(str(o.data.get("result"))).continues), None
        )
        if index is not None:
            terminal.append(series[index])
            later.extend(series[index + 1 :])
    if not terminal:
        results = sorted({str(o.data.get("result")) for o in polls}) or ["no poll"]
        return inconclusive(f"PSC gave no final answer to a poll (answers: {', '.join(results)})")
    ends = ", ".join(str(o.data.get("result")) for o in terminal)
    if later:
        return failed(f"{len(later)} poll(s) after PSC answered {ends}", _ids(later))
    return passed(f"no poll after PSC answered {ends}", _ids(terminal))


@condition(
    "connect_refused_without_session",
    ("EXI PSC 09",),
    basis="OpenID CIBA Core 1.0 §11 (access_denied, expired_token: the authentication request ends without "
    f"tokens); {UPSTREAM}, POST /connect (a session is the 200 answer and its cookie)",
    strength=Strength.MUST,
    precondition="the SUT started a CIBA request that PSC never approved, and answered the LPS",
    fr="Un refus ou une expiration à PSC fait échouer la connexion, sans session",
    en="A refusal or an expiry at PSC makes the connection fail, with no session",
)
def connect_refused_without_session(
    connected: ConnectAnswer, started: Sequence[Observation], issued: Sequence[Observation]
) -> Judgement:
    if not started:
        return inconclusive("the SUT started no CIBA request at PSC")
    if issued:
        return inconclusive("PSC issued tokens during this connect: nothing was refused")
    if connected.answer is None and not connected.cookie:
        return inconclusive(
            "the SUT did not answer the connect in time; its polling is judged from PSC's record"
        )
    return judged(
        not _session_handed_out(connected),
        f"{_connect_outcome(connected)}"
        + (
            " — a session was handed out although PSC gave no tokens"
            if _session_handed_out(connected)
            else ""
        ),
        [exchange_of(connected.answer), *_ids(started)],
    )


def _rejection(connected: ConnectAnswer, issued: Sequence[Observation], tamper: str) -> Judgement:
    """The connect that received a defective ID token gave the LPS no session."""
    served = [o for o in issued if o.data.get("id_token_tamper") == tamper]
    if not served:
        return inconclusive(f"PSC issued no ID token with the defect {tamper!r} during this connect")
    handed_out = _session_handed_out(connected)
    return judged(
        not handed_out,
        f"ID token {tamper}: {_connect_outcome(connected)}"
        + (" — the connect succeeded with this ID token" if handed_out else ""),
        [exchange_of(connected.answer), *_ids(served)],
    )


@condition(
    "id_token_claims_validated",
    ("EXI PSC 09",),
    basis="OpenID Connect Core 1.0 §3.1.3.7 (the client MUST validate the ID token: iss matches the issuer, "
    "step 2; aud contains its client_id, step 3; the current time is before exp, step 9)",
    strength=Strength.MUST,
    precondition="PSC issued the SUT an ID token with a wrong iss, aud or exp",
    fr="Un jeton d'identité dont iss, aud ou exp est invalide fait échouer la connexion",
    en="An ID token with an invalid iss, aud or exp makes the connection fail",
)
def id_token_claims_validated(
    connected: ConnectAnswer, issued: Sequence[Observation], tamper: str
) -> Judgement:
    return _rejection(connected, issued, tamper)


@condition(
    "id_token_signature_validated",
    ("EXI PSC 09",),
    basis="project reading of OpenID Connect Core 1.0 §3.1.3.7 step 6: an ID token received directly from "
    "the token endpoint MAY be trusted on TLS server validation instead of its signature; the harness "
    "expects the signature checked with the keys PSC publishes",
    strength=Strength.READING,
    precondition="PSC issued the SUT an ID token signed with a key it does not publish",
    fr="Un jeton d'identité mal signé fait échouer la connexion (lecture du projet : OpenID Connect permet "
    "de s'en remettre à TLS pour un jeton reçu du point de jeton)",
    en="A badly signed ID token makes the connection fail (project reading: OpenID Connect lets a client "
    "rely on TLS for a token received from the token endpoint)",
)
def id_token_signature_validated(
    connected: ConnectAnswer, issued: Sequence[Observation], tamper: str
) -> Judgement:
    judgement = _rejection(connected, issued, tamper)
    if judgement.status is Status.FAILED:
        return failed(
            judgement.message + " (OpenID Connect Core §3.1.3.7 step 6 allows relying on TLS here: a "
            "warning, not a failure)",
            judgement.evidence,
        )
    return judgement


@condition(
    "id_token_acr_validated",
    ("EXI PSC 16",),
    basis="OpenID Connect Core 1.0 §3.1.3.7 step 12 (when acr was requested, the client SHOULD check the "
    "asserted value); Référentiel PSC v1.8, EXI PSC 16 (the level requested is eidas1)",
    strength=Strength.SHOULD,
    precondition="PSC issued the SUT an ID token whose acr is not eidas1",
    fr="Un jeton d'identité d'un niveau autre qu'eidas1 fait échouer la connexion",
    en="An ID token whose acr is not eidas1 makes the connection fail",
)
def id_token_acr_validated(connected: ConnectAnswer, issued: Sequence[Observation], tamper: str) -> Judgement:
    return _rejection(connected, issued, tamper)


# -- introspection ----------------------------------------------------------------------------------------


@condition(
    "introspection_with_proxy_certificate",
    ("EDC-15",),
    basis=f"{SLIDES}: certificate 3 (CN = the proxy's client id) is the one used for the introspection of "
    "PSC access tokens",
    strength=Strength.MUST,
    precondition="the SUT introspected a PSC token",
    fr="Le jeton d'accès PSC est introspecté avec le certificat propre du proxy",
    en="The PSC access token is introspected with the proxy's own certificate",
)
def introspection_with_proxy_certificate(auths: Sequence[Observation], proxy_client_id: str) -> Judgement:
    attempts = _endpoint_auths(auths, "introspection")
    if not attempts:
        return inconclusive("the SUT made no introspection call to PSC")
    wrong = [o for o in attempts if o.kind != "client_auth" or o.client_id != proxy_client_id]
    seen = sorted({f"{o.client_id or '-'} ({o.data.get('role') or o.kind})" for o in attempts})
    return judged(
        not wrong,
        f"introspection(s) by {', '.join(seen)}; expected {proxy_client_id}",
        _ids(wrong or attempts),
    )


@condition(
    "psc_access_token_introspected",
    ("EDC-15",),
    basis=f"project reading of the {SLIDES} (certificate 3 is used for the introspection of PSC access "
    "tokens): each PSC access token the proxy obtains is introspected",
    strength=Strength.READING,
    precondition="PSC issued an access token during the connect",
    fr="Chaque jeton d'accès PSC obtenu est introspecté (lecture du projet)",
    en="Each PSC access token obtained is introspected (project reading)",
)
def psc_access_token_introspected(
    issued: Sequence[Observation], introspections: Sequence[Observation]
) -> Judgement:
    if not issued:
        return inconclusive("PSC issued no access token during this connect")
    looked_up = {o.data.get("jti") for o in introspections if o.data.get("jti")}
    missing = [o for o in issued if o.data.get("jti") not in looked_up]
    if missing:
        return failed(
            f"{len(missing)} of {len(issued)} PSC access token(s) never introspected; the sources name the "
            "certificate for introspection but do not state that every token is introspected",
            _ids(missing),
        )
    return passed(f"{len(issued)} PSC access token(s), each introspected", _ids(introspections))


__all__ = [
    "ciba_acr_values_eidas1",
    "ciba_on_behalf_of_the_lps",
    "ciba_polls_no_faster_than_interval",
    "ciba_scope_openid_scope_all",
    "ciba_slow_down_increases_interval",
    "ciba_stops_polling_after_terminal_answer",
    "connect_refused_without_session",
    "connect_replay_304_without_psc",
    "connect_session_state_is_psc_session",
    "connect_value_outside_description_refused",
    "id_token_acr_validated",
    "id_token_claims_validated",
    "id_token_signature_validated",
    "introspection_with_proxy_certificate",
    "psc_access_token_introspected",
    "psc_client_auth_mtls",
    "psc_client_id_is_registered",
]
