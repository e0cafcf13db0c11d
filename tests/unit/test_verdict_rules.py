"""Every verdict rule of BRIEF §5, pinned on hand-made requirements and check results."""

from __future__ import annotations

import pytest

from conformance.campaign.verdicts import (
    Attestation,
    CheckResult,
    Outcome,
    ScenarioRecord,
    Severity,
    Status,
    Verdict,
    aggregate,
    requirement_verdict,
    scenario_outcome,
)
from conformance.requirements.model import Level, Method, Requirement
from conformance.roles import Role

BOTH = frozenset({Role.CONSUMER, Role.PROVIDER})


def req(
    rid: str = "EXI PSC 24",
    *,
    level: Level = Level.MANDATORY,
    method: Method = Method.AUTOMATIC,
    applies_to: frozenset[Role] = BOTH,
) -> Requirement:
    return Requirement(
        id=rid,
        catalogue="referentiel-psc",
        title={"fr": "t", "en": "t"},
        level=level,
        method=method,
        applies_to=applies_to,
        source="§",
    )


def check(ok: bool, rid: str = "EXI PSC 24", severity: Severity = Severity.FAILURE) -> CheckResult:
    return CheckResult(name="c", requirements=(rid,), ok=ok, severity=severity, message="m")


ATTESTED = Attestation("EXI PSC 24", "J. Martin", "2026-11-20", "Kbis")


class TestRequirementVerdict:
    def test_fail_when_any_check_failed(self) -> None:
        assert requirement_verdict(req(), Role.CONSUMER, [check(True), check(False)]) is Verdict.FAIL

    def test_failed_recommendation_is_a_warning_not_a_fail(self) -> None:
        reco = req("RECO PSC 06", level=Level.RECOMMENDED)
        assert requirement_verdict(reco, Role.CONSUMER, [check(False, "RECO PSC 06")]) is Verdict.WARNING

    def test_failed_warning_severity_check_gives_warning(self) -> None:
        checks = [check(True), check(False, severity=Severity.WARNING)]
        assert requirement_verdict(req(), Role.CONSUMER, checks) is Verdict.WARNING

    def test_failure_severity_dominates_warning_severity(self) -> None:
        checks = [check(False, severity=Severity.WARNING), check(False)]
        assert requirement_verdict(req(), Role.CONSUMER, checks) is Verdict.FAIL

    def test_pass_needs_at_least_one_check_and_all_passing(self) -> None:
        assert requirement_verdict(req(), Role.CONSUMER, [check(True), check(True)]) is Verdict.PASS

    def test_not_tested_when_applicable_automatic_and_no_check_ran(self) -> None:
        assert requirement_verdict(req(), Role.CONSUMER, []) is Verdict.NOT_TESTED

    def test_attestation_never_stands_in_for_an_automatic_check(self) -> None:
        assert requirement_verdict(req(), Role.CONSUMER, [], ATTESTED) is Verdict.NOT_TESTED

    @pytest.mark.parametrize("checks", [[], [check(False)], [check(True)]])
    def test_not_applicable_to_the_role_wins_over_everything(self, checks: list[CheckResult]) -> None:
        fs_only = req("EXI PSC 32", applies_to=frozenset({Role.CONSUMER}))
        assert requirement_verdict(fs_only, Role.PROVIDER, checks) is Verdict.NOT_APPLICABLE

    def test_declarative_without_attestation_is_manual(self) -> None:
        assert (
            requirement_verdict(req("EXI PSC 01", method=Method.DECLARATIVE), Role.CONSUMER, [])
            is Verdict.MANUAL
        )

    def test_declarative_with_attestation_is_attested_never_pass(self) -> None:
        verdict = requirement_verdict(
            req("EXI PSC 01", method=Method.DECLARATIVE), Role.CONSUMER, [], ATTESTED
        )
        assert verdict is Verdict.ATTESTED

    def test_partial_with_clean_wire_still_needs_a_declaration(self) -> None:
        partial = req("EXI PSC 06", method=Method.PARTIAL)
        assert requirement_verdict(partial, Role.CONSUMER, [check(True, "EXI PSC 06")]) is Verdict.MANUAL
        assert (
            requirement_verdict(partial, Role.CONSUMER, [check(True, "EXI PSC 06")], ATTESTED)
            is Verdict.ATTESTED
        )

    def test_partial_fails_on_the_wire_even_when_attested(self) -> None:
        partial = req("EXI PSC 06", method=Method.PARTIAL)
        assert (
            requirement_verdict(partial, Role.CONSUMER, [check(False, "EXI PSC 06")], ATTESTED)
            is Verdict.FAIL
        )


class TestScenarioOutcome:
    def test_no_check_is_not_run_never_passed(self) -> None:
        outcome, why = scenario_outcome(pytest_outcome="passed", checks=[], sut_exchanges=3, needs_sut=True)
        assert outcome is Outcome.NOT_RUN and "no check" in why

    def test_no_exchange_with_the_sut_is_not_run(self) -> None:
        outcome, why = scenario_outcome(
            pytest_outcome="passed", checks=[check(True)], sut_exchanges=0, needs_sut=True
        )
        assert outcome is Outcome.NOT_RUN and "nothing was exchanged" in why

    def test_harness_self_check_needs_no_exchange(self) -> None:
        outcome, _ = scenario_outcome(
            pytest_outcome="passed", checks=[check(True)], sut_exchanges=0, needs_sut=False
        )
        assert outcome is Outcome.PASSED

    def test_failed_check_fails_the_scenario(self) -> None:
        outcome, _ = scenario_outcome(
            pytest_outcome="passed", checks=[check(False)], sut_exchanges=1, needs_sut=True
        )
        assert outcome is Outcome.FAILED

    def test_warning_check_does_not_fail_the_scenario(self) -> None:
        outcome, _ = scenario_outcome(
            pytest_outcome="passed",
            checks=[check(False, severity=Severity.WARNING)],
            sut_exchanges=1,
            needs_sut=True,
        )
        assert outcome is Outcome.PASSED

    @pytest.mark.parametrize(
        ("pytest_outcome", "expected"), [("error", Outcome.ERROR), ("skipped", Outcome.SKIPPED)]
    )
    def test_error_and_skip_are_kept(self, pytest_outcome: str, expected: Outcome) -> None:
        outcome, _ = scenario_outcome(
            pytest_outcome=pytest_outcome, checks=[check(True)], sut_exchanges=1, needs_sut=True
        )
        assert outcome is expected


class TestAggregate:
    def record(self, outcome: Outcome, checks: list[CheckResult], nodeid: str = "s::t") -> ScenarioRecord:
        return ScenarioRecord(nodeid=nodeid, requirements=("EXI PSC 24",), outcome=outcome, checks=checks)

    def test_checks_of_not_run_scenarios_do_not_count(self) -> None:
        verdicts = aggregate([req()], Role.CONSUMER, [self.record(Outcome.NOT_RUN, [check(True)])])
        assert verdicts[0].verdict is Verdict.NOT_TESTED
        assert verdicts[0].scenarios == ("s::t",)

    def test_checks_of_errored_scenarios_do_not_make_a_pass(self) -> None:
        verdicts = aggregate([req()], Role.CONSUMER, [self.record(Outcome.ERROR, [check(True)])])
        assert verdicts[0].verdict is Verdict.NOT_TESTED

    def test_one_failing_scenario_among_passing_ones_fails_the_requirement(self) -> None:
        records = [
            self.record(Outcome.PASSED, [check(True)], "a"),
            self.record(Outcome.FAILED, [check(False)], "b"),
        ]
        verdict = aggregate([req()], Role.CONSUMER, records)[0]
        assert verdict.verdict is Verdict.FAIL
        assert (verdict.checks_run, verdict.checks_failed) == (2, 1)
        assert verdict.scenarios == ("a", "b")

    def test_check_counts_only_for_the_requirements_it_enforces(self) -> None:
        records = [self.record(Outcome.FAILED, [check(False, "EXI PSC 16")])]
        verdicts = aggregate([req(), req("EXI PSC 16")], Role.CONSUMER, records)
        assert [v.verdict for v in verdicts] == [Verdict.NOT_TESTED, Verdict.FAIL]

    def test_attestation_is_reported_only_where_it_counts(self) -> None:
        declarative = req("EXI PSC 01", method=Method.DECLARATIVE)
        attestations = {"EXI PSC 01": ATTESTED, "EXI PSC 24": ATTESTED}
        verdicts = aggregate([declarative, req()], Role.CONSUMER, [], attestations)
        assert verdicts[0].attestation is ATTESTED
        assert verdicts[1].attestation is None


def inconclusive_check(
    rid: str = "EXI PSC 24", *, blocked_by: str = "", prerequisite: bool = False
) -> CheckResult:
    return CheckResult(
        name="listener_refused",
        requirements=(rid,),
        ok=False,
        severity=Severity.FAILURE,
        message="the SUT made no handshake with the listener",
        status=Status.INCONCLUSIVE,
        root_cause="connect_answers_session: HTTP 500" if blocked_by else "",
        blocked_by=blocked_by,
        prerequisite=prerequisite,
    )


def prerequisite(ok: bool) -> CheckResult:
    return CheckResult(
        name="connect_answers_session",
        requirements=("EDC-01",),
        ok=ok,
        severity=Severity.FAILURE,
        message="HTTP 200, body not JSON, no cookie" if not ok else "session",
        prerequisite=True,
    )


class TestInconclusive:
    def test_only_inconclusive_checks_make_an_inconclusive_requirement(self) -> None:
        assert requirement_verdict(req(), Role.CONSUMER, [inconclusive_check()]) is Verdict.INCONCLUSIVE

    def test_inconclusive_never_hides_a_failure_nor_replaces_a_pass(self) -> None:
        assert requirement_verdict(req(), Role.CONSUMER, [inconclusive_check(), check(False)]) is Verdict.FAIL
        assert requirement_verdict(req(), Role.CONSUMER, [inconclusive_check(), check(True)]) is Verdict.PASS

    def test_a_scenario_with_only_prerequisites_is_never_passed(self) -> None:
        outcome, why = scenario_outcome(
            pytest_outcome="passed", checks=[prerequisite(True)], sut_exchanges=2, needs_sut=True
        )
        assert outcome is Outcome.NOT_RUN and "no check" in why

    def test_a_failed_prerequisite_makes_the_scenario_inconclusive_not_failed(self) -> None:
        outcome, why = scenario_outcome(
            pytest_outcome="passed",
            checks=[prerequisite(False), inconclusive_check(blocked_by="connect_answers_session")],
            sut_exchanges=2,
            needs_sut=True,
        )
        assert outcome is Outcome.INCONCLUSIVE and "connect_answers_session" in why

    def test_root_cause_points_at_the_scenario_where_the_blocker_failed(self) -> None:
        connect = ScenarioRecord(
            nodeid="connexion::test_connect",
            requirements=("EDC-01",),
            outcome=Outcome.FAILED,
            checks=[CheckResult("connect_answers_session", ("EDC-01",), False, Severity.FAILURE, "HTTP 500")],
        )
        transport = ScenarioRecord(
            nodeid="transport::test_tls",
            requirements=("EXI PSC 24",),
            outcome=Outcome.INCONCLUSIVE,
            checks=[prerequisite(False), inconclusive_check(blocked_by="connect_answers_session")],
        )
        edc01, exi24 = aggregate([req("EDC-01"), req()], Role.CONSUMER, [connect, transport])
        assert edc01.verdict is Verdict.FAIL  # the one real defect
        assert exi24.verdict is Verdict.INCONCLUSIVE  # not a collateral failure
        (blockage,) = exi24.blockages
        assert blockage.blocked_by == "connect_answers_session"
        assert blockage.failed_in == "connexion::test_connect"
        assert blockage.root_cause == "connect_answers_session: HTTP 500"

    def test_a_prerequisite_never_speaks_for_its_own_requirement(self) -> None:
        record = ScenarioRecord(
            nodeid="s",
            requirements=("EXI PSC 24",),
            outcome=Outcome.INCONCLUSIVE,
            checks=[prerequisite(False)],
        )
        (edc01,) = aggregate([req("EDC-01")], Role.CONSUMER, [record])
        assert edc01.verdict is Verdict.NOT_TESTED

    def test_an_errored_scenario_still_reports_what_it_prevented(self) -> None:
        record = ScenarioRecord(
            nodeid="s", requirements=("EXI PSC 24",), outcome=Outcome.ERROR, checks=[inconclusive_check()]
        )
        (verdict,) = aggregate([req()], Role.CONSUMER, [record])
        assert verdict.verdict is Verdict.INCONCLUSIVE and verdict.checks_inconclusive == 1
