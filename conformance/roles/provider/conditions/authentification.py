"""Authentification du client: the provider's authorization server authenticates the proxy by mTLS only.

IG 1.2.0 (step 9, and its change log: no client secret, no Basic header) has the client authenticate with
its IGC-Santé AUTH_CLI certificate, whose subject DN the authorization server maps to a client id. A
certificate that does not validate (expired, not yet valid, revoked, of another CA, without the
clientAuth usage), one whose DN maps to no client, a Basic header without a certificate, or nothing at
all: each is refused. Where the refusal happens is the server's choice (RFC 8705 §2, RFC 8446 §4.4.2):
in the TLS handshake, or with the HTTP error of RFC 6749 §5.2 (400, or 401 invalid_client).
"""

from __future__ import annotations

from typing import Final

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.evidence.calls import Call
from conformance.roles.provider.conditions.echange import IG_STEP_9, describe, did_not_answer, issued_token

REFUSAL_STATUSES: Final = (400, 401)


@condition(
    "unauthenticated_client_refused",
    ("IG-SEC-17",),
    basis=f"{IG_STEP_9}: mTLS with the IGC-Santé ORG AUTH_CLI certificate, DN ↔ Client_ID_AS (no Basic since "
    "1.2.0); RFC 5280 §6 (path validation, CRL); RFC 8705 §2 (the certificate authenticates the client); "
    "RFC 6749 §5.2 (invalid_client: 400 or 401)",
    strength=Strength.MUST,
    precondition="the harness asked for an exchange with a negative certificate, a Basic header alone, or "
    "no credentials",
    fr="Le serveur d'autorisation refuse un client sans certificat valide et enregistré (poignée de main TLS "
    "ou 400/401), jamais de jeton",
    en="The authorization server refuses a client without a valid, registered certificate (TLS handshake "
    "or 400/401), never a token",
)
def unauthenticated_client_refused(call: Call, case: str) -> Judgement:
    evidence = [call.exchange_id]
    if call.answer is None:
        if did_not_answer(call):
            return inconclusive(
                f"{case}: {call.describe()}: the SUT gave no answer to judge",
                root_cause="the authorization server did not answer",
            )
        return passed(f"{case}: refused in the TLS handshake ({call.error[:160]})")
    if issued_token(call):
        return failed(f"{case}: {describe(call)}; the client was not authenticated", evidence)
    refused = call.status in REFUSAL_STATUSES
    said = f"{case}: {describe(call)}"
    return judged(refused, said if refused else f"{said}, not a refusal of RFC 6749 §5.2 (400/401)", evidence)


__all__ = ["unauthenticated_client_refused"]
