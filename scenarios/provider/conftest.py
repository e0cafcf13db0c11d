"""The provider campaign's bench: the data provider driven as a proxy would, amid its counterparts.

The plugin brings the counterparts and the SUT up (`conformance.roles.provider.bringup`); this file
only builds the bench scenarios drive.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import pytest

from conformance.campaign.plugin import campaign_of
from conformance.config import Config
from conformance.counterparts.suite import ProviderCounterparts
from conformance.evidence import EvidenceRecorder
from conformance.evidence.breaker import BREAKER_RESOURCE, SutBreaker, health_probe
from conformance.pki import client_context
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.bringup import ProviderEndpoints

# The embedded reference answers in milliseconds: a bench read bound of seconds is ample.
EMBEDDED_READ_TIMEOUT_S = 5.0


@pytest.fixture(scope="session")
def sut_breaker(
    request: pytest.FixtureRequest, counterparts: ProviderCounterparts, sut: ProviderEndpoints
) -> SutBreaker:
    """The campaign's one breaker on calls to the provider, a campaign resource shared by every worker
    session like the SUT itself: a dead provider is noticed once, not per scenario nor per worker. Its
    health probe asks the API's base URL, as the start-up check did, with the first LPS's certificate
    (an API may refuse a handshake without one)."""
    pki = counterparts.pki
    probe = health_probe(sut.api_base_url, client_context(pki, pki.lps_client_ids[0]))
    return campaign_of(request.config).resources.get(BREAKER_RESOURCE, lambda: nullcontext(SutBreaker(probe)))


@pytest.fixture(scope="session")
def provider(
    psc_config: Config,
    counterparts: ProviderCounterparts,
    sut: ProviderEndpoints,
    evidence: EvidenceRecorder,
    sut_breaker: SutBreaker,
) -> ProviderBench:
    read_timeout = psc_config.timeouts.read_s
    if sut.embedded:
        read_timeout = min(read_timeout, EMBEDDED_READ_TIMEOUT_S)
    return ProviderBench(counterparts, sut, evidence, read_timeout, breaker=sut_breaker)


@pytest.fixture
def authorization_server(provider: ProviderBench) -> None:
    """The scenarios of the provider's authorization server: not run when it is judged as a resource
    server alone (the harness then plays the authorization server)."""
    if provider.resource_server_only:
        pytest.skip("not_run: the configuration names no authorization server (resource server judged alone)")


@pytest.fixture
def since() -> float:
    """When the scenario began: what the counterparts observed after this is the scenario's doing."""
    return time.time()
