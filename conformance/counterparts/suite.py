"""All the counterparts of a consumer campaign, started together on the configured addresses.

One clock, one observation log and one evidence recorder are shared, so a scenario reads a
single timeline of what the SUT did at PSC, at the API's authorization server and at the API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.clock import Clock, SystemClock
from conformance.counterparts.api_psc import SimulatedApiAuthorizationServer, SimulatedApiPsc
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.layout import (
    API_BASE_PATH,
    API_TOKEN_PATH,
    CounterpartSettings,
    write_counterparts,
)
from conformance.counterparts.observations import ObservationLog
from conformance.counterparts.psc import SimulatedPSC
from conformance.evidence import EvidenceRecorder
from conformance.pki import PkiFiles, TestPKI


@dataclass
class Counterparts:
    """The simulated PSC, the API PSC's authorization server and the API PSC, as one unit."""

    pki: TestPKI
    settings: CounterpartSettings
    psc: SimulatedPSC
    api_as: SimulatedApiAuthorizationServer
    api: SimulatedApiPsc
    observations: ObservationLog
    evidence: EvidenceRecorder
    clock: Clock
    _started: bool = field(default=False, repr=False)

    @classmethod
    def build(
        cls,
        pki: TestPKI,
        settings: CounterpartSettings | None = None,
        *,
        client_secrets: Mapping[str, str] | None = None,
        identities: Sequence[TestIdentity] | None = None,
        clock: Clock | None = None,
        evidence: EvidenceRecorder | None = None,
    ) -> Counterparts:
        settings = settings or CounterpartSettings()
        clock = clock or SystemClock()
        observations = ObservationLog()
        evidence = evidence if evidence is not None else EvidenceRecorder()
        psc = SimulatedPSC(
            pki,
            identities=identities,
            clock=clock,
            timings=settings.psc_timings,
            observations=observations,
            host=settings.host,
            port=settings.psc_port,
            client_secrets=client_secrets,
            observer=evidence.server_observer("psc"),
        )
        api_as = SimulatedApiAuthorizationServer(
            pki,
            introspect=psc.introspect,
            observations=observations,
            clock=clock,
            host=settings.host,
            port=settings.api_as_port,
            realm_path=API_TOKEN_PATH.removesuffix("/protocol/openid-connect/token"),
            api_scope=settings.api_scope,
            api_audience=settings.api_name,
            api_token_ttl_s=settings.api_token_ttl_s,
            observer=evidence.server_observer("api-as"),
        )
        api = SimulatedApiPsc(
            pki,
            authorization_server=api_as,
            observations=observations,
            clock=clock,
            host=settings.host,
            port=settings.api_port,
            base_path=API_BASE_PATH,
            observer=evidence.server_observer("api"),
        )
        return cls(pki, settings, psc, api_as, api, observations, evidence, clock)

    def start(self) -> Counterparts:
        try:
            self.psc.start()
            self.api_as.start()
            self.api.start()
        except OSError as exc:
            self.stop()
            raise OSError(
                exc.errno,
                f"cannot listen on {self.settings.host} ports {self.settings.psc_port}, "
                f"{self.settings.api_as_port}, {self.settings.api_port} ({exc.strerror}); "
                "choose free ports in [counterparts]",
            ) from exc
        self._started = True
        return self

    def stop(self) -> None:
        for server in (self.api, self.api_as, self.psc):
            server.stop()
        self._started = False

    def __enter__(self) -> Counterparts:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bound_settings(self) -> CounterpartSettings:
        """The settings with the ports actually bound (they differ when 0 asked for ephemeral ports)."""
        return dataclasses.replace(
            self.settings,
            psc_port=self.psc.server.port,
            api_as_port=self.api_as.server.port,
            api_port=self.api.server.port,
        )

    def reset(self) -> None:
        """Between scenarios: devices, token tampering and the AS's answer shape back to normal."""
        self.psc.reset()
        self.api_as.reset()

    def write_counterparts_file(self, directory: Path, files: PkiFiles, p12_password: str) -> Path:
        """`counterparts.json` for an embedded SUT, with the real ports and this PSC's client secrets."""
        secrets = {cid: client.secret for cid, client in self.psc.clients.items()}
        return write_counterparts(directory, self.bound_settings, self.pki, files, p12_password, secrets)
