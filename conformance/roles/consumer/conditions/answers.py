"""How the SUT's API Conformité answers the LPS: the session it hands out, and its error answers.

Shared by every consumer theme: the session is what most scenarios need first (a prerequisite),
and one error-descriptor rule serves every documented refusal (EDC-03, -04, -05, -09), bound to
the requirement at the call site.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

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
from conformance.evidence.calls import exchange_of, json_body, status_text

UPSTREAM = "OpenAPI API Conformité 1.0 (upstream)"


def _snippet(answer: httpx.Response, limit: int = 160) -> str:
    return answer.text[:limit]


# -- the session ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectAnswer:
    """What the LPS got back from POST /connect: the answer, and the cookie its jar now holds."""

    answer: httpx.Response | None
    cookie: str | None

    @property
    def session(self) -> dict[str, str] | None:
        """The documented session object, when the answer is one (strictly: 200, both ids, the cookie)."""
        if self.answer is None or self.answer.status_code != 200:
            return None
        body = json_body(self.answer)
        if not isinstance(body, dict):
            return None
        ids = {k: body.get(k) for k in ("proxy_session_id", "session_state")}
        if not all(isinstance(v, str) and v for v in ids.values()):
            return None
        if self.cookie != ids["proxy_session_id"]:
            return None
        return {k: str(v) for k, v in ids.items()}


@condition(
    "connect_answers_session",
    ("EDC-01",),
    basis=f"{UPSTREAM}, POST /connect, 200: schema session {{proxy_session_id, session_state}} and "
    "Set-Cookie proxy_session_id",
    strength=Strength.MUST,
    precondition="the LPS sent a valid POST /connect for a known client and professional",
    fr="POST /connect répond 200 avec proxy_session_id, session_state et le cookie de session",
    en="POST /connect answers 200 with proxy_session_id, session_state and the session cookie",
)
def connect_answers_session(connected: ConnectAnswer) -> Judgement:
    answer = connected.answer
    if answer is None:
        return failed("the SUT gave no answer to POST /connect in time")
    body = json_body(answer)
    keys = sorted(body) if isinstance(body, dict) else ("not a JSON object" if answer.content else "empty")
    detail = (
        f"{status_text(answer)}, body keys {keys}, cookie "
        f"{'matches proxy_session_id' if connected.session else ('set' if connected.cookie else 'absent')}"
    )
    return judged(connected.session is not None, detail, [exchange_of(answer)])


# -- error answers ------------------------------------------------------------------------------------


@condition(
    "error_answer_status",
    ("EDC-16",),
    basis=f"{UPSTREAM}: the status the operation documents for this refusal (400 invalid input, "
    "404 unknown client, 401 no session)",
    strength=Strength.MUST,
    precondition="the SUT answered the request",
    fr="La requête refusée reçoit le statut documenté par le contrat",
    en="The refused request gets the status the contract documents",
)
def error_answer_status(
    answer: httpx.Response | None, expected: Collection[int], case: str = ""
) -> Judgement:
    prefix = f"{case}: " if case else ""
    if answer is None:
        return failed(f"{prefix}no answer in time (expected {sorted(expected)})")
    return judged(
        answer.status_code in expected,
        f"{prefix}{status_text(answer)} (expected {' or '.join(map(str, sorted(expected)))}) "
        f"{_snippet(answer, 120)!r}",
        [exchange_of(answer)],
    )


@condition(
    "error_descriptor_is_json",
    ("EDC-16",),
    basis=f"{UPSTREAM}: 400 and 404 of /connect, 401 of /disconnect and /send declare an "
    "application/json object body {code, message[, metadata]}",
    strength=Strength.MUST,
    precondition="the SUT refused the request with the documented status",
    fr="Le refus porte un descripteur d'erreur JSON (objet)",
    en="The refusal carries a JSON error descriptor (an object)",
)
def error_descriptor_is_json(
    answer: httpx.Response | None, expected: Collection[int], case: str = ""
) -> Judgement:
    prefix = f"{case}: " if case else ""
    if answer is None or answer.status_code not in expected:
        return inconclusive(f"{prefix}the refusal was not answered {sorted(expected)}: {status_text(answer)}")
    body = json_body(answer)
    media = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    json_media = media == "application/json" or media.endswith("+json")
    ok = isinstance(body, dict) and json_media
    return judged(
        ok,
        f"{prefix}{status_text(answer)} {media or 'no Content-Type'}, "
        + ("a JSON object" if isinstance(body, dict) else f"body {_snippet(answer, 80)!r}"),
        [exchange_of(answer)],
    )


@condition(
    "error_descriptor_fields",
    ("EDC-16",),
    basis=f"project reading of {UPSTREAM}: the descriptor lists code and message (and metadata on "
    "/connect) but marks none required; we expect code and message as strings",
    strength=Strength.READING,
    precondition="the refusal carries a JSON object",
    fr="Le descripteur d'erreur porte code et message (lecture du projet : le contrat ne les rend pas "
    "obligatoires)",
    en="The error descriptor carries code and message (project reading: the contract does not make "
    "them required)",
)
def error_descriptor_fields(answer: httpx.Response | None, case: str = "") -> Judgement:
    prefix = f"{case}: " if case else ""
    if answer is not None and answer.status_code < 400:  # accepted, or 304: no refusal to describe
        return inconclusive(f"{prefix}not a refusal: {status_text(answer)}")
    body = json_body(answer) if answer is not None else None
    if not isinstance(body, dict):
        return inconclusive(f"{prefix}no JSON object to read: {status_text(answer)}")
    missing = [k for k in ("code", "message") if not isinstance(body.get(k), str | int) or body.get(k) == ""]
    if missing:
        return failed(
            f"{prefix}{', '.join(missing)} missing or empty (keys {sorted(body)}); beyond the upstream "
            "schema, which marks nothing required",
            [exchange_of(answer)],
        )
    return passed(
        f"{prefix}code {body['code']!r}, message {str(body['message'])[:80]!r}", [exchange_of(answer)]
    )


# -- the proxy's own failure to reach an API ------------------------------------------------------------


@condition(
    "upstream_failure_answered_502_503_504",
    ("EDC-07",),
    basis=f"{UPSTREAM}, /send: 502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout; RFC 9110 "
    "§15.6.3-5 (a gateway that could not get a valid answer from the inbound server)",
    strength=Strength.MUST,
    precondition="the SUT's own link to the API failed (connection refused or reset, TLS handshake "
    "failed, no answer in time); an answer the API did give is relayed as it is (EDC-06), not judged here",
    fr="La liaison du proxy vers l'API ayant échoué, l'appel métier reçoit 502, 503 ou 504",
    en="The proxy's link to the API having failed, the business call gets 502, 503 or 504",
)
def upstream_failure_answered_502_503_504(
    answer: httpx.Response | None,
    link_failure: str,
    waited_s: float | None = None,
    evidence: Collection[str | None] = (),
) -> Judgement:
    """`link_failure` says how the SUT's link to the API failed ("" when it did not: inconclusive);
    `waited_s` is how long the LPS waited when `answer` is None (never less than the SUT's declared
    upstream timeout plus a margin, so that a missing answer is the SUT's, not a race with its timer)."""
    refs = [exchange_of(answer), *evidence]
    if not link_failure:
        return inconclusive(
            f"the SUT's link to the API did not fail ({status_text(answer)}): nothing to map to 502/503/504",
            refs,
            root_cause="the SUT did not call the API while its link was broken",
        )
    if answer is None:
        waited = f" within {waited_s:.1f} s" if waited_s is not None else ""
        return failed(f"{link_failure}; the LPS got no answer{waited}", refs)
    after = f" after {waited_s:.1f} s" if waited_s is not None else ""
    return judged(
        answer.status_code in (502, 503, 504),
        f"{link_failure}; the LPS got {status_text(answer)}{after} (expected 502, 503 or 504) "
        f"{_snippet(answer, 100)!r}",
        refs,
    )
