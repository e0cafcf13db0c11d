"""Transport : les points d'accès du fournisseur refusent TLS 1.0 et 1.1 et négocient TLS 1.2 ou plus.

Each TLS endpoint of the provider (its authorization server's token endpoint, when it is judged, and
its API) is probed with single-version handshakes, as a proxy connects: presenting LPS 1's certificate,
verifying the provider's with the campaign's CA file. The rules are the shared ones of
`roles/shared/tls_endpoint.py`, the same as for a proxy's API Conformité.
"""

from __future__ import annotations

import ssl

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.pki import load_identity
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.shared.tls_endpoint import (
    endpoint_negotiates_tls_1_2_or_higher,
    endpoint_offers_tls_1_3,
    endpoint_refuses_legacy_tls,
)
from conformance.tls import ProbeResult

ENDPOINTS = ["as", "api"]  # `ProviderBench.endpoints()` keys


def _url(provider: ProviderBench, endpoint: str) -> str:
    urls = provider.endpoints()
    if endpoint not in urls:
        pytest.skip(
            "not_run: the configuration names no authorization server (resource-server-only mode), "
            "only the API is probed"
        )
    return urls[endpoint]


def _probe(
    checks: CheckRecorder,
    provider: ProviderBench,
    url: str,
    version: ssl.TLSVersion,
    context: ssl.SSLContext | None = None,
) -> ProbeResult:
    """One handshake, with LPS 1's certificate (a provider may require one in the handshake)."""
    lps = provider.counterparts.pki.clients[provider.lps_ids[0]]
    if context is None:
        result = provider.probe(url, version, identity=lps)
    else:
        result = provider.probe(url, version, context=context)
    if result.outcome not in ("unreachable", "timeout"):
        checks.exchanged_with_sut()  # a handshake is an exchange, even though no HTTP request follows
    return result


def _modern_context(provider: ProviderBench) -> ssl.SSLContext:
    """TLS 1.2 and 1.3 offered, the provider's certificate verified, LPS 1's certificate presented."""
    ca_file = provider.sut.ca_file
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_identity(context, provider.counterparts.pki.clients[provider.lps_ids[0]])
    return context


@pytest.mark.verifies("IG-SEC-03")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoint_refuses_tls_1_0_and_1_1(
    checks: CheckRecorder, provider: ProviderBench, endpoint: str
) -> None:
    """Le point d'accès du fournisseur (serveur d'autorisation, API) refuse TLS 1.0 et TLS 1.1"""
    url = _url(provider, endpoint)
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        checks.evaluate(endpoint_refuses_legacy_tls, _probe(checks, provider, url, version))


@pytest.mark.verifies("IG-SEC-01", "IG-SEC-02")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoint_negotiates_tls_1_2_or_higher(
    checks: CheckRecorder, provider: ProviderBench, endpoint: str
) -> None:
    """Le point d'accès du fournisseur négocie TLS 1.2 ou plus, et accepte TLS 1.3"""
    url = _url(provider, endpoint)
    modern = _probe(checks, provider, url, ssl.TLSVersion.TLSv1_2, _modern_context(provider))
    checks.evaluate(endpoint_negotiates_tls_1_2_or_higher, modern)
    checks.evaluate(endpoint_offers_tls_1_3, _probe(checks, provider, url, ssl.TLSVersion.TLSv1_3))
