"""Bring up a consumer campaign: the counterparts a proxy talks to, and the proxy itself.

Without an external SUT in the configuration, the SUT is the embedded reference proxy, started as a
separate process from the same files a vendor gets (`counterparts.json`, the PKI), with the
campaign's faults and allowed variants, on ephemeral ports and with short timers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from conformance.counterparts.suite import Counterparts
from conformance.evidence import EvidenceRecorder
from conformance.pki import TestPKI
from conformance.reference.consumer.launcher import launch_reference_consumer
from conformance.roles import BringUpRequest, SutEndpoints, configured_client_secrets, external_ca_file

# The embedded campaign runs on ephemeral ports with short timers: it takes seconds.
EMBEDDED_CIBA_INTERVAL_S = 0.1
EMBEDDED_IDLE_TIMEOUT_S = 5.0  # leaves 2 s token lifetimes room to expire before it, on a loaded machine too
# The reference proxy's bound on a call to PSC or the API: short, yet ample on a loaded machine.
EMBEDDED_UPSTREAM_TIMEOUT_S = 2.0
EMBEDDED_LPS_READ_TIMEOUT_S = 5.0  # the LPS's bound on a call to the proxy
REFERENCE_NAME = "psc-conformance reference proxy"


@contextmanager
def counterparts(request: BringUpRequest, pki: TestPKI, evidence: EvidenceRecorder) -> Iterator[Counterparts]:
    """PSC, the API's authorization server and the API: on the configured ports for an external
    proxy (with the client secrets it was given), on ephemeral ports with short timers otherwise."""
    config = request.config
    settings = config.counterparts
    if not config.external:
        timings = dataclasses.replace(
            settings.psc_timings,
            ciba_interval_s=EMBEDDED_CIBA_INTERVAL_S,
            slow_down_increment_s=EMBEDDED_CIBA_INTERVAL_S,
        )
        settings = dataclasses.replace(settings, psc_port=0, api_as_port=0, api_port=0, psc_timings=timings)
    secrets = configured_client_secrets(config)
    with Counterparts.build(pki, settings, client_secrets=secrets, evidence=evidence) as suite:
        yield suite


@contextmanager
def sut(request: BringUpRequest, counterparts: Counterparts) -> Iterator[SutEndpoints]:
    """The proxy under test: the vendor's (already started by the plugin), or the reference proxy."""
    config = request.config
    if config.external:
        assert config.sut.base_url is not None
        ca_file = external_ca_file(config)
        yield SutEndpoints(config.sut.name, config.sut.base_url, ca_file, dict(config.sut.declared))
        return
    reference = launch_reference_consumer(
        counterparts,
        request.output / "sut.log",
        faults=request.faults,
        variants=request.variants,
        idle_timeout_s=EMBEDDED_IDLE_TIMEOUT_S,
        http_timeout_s=EMBEDDED_UPSTREAM_TIMEOUT_S,
    )
    try:
        yield SutEndpoints(
            REFERENCE_NAME,
            reference.base_url,
            reference.ca_file,
            # What the proxy really uses: a variant may need a longer upstream timeout than ours.
            {"idle_timeout_s": reference.idle_timeout_s, "upstream_timeout_s": reference.upstream_timeout_s},
            embedded=True,
        )
    finally:
        reference.stop()
