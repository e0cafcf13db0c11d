"""The provider campaign's bench: the data provider driven as a proxy would, amid its counterparts.

The plugin brings the counterparts and the SUT up (`conformance.roles.provider.bringup`); this file
only builds the bench scenarios drive, and puts the counterparts back to normal after each scenario.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conformance.config import Config
from conformance.counterparts.suite import ProviderCounterparts
from conformance.evidence import EvidenceRecorder
from conformance.roles.provider.bench import ProviderBench
from conformance.roles.provider.bringup import ProviderEndpoints
from conformance.tls import ListenerMode

# The embedded reference answers in milliseconds: a bench read bound of seconds is ample.
EMBEDDED_READ_TIMEOUT_S = 5.0


@pytest.fixture(scope="session")
def provider(
    psc_config: Config, counterparts: ProviderCounterparts, sut: ProviderEndpoints, evidence: EvidenceRecorder
) -> ProviderBench:
    read_timeout = psc_config.timeouts.read_s
    if sut.embedded:
        read_timeout = min(read_timeout, EMBEDDED_READ_TIMEOUT_S)
    return ProviderBench(counterparts, sut, evidence, read_timeout)


@pytest.fixture(autouse=True)
def _counterparts_back_to_normal(counterparts: ProviderCounterparts) -> Iterator[None]:
    """Each scenario starts with well-behaved counterparts, whatever the previous one switched."""
    psc_timings = counterparts.psc.timings
    yield
    counterparts.reset()
    counterparts.psc.timings = psc_timings
    for server in counterparts.servers:
        if server.server.mode is not ListenerMode.NORMAL:
            server.server.set_mode(ListenerMode.NORMAL)


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
