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
    INCONCLUSIVE = "inconclusive"
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
    INCONCLUSIVE = "inconclusive"  # ran, but what it was to judge never happened (a prerequisite failed)


class Severity(StrEnum):
    """What a failed check means for its requirements (the OpenID suite's FAILURE/WARNING)."""

    FAILURE = "failure"
    WARNING = "warning"


class Status(StrEnum):
    """What one evaluation of a condition concluded."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"  # its precondition did not happen: nothing said for or against


@dataclass(frozen=True)
class CheckResult:
    """One evaluation of a named condition, against every requirement it enforces.

    A *prerequisite* is a condition a scenario needs before it can judge anything (the LPS has a
    session): it is recorded so that the reader sees it, but it never speaks for a requirement.
    """

    name: str
    requirements: tuple[str, ...]
    ok: bool
    severity: Severity
    message: str
    title: Mapping[str, str] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()
    status: Status | None = None  # None: PASSED or FAILED from `ok`
    basis: str = ""
    strength: str = ""
    prerequisite: bool = False
    root_cause: str = ""  # inconclusive: what blocked the judgement
    blocked_by: str = ""  # inconclusive: the name of the condition that failed first, when known

    def __post_init__(self) -> None:
        if self.status is None:
            object.__setattr__(self, "status", Status.PASSED if self.ok else Status.FAILED)
        elif self.ok != (self.status is Status.PASSED):
            object.__setattr__(self, "ok", self.status is Status.PASSED)

    @property
    def is_failure(self) -> bool:
        return self.status is Status.FAILED and self.severity is Severity.FAILURE

    @property
    def is_inconclusive(self) -> bool:
        return self.status is Status.INCONCLUSIVE

    @property
    def counts(self) -> bool:
        """Prerequisites are context, not verdicts."""
        return not self.prerequisite


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
    detail: str = ""  # why it failed, errored, was skipped, did not run or was inconclusive

    @property
    def counts(self) -> bool:
        """Only scenarios that really ran may speak for a requirement."""
        # An error still counts: what failed before it stands, and what it prevented is recorded
        # as inconclusive rather than left silently untested; what passed before it proves nothing.
        return self.outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.ERROR)


@dataclass(frozen=True)
class Attestation:
    """A declaration that establishes a requirement the wire cannot show (BRIEF §5 `attested`)."""

    requirement: str
    by: str
    date: str
    evidence: str


@dataclass(frozen=True)
class Blockage:
    """Why a requirement could not be judged: the reason, and the defect that caused it when known."""

    scenario: str
    condition: str
    reason: str
    root_cause: str = ""
    blocked_by: str = ""  # the condition that failed first
    failed_in: str = ""  # a scenario where that condition failed as a verdict of its own


@dataclass(frozen=True)
class RequirementVerdict:
    requirement: Requirement
    verdict: Verdict
    scenarios: tuple[str, ...]
    checks_run: int
    checks_failed: int
    attestation: Attestation | None = None
    blockages: tuple[Blockage, ...] = ()
    checks_inconclusive: int = 0
    method: Method | None = None  # how it is established for the campaign's role (None: its default)
    notes: Mapping[str, str] = field(default_factory=dict)  # how the harness reads it, for that role


def scenario_outcome(
    *,
    pytest_outcome: str,
    checks: Sequence[CheckResult],
    sut_exchanges: int,
    needs_sut: bool,
) -> tuple[Outcome, str]:
    """Turn pytest's outcome into ours, demoting vacuous scenarios to `not_run`.

    A scenario that judged nothing, or that should have talked to the SUT and did not, proved
    nothing: calling it passed is the false green this harness exists to prevent. Prerequisites
    are not judgements: a scenario whose only passed conditions are prerequisites is not passed.
    """
    if pytest_outcome == "error":
        return Outcome.ERROR, ""
    if pytest_outcome == "skipped":
        return Outcome.SKIPPED, ""
    counted = [c for c in checks if c.counts]
    if needs_sut and sut_exchanges == 0:
        return Outcome.NOT_RUN, "nothing was exchanged with the system under test"
    if pytest_outcome == "failed" or any(c.is_failure for c in counted):
        return Outcome.FAILED, ""
    blocked = [c for c in checks if not c.ok and (c.prerequisite or c.is_inconclusive)]
    if not any(c.status is not Status.INCONCLUSIVE for c in counted):
        if blocked:
            first = blocked[0]
            return Outcome.INCONCLUSIVE, f"{first.name}: {first.message}"
        return Outcome.NOT_RUN, "no check (condition) was evaluated"
    return Outcome.PASSED, ""


def requirement_verdict(
    requirement: Requirement,
    role: Role,
    checks: Sequence[CheckResult],
    attestation: Attestation | None = None,
) -> Verdict:
    """The verdict of one requirement from the checks that counted for it.

    `checks` holds only checks of scenarios that really ran (see `ScenarioRecord.counts`), and no
    prerequisite. Inconclusive results never fail and never pass a requirement: only when nothing
    else was judged does the requirement itself become `inconclusive`.
    """
    if not requirement.applies(role):
        return Verdict.NOT_APPLICABLE
    failures = [c for c in checks if c.status is Status.FAILED]
    if any(c.severity is Severity.FAILURE for c in failures):
        return Verdict.FAIL if requirement.level is Level.MANDATORY else Verdict.WARNING
    if failures:
        return Verdict.WARNING
    if requirement.method_for(role) is not Method.AUTOMATIC:
        # The wire can only support a declaration here: a clean wire is never shown as a pass.
        return Verdict.ATTESTED if attestation else Verdict.MANUAL
    if any(c.status is Status.PASSED for c in checks):
        return Verdict.PASS
    if checks:
        return Verdict.INCONCLUSIVE
    return Verdict.NOT_TESTED


def aggregate(
    requirements: Iterable[Requirement],
    role: Role,
    scenarios: Sequence[ScenarioRecord],
    attestations: Mapping[str, Attestation] | None = None,
) -> list[RequirementVerdict]:
    """Verdicts for every requirement, in catalogue order."""
    attestations = attestations or {}
    failed_in = _where_conditions_failed(scenarios)
    verdicts = []
    for req in requirements:
        declaring = tuple(s.nodeid for s in scenarios if req.id in s.requirements)
        counted = [
            (s, c)
            for s in scenarios
            if s.counts
            for c in s.checks
            if c.counts and req.id in c.requirements and not (s.outcome is Outcome.ERROR and c.ok)
        ]
        checks = [c for _, c in counted]
        attestation = attestations.get(req.id)
        verdict = requirement_verdict(req, role, checks, attestation)
        blockages: tuple[Blockage, ...] = ()
        if verdict is Verdict.INCONCLUSIVE:
            blockages = tuple(
                Blockage(
                    scenario=s.nodeid,
                    condition=c.name,
                    reason=c.message,
                    root_cause=c.root_cause,
                    blocked_by=c.blocked_by,
                    failed_in=failed_in.get(c.blocked_by, "") if c.blocked_by else "",
                )
                for s, c in counted
                if c.is_inconclusive
            )
        verdicts.append(
            RequirementVerdict(
                requirement=req,
                verdict=verdict,
                scenarios=declaring,
                checks_run=len(checks),
                checks_failed=sum(1 for c in checks if c.status is Status.FAILED),
                attestation=attestation if req.method_for(role) is not Method.AUTOMATIC else None,
                method=req.method_for(role),
                notes=req.notes_for(role),
                blockages=blockages,
                checks_inconclusive=sum(1 for c in checks if c.is_inconclusive),
            )
        )
    return verdicts


def _where_conditions_failed(scenarios: Sequence[ScenarioRecord]) -> dict[str, str]:
    """For each condition name, the first scenario where it failed as a verdict of its own."""
    found: dict[str, str] = {}
    for s in scenarios:
        for c in s.checks:
            if c.counts and c.status is Status.FAILED:
                found.setdefault(c.name, s.nodeid)
    return found
