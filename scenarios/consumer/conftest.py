"""The consumer campaign's bench: the counterparts around the SUT, and the SUT itself.

Without `[sut] base_url`, the SUT is the embedded reference proxy, started as a separate process
from the same files a vendor gets (`counterparts.json`, the PKI), with the campaign's faults and
allowed variants.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from conformance.config import Config
from conformance.consumer_bench import ConsumerBench
from conformance.counterparts.layout import read_client_secrets
from conformance.counterparts.suite import Counterparts
from conformance.evidence import EvidenceRecorder
from conformance.pki import TestPKI
from conformance.plugin import abort_campaign, campaign_of
from conformance.reference.launcher import launch_reference_consumer
from conformance.tls import ListenerMode

# The embedded campaign runs on ephemeral ports with short timers: it takes seconds.
EMBEDDED_CIBA_INTERVAL_S = 0.1
EMBEDDED_IDLE_TIMEOUT_S = 3.0
EMBEDDED_UPSTREAM_TIMEOUT_S = 1.0  # the reference proxy's bound on a call to PSC or the API
EMBEDDED_LPS_READ_TIMEOUT_S = 5.0  # the LPS's bound on a call to the proxy


@pytest.fixture(scope="session")
def counterparts(psc_config: Config, pki: TestPKI, evidence: EvidenceRecorder) -> Iterator[Counterparts]:
    settings = psc_config.counterparts
    secrets = None
    if psc_config.external:
        if psc_config.campaign.pki_dir is not None:
            secrets = read_client_secrets(psc_config.campaign.pki_dir)
    else:
        timings = dataclasses.replace(
            settings.psc_timings,
            ciba_interval_s=EMBEDDED_CIBA_INTERVAL_S,
            slow_down_increment_s=EMBEDDED_CIBA_INTERVAL_S,
        )
        settings = dataclasses.replace(settings, psc_port=0, api_as_port=0, api_port=0, psc_timings=timings)
    with Counterparts.build(pki, settings, client_secrets=secrets, evidence=evidence) as suite:
        yield suite


@pytest.fixture(scope="session")
def consumer(
    request: pytest.FixtureRequest, psc_config: Config, counterparts: Counterparts, evidence: EvidenceRecorder
) -> Iterator[ConsumerBench]:
    campaign = campaign_of(request.config)
    read_timeout = psc_config.timeouts.read_s
    if psc_config.external:
        assert psc_config.sut.base_url is not None
        ca_file = psc_config.sut.ca_file
        if ca_file is None and psc_config.campaign.pki_dir is not None:
            ca_file = psc_config.campaign.pki_dir / "ca-bundle.pem"
        yield ConsumerBench(
            counterparts,
            psc_config.sut.base_url,
            ca_file,
            evidence,
            read_timeout,
            dict(psc_config.sut.declared),
        )
        return
    try:
        sut = launch_reference_consumer(
            counterparts,
            campaign.output / "sut.log",
            faults=campaign.sut.faults,
            variants=campaign.sut.variants,
            idle_timeout_s=EMBEDDED_IDLE_TIMEOUT_S,
            http_timeout_s=EMBEDDED_UPSTREAM_TIMEOUT_S,
        )
    except Exception as exc:  # the embedded SUT not starting is the harness's failure: exit 3
        abort_campaign(request.config, f"the reference proxy did not start: {exc}")
        raise
    campaign.sut = dataclasses.replace(
        campaign.sut, name="psc-conformance reference proxy", base_url=sut.base_url
    )
    try:
        yield ConsumerBench(
            counterparts,
            sut.base_url,
            sut.ca_file,
            evidence,
            min(read_timeout, EMBEDDED_LPS_READ_TIMEOUT_S),
            # What the proxy really uses: a variant may need a longer upstream timeout than ours.
            {"idle_timeout_s": sut.idle_timeout_s, "upstream_timeout_s": sut.upstream_timeout_s},
        )
    finally:
        sut.stop()


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
