"""Contrat : POST /signsessiondata against the API PSC's OpenAPI documents (EDC-17), and invalid bodies
(EDC-18).

Two documents judge each answer of the contract scenario, with two strengths (as for the API
Conformité, `conformance.roles.consumer.conditions.contrat`):

- the **upstream** contract: what ANS's "API PSC tests de Conformite" 1.0 states (SessionData's four
  required string fields, SignedSessionData = the same four and `signature`, the statuses 200, 400,
  401, 500, 503); without `--swagger`, the project's statement of it, `swagger/api-psc-baseline.json`.
  A departure fails;
- the **project's** `swagger/api-psc.json`, stricter (the 401's WWW-Authenticate, the 403, an error
  body, a non-empty signature): what only it finds is a warning.

A valid call must be served with the four fields it sent and a signature. The token comes from the
SUT's own authorization server (the harness's in the resource-server-only mode): when the resource
server refuses it and the token itself departs from what the API needs (not bound to the certificate,
another audience or subject…), the defect is the token's, judged by the token scenarios, and the
contract is not judged on that call (inconclusive).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    passed,
)
from conformance.evidence.calls import Call, exchange_of, json_body
from conformance.negative_inputs import NegativeCase
from conformance.openapi import OpenApiDocument
from conformance.roles.provider.conditions.ressource import ApiCall, Handling
from conformance.roles.shared.contract_reading import read_answer
from conformance.standards import jose

UPSTREAM: Final = "OpenAPI API PSC tests de Conformite 1.0 (upstream)"
OURS: Final = "swagger/api-psc.json"
SESSION_DATA_FIELDS: Final = ("nationalId", "clientID", "proxy_session_id", "session_state")
TOKEN_CLAIM_CHECK: Final = "the token scenarios (IG-SEC-11, IG-SEC-26)"

# What a server's stack trace looks like in a body (Python, Java, .NET, Node.js), never what an API says.
STACK_TRACE_MARKERS: Final = (
    "Traceback (most recent call last)",
    "\tat java.",
    "Exception in thread",
    ".java:",
    'File "',
    "at System.",
    "Stack trace",
)
_NODE_FRAME: Final = re.compile(r"\n\s+at .+\(.+:\d+:\d+\)")


# -- the API token the contract call used -----------------------------------------------------------------


def api_token_problems(
    token: str, *, x5t_s256: str, audience: str, scope: str, national_id: str, now: float
) -> tuple[str, ...]:
    """What makes `token` unusable for this call, read from its claims without verifying it (the harness
    cannot verify the SUT's signature): not bound to the certificate by RFC 8705's cnf, another audience,
    scope or subject, expired. Empty when nothing is wrong, or when the token is not a JWT (opaque:
    only the SUT can tell)."""
    read = jose.unverified(token)
    if read is None:
        return ()
    claims = read[1]
    problems: list[str] = []
    cnf = claims.get("cnf")
    bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
    if bound != x5t_s256:
        problems.append(f"cnf.x5t#S256 is {bound!r}, not the RFC 8705 thumbprint of the certificate")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        problems.append(f"aud {aud!r} does not name {audience!r}")
    granted = claims.get("scope")
    if not isinstance(granted, str) or scope not in granted.split():
        problems.append(f"scope {granted!r} lacks {scope!r}")
    if claims.get("sub") != national_id:
        problems.append(f"sub {claims.get('sub')!r} is not the professional's national id {national_id!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        problems.append(f"exp {exp!r} is not in the future")
    return tuple(problems)


@dataclass(frozen=True)
class TokenSource:
    """Where the contract call's API token came from."""

    token: str | None
    origin: str  # "the SUT's authorization server" or "the harness's authorization server"
    exchange: Call | None = None  # the token exchange that gave it, when the SUT's AS did


@condition(
    "api_token_obtained",
    ("EDC-17",),
    basis="IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étapes 9-12): the business "
    "call carries the API token obtained by token exchange (RFC 8693 §2.2.1: access_token)",
    strength=Strength.MUST,
    precondition="the harness asked the SUT's authorization server for an API token",
    fr="Un jeton d'API a été obtenu pour l'appel métier",
    en="An API token was obtained for the business call",
)
def api_token_obtained(source: TokenSource) -> Judgement:
    """Used as a prerequisite: the contract cannot be judged without a token."""
    evidence = [source.exchange.exchange_id if source.exchange is not None else None]
    if source.token:
        return passed(f"API token from {source.origin}", evidence)
    answered = source.exchange.describe() if source.exchange is not None else "no exchange"
    return inconclusive(
        f"{source.origin} gave no API token ({answered})",
        evidence,
        root_cause=f"the token exchange failed ({answered}): the exchange scenarios judge it",
    )


# -- the valid call ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignCall:
    """A valid POST /signsessiondata: the body sent, and what came back."""

    trial: ApiCall
    sent: Mapping[str, str]
    token_problems: tuple[str, ...] = ()  # `api_token_problems` of the token used


def _media_type(answer: httpx.Response) -> str:
    return answer.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _is_json_media(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


@condition(
    "signsessiondata_signs_the_session",
    ("EDC-17",),
    basis=f"{UPSTREAM}, POST /signsessiondata: 200 application/json SignedSessionData (the SessionData "
    "sent, its four fields, and the signature made by the API PSC)",
    strength=Strength.MUST,
    precondition="a valid SessionData was sent with a usable API token over the certificate it is bound to",
    fr="Un appel valide reçoit 200 et les quatre champs envoyés, signés",
    en="A valid call gets 200 with the four fields it sent, and a signature",
)
def signsessiondata_signs_the_session(sign: SignCall) -> Judgement:
    trial = sign.trial
    how = trial.handling
    if how is Handling.SILENT:
        return inconclusive(f"{trial.describe()}: no answer", trial.evidence)
    answer = trial.answer
    if (answer is None or answer.status_code in (401, 403)) and sign.token_problems:
        return inconclusive(
            f"{trial.describe()}: the token used departs from what the API needs "
            f"({'; '.join(sign.token_problems)})",
            trial.evidence,
            root_cause=f"the API token of the SUT's authorization server is not usable: "
            f"{'; '.join(sign.token_problems)}; {TOKEN_CLAIM_CHECK} judge it",
        )
    if answer is None or answer.status_code != 200:
        return failed(f"{trial.describe()}: a valid call must get 200 SignedSessionData", trial.evidence)
    problems: list[str] = []
    media = _media_type(answer)
    if not _is_json_media(media):
        problems.append(f"Content-Type {media or 'absent'}, not application/json")
    body = json_body(answer)
    if not isinstance(body, dict):
        problems.append("the body is not a JSON object")
        body = {}
    for name in SESSION_DATA_FIELDS:
        if body.get(name) != sign.sent.get(name):
            problems.append(f"{name} is {body.get(name)!r}, {sign.sent.get(name)!r} was sent")
    signature = body.get("signature")
    if not isinstance(signature, str) or not signature.strip():
        problems.append(f"signature is {signature!r}, not a non-empty string")
    if problems:
        return failed(f"{trial.describe()}: {'; '.join(problems)}", trial.evidence)
    return passed(f"{trial.describe()}: the four fields echoed and a signature", trial.evidence)


# -- the two documents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiPscContracts:
    """The two documents an answer of the API PSC is read against, and where the API is mounted."""

    upstream: OpenApiDocument  # the upstream document read leniently, or the project's baseline of it
    ours: OpenApiDocument  # the project's normative document
    base_path: str  # the path of the API's base URL, e.g. /mockservice/apipsc


@condition(
    "api_psc_answer_fits_upstream_contract",
    ("EDC-17",),
    basis=f"{UPSTREAM}: for each status POST /signsessiondata lists, the media type and schema of its "
    "answer (SignedSessionData for 200; no body declared for 400, 401, 500, 503)",
    strength=Strength.MUST,
    precondition="the upstream document lists the answer's status",
    fr="La réponse respecte le contrat OpenAPI amont de l'API PSC (type de média, schéma)",
    en="The answer fits the upstream OpenAPI contract of the API PSC (media type, schema)",
)
def api_psc_answer_fits_upstream_contract(
    contracts: ApiPscContracts, answer: httpx.Response | None
) -> Judgement:
    if answer is None:
        return inconclusive("the SUT gave no answer: there is nothing to read against the contract")
    reading = read_answer(contracts.upstream, answer, contracts.base_path)
    evidence = [exchange_of(answer)]
    if reading.operation is None:
        return inconclusive(
            f"{reading.request}: the upstream document describes no such operation (base path "
            f"{contracts.base_path or '/'})",
            evidence,
        )
    if not reading.status_listed:
        return inconclusive(
            f"{reading.describe()}: the upstream document lists {', '.join(reading.declared)}, not "
            f"{reading.status}; OpenAPI does not make that list exhaustive, so only the project's document "
            "judges this answer",
            evidence,
        )
    if reading.problems:
        return failed(f"{reading.describe()}: {'; '.join(reading.problems)}", evidence)
    return passed(f"{reading.describe()} fits the upstream document", evidence)


@condition(
    "api_psc_answer_fits_project_contract",
    ("EDC-17",),
    basis=f"project reading: {OURS}, stricter than the upstream document (its additions are listed in "
    "swagger/README.md)",
    strength=Strength.READING,
    precondition="the answer does not already depart from the upstream contract",
    fr="La réponse respecte aussi le document OpenAPI du projet pour l'API PSC (lecture plus stricte)",
    en="The answer also fits the project's OpenAPI document of the API PSC (a stricter reading)",
)
def api_psc_answer_fits_project_contract(
    contracts: ApiPscContracts, answer: httpx.Response | None
) -> Judgement:
    if answer is None:
        return inconclusive("the SUT gave no answer: there is nothing to read against the contract")
    upstream = read_answer(contracts.upstream, answer, contracts.base_path)
    evidence = [exchange_of(answer)]
    if upstream.problems and upstream.status_listed:
        return inconclusive(
            f"{upstream.describe()} already departs from the upstream document",
            evidence,
            root_cause=f"api_psc_answer_fits_upstream_contract: {'; '.join(upstream.problems)}",
        )
    ours = read_answer(contracts.ours, answer, contracts.base_path)
    if ours.operation is None:
        return inconclusive(f"{ours.request}: the project's document describes no such operation", evidence)
    if not ours.problems:
        return passed(f"{ours.describe()} fits {OURS}", evidence)
    return failed(
        f"{ours.describe()}: {'; '.join(ours.problems)} — stated only by {OURS}, not by the upstream "
        "document (swagger/README.md lists the project's additions)",
        evidence,
    )


# -- invalid bodies ------------------------------------------------------------------------------------------


def _case_text(case: NegativeCase, trial: ApiCall) -> str:
    return f"{case.name} (breaks: {case.rule}): {trial.call.describe()}"


@condition(
    "invalid_session_data_refused",
    ("EDC-18",),
    basis=f"{UPSTREAM}: the body is a SessionData JSON object whose four fields are required strings; "
    "400 Bad Request is the documented refusal",
    strength=Strength.MUST,
    precondition="the body breaks a rule the upstream document states; the resource server answered, or "
    "ended the connection",
    fr="Un corps qui n'est pas une SessionData valide n'est pas servi",
    en="A body that is not a valid SessionData is not served",
)
def invalid_session_data_refused(case: NegativeCase, trial: ApiCall) -> Judgement:
    how = trial.handling
    text = _case_text(case, trial)
    if how is Handling.SILENT:
        return inconclusive(f"{text}: no answer", trial.evidence)
    if how is Handling.SERVED:
        return failed(f"{text}: served, where the upstream document requires the four fields", trial.evidence)
    return passed(f"{text}: not served", trial.evidence)


@condition(
    "invalid_session_data_answered_4xx",
    ("EDC-18",),
    basis="project reading of RFC 9110 §15.5 (a client error gets a 4xx) and §15.6 (a 5xx is the server's "
    f"own failure); {UPSTREAM} lists 400 for a bad request, and 500 among its answers",
    strength=Strength.READING,
    precondition="the resource server did not serve the invalid body",
    fr="Un corps invalide est refusé par un 4xx, pas par une erreur serveur (lecture du projet)",
    en="An invalid body is refused with a 4xx, not a server error (project reading)",
)
def invalid_session_data_answered_4xx(case: NegativeCase, trial: ApiCall) -> Judgement:
    how = trial.handling
    text = _case_text(case, trial)
    if how in (Handling.SILENT, Handling.SERVED):
        return inconclusive(
            f"{text}: not refused (invalid_session_data_refused judges that)"
            if how is Handling.SERVED
            else f"{text}: no answer",
            trial.evidence,
        )
    status = trial.status
    if status is not None and 400 <= status < 500:
        return passed(text, trial.evidence)
    why = "a server error" if status is not None else "the connection ended without an answer"
    return failed(
        f"{text}: {why} for the client's error; the project reads RFC 9110 §15.5 as a 4xx here (the "
        "upstream document allows a 500)",
        trial.evidence,
    )


def stack_trace_markers(body: bytes) -> list[str]:
    """The markers of a stack trace found in a body (Python, Java, .NET, Node.js frames)."""
    text = body.decode("utf-8", errors="replace")
    found = [marker.strip() for marker in STACK_TRACE_MARKERS if marker in text]
    if _NODE_FRAME.search(text):
        found.append("at …(file:line:column)")
    return list(dict.fromkeys(found))


@condition(
    "no_stack_trace_in_answer",
    ("EDC-18",),
    basis="project reading: an error answer shows none of the server's internals (a stack trace names "
    "its code, libraries and versions); no source of the trust space states it",
    strength=Strength.READING,
    precondition="the resource server answered the invalid body",
    fr="La réponse à un corps invalide ne contient pas de trace de pile (lecture du projet)",
    en="The answer to an invalid body carries no stack trace (project reading)",
)
def no_stack_trace_in_answer(case: NegativeCase, trial: ApiCall) -> Judgement:
    text = _case_text(case, trial)
    if trial.answer is None:
        return inconclusive(f"{text}: no answer, no body to read", trial.evidence)
    markers = stack_trace_markers(trial.answer.content)
    if markers:
        return failed(
            f"{text}: the body shows a stack trace ({', '.join(repr(m) for m in markers)}); the project "
            "reads this as a leak of the server's internals",
            trial.evidence,
        )
    return passed(f"{text}: no stack trace in the body", trial.evidence)
