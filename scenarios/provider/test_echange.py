"""Échange de jeton : le serveur d'autorisation du fournisseur échange un jeton PSC contre un jeton API.

The harness plays the proxy (RFC 8693 over mTLS with an LPS certificate, IG 1.2.0 step 9) and PSC (it
issued the subject token and answers the provider's introspection, step 10). Every scenario uses a
professional the SUT never saw, so that no cached introspection answers for it. The rules are the
conditions of `roles/provider/conditions/echange.py`.
"""

from __future__ import annotations

import time

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.conditions.echange import (
    api_token_lifetime_1_to_4_hours,
    at_psc,
    exchange_answer_complete,
    invalid_exchange_request_refused,
    psc_introspection_post_form_token,
    psc_introspection_provider_credentials,
    psc_introspection_published_endpoint,
    psc_introspection_tls_auth_cli,
    subject_token_introspected_before_issue,
    unallowed_scope_not_granted,
    unusable_subject_token_refused,
    valid_exchange_issues_token,
)
from conformance.standards import rfc8693

# Short PSC tokens: the exchange waits until they are past their exp, plus this margin (seconds).
EXPIRED_TTL_S = 1.0
CACHED_TTL_S = 2.0
EXPIRY_MARGIN_S = 0.4

pytestmark = pytest.mark.usefixtures("authorization_server")


@pytest.mark.verifies("IG-SEC-14")
def test_exchange_answer_is_complete(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Échange d'un jeton PSC valide : 200 JSON complet (issued_token_type, Bearer, expires_in, no-store)"""
    exchanged = provider.exchange()
    checks.require(valid_exchange_issues_token, exchanged.call)
    checks.evaluate(exchange_answer_complete, exchanged.call)


@pytest.mark.verifies("IG-SEC-13")
def test_subject_token_is_introspected_at_psc(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Le serveur d'autorisation introspecte le jeton PSC auprès de PSC avant de délivrer le jeton API"""
    exchanged = provider.exchange()
    psc = at_psc(provider, exchanged.call, exchanged.subject_token)
    checks.evaluate(subject_token_introspected_before_issue, exchanged.call, psc)


@pytest.mark.verifies("EXI PSC 08", "EXI PSC 15", "EXI PSC 21", "EXI PSC 24")
def test_introspection_as_a_client_of_psc(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Introspection auprès de PSC : endpoint publié, POST de formulaire, identifiants du fournisseur, mTLS"""
    exchanged = provider.exchange()
    psc = at_psc(provider, exchanged.call, exchanged.subject_token)
    checks.evaluate(psc_introspection_published_endpoint, psc)
    checks.evaluate(psc_introspection_post_form_token, psc)
    checks.evaluate(psc_introspection_provider_credentials, psc, provider.counterparts.pki.provider_client_id)
    checks.evaluate(psc_introspection_tls_auth_cli, psc)


@pytest.mark.verifies("IG-SEC-19")
def test_api_token_lifetime(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Durée de vie du jeton API entre 1 et 4 heures (recommandation)"""
    exchanged = provider.exchange()
    checks.prerequisite(valid_exchange_issues_token, exchanged.call)
    checks.evaluate(api_token_lifetime_1_to_4_hours, exchanged.call)


@pytest.mark.verifies("IG-SEC-18")
@pytest.mark.parametrize("case", ["revoked", "expired", "other-issuer", "cached-past-expiry"])
def test_unusable_subject_token_is_refused(checks: CheckRecorder, provider: ProviderBench, case: str) -> None:
    """Jeton PSC inactif, expiré, d'un autre émetteur, ou expiré après un échange réussi : refusé"""
    client_id, identity = provider.lps_ids[0], provider.fresh_identity()
    psc = provider.counterparts.psc
    if case == "other-issuer":
        subject = psc.foreign_access_token(identity, client_id)
    elif case == "revoked":
        subject = provider.psc_token(identity, client_id)
        psc.revoke(subject)  # its PSC session ended: introspection answers active=false
    else:
        ttl = EXPIRED_TTL_S if case == "expired" else CACHED_TTL_S
        subject = provider.psc_token(identity, client_id, ttl_s=ttl)
        issued_at = time.time()
        if case == "cached-past-expiry":
            # Exchanged while PSC holds it active; PSC's answer may not be reused past the token's exp.
            first = provider.post_exchange(provider.exchange_form(subject), client_id=client_id)
            checks.prerequisite(valid_exchange_issues_token, first)
        time.sleep(max(0.0, issued_at + ttl + EXPIRY_MARGIN_S - time.time()))
    call = provider.post_exchange(provider.exchange_form(subject), client_id=client_id)
    checks.evaluate(unusable_subject_token_refused, call, case)


INVALID_REQUESTS: dict[str, dict[str, str | None]] = {
    "grant_type-missing": {"grant_type": None},
    "grant_type-unknown": {"grant_type": "urn:example:unknown"},
    "subject_token-missing": {"subject_token": None},
    "subject_token_type-unknown": {"subject_token_type": rfc8693.SAML2},
}
UNALLOWED_SCOPE = "admin"


@pytest.mark.verifies("IG-SEC-27")
@pytest.mark.parametrize("case", list(INVALID_REQUESTS))
def test_invalid_exchange_request_is_refused(
    checks: CheckRecorder, provider: ProviderBench, case: str
) -> None:
    """Requête d'échange invalide (grant_type, subject_token, subject_token_type) : erreur OAuth 400"""
    client_id = provider.lps_ids[0]
    subject = provider.psc_token(provider.fresh_identity(), client_id)  # valid: only `case` is wrong
    fields = dict(INVALID_REQUESTS[case])
    form = provider.exchange_form(fields.pop("subject_token", subject), **fields)
    call = provider.post_exchange(form, client_id=client_id)
    checks.evaluate(invalid_exchange_request_refused, call, case)


@pytest.mark.verifies("IG-SEC-27")
def test_unallowed_scope_is_not_granted(checks: CheckRecorder, provider: ProviderBench) -> None:
    """Une portée non autorisée pour le LPS n'est pas accordée (refusée, ou ignorée et nommée)"""
    client_id = provider.lps_ids[0]
    subject = provider.psc_token(provider.fresh_identity(), client_id)
    call = provider.post_exchange(provider.exchange_form(subject, scope=UNALLOWED_SCOPE), client_id=client_id)
    checks.evaluate(unallowed_scope_not_granted, call, UNALLOWED_SCOPE)
