"""The counterparts of a campaign, per role, started together on the configured addresses.

One clock, one observation log and one evidence recorder are shared, so a scenario reads a
single timeline of what the SUT did at PSC, at the API's authorization server and at the API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from conformance.clock import Clock, SystemClock
from conformance.counterparts.api_psc import SimulatedApiAuthorizationServer, SimulatedApiPsc
from conformance.counterparts.base import Counterpart
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.layout import write_counterparts
from conformance.counterparts.observations import ObservationLog
from conformance.counterparts.psc import SimulatedPSC
from conformance.counterparts.settings import API_BASE_PATH, API_REALM_PATH, CounterpartSettings
from conformance.evidence import EvidenceRecorder
from conformance.pki import PkiFiles, TestPKI
from conformance.tls import ListenerMode


@dataclass
class CounterpartSet:
    """What every campaign plays: the simulated PSC and an API authorization server, as one unit.

    A consumer campaign adds the API PSC (`Counterparts`); a provider campaign plays these two only
    (`ProviderCounterparts`): PSC issues the tokens the provider exchanges and answers its
    introspection, and the harness's authorization server signs the tokens that judge a resource server.
    """

    pki: TestPKI
    settings: CounterpartSettings
    psc: SimulatedPSC
    api_as: SimulatedApiAuthorizationServer
    observations: ObservationLog
    evidence: EvidenceRecorder
    clock: Clock
    _started: bool = field(default=False, repr=False, kw_only=True)

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
    ) -> Self:
        """The role's counterparts, not started; `client_secrets` are the PSC secrets a vendor's SUT was
        configured with (default: minted)."""
        settings = settings or CounterpartSettings()
        clock = clock or SystemClock()
        evidence = evidence if evidence is not None else EvidenceRecorder()
        observations = ObservationLog()
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
            realm_path=API_REALM_PATH,
            api_scope=settings.api_scope,
            api_audience=settings.api_name,
            api_token_ttl_s=settings.api_token_ttl_s,
            # A resource server may introspect with client_secret_basic: the secrets PSC knows.
            client_secrets={cid: client.secret for cid, client in psc.clients.items()},
            observer=evidence.server_observer("api-as"),
        )
        more = cls._more(pki, settings, api_as, observations, clock, evidence)
        return cls(pki, settings, psc, api_as, observations, evidence, clock, **more)

    @classmethod
    def _more(
        cls,
        pki: TestPKI,
        settings: CounterpartSettings,
        api_as: SimulatedApiAuthorizationServer,
        observations: ObservationLog,
        clock: Clock,
        evidence: EvidenceRecorder,
    ) -> dict[str, Any]:
        """The counterparts a role adds to PSC and the authorization server (none by default)."""
        return {}

    @property
    def servers(self) -> tuple[Counterpart, ...]:
        """The listeners, in start order."""
        return (self.psc, self.api_as)

    def start(self) -> Self:
        try:
            for server in self.servers:
                server.start()
        except OSError as exc:
            self.stop()
            raise OSError(
                exc.errno,
                f"cannot listen on {self.settings.host} ports {self._ports()} ({exc.strerror}); "
                "choose free ports in [counterparts]",
            ) from exc
        self._started = True
        return self

    def _ports(self) -> str:
        return f"{self.settings.psc_port}, {self.settings.api_as_port}"

    def listeners_back_to_normal(self) -> None:
        """Every listener in its normal TLS mode again (after a scenario that switched one, alone)."""
        for counterpart in self.servers:
            if counterpart.server.mode is not ListenerMode.NORMAL:
                counterpart.server.set_mode(ListenerMode.NORMAL)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bound_settings(self) -> CounterpartSettings:
        """The settings with the ports actually bound (they differ when 0 asked for ephemeral ports)."""
        return dataclasses.replace(
            self.settings, psc_port=self.psc.server.port, api_as_port=self.api_as.server.port
        )

    def reset(self) -> None:
        """Between scenarios: the global switches (token tampering, the AS's answer shape) and the fixed
        identities' devices back to normal; what a scenario set for its minted professional (`behave`)
        stays, since that scenario may still be running."""
        self.psc.reset()
        self.api_as.reset()

    def write_counterparts_file(self, directory: Path, files: PkiFiles, p12_password: str) -> Path:
        """`counterparts.json` for an embedded SUT, with the real ports and this PSC's client secrets."""
        secrets = {cid: client.secret for cid, client in self.psc.clients.items()}
        return write_counterparts(directory, self.bound_settings, self.pki, files, p12_password, secrets)


@dataclass
class ProviderCounterparts(CounterpartSet):
    """The counterparts of a provider campaign: PSC and the harness's own authorization server."""


@dataclass
class Counterparts(CounterpartSet):
    """The counterparts of a consumer campaign: PSC, the API PSC's authorization server and the API PSC."""

    api: SimulatedApiPsc = field(kw_only=True)

    @classmethod
    def _more(
        cls,
        pki: TestPKI,
        settings: CounterpartSettings,
        api_as: SimulatedApiAuthorizationServer,
        observations: ObservationLog,
        clock: Clock,
        evidence: EvidenceRecorder,
    ) -> dict[str, Any]:
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
        return {"api": api}

    @property
    def servers(self) -> tuple[Counterpart, ...]:
        return (self.psc, self.api_as, self.api)

    def _ports(self) -> str:
        return f"{super()._ports()}, {self.settings.api_port}"

    @property
    def bound_settings(self) -> CounterpartSettings:
        return dataclasses.replace(super().bound_settings, api_port=self.api.server.port)
