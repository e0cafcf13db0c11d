"""Authentification du client : le serveur d'autorisation n'échange que pour un client authentifié par mTLS.

Each case asks for the exchange of a fresh, valid PSC token issued to the LPS the negative certificates
stand for: only the client's credentials are wrong. The rule is `unauthenticated_client_refused`
(`roles/provider/conditions/authentification.py`): a refusal in the handshake or a 400/401, never a token.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.pki.profiles import NEGATIVE_VARIANTS
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.conditions.authentification import unauthenticated_client_refused

BASIC_WITHOUT_CERTIFICATE = "basic-without-certificate"
NO_CREDENTIALS = "no-certificate"

pytestmark = pytest.mark.usefixtures("authorization_server")


def _basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-encoded, then joined and base64-encoded."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.mark.verifies("IG-SEC-17")
@pytest.mark.parametrize("case", [*NEGATIVE_VARIANTS, BASIC_WITHOUT_CERTIFICATE, NO_CREDENTIALS])
def test_client_without_valid_certificate_is_refused(
    checks: CheckRecorder, provider: ProviderBench, case: str
) -> None:
    """Client sans certificat valide et enregistré (négatif, Basic seul, rien) : refusé, jamais de jeton"""
    pki = provider.counterparts.pki
    client_id = pki.negatives_for  # the LPS whose identity the negative certificates borrow
    subject = provider.psc_token(provider.fresh_identity(), client_id)
    form = provider.exchange_form(subject)
    if case == BASIC_WITHOUT_CERTIFICATE:
        secret = provider.counterparts.psc.clients[client_id].secret  # counterparts.json gives it to the SUT
        call = provider.post_exchange(form, headers={"Authorization": _basic(client_id, secret)})
    elif case == NO_CREDENTIALS:
        call = provider.post_exchange(form)
    else:
        call = provider.post_exchange(form, negative=case)
    checks.evaluate(unauthenticated_client_refused, call, f"{case} ({client_id})")
