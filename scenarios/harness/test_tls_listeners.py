"""Contrôles préalables : les écouteurs TLS du banc (version du protocole, authentification mutuelle).

Every counterpart the harness plays is served by the same TLS core; if it accepted TLS 1.1 or a
rogue client certificate, the campaign could not judge a SUT's transport security. Real
handshakes on loopback, each bounded by a timeout.
"""

from __future__ import annotations

import ssl

import httpx
import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.harness import (
    mtls_listener_accepts_valid_client_certificate,
    mtls_listener_refuses_negative_client_certificate,
    tls_listener_negotiates_tls12_or_higher,
    tls_listener_refuses_legacy_protocol,
)
from conformance.pki import LPS1_CLIENT_ID, NEGATIVE_VARIANTS, TestPKI, client_context
from conformance.tls import TLSServer, probe_protocol

TIMEOUT_S = 5.0


@pytest.mark.verifies("HARNESS-03", sut=False)
def test_listener_refuses_tls_1_0_and_1_1(
    checks: CheckRecorder, pki: TestPKI, mtls_listener: TLSServer
) -> None:
    """L'écouteur TLS du banc refuse TLS 1.0 et TLS 1.1"""
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        result = probe_protocol(
            mtls_listener.host, mtls_listener.port, version, cadata=pki.ca_bundle_pem, timeout=TIMEOUT_S
        )
        checks.evaluate(tls_listener_refuses_legacy_protocol, version.name, result)


@pytest.mark.verifies("HARNESS-03", sut=False)
def test_listener_negotiates_tls_1_2_and_1_3(
    checks: CheckRecorder, pki: TestPKI, mtls_listener: TLSServer
) -> None:
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
        checks.evaluate(tls_listener_negotiates_tls12_or_higher, version.name, result)


def _call(pki: TestPKI, url: str, negative: str | None) -> httpx.Response | Exception:
    context = client_context(pki, None if negative else LPS1_CLIENT_ID, negative=negative)
    try:
        with httpx.Client(verify=context, timeout=TIMEOUT_S) as client:
            return client.post(url + "/token", data={"client_id": LPS1_CLIENT_ID})
    except httpx.HTTPError as exc:
        return exc


@pytest.mark.verifies("HARNESS-04", sut=False)
def test_mtls_listener_accepts_the_valid_lps_certificate(
    checks: CheckRecorder, pki: TestPKI, mtls_listener: TLSServer
) -> None:
    """L'écouteur mTLS du banc accepte le certificat valide du LPS 1"""
    checks.evaluate(
        mtls_listener_accepts_valid_client_certificate, LPS1_CLIENT_ID, _call(pki, mtls_listener.url, None)
    )


@pytest.mark.verifies("HARNESS-04", sut=False)
@pytest.mark.parametrize("variant", NEGATIVE_VARIANTS)
def test_mtls_listener_refuses_negative_certificate(
    checks: CheckRecorder, pki: TestPKI, mtls_listener: TLSServer, variant: str
) -> None:
    """L'écouteur mTLS du banc refuse chaque certificat client négatif"""
    mtls_listener.clear_observations()
    answer = _call(pki, mtls_listener.url, variant)
    failures = (
        [] if isinstance(answer, httpx.Response) else mtls_listener.wait_for_handshake_failures(1, TIMEOUT_S)
    )
    checks.evaluate(mtls_listener_refuses_negative_client_certificate, variant, answer, failures)
