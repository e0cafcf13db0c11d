"""The recorder a scenario hands its evidence to: conditions judge, the recorder keeps the judgements.

A scenario does not assert and does not judge. It arranges, acts, then evaluates conditions
(`conformance.campaign.conditions`) on what it saw::

    @pytest.mark.verifies("EXI PSC 16")
    def test_ciba_request_asks_for_eidas1(checks, consumer, since):
        with consumer.lps() as lps:
            consumer.try_connect(lps)
        checks.evaluate(ciba_acr_values_eidas1, consumer.observed("ciba.request", since=since))

Three ways to evaluate:

- `evaluate` records the judgement for the condition's requirements and lets the scenario go on;
- `require` does the same, and stops the scenario when the condition did not pass (what follows
  would judge nothing): the requirements the scenario did not reach are `inconclusive`, blocked
  by this condition;
- `prerequisite` judges what the scenario needs before it can judge anything (the LPS has a
  session). It speaks for no requirement; when it does not hold, the scenario stops and its
  requirements are `inconclusive`, never failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.campaign.conditions import Condition, Judgement
from conformance.campaign.verdicts import CheckResult, Severity, Status


class CheckFailed(AssertionError):
    """Raised by `CheckRecorder.require` to stop a scenario whose next steps would be meaningless."""


class PrerequisiteNotMet(Exception):
    """Raised when what a scenario needs did not happen: the scenario is inconclusive, not failed."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(f"{result.name}: {result.message}")
        self.result = result


@dataclass
class CheckRecorder:
    """What a scenario judged, and how much it talked to the system under test."""

    declared: frozenset[str]
    results: list[CheckResult] = field(default_factory=list)
    sut_exchanges: int = 0
    stopped_by: CheckResult | None = None

    def evaluate(self, condition: Condition, *evidence: Any, **named: Any) -> Judgement:
        """Judge `condition` on the evidence and record it; the scenario goes on whatever it says."""
        judgement = condition(*evidence, **named)
        self.record(condition, judgement)
        return judgement

    def require(self, condition: Condition, *evidence: Any, **named: Any) -> Judgement:
        """Judge and record, then stop the scenario unless the condition passed."""
        judgement = self.evaluate(condition, *evidence, **named)
        if judgement.status is Status.FAILED:
            self.stopped_by = self.results[-1]
            raise CheckFailed(f"{condition.name}: {judgement.message}")
        if judgement.status is Status.INCONCLUSIVE:
            self.stopped_by = self.results[-1]
            raise PrerequisiteNotMet(self.results[-1])
        return judgement

    def prerequisite(self, condition: Condition, *evidence: Any, **named: Any) -> Judgement:
        """Judge what the scenario needs; it never speaks for a requirement, and stops the scenario
        (inconclusive) when it does not hold."""
        judgement = condition(*evidence, **named)
        result = self._result(condition, judgement, prerequisite=True)
        self.results.append(result)
        if not judgement:
            self.stopped_by = result
            raise PrerequisiteNotMet(result)
        return judgement

    def record(self, condition: Condition, judgement: Judgement) -> Judgement:
        """Record a judgement already made (e.g. one condition evaluated over several exchanges)."""
        undeclared = [r for r in condition.requirements if r not in self.declared]
        if undeclared:
            # Coverage is computed from the declarations: a judgement outside them would be invisible.
            raise ValueError(
                f"condition {condition.name!r} enforces {', '.join(undeclared)}, which the scenario does "
                f"not declare: add it to @pytest.mark.verifies(...)"
            )
        self.results.append(self._result(condition, judgement))
        return judgement

    @staticmethod
    def _result(condition: Condition, judgement: Judgement, *, prerequisite: bool = False) -> CheckResult:
        return CheckResult(
            name=condition.name,
            requirements=condition.requirements,
            ok=bool(judgement),
            severity=condition.severity,
            message=judgement.message,
            title=condition.title,
            evidence=judgement.evidence,
            status=judgement.status,
            basis=condition.basis,
            strength=condition.strength.value,
            prerequisite=prerequisite,
            root_cause=judgement.root_cause,
        )

    def exchanged_with_sut(self, count: int = 1) -> None:
        """Called by the harness's clients and counterparts for each exchange with the SUT."""
        self.sut_exchanges += count

    def unjudged(self, reason: str, *, root_cause: str = "", blocked_by: str = "") -> list[CheckResult]:
        """Mark every declared requirement that this scenario judged nothing about as inconclusive.

        Called when the scenario stopped early (a prerequisite, a required condition, an error):
        what it was to judge never happened, and the report must say why rather than stay silent.
        """
        judged = {r for c in self.results if c.counts for r in c.requirements}
        added = [
            CheckResult(
                name="not_reached",
                requirements=(rid,),
                ok=False,
                severity=Severity.FAILURE,
                message=reason,
                title={
                    "fr": "Exigence non évaluée : le scénario s'est arrêté avant",
                    "en": "Requirement not judged: the scenario stopped before",
                },
                status=Status.INCONCLUSIVE,
                basis="—",
                root_cause=root_cause,
                blocked_by=blocked_by,
            )
            for rid in sorted(self.declared - judged)
        ]
        self.results.extend(added)
        return added

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.counts and r.is_failure]
