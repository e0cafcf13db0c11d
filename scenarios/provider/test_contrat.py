"""Contrat : POST /signsessiondata respecte le contrat de l'API PSC, et refuse les corps invalides.

A valid call (the SUT's own API token, from a token exchange; the harness's in the
resource-server-only mode) must get the SessionData it sent, signed. Its answer is read against two
documents: the upstream contract (ANS's "API PSC tests de Conformite" 1.0; the project's statement of
it, `swagger/api-psc-baseline.json`, unless `--swagger DIR` gives the upstream file) — a departure
fails EDC-17 — and the project's stricter `swagger/api-psc.json`, whose additions only warn.

Invalid bodies derived from the upstream SessionData schema are sent with a valid token of the
harness's authorization server over the right certificate (after the same valid call as the resource
server scenarios, `rs_serves_valid_harness_token`): none may be served; each should get a 4xx, without
a stack trace (the project's reading).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.conditions import Judgement
from conformance.campaign.plugin import campaign_of
from conformance.counterparts.identities import TestIdentity
from conformance.negative_inputs import CaseKind, NegativeCase
from conformance.openapi import (
    API_PSC_BASELINE_NAME,
    baseline_of,
    load_baseline,
    load_normative,
    load_upstream,
)
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.conditions.contrat import (
    ApiPscContracts,
    SignCall,
    TokenSource,
    api_psc_answer_fits_project_contract,
    api_psc_answer_fits_upstream_contract,
    api_token_obtained,
    api_token_problems,
    invalid_session_data_answered_4xx,
    invalid_session_data_refused,
    no_stack_trace_in_answer,
    signsessiondata_signs_the_session,
)
from conformance.roles.provider.conditions.ressource import ApiCall, rs_serves_valid_harness_token

# The upstream file as ANS names it, and as the project's reference copy names it.
UPSTREAM_API_PSC: Final = ("API-PSC-tests de conformité.json", "API-PSC-tests-de-conformite.json")
WRONG_TYPES: Final[Mapping[str, Any]] = {"number": 12345, "null": None, "object": {"value": "x"}}
FAMILIES: Final = ("missing-field", "wrong-type", "not-an-object")
HARNESS_AS: Final = "the harness's authorization server"


def _upstream_file(directory: Path) -> Path | None:
    return next((directory / name for name in UPSTREAM_API_PSC if (directory / name).is_file()), None)


@pytest.fixture(scope="module")
def contracts(request: pytest.FixtureRequest, provider: ProviderBench) -> ApiPscContracts:
    """The upstream contract (the file in --swagger DIR, or the project's baseline of it) and ours."""
    campaign = campaign_of(request.config)
    found = _upstream_file(campaign.swagger_dir) if campaign.swagger_dir is not None else None
    notes: list[str] = []
    if found is not None:
        document = load_upstream(found)
        notes += [f"OpenAPI {found.name}: {warning}" for warning in document.warnings]
        upstream = baseline_of(document)
    else:
        if campaign.swagger_dir is not None:
            notes.append(
                f"OpenAPI: no {UPSTREAM_API_PSC[0]} in {campaign.swagger_dir}: the API PSC is judged by "
                f"swagger/{API_PSC_BASELINE_NAME}.json"
            )
        upstream = load_baseline(API_PSC_BASELINE_NAME)
    campaign.notes.extend(note for note in notes if note not in campaign.notes)
    return ApiPscContracts(
        upstream=upstream,
        ours=load_normative("api-psc"),
        base_path=urlsplit(provider.sut.api_base_url).path.rstrip("/"),
    )


# -- the valid call ----------------------------------------------------------------------------------------


def _valid_call(provider: ProviderBench, identity: TestIdentity, token: str, origin: str) -> SignCall:
    """A valid SessionData for `identity`, with `token`, over LPS 1's certificate."""
    lps = provider.lps_ids[0]
    sent = provider.session_data(identity, lps)
    trial = ApiCall(
        f"a valid SessionData with the API token of {origin}, over {lps}'s certificate",
        provider.call_api(token, client_id=lps, json=sent),
    )
    problems = api_token_problems(
        token,
        x5t_s256=provider.x5t(lps),
        audience=provider.audience,
        scope=provider.api_scope,
        national_id=identity.national_id,
        now=time.time(),
    )
    return SignCall(trial, sent, problems)


def _judge(checks: CheckRecorder, contracts: ApiPscContracts, signed: SignCall) -> Judgement:
    judgement = checks.evaluate(signsessiondata_signs_the_session, signed)
    checks.evaluate(api_psc_answer_fits_upstream_contract, contracts, signed.trial.answer)
    checks.evaluate(api_psc_answer_fits_project_contract, contracts, signed.trial.answer)
    return judgement


@pytest.mark.verifies("EDC-17")
def test_valid_call_gets_the_signed_session_data(
    checks: CheckRecorder, provider: ProviderBench, contracts: ApiPscContracts
) -> None:
    """Appel valide (jeton d'API du fournisseur, bon certificat) : SignedSessionData conforme au contrat"""
    identity, token, exchanged = provider.api_token(provider.lps_ids[0])
    origin = HARNESS_AS if provider.resource_server_only else "the SUT's authorization server"
    checks.prerequisite(api_token_obtained, TokenSource(token, origin, exchanged.call if exchanged else None))
    assert token is not None
    signed = _valid_call(provider, identity, token, origin)
    if provider.resource_server_only:  # the harness's token: refused, it is the trust that is missing
        checks.prerequisite(rs_serves_valid_harness_token, signed.trial)
    first = _judge(checks, contracts, signed)
    if first.inconclusive and not provider.resource_server_only:
        # The SUT's own token could not be used (the token scenarios judge why): the API's contract is
        # still judged, on a valid token of the harness's authorization server, if the API serves it.
        minted = provider.mint(identity, provider.lps_ids[0])
        fallback = _valid_call(provider, identity, minted.token, HARNESS_AS)
        checks.prerequisite(rs_serves_valid_harness_token, fallback.trial)
        _judge(checks, contracts, fallback)


# -- invalid bodies ----------------------------------------------------------------------------------------


def _body(name: str, value: Any, rule: str, kind: CaseKind = "schema") -> NegativeCase:
    return NegativeCase(name, json.dumps(value).encode(), kind=kind, rule=rule)


def _invalid_bodies(
    schema: Mapping[str, Any], valid: Mapping[str, str], family: str
) -> Iterator[NegativeCase]:
    """The bodies of one family, derived from the upstream SessionData schema and a valid body."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    if family == "missing-field":
        for name in schema.get("required", []):
            yield _body(f"missing:{name}", {k: v for k, v in valid.items() if k != name}, f"{name}: required")
    elif family == "wrong-type":
        for name, rules in properties.items():
            for label, value in WRONG_TYPES.items():
                yield _body(f"{label}:{name}", {**valid, name: value}, f"{name}: type {rules.get('type')}")
    else:
        yield NegativeCase("not-json", b"{", kind="structure", rule="the body is JSON")
        yield _body("array", [dict(valid)], "type object", "structure")
        yield NegativeCase("empty-body", b"", kind="structure", rule="the body is a SessionData JSON object")


@pytest.mark.verifies("EDC-18")
@pytest.mark.parametrize("family", FAMILIES)
def test_invalid_session_data_is_refused(
    checks: CheckRecorder, provider: ProviderBench, contracts: ApiPscContracts, family: str
) -> None:
    """Corps SessionData invalide (champ manquant, mauvais type, pas un objet) : refusé en 4xx, sans trace"""
    lps = provider.lps_ids[0]
    identity = provider.fresh_identity()
    control = _valid_call(provider, identity, provider.mint(identity, lps).token, HARNESS_AS)
    checks.prerequisite(rs_serves_valid_harness_token, control.trial)
    schema = contracts.upstream.schema("SessionData")
    assert schema is not None, "the upstream API PSC document has no SessionData schema"
    for case in _invalid_bodies(schema, provider.session_data(identity, lps), family):
        token = provider.mint(identity, lps).token
        call = provider.call_api(
            token, client_id=lps, content=case.body, headers={"Content-Type": case.content_type}
        )
        trial = ApiCall(f"{case.name} with a valid token, over {lps}'s certificate", call)
        checks.evaluate(invalid_session_data_refused, case, trial)
        checks.evaluate(invalid_session_data_answered_4xx, case, trial)
        checks.evaluate(no_stack_trace_in_answer, case, trial)
