"""Jeton API : ce que le serveur d'autorisation écrit dans le jeton qu'il délivre (contenu, liaison cnf).

A fresh professional's PSC token is exchanged by an LPS over mTLS; the API token is read as a JWT
without verifying it (the resource server's scenarios judge signatures). The rules are the conditions of
`roles/provider/conditions/jeton.py`.
"""

from __future__ import annotations

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.conditions.echange import valid_exchange_issues_token
from conformance.roles.provider.conditions.jeton import (
    api_token_bound_to_client_certificate,
    api_token_claims_of_the_professional,
    api_token_thumbprint_rfc8705_encoding,
)

pytestmark = pytest.mark.usefixtures("authorization_server")


@pytest.mark.verifies("IG-SEC-26")
def test_api_token_names_the_professional(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Contenu du jeton API : iss, sub = identifiant national du professionnel, aud, exp, iat, scope"""
    exchanged = provider.exchange()
    checks.prerequisite(valid_exchange_issues_token, exchanged.call)
    checks.evaluate(api_token_claims_of_the_professional, exchanged, provider.audience, provider.api_scope)


@pytest.mark.verifies("IG-SEC-11")
def test_api_token_is_bound_to_each_lps_certificate(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Jeton API lié par cnf.x5t#S256 au certificat du LPS qui l'a obtenu, différent pour chaque LPS"""
    certificates = {cid: provider.x5t(cid) for cid in provider.lps_ids}
    for client_id in provider.lps_ids[:2]:  # two LPS: two bindings, each to its own certificate
        exchanged = provider.exchange(client_id)
        checks.prerequisite(valid_exchange_issues_token, exchanged.call)
        checks.evaluate(api_token_bound_to_client_certificate, exchanged, certificates)
        checks.evaluate(api_token_thumbprint_rfc8705_encoding, exchanged, provider.x5t(client_id))
