"""The verdict rules of BRIEF §5, as pure functions over recorded checks.

Nothing here does I/O: the pytest plugin feeds scenario records in, the report writers
read verdicts out, and the unit tests pin every rule directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from conformance.requirements.model import Level, Method, Requirement
from conformance.roles import Role


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARNING = "warning"
    NOT_APPLICABLE = "not_applicable"
    MANUAL = "manual"
    ATTESTED = "attested"
    NOT_TESTED = "not_tested"


class Outcome(StrEnum):
    """What became of a scenario. `not_run` is ours: pytest would have called it passed."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


class Severity(StrEnum):
    """What a failed check means for its requirements (the OpenID suite's FAILURE/WARNING)."""

    FAILURE = "failure"
    WARNING = "warning"


@dataclass(frozen=True)
class CheckResult:
    """One evaluation of a named check, against every requirement it enforces."""

    name: str
    requirements: tuple[str, ...]
    ok: bool
    severity: Severity
    message: str
    title: Mapping[str, str] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()


@dataclass
class ScenarioRecord:
    """Everything the verdict rules need to know about one scenario run."""

    nodeid: str
    requirements: tuple[str, ...]
    outcome: Outcome
    checks: list[CheckResult] = field(default_factory=list)
    duration_s: float = 0.0
    title: str = ""
    sut_exchanges: int = 0
    needs_sut: bool = True
    detail: str = ""  # why it failed, errored, was skipped or did not run

    @property
    def counts(self) -> bool:
        """Only scenarios that really ran may speak for a requirement."""
        return self.outcome in (Outcome.PASSED, Outcome.FAILED)


@dataclass(frozen=True)
class Attestation:
    """A declaration that establishes a requirement the wire cannot show (BRIEF §5 `attested`)."""

    requirement: str
    by: str
    date: str
    evidence: str


@dataclass(frozen=True)
class RequirementVerdict:
    requirement: Requirement
    verdict: Verdict
    scenarios: tuple[str, ...]
    checks_run: int
    checks_failed: int
    attestation: Attestation | None = None


def scenario_outcome(
    *,
    pytest_outcome: str,
    checks: Sequence[CheckResult],
    sut_exchanges: int,
    needs_sut: bool,
) -> tuple[Outcome, str]:
    """Turn pytest's outcome into ours, demoting vacuous scenarios to `not_run`.

    A scenario that evaluated no check, or that should have talked to the SUT and did not,
    proved nothing: calling it passed is the false green this harness exists to prevent.
    """
    if pytest_outcome == "error":
        return Outcome.ERROR, ""
    if pytest_outcome == "skipped":
        return Outcome.SKIPPED, ""
    if not checks:
        return Outcome.NOT_RUN, "no check was evaluated"
    if needs_sut and sut_exchanges == 0:
        return Outcome.NOT_RUN, "nothing was exchanged with the system under test"
    failed = any(not c.ok and c.severity is Severity.FAILURE for c in checks)
    if pytest_outcome == "failed" or failed:
        return Outcome.FAILED, ""
    return Outcome.PASSED, ""


def requirement_verdict(
    requirement: Requirement,
    role: Role,
    checks: Sequence[CheckResult],
    attestation: Attestation | None = None,
) -> Verdict:
    """The verdict of one requirement from the checks that counted for it.

    `checks` holds only checks of scenarios that really ran (see `ScenarioRecord.counts`).
    """
    if not requirement.applies(role):
        return Verdict.NOT_APPLICABLE
    failures = [c for c in checks if not c.ok]
    if any(c.severity is Severity.FAILURE for c in failures):
        return Verdict.FAIL if requirement.level is Level.MANDATORY else Verdict.WARNING
    if failures:
        return Verdict.WARNING
    if requirement.method is not Method.AUTOMATIC:
        # The wire can only support a declaration here: a clean wire is never shown as a pass.
        return Verdict.ATTESTED if attestation else Verdict.MANUAL
    return Verdict.PASS if checks else Verdict.NOT_TESTED


def aggregate(
    requirements: Iterable[Requirement],
    role: Role,
    scenarios: Sequence[ScenarioRecord],
    attestations: Mapping[str, Attestation] | None = None,
) -> list[RequirementVerdict]:
    """Verdicts for every requirement, in catalogue order."""
    attestations = attestations or {}
    verdicts = []
    for req in requirements:
        declaring = tuple(s.nodeid for s in scenarios if req.id in s.requirements)
        counted = [c for s in scenarios if s.counts for c in s.checks if req.id in c.requirements]
        attestation = attestations.get(req.id)
        verdicts.append(
            RequirementVerdict(
                requirement=req,
                verdict=requirement_verdict(req, role, counted, attestation),
                scenarios=declaring,
                checks_run=len(counted),
                checks_failed=sum(1 for c in counted if not c.ok),
                attestation=attestation if req.method is not Method.AUTOMATIC else None,
            )
        )
    return verdicts
