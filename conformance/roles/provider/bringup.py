"""Bring up a provider campaign: the counterparts a data provider talks to, and the provider itself.

The harness plays PSC (it issues the PSC access tokens the provider exchanges, and answers the
provider's introspection) and its own authorization server (whose tokens judge the resource server,
and which stands in for the provider's when the configuration names none: the resource-server-only
mode). Without an external SUT in the configuration, the SUT is the embedded reference provider,
started as a separate process from the same files a vendor gets (`counterparts.json`, the PKI).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conformance.counterparts.suite import ProviderCounterparts
from conformance.evidence import EvidenceRecorder
from conformance.pki import TestPKI, write_pki
from conformance.roles import BringUpRequest, SutEndpoints, configured_client_secrets, external_ca_file

REFERENCE_NAME = "psc-conformance reference provider"
P12_PASSWORD = "psc-conformance"


@dataclass(frozen=True)
class ProviderEndpoints(SutEndpoints):
    """Where a data provider answers: its API PSC and, unless judged alone, its authorization server."""

    api_base_url: str = ""
    token_endpoint: str | None = None  # None: the resource server alone, the harness plays its AS

    @property
    def resource_server_only(self) -> bool:
        return self.token_endpoint is None

    @property
    def signsessiondata_url(self) -> str:
        return self.api_base_url + "/signsessiondata"


@contextmanager
def counterparts(
    request: BringUpRequest, pki: TestPKI, evidence: EvidenceRecorder
) -> Iterator[ProviderCounterparts]:
    """PSC and the harness's authorization server: on the configured ports for an external provider
    (with the client secrets it was given), on ephemeral ports otherwise."""
    config = request.config
    settings = config.counterparts
    if not config.external:
        settings = dataclasses.replace(settings, psc_port=0, api_as_port=0, api_port=0)
    secrets = configured_client_secrets(config)
    with ProviderCounterparts.build(pki, settings, client_secrets=secrets, evidence=evidence) as suite:
        yield suite


@contextmanager
def sut(request: BringUpRequest, counterparts: ProviderCounterparts) -> Iterator[ProviderEndpoints]:
    """The provider under test: the vendor's (already started by the plugin), or the reference one."""
    config = request.config
    if config.external:
        assert config.sut.api_base_url is not None, "a provider is reached at [sut] api_base_url"
        yield ProviderEndpoints(
            config.sut.name,
            config.sut.api_base_url,
            external_ca_file(config),
            dict(config.sut.declared),
            api_base_url=config.sut.api_base_url,
            token_endpoint=config.sut.token_endpoint,
        )
        return
    from conformance.reference.provider.launcher import launch_reference_provider

    directory = Path(tempfile.mkdtemp(prefix="psc-conformance-provider-"))
    try:
        files = write_pki(counterparts.pki, directory, p12_password=P12_PASSWORD)
        counterparts.write_counterparts_file(directory, files, P12_PASSWORD)
        reference = launch_reference_provider(
            directory, request.output / "sut.log", faults=request.faults, variants=request.variants
        )
        try:
            yield ProviderEndpoints(
                REFERENCE_NAME,
                reference.rs_base_url,
                reference.ca_file,
                {"token_ttl_s": float(reference.settings.get("token_ttl_s", 0) or 0)},
                embedded=True,
                api_base_url=reference.rs_base_url,
                token_endpoint=reference.token_endpoint,
            )
        finally:
            reference.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
