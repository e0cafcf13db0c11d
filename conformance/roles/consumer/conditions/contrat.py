"""Contract: the API Conformité's answers against its OpenAPI documents (EDC-16), and invalid inputs.

Two documents judge every answer, with two strengths:

- the **upstream** contract: what ANS's document "API proxy e-Santé" 1.0 states (the statuses it
  lists, their media types and schemas), read leniently where it is defective
  (`conformance.openapi.baseline_of`; without `--swagger`, the project's own statement of the
  same facts, `swagger/api-conformite-baseline.json`). A departure from it is a failure;
- the **project's** document `swagger/api-conformite.json`, stricter (required fields, patterns,
  the trace record schema, statuses the upstream does not list…; listed in swagger/README.md).
  What only it finds is a warning naming the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

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
from conformance.evidence.calls import exchange_of
from conformance.negative_inputs import NegativeCase
from conformance.openapi import OpenApiDocument
from conformance.roles.shared.contract_reading import read_answer

UPSTREAM: Final = "OpenAPI API Conformité 1.0 (upstream)"
OURS: Final = "swagger/api-conformite.json"


@dataclass(frozen=True)
class Contracts:
    """The two documents an answer is read against."""

    upstream: OpenApiDocument  # the upstream document read leniently, or the project's baseline of it
    ours: OpenApiDocument  # the project's normative document


@condition(
    "answer_fits_upstream_contract",
    ("EDC-16",),
    basis=f"{UPSTREAM}: for each status an operation lists, the media type and schema of its answer "
    "(known defects of the document read leniently, see swagger/README.md)",
    strength=Strength.MUST,
    precondition="the upstream document describes the operation and lists the answer's status",
    fr="La réponse respecte le contrat OpenAPI amont de l'API Conformité (type de média, schéma)",
    en="The answer fits the upstream OpenAPI contract of the API Conformité (media type, schema)",
)
def answer_fits_upstream_contract(contracts: Contracts, answer: httpx.Response | None) -> Judgement:
    if answer is None:
        return inconclusive("the SUT gave no answer: there is nothing to read against the contract")
    reading = read_answer(contracts.upstream, answer)
    evidence = [exchange_of(answer)]
    if reading.operation is None:
        return inconclusive(f"{reading.request}: the upstream document describes no such operation", evidence)
    if not reading.status_listed:
        return inconclusive(
            f"{reading.describe()}: the upstream document lists {', '.join(reading.declared)} for "
            f"{reading.operation}, not {reading.status}; OpenAPI does not make that list exhaustive, so "
            "only the project's document judges this answer",
            evidence,
        )
    if reading.problems:
        return failed(f"{reading.describe()}: {'; '.join(reading.problems)}", evidence)
    return passed(f"{reading.describe()} fits the upstream document", evidence)


@condition(
    "answer_fits_project_contract",
    ("EDC-16",),
    basis=f"project reading: {OURS}, stricter than the upstream document (its additions are listed in "
    "swagger/README.md)",
    strength=Strength.READING,
    precondition="the answer does not already depart from the upstream contract",
    fr="La réponse respecte aussi le document OpenAPI du projet (lecture plus stricte que le contrat amont)",
    en="The answer also fits the project's OpenAPI document (a stricter reading than the upstream contract)",
)
def answer_fits_project_contract(contracts: Contracts, answer: httpx.Response | None) -> Judgement:
    if answer is None:
        return inconclusive("the SUT gave no answer: there is nothing to read against the contract")
    upstream = read_answer(contracts.upstream, answer)
    evidence = [exchange_of(answer)]
    if upstream.problems and upstream.status_listed:
        return inconclusive(
            f"{upstream.describe()} already departs from the upstream document",
            evidence,
            root_cause=f"answer_fits_upstream_contract: {'; '.join(upstream.problems)}",
        )
    ours = read_answer(contracts.ours, answer)
    if ours.operation is None:
        return inconclusive(f"{ours.request}: the project's document describes no such operation", evidence)
    if not ours.problems:
        return passed(f"{ours.describe()} fits {OURS}", evidence)
    upstream_says = (
        f"the upstream document lists no {upstream.status} for this operation"
        if upstream.operation is not None and not upstream.status_listed
        else "the upstream document accepts this answer"
    )
    return failed(
        f"{ours.describe()}: {'; '.join(ours.problems)} — stated only by {OURS}; {upstream_says} "
        "(swagger/README.md lists the project's additions)",
        evidence,
    )


# -- invalid inputs -------------------------------------------------------------------------------------


def _answered(answer: httpx.Response | None) -> str:
    return "no answer" if answer is None else f"HTTP {answer.status_code}"


def _started(authentications: Sequence[Observation]) -> str:
    return f"{len(authentications)} CIBA request(s) reached PSC" if authentications else "PSC not called"


@condition(
    "malformed_connect_refused",
    ("EDC-03", "EDC-16"),
    basis=f"{UPSTREAM}, POST /connect: the body is an application/json `connection` object and 400 Bad "
    "Request is the documented refusal; RFC 9110 §15.5 (a client's error gets a 4xx)",
    strength=Strength.MUST,
    precondition="the body sent is not the declared JSON object (not JSON, empty, an array, a string, "
    "a form)",
    fr="Un corps /connect qui n'est pas l'objet JSON déclaré est refusé en 4xx, sans appel à PSC",
    en="A /connect body that is not the declared JSON object is refused with a 4xx, without calling PSC",
)
def malformed_connect_refused(
    case: NegativeCase, answer: httpx.Response | None, authentications: Sequence[Observation]
) -> Judgement:
    if case.kind != "structure":
        return inconclusive(f"{case.name}: not a structurally broken body ({case.kind})")
    refused = answer is not None and 400 <= answer.status_code < 500
    evidence = [exchange_of(answer), *(a.exchange_id for a in authentications)]
    return judged(
        refused and not authentications,
        f"{case.name} (breaks: {case.rule}): {_answered(answer)}, {_started(authentications)}",
        evidence,
    )


@condition(
    "connect_input_refused_as_documented",
    ("EDC-16",),
    basis=f"project reading: {OURS}, Connection (the four fields required, channel CARD or MOBILE, "
    "bindingMessage two digits, non-empty ids) refused with 400; the upstream document only types the "
    "fields as strings (no `required`, no enum, no pattern), and a lenient parser may coerce a type",
    strength=Strength.READING,
    precondition="the input breaks a rule of the project's document only",
    fr="Une entrée /connect contraire au document du projet reçoit 400 sans appel à PSC (lecture du projet)",
    en="A /connect input against the project's document gets 400 without calling PSC (project reading)",
)
def connect_input_refused_as_documented(
    case: NegativeCase, answer: httpx.Response | None, authentications: Sequence[Observation]
) -> Judgement:
    if case.kind != "schema":
        return inconclusive(f"{case.name}: not a rule of the project's schema ({case.kind})")
    evidence = [exchange_of(answer), *(a.exchange_id for a in authentications)]
    ok = answer is not None and answer.status_code == 400 and not authentications
    text = f"{case.name} (breaks {case.rule}): {_answered(answer)}, {_started(authentications)}"
    if ok:
        return passed(text, evidence)
    return failed(f"{text}; {OURS} expects 400, the upstream document does not state this rule", evidence)


@condition(
    "unusual_input_no_server_error",
    ("EDC-16",),
    basis="project reading: an input the proxy can refuse itself (an unusual value, a body it cannot "
    f"parse) should not end in a 5xx of its own; {UPSTREAM} lists 500 among the answers",
    strength=Strength.READING,
    precondition="the SUT answered, and it answered by itself (it did not pass the input on to PSC, whose "
    "outcome a 5xx may then stand for)",
    fr="Une entrée inhabituelle ne provoque pas d'erreur 5xx du proxy (lecture du projet)",
    en="An unusual input causes no 5xx error of the proxy's own (project reading)",
)
def unusual_input_no_server_error(
    case: str, answer: httpx.Response | None, passed_on: Sequence[Observation] = ()
) -> Judgement:
    """`passed_on`: the requests the input caused at PSC (e.g. its CIBA requests), if any."""
    if answer is None:
        return inconclusive(f"{case}: no answer in time")
    text = f"{case}: HTTP {answer.status_code}"
    evidence = [exchange_of(answer), *(o.exchange_id for o in passed_on)]
    if answer.status_code < 500:
        return passed(text, evidence)
    if passed_on:
        return inconclusive(
            f"{text} after {len(passed_on)} request(s) to PSC: the answer stands for PSC's outcome, "
            "which the proxy may map to 500 (the upstream document lists it)",
            evidence,
        )
    return failed(f"{text}; the upstream document allows a 500, the project expects a 4xx", evidence)
