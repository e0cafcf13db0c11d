"""The consumer campaign's bench: the proxy under test driven as an LPS, amid its counterparts.

The plugin brings the counterparts and the SUT up (`conformance.roles.consumer.bringup`); this file
only builds the bench scenarios drive, and puts the counterparts back to normal after each scenario.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conformance.config import Config
from conformance.counterparts.suite import Counterparts
from conformance.evidence import EvidenceRecorder
from conformance.roles import SutEndpoints
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.bringup import EMBEDDED_LPS_READ_TIMEOUT_S
from conformance.tls import ListenerMode


@pytest.fixture(scope="session")
def consumer(
    psc_config: Config, counterparts: Counterparts, sut: SutEndpoints, evidence: EvidenceRecorder
) -> ConsumerBench:
    read_timeout = psc_config.timeouts.read_s
    if sut.embedded:
        read_timeout = min(read_timeout, EMBEDDED_LPS_READ_TIMEOUT_S)
    return ConsumerBench(counterparts, sut.base_url, sut.ca_file, evidence, read_timeout, sut.declared)


@pytest.fixture(autouse=True)
def _counterparts_back_to_normal(counterparts: Counterparts) -> Iterator[None]:
    """Each scenario starts with well-behaved counterparts, whatever the previous one switched."""
    psc_timings = counterparts.psc.timings
    api_token_ttl_s = counterparts.api_as.api_token_ttl_s
    introspect = counterparts.api_as.introspect
    yield
    counterparts.reset()
    counterparts.psc.timings = psc_timings
    counterparts.api_as.api_token_ttl_s = api_token_ttl_s
    counterparts.api_as.introspect = introspect
    for server in (counterparts.psc.server, counterparts.api_as.server, counterparts.api.server):
        if server.mode is not ListenerMode.NORMAL:
            server.set_mode(ListenerMode.NORMAL)


@pytest.fixture
def since() -> float:
    """When the scenario began: what the counterparts observed after this is the scenario's doing."""
    return time.time()
