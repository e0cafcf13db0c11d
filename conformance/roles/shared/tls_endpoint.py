"""How the SUT's own TLS endpoints answer single-version handshakes: the same rules for a proxy's API
Conformité and for a provider's authorization server and API (`ProbeResult`, `conformance.tls`).

A refusal counts only when the SUT itself refused (its protocol_version alert, or it closed the
handshake); a probe that failed locally, or never reached the endpoint, is not judged (stack notes §2).
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
from conformance.tls import ProbeResult

MODERN_VERSIONS: Final = ("TLSv1.2", "TLSv1.3")
IG_PRINCIPLES: Final = "IG Sécurisation transport 1.2.0, principes_securisation.html (confidentialité)"


def _probe_text(result: ProbeResult) -> str:
    said = result.alert_reason or result.error or ""
    negotiated = f", negotiated {result.negotiated}" if result.negotiated else ""
    return f"{result.offered} only: {result.outcome}{negotiated} {said}".strip()


def _probe_not_judged(result: ProbeResult) -> Judgement:
    return inconclusive(
        f"{_probe_text(result)}: the handshake never reached the SUT's verdict",
        root_cause="the harness could not complete the probe (its own TLS library, or the endpoint "
        "unreachable)",
    )


@condition(
    "endpoint_refuses_legacy_tls",
    ("IG-SEC-03",),
    basis=f"{IG_PRINCIPLES}: TLS 1.0, 1.1 and SSL are forbidden",
    strength=Strength.MUST,
    precondition="the harness offered the legacy version on the wire and the SUT answered",
    fr="Le point d'accès TLS du SUT refuse TLS 1.0 et 1.1",
    en="The SUT's TLS endpoint refuses TLS 1.0 and 1.1",
)
def endpoint_refuses_legacy_tls(result: ProbeResult) -> Judgement:
    if result.accepted:
        return failed(f"{_probe_text(result)}: the endpoint agreed to the legacy version")
    if result.refused_by_peer:
        alert = " (the protocol_version alert of RFC 8446 §4.2.1)" if result.protocol_version_alert else ""
        return passed(f"{_probe_text(result)}: refused by the endpoint{alert}")
    # A local failure (OpenSSL not offering the version), a timeout: the SUT said nothing.
    return _probe_not_judged(result)


@condition(
    "endpoint_negotiates_tls_1_2_or_higher",
    ("IG-SEC-01",),
    basis=f"{IG_PRINCIPLES}: TLS 1.2 at least on every link",
    strength=Strength.MUST,
    precondition="the harness's handshake, offering TLS 1.2 and 1.3, reached the SUT",
    fr="Le point d'accès TLS du SUT négocie TLS 1.2 ou plus avec un client",
    en="The SUT's TLS endpoint negotiates TLS 1.2 or higher with a client",
)
def endpoint_negotiates_tls_1_2_or_higher(result: ProbeResult) -> Judgement:
    text = f"TLS 1.2 and 1.3 offered: {result.outcome}, negotiated {result.negotiated} " + (
        result.alert_reason or result.error or ""
    )
    if result.outcome in ("local-failure", "timeout", "unreachable"):
        return _probe_not_judged(result)
    return judged(result.accepted and result.negotiated in MODERN_VERSIONS, text.strip())


@condition(
    "endpoint_offers_tls_1_3",
    ("IG-SEC-02",),
    basis=f"{IG_PRINCIPLES}: TLS 1.3 recommended",
    strength=Strength.SHOULD,
    precondition="the harness's TLS 1.3 handshake reached the SUT",
    fr="Le point d'accès TLS du SUT accepte TLS 1.3 (recommandé)",
    en="The SUT's TLS endpoint accepts TLS 1.3 (recommended)",
)
def endpoint_offers_tls_1_3(result: ProbeResult) -> Judgement:
    if result.outcome in ("local-failure", "timeout", "unreachable"):
        return _probe_not_judged(result)
    ok = result.accepted and result.negotiated == "TLSv1.3"
    return judged(ok, _probe_text(result) + ("" if ok else " — TLS 1.3 is recommended"))
