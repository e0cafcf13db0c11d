"""Contrôles préalables : les écouteurs TLS du banc (version du protocole, authentification mutuelle).

Every counterpart the harness plays is served by the same TLS core; if it accepted TLS 1.1 or a
rogue client certificate, the campaign could not judge a SUT's transport security. Real
handshakes on loopback, each bounded by a timeout.
"""

from __future__ import annotations

import ssl

import httpx
import pytest

from conformance.checks import Check
from conformance.pki import LPS1_CLIENT_ID, NEGATIVE_VARIANTS, TestPKI, client_context
from conformance.tls import TLSServer, probe_protocol

TIMEOUT_S = 5.0

LEGACY_REFUSED = Check(
    "tls_listener_refuses_legacy_protocol",
    ("HARNESS-03",),
    fr="L'écouteur refuse TLS 1.0/1.1 par une alerte de version de protocole",
    en="The listener refuses TLS 1.0/1.1 with a protocol-version alert",
)
MODERN_ACCEPTED = Check(
    "tls_listener_negotiates_tls12_or_higher",
    ("HARNESS-03",),
    fr="L'écouteur négocie TLS 1.2 et TLS 1.3",
    en="The listener negotiates TLS 1.2 and TLS 1.3",
)
GOOD_CLIENT_ACCEPTED = Check(
    "mtls_listener_accepts_valid_client_certificate",
    ("HARNESS-04",),
    fr="L'écouteur mTLS accepte le certificat AUTH_CLI valide du LPS",
    en="The mTLS listener accepts the LPS's valid AUTH_CLI certificate",
)
NEGATIVE_CLIENT_REFUSED = Check(
    "mtls_listener_refuses_negative_client_certificate",
    ("HARNESS-04",),
    fr="L'écouteur mTLS refuse le certificat client négatif",
    en="The mTLS listener refuses the negative client certificate",
)


@pytest.mark.verifies("HARNESS-03", sut=False)
def test_listener_refuses_tls_1_0_and_1_1(checks, pki: TestPKI, mtls_listener: TLSServer) -> None:
    """L'écouteur TLS du banc refuse TLS 1.0 et TLS 1.1"""
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        result = probe_protocol(
            mtls_listener.host, mtls_listener.port, version, cadata=pki.ca_bundle_pem, timeout=TIMEOUT_S
        )
        checks.record(
            LEGACY_REFUSED,
            result.protocol_version_alert,
            f"{version.name}: {result.outcome} {result.alert_reason or result.error or ''}".strip(),
        )


@pytest.mark.verifies("HARNESS-03", sut=False)
def test_listener_negotiates_tls_1_2_and_1_3(checks, pki: TestPKI, mtls_listener: TLSServer) -> None:
    """L'écouteur TLS du banc négocie TLS 1.2 et TLS 1.3"""
    identity = pki.clients[LPS1_CLIENT_ID]
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        result = probe_protocol(
            mtls_listener.host,
            mtls_listener.port,
            version,
            cadata=pki.ca_bundle_pem,
            identity=identity,
            timeout=TIMEOUT_S,
        )
        expected = version.name.replace("_", ".")  # TLSv1_2 -> TLSv1.2, as ssl reports it
        checks.record(
            MODERN_ACCEPTED,
            result.completed and result.negotiated == expected,
            f"{version.name}: {result.outcome}, negotiated {result.negotiated}",
        )


def _call(pki: TestPKI, url: str, negative: str | None) -> httpx.Response | Exception:
    context = client_context(pki, None if negative else LPS1_CLIENT_ID, negative=negative)
    try:
        with httpx.Client(verify=context, timeout=TIMEOUT_S) as client:
            return client.post(url + "/token", data={"client_id": LPS1_CLIENT_ID})
    except httpx.HTTPError as exc:
        return exc


@pytest.mark.verifies("HARNESS-04", sut=False)
def test_mtls_listener_accepts_the_valid_lps_certificate(
    checks, pki: TestPKI, mtls_listener: TLSServer
) -> None:
    """L'écouteur mTLS du banc accepte le certificat valide du LPS 1"""
    answer = _call(pki, mtls_listener.url, None)
    ok = isinstance(answer, httpx.Response) and answer.status_code == 200
    shown = answer.json() if ok and isinstance(answer, httpx.Response) else answer
    checks.record(GOOD_CLIENT_ACCEPTED, ok, f"{LPS1_CLIENT_ID}: {shown}")


@pytest.mark.verifies("HARNESS-04", sut=False)
@pytest.mark.parametrize("variant", NEGATIVE_VARIANTS)
def test_mtls_listener_refuses_negative_certificate(
    checks, pki: TestPKI, mtls_listener: TLSServer, variant: str
) -> None:
    """L'écouteur mTLS du banc refuse chaque certificat client négatif"""
    mtls_listener.clear_observations()
    answer = _call(pki, mtls_listener.url, variant)
    if isinstance(answer, httpx.Response):
        # Once the handshake went through, only an application-level refusal will do.
        refused = answer.status_code == 401 and answer.json().get("error") == "invalid_client"
        checks.record(
            NEGATIVE_CLIENT_REFUSED, refused, f"{variant}: HTTP {answer.status_code} {answer.text[:200]}"
        )
        return
    # A client-side error alone could be anything (a dead listener too): the listener must say it refused.
    failures = mtls_listener.wait_for_handshake_failures(1, timeout=TIMEOUT_S)
    reason = failures[0].verify_message or failures[0].reason if failures else None
    checks.record(
        NEGATIVE_CLIENT_REFUSED,
        bool(failures),
        f"{variant}: refused at the handshake ({reason})"
        if failures
        else f"{variant}: client error {type(answer).__name__} but no refusal recorded by the listener",
    )
