"""What a consumer scenario drives: the SUT's API Conformité as an LPS, and the counterparts around it.

Scenarios read as a test plan on top of this: "LPS 1 connects professional 1", "what did PSC see
since the scenario began". Every call to the SUT goes through a recording client, so the
evidence of a check is the exchanges themselves.
"""

from __future__ import annotations

import dataclasses
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conformance.config import DEFAULT_UPSTREAM_TIMEOUT_S
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.suite import Counterparts
from conformance.evidence import EvidenceRecorder, recording_client
from conformance.evidence.breaker import SutBreaker
from conformance.evidence.calls import Call, timed
from conformance.roles.consumer.conditions.answers import ConnectAnswer
from conformance.roles.shared.scenario_scope import ScenarioEvidence
from conformance.standards.ciba import DeviceAction, DeviceBehaviour

# A quick login's interval, to a SUT already given fractions of a second (the embedded proxy: 0.1 s,
# conformance/roles/consumer/bringup.py). PSC may choose any; five of these logins happen one after
# another inside exclusive sections (0.08 s each saved against 0.1 s: 0.4-0.5 s of the campaign).
QUICK_CIBA_INTERVAL_S = 0.02
# The shortest interval a SUT that was announced whole seconds gets: PSC (Keycloak) sends whole seconds,
# and clients read them as integers (the ANS example proxy: Nimbus's `getMinWaitInterval()`, an int, then
# `Thread.sleep(Duration.ofSeconds(...))`): 0.1 s could be read as 0, or refused.
QUICK_WHOLE_CIBA_INTERVAL_S = 1.0


def quick_interval_s(announced_s: float) -> float:
    """The interval of a quick login: `QUICK_CIBA_INTERVAL_S` to a SUT already given fractions of a
    second, never less than a whole second to one given whole seconds (`QUICK_WHOLE_CIBA_INTERVAL_S`)."""
    return min(announced_s, QUICK_CIBA_INTERVAL_S if announced_s < 1 else QUICK_WHOLE_CIBA_INTERVAL_S)


@dataclass
class ConsumerBench(ScenarioEvidence):
    counterparts: Counterparts
    base_url: str
    ca_file: Path | None
    evidence: EvidenceRecorder
    read_timeout_s: float
    declared: Mapping[str, float] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    _defaults: dict[str, TestIdentity] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    breaker: SutBreaker | None = None  # the campaign's, shared by every bench (`scenarios/*/conftest.py`)

    # -- who is who -------------------------------------------------------------------------------

    @property
    def lps_ids(self) -> tuple[str, ...]:
        return self.counterparts.pki.lps_client_ids

    @property
    def identities(self) -> list[TestIdentity]:
        return list(self.counterparts.psc.identities.values())

    @property
    def api_name(self) -> str:
        return self.counterparts.settings.api_name

    # -- the LPS side -----------------------------------------------------------------------------

    def sut_context(self) -> ssl.SSLContext:
        return sut_context(self.ca_file)

    def lps(self, *, read_timeout_s: float | None = None) -> httpx.Client:
        """A new LPS with its own cookie jar, talking to the SUT; every exchange is evidence.

        `read_timeout_s` lengthens its wait where the SUT legitimately takes longer (a CIBA request
        that PSC keeps pending until its expiry); by default, the campaign's read timeout.
        """
        return recording_client(
            self.evidence,
            counterpart="sut",
            verify=self.sut_context(),
            timeout=httpx.Timeout(read_timeout_s or self.read_timeout_s, connect=5.0),
            base_url=self.base_url,
            breaker=self.breaker,
        )

    def connect_body(
        self,
        *,
        client_id: str | None = None,
        national_id: str | None = None,
        channel: str = "MOBILE",
        binding_message: str = "42",
    ) -> dict[str, str]:
        return {
            "nationalId": national_id or self.default_identity().national_id,
            "bindingMessage": binding_message,
            "clientId": client_id or self.lps_ids[0],
            "channel": channel,
        }

    def connect(self, lps: httpx.Client, **body: Any) -> httpx.Response:
        return lps.post("/connect", json=self.connect_body(**body))

    def open_session(self, lps: httpx.Client, **body: Any) -> ConnectAnswer:
        """POST /connect and what the LPS holds afterwards; judge it with `connect_answers_session`."""
        answer = self.try_connect(lps, **body)
        return ConnectAnswer(answer, lps.cookies.get("proxy_session_id"))

    def default_identity(self) -> TestIdentity:
        """The professional a scenario connects when it names none: one of its own, minted at first use,
        so that scenarios running at the same time never log the same professional in."""
        scenario = self.evidence.current_scenario or ""
        with self._lock:
            identity = self._defaults.get(scenario)
        if identity is None:
            identity = self.fresh_identity()
            with self._lock:
                identity = self._defaults.setdefault(scenario, identity)
        return identity

    def fresh_identity(self) -> TestIdentity:
        """A professional the SUT has never seen: its first connect cannot reuse any cached token.

        The scenario claims it: what the SUT sends the counterparts about this professional is evidence
        of this scenario, even while others run at the same time.
        """
        identity = self.counterparts.psc.mint_identity()
        self.evidence.scenarios.claim(identity.national_id, identity.sub)
        return identity

    def quick_login(self, identity: TestIdentity) -> TestIdentity:
        """PSC announces this professional the shortest CIBA interval the harness uses (CIBA lets the
        server choose it: `quick_interval_s`) and approves at the first poll, for a scenario whose login
        is not what it judges: a login inside an exclusive section, or before it, then holds the other
        scenarios less. A SUT that polls at a fixed pace of its own is not judged on it here, and is as
        slow as before."""
        psc = self.counterparts.psc
        timings = psc.timings_for(identity)
        psc.behave(
            identity,
            timings=dataclasses.replace(timings, ciba_interval_s=quick_interval_s(timings.ciba_interval_s)),
            device=DeviceBehaviour(DeviceAction.APPROVE, after_polls=0),
        )
        return identity

    def session_still_fresh(self, opened_at: float) -> bool:
        """Whether a session opened at `opened_at` (time.monotonic()) and idle since is surely alive: idle
        for less than half the SUT's declared idle timeout. With none declared, never: a scenario then
        opens its session again rather than have it refused for idleness instead of what it tests."""
        idle = self.declared.get("idle_timeout_s")
        return idle is not None and idle > 0 and time.monotonic() - opened_at < idle / 2

    @property
    def upstream_timeout_s(self) -> float:
        """The SUT's own read timeout toward PSC and the APIs, as declared (or a default covering
        common values): what a stalled counterpart must outlast, and what the LPS waits for."""
        return float(self.declared.get("upstream_timeout_s") or DEFAULT_UPSTREAM_TIMEOUT_S)

    def try_connect(self, lps: httpx.Client, **body: Any) -> httpx.Response | None:
        """Connect, or None when the SUT did not answer in time: what it sent PSC is still judged."""
        try:
            return self.connect(lps, **body)
        except httpx.TransportError:
            return None

    def call(self, lps: httpx.Client, method: str, path: str, **kwargs: Any) -> Call:
        """One timed request of `lps` to the SUT; a transport failure is kept as evidence, not raised."""
        return timed(lps, method, path, **kwargs)

    def session_data(
        self, session: Mapping[str, str], *, client_id: str | None = None, national_id: str | None = None
    ) -> dict[str, str]:
        """The body of the API PSC's POST /signsessiondata for a connected session."""
        return {
            "nationalId": national_id or self.default_identity().national_id,
            "clientID": client_id or self.lps_ids[0],
            "proxy_session_id": session["proxy_session_id"],
            "session_state": session["session_state"],
        }

    def send_path(self, endpoint: str = "signsessiondata") -> str:
        return f"/send/{self.api_name}/{endpoint}"


def sut_context(ca_file: Path | None) -> ssl.SSLContext:
    """How an LPS trusts the proxy's API Conformité: its CA file, TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
