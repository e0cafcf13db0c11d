"""Contrôles préalables : la PKI de test du banc (chaîne IGC-Santé de test, profil AUTH_CLI).

These scenarios judge the harness, not a SUT: a campaign whose own certificates were wrong
would judge every SUT wrongly, so they run first and show in the report as HARNESS-NN.
"""

from __future__ import annotations

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.harness import (
    pki_auth_cli_profile,
    pki_good_leaf_chains_to_test_root,
    pki_negative_leaf_fails_path_validation,
    pki_revoked_leaf_listed_in_crl,
)
from conformance.pki import TestPKI


@pytest.mark.verifies("HARNESS-01", sut=False)
def test_good_leaves_chain_to_the_test_root(checks: CheckRecorder, pki: TestPKI) -> None:
    """Les certificats valides de la PKI de test se rattachent à sa racine"""
    for client_id, issued in pki.clients.items():
        checks.evaluate(pki_good_leaf_chains_to_test_root, pki, client_id, issued.cert, client=True)
    for name, issued in pki.servers.items():
        checks.evaluate(pki_good_leaf_chains_to_test_root, pki, name, issued.cert, client=False)


@pytest.mark.verifies("HARNESS-01", sut=False)
@pytest.mark.parametrize("variant", ["rogue", "expired", "not-yet-valid", "wrong-eku"])
def test_negative_leaves_fail_path_validation(checks: CheckRecorder, pki: TestPKI, variant: str) -> None:
    """Les certificats négatifs échouent à la validation de chemin"""
    checks.evaluate(pki_negative_leaf_fails_path_validation, pki, variant)


@pytest.mark.verifies("HARNESS-01", sut=False)
def test_crl_lists_exactly_the_revoked_leaf(checks: CheckRecorder, pki: TestPKI) -> None:
    """La liste de révocation ne contient que le certificat révoqué"""
    checks.evaluate(pki_revoked_leaf_listed_in_crl, pki)


@pytest.mark.verifies("HARNESS-02", sut=False)
def test_client_certificates_have_the_auth_cli_profile(checks: CheckRecorder, pki: TestPKI) -> None:
    """Les certificats des LPS et du proxy ont le profil AUTH_CLI de l'offre ORG"""
    for client_id in pki.clients:
        checks.evaluate(pki_auth_cli_profile, pki, client_id)
