"""Ressource : l'API PSC ne sert qu'un jeton valide, lié au certificat de la connexion mTLS.

The harness presents tokens its own authorization server signs (`ProviderBench.mint`), which the SUT
trusts for the campaign: a valid one first, then one defect at a time (the token, its audience, its
scope, its binding, the client certificate). Each scenario starts with that valid token for LPS 1 over
LPS 1's certificate (`rs_serves_valid_harness_token`, a prerequisite): a refusal proves something only
if the same resource server serves a valid call. The rules are the conditions of
`roles/provider/conditions/ressource.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.counterparts.identities import TestIdentity
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.conditions.ressource import (
    ApiCall,
    insufficient_scope_answered_403,
    rs_401_carries_bearer_challenge,
    rs_challenge_error_code_registered,
    rs_cnf_rfc8705_form_only,
    rs_refuses_invalid_token,
    rs_refuses_token_bound_elsewhere,
    rs_refuses_token_for_another_audience,
    rs_refuses_token_without_api_scope,
    rs_requires_valid_client_certificate,
    rs_serves_valid_harness_token,
)

ATTACKER_ISSUER: Final = "https://attacker.example/realms/x"
OTHER_AUDIENCE: Final = "another-api"
MALFORMED_TOKEN: Final = "abc"

# Forged or broken tokens, as `ApiTokenMinter.mint` arguments (all signed by the harness's AS key
# unless the form says otherwise): each breaks one rule of IG-SEC-21.
FORGED: Final[Mapping[str, Mapping[str, Any]]] = {
    "alg-none": {"alg": "none"},
    "tampered-signature": {"alg": "tampered"},
    "hs256-public-key": {"alg": "hs256_public_key"},
    "unknown-key": {"alg": "foreign_key"},
    "other-issuer": {"issuer": ATTACKER_ISSUER},
    "expired": {"ttl_s": -300},
    "not-yet-valid": {"not_before_s": 600},
}
NEGATIVE_CERTIFICATES: Final = ("expired", "wrong-eku", "rogue", "revoked")


# -- acting ------------------------------------------------------------------------------------------------


def _call(
    provider: ProviderBench,
    identity: TestIdentity,
    token: str | None,
    what: str,
    *,
    client_id: str | None = None,
    negative: str | None = None,
    no_certificate: bool = False,
) -> ApiCall:
    """POST /signsessiondata with a valid SessionData of LPS 1 for `identity`, `token` and a certificate:
    `client_id`'s (default LPS 1), a negative one, or none."""
    lps = provider.lps_ids[0]
    if no_certificate:
        over = "without a client certificate"
    elif negative is not None:
        over = f"over the {negative} certificate of {provider.counterparts.pki.negatives_for}"
    else:
        over = f"over {client_id or lps}'s certificate"
    call = provider.call_api(
        token,
        client_id=client_id,
        negative=negative,
        no_certificate=no_certificate,
        json=provider.session_data(identity, lps),
    )
    return ApiCall(f"{what}, {over}", call)


def _served_valid_token(checks: CheckRecorder, provider: ProviderBench) -> TestIdentity:
    """The prerequisite of every scenario here: a valid token for LPS 1, over LPS 1's certificate, is
    served. Returns the professional it was for."""
    identity = provider.fresh_identity()
    minted = provider.mint(identity, provider.lps_ids[0])
    control = _call(provider, identity, minted.token, f"valid token ({minted.description})")
    checks.prerequisite(rs_serves_valid_harness_token, control)
    return identity


def _invalid_token(provider: ProviderBench, identity: TestIdentity, case: str) -> tuple[str | None, str]:
    if case == "no-token":
        return None, "no token (no Authorization header)"
    if case == "malformed":
        return MALFORMED_TOKEN, f"malformed token {MALFORMED_TOKEN!r}"
    minted = provider.mint(identity, provider.lps_ids[0], **FORGED[case])
    return minted.token, minted.description


# -- the token ---------------------------------------------------------------------------------------------


@pytest.mark.verifies("IG-SEC-21")
@pytest.mark.parametrize("case", ["no-token", "malformed", *FORGED])
def test_invalid_token_is_refused(checks: CheckRecorder, provider: ProviderBench, case: str) -> None:
    """Jeton absent, mal formé, mal signé, d'un autre émetteur, expiré ou pas encore valide : refusé"""
    identity = _served_valid_token(checks, provider)
    token, what = _invalid_token(provider, identity, case)
    checks.evaluate(rs_refuses_invalid_token, _call(provider, identity, token, what))


@pytest.mark.verifies("IG-SEC-22")
def test_token_for_another_audience_is_refused(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Jeton valide émis pour un autre service (aud) : refusé"""
    identity = _served_valid_token(checks, provider)
    minted = provider.mint(identity, provider.lps_ids[0], audience=OTHER_AUDIENCE)
    checks.evaluate(
        rs_refuses_token_for_another_audience, _call(provider, identity, minted.token, minted.description)
    )


@pytest.mark.verifies("IG-SEC-23")
def test_token_without_the_api_scope_is_refused(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Jeton valide sans la portée de l'API : refusé, par un 403 insufficient_scope de préférence"""
    identity = _served_valid_token(checks, provider)
    minted = provider.mint(identity, provider.lps_ids[0], scope="openid")
    trial = _call(provider, identity, minted.token, minted.description)
    checks.evaluate(rs_refuses_token_without_api_scope, trial)
    checks.evaluate(insufficient_scope_answered_403, trial)


# -- the binding (RFC 8705) --------------------------------------------------------------------------------


@pytest.mark.verifies("IG-SEC-15")
@pytest.mark.parametrize("case", ["other-certificate", "no-cnf"])
def test_token_not_bound_to_the_connection_certificate_is_refused(
    checks: CheckRecorder, provider: ProviderBench, case: str
) -> None:
    """Jeton de LPS 1 présenté avec le certificat de LPS 2, ou jeton sans cnf : refusé"""
    if case == "other-certificate" and len(provider.lps_ids) < 2:
        pytest.skip("not_run: the PKI has a single LPS certificate, there is no other one to present")
    identity = _served_valid_token(checks, provider)
    lps1 = provider.lps_ids[0]
    if case == "other-certificate":
        minted = provider.mint(identity, lps1)
        trial = _call(provider, identity, minted.token, f"{lps1}'s token", client_id=provider.lps_ids[1])
    else:
        minted = provider.mint(identity, lps1, cnf="none")
        trial = _call(provider, identity, minted.token, minted.description)
    checks.evaluate(rs_refuses_token_bound_elsewhere, trial)


@pytest.mark.verifies("IG-SEC-15")
def test_cnf_in_the_ans_hex_form(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Jeton lié au bon certificat, mais cnf.x5t#S256 sous la forme hexadécimale des exemples ANS"""
    identity = _served_valid_token(checks, provider)
    minted = provider.mint(identity, provider.lps_ids[0], cnf="ans_hex")
    checks.evaluate(rs_cnf_rfc8705_form_only, _call(provider, identity, minted.token, minted.description))


# -- the refusals' form (RFC 6750) -------------------------------------------------------------------------


@pytest.mark.verifies("IG-SEC-24")
def test_401_answers_carry_a_bearer_challenge(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Refus 401 (sans jeton, jeton invalide, jeton expiré) : défi WWW-Authenticate du schéma Bearer"""
    identity = _served_valid_token(checks, provider)
    trials = []
    for case in ("no-token", "tampered-signature", "expired"):
        token, what = _invalid_token(provider, identity, case)
        trials.append(_call(provider, identity, token, what))
    checks.evaluate(rs_401_carries_bearer_challenge, trials)
    checks.evaluate(rs_challenge_error_code_registered, trials)


# -- the client certificate --------------------------------------------------------------------------------


@pytest.mark.verifies("IG-SEC-25")
@pytest.mark.parametrize("case", ["no-certificate", *NEGATIVE_CERTIFICATES])
def test_call_without_a_valid_client_certificate_is_refused(
    checks: CheckRecorder, provider: ProviderBench, case: str
) -> None:
    """Appel sans certificat client, ou avec un certificat expiré, sans clientAuth, d'autre AC ou révoqué"""
    pki = provider.counterparts.pki
    if case != "no-certificate" and case not in pki.negatives:
        pytest.skip(f"not_run: the PKI has no {case} certificate")
    identity = _served_valid_token(checks, provider)
    if case == "no-certificate":
        # Bound to LPS 1: without a certificate, no binding check can pass either; the refusal owed is
        # the one of the missing certificate.
        minted = provider.mint(identity, provider.lps_ids[0])
        trial = _call(provider, identity, minted.token, "a valid token of LPS 1", no_certificate=True)
    else:
        # Bound to the negative certificate itself, so that only the certificate check can refuse it.
        negative = pki.negatives[case]
        minted = provider.mint(identity, pki.negatives_for, x5t_s256=negative.x5t_s256)
        trial = _call(
            provider, identity, minted.token, "a valid token bound to this certificate", negative=case
        )
    checks.evaluate(rs_requires_valid_client_certificate, trial)
