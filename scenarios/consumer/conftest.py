"""The consumer campaign's bench: the proxy under test driven as an LPS, amid its counterparts.

The plugin brings the counterparts and the SUT up (`conformance.roles.consumer.bringup`); this file
only builds the bench scenarios drive.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import pytest

from conformance.campaign.plugin import campaign_of
from conformance.config import Config
from conformance.counterparts.suite import Counterparts
from conformance.evidence import EvidenceRecorder
from conformance.evidence.breaker import BREAKER_RESOURCE, SutBreaker, health_probe
from conformance.roles import SutEndpoints
from conformance.roles.consumer.bench import ConsumerBench, sut_context
from conformance.roles.consumer.bringup import EMBEDDED_LPS_READ_TIMEOUT_S


@pytest.fixture(scope="session")
def sut_breaker(request: pytest.FixtureRequest, sut: SutEndpoints) -> SutBreaker:
    """The campaign's one breaker on calls to the proxy, a campaign resource shared by every worker
    session like the SUT itself: a dead proxy is noticed once, not per scenario nor per worker. Its
    health probe asks the proxy's base URL, as the start-up check did."""
    probe = health_probe(sut.base_url, sut_context(sut.ca_file))
    return campaign_of(request.config).resources.get(BREAKER_RESOURCE, lambda: nullcontext(SutBreaker(probe)))


@pytest.fixture(scope="session")
def consumer(
    psc_config: Config,
    counterparts: Counterparts,
    sut: SutEndpoints,
    evidence: EvidenceRecorder,
    sut_breaker: SutBreaker,
) -> ConsumerBench:
    read_timeout = psc_config.timeouts.read_s
    if sut.embedded:
        read_timeout = min(read_timeout, EMBEDDED_LPS_READ_TIMEOUT_S)
    return ConsumerBench(
        counterparts, sut.base_url, sut.ca_file, evidence, read_timeout, sut.declared, breaker=sut_breaker
    )


@pytest.fixture
def since() -> float:
    """When the scenario began: what the counterparts observed after this is the scenario's doing."""
    return time.time()
