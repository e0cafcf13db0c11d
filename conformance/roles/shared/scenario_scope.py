"""What a scenario may judge while others run at the same time: its own traffic, and what concerns nobody.

Exchanges tagged with another scenario (its identity, its calls) are left out; those tagged with none
(a metadata or JWKS fetch while several scenarios ran) stay in, as they would in a sequential campaign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.counterparts.observations import Observation
from conformance.evidence.model import Exchange
from conformance.evidence.recorder import EvidenceRecorder


@dataclass(frozen=True)
class ScenarioScope:
    evidence: EvidenceRecorder
    scenarios: frozenset[str] | None  # this scenario and its group's; None outside any scenario: everything

    def mine(self, exchange: Exchange) -> bool:
        return self.scenarios is None or exchange.shared or exchange.scenario in self.scenarios

    def exchanges(self, exchanges: Iterable[Exchange]) -> list[Exchange]:
        return [e for e in exchanges if self.mine(e)]

    def subject_is_mine(self, subject: str | None) -> bool:
        """False only when `subject` (a national id, a token's sub) was claimed by another scenario."""
        owner = self.evidence.scenarios.owner(subject)
        return self.scenarios is None or owner is None or owner in self.scenarios

    def observations(self, observations: Iterable[Observation]) -> list[Observation]:
        """Observations of this scenario's traffic: by whom their request concerned, else by their
        exchange once recorded (an observation tied to neither is kept)."""
        kept = []
        for observation in observations:
            owner = self.evidence.scenarios.owner_of(observation.subjects)
            if owner is not None:
                if self.scenarios is None or owner in self.scenarios:
                    kept.append(observation)
                continue
            exchange = self.evidence.get(observation.exchange_id) if observation.exchange_id else None
            if exchange is None or self.mine(exchange):
                kept.append(observation)
        return kept


def scenario_scope(evidence: EvidenceRecorder) -> ScenarioScope:
    """The scope of the calling thread's scenario (everything, outside a scenario or inside an `alone()`
    section, when nothing else happens)."""
    current = evidence.current_scenario
    if current is None or evidence.scenarios.alone():
        return ScenarioScope(evidence, None)
    return ScenarioScope(evidence, evidence.scenarios.scope_of(current))


class ScenarioEvidence:
    """What a bench offers a scenario to read: the counterparts' observations and the exchanges of its own
    traffic (a bench has `counterparts`, with their `observations`, and `evidence`)."""

    counterparts: Any
    evidence: EvidenceRecorder

    def observed(self, kind: str | None = None, *, since: float, **filters: str | None) -> list[Observation]:
        """What the counterparts observed since `since` (`ObservationLog.find`: client_id, counterpart),
        in this scenario's traffic."""
        found = self.counterparts.observations.find(kind, since=since, **filters)
        return scenario_scope(self.evidence).observations(found)

    def exchanges(
        self, *, counterpart: str | None = None, since: float | None = None, direction: str | None = None
    ) -> list[Exchange]:
        """This scenario's recorded exchanges (`EvidenceRecorder.exchanges` filters), in recording order."""
        found = self.evidence.exchanges(counterpart=counterpart, since=since, direction=direction)
        return scenario_scope(self.evidence).exchanges(found)

    def count_exchanges(
        self, *, counterpart: str | None = None, since: float | None = None, direction: str | None = None
    ) -> int:
        return len(self.exchanges(counterpart=counterpart, since=since, direction=direction))

    def claimed_by_another(self, subject: str | None) -> bool:
        """Whether another scenario, running at the same time, minted this professional (national id or
        PSC sub): what the SUT reports about them is that scenario's, not this one's."""
        return not scenario_scope(self.evidence).subject_is_mine(subject)

    def exchange_ids(self, observations: list[Observation]) -> list[str]:
        return [o.exchange_id for o in observations if o.exchange_id]
