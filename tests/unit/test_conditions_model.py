"""The condition model: declaration, judgements, and how the recorder turns them into results."""

from __future__ import annotations

import pytest

from conformance.campaign.checks import CheckFailed, CheckRecorder, PrerequisiteNotMet
from conformance.campaign.conditions import (
    Condition,
    Judgement,
    Strength,
    catalogue,
    condition,
    failed,
    inconclusive,
    judged,
    markdown,
    passed,
)
from conformance.campaign.verdicts import Severity, Status


def _tls_floor(version: str | None) -> Judgement:
    if version is None:
        return inconclusive("no handshake was observed", root_cause="the SUT never connected")
    return judged(version in ("TLSv1.2", "TLSv1.3"), f"negotiated {version}", ["ex-1", None])


TLS_FLOOR = condition(
    "unit_tls_floor",
    ("IG-SEC-01", "EXI PSC 24"),
    basis="IG Sécurisation transport 1.2.0",
    strength=Strength.MUST,
    precondition="the SUT made a handshake",
    fr="TLS ≥ 1.2",
    en="TLS >= 1.2",
)(_tls_floor)
TLS13 = condition(
    "unit_tls13",
    ("IG-SEC-01",),
    basis="IG Sécurisation transport 1.2.0 (TLS 1.3 recommended)",
    strength=Strength.SHOULD,
    fr="TLS 1.3",
    en="TLS 1.3",
)(lambda version: judged(version == "TLSv1.3", f"negotiated {version}"))
SESSION = condition(
    "unit_session",
    ("EDC-01",),
    basis="OpenAPI API Conformité 1.0 (upstream)",
    strength=Strength.MUST,
    fr="session",
    en="session",
)(lambda ok: judged(ok, "session" if ok else "HTTP 200, body not JSON, no cookie"))


class TestDeclaration:
    def test_a_condition_needs_requirements_and_a_basis(self) -> None:
        with pytest.raises(ValueError, match="no requirement"):
            Condition("x", (), "basis", Strength.MUST, "f", "e", judge=passed)
        with pytest.raises(ValueError, match="no basis"):
            Condition("x", ("EDC-01",), " ", Strength.MUST, "f", "e", judge=passed)

    def test_strength_decides_the_severity_of_a_failure(self) -> None:
        assert Strength.MUST.severity is Severity.FAILURE
        assert Strength.SHOULD.severity is Severity.WARNING
        assert Strength.READING.severity is Severity.WARNING

    def test_a_name_is_declared_once_across_modules(self) -> None:
        with pytest.raises(ValueError, match="declared twice"):
            _declare_elsewhere(TLS_FLOOR.name)

    def test_bound_keeps_the_rule_and_changes_the_requirements(self) -> None:
        bound = TLS_FLOOR.bound("IG-SEC-03")
        assert bound.requirements == ("IG-SEC-03",)
        assert bound.name == TLS_FLOOR.name and bound("TLSv1.1").status is Status.FAILED

    def test_a_condition_must_return_a_judgement(self) -> None:
        broken = condition("unit_broken", ("EDC-01",), basis="b", strength=Strength.MUST, fr="f", en="e")(
            lambda: True
        )
        with pytest.raises(TypeError, match="not a Judgement"):
            broken()

    def test_judgements_drop_empty_evidence_and_are_truthy_only_when_passed(self) -> None:
        assert TLS_FLOOR("TLSv1.3").evidence == ("ex-1",)
        assert TLS_FLOOR("TLSv1.3") and not TLS_FLOOR("TLSv1.1") and not TLS_FLOOR(None)
        assert failed("x").status is Status.FAILED and passed().status is Status.PASSED


def _declare_elsewhere(name: str) -> None:
    def judge() -> Judgement:
        return passed()

    judge.__module__ = "somewhere.else"
    condition(name, ("EDC-01",), basis="b", strength=Strength.MUST, fr="f", en="e")(judge)


class TestRecorder:
    def test_evaluate_records_basis_strength_and_status(self) -> None:
        rec = CheckRecorder(declared=frozenset({"IG-SEC-01", "EXI PSC 24"}))
        rec.evaluate(TLS_FLOOR, "TLSv1.1")
        rec.evaluate(TLS13, "TLSv1.2")
        floor, tls13 = rec.results
        assert (floor.status, floor.basis, floor.strength) == (
            Status.FAILED,
            "IG Sécurisation transport 1.2.0",
            "must",
        )
        assert tls13.severity is Severity.WARNING and [f.name for f in rec.failures] == ["unit_tls_floor"]

    def test_inconclusive_is_neither_ok_nor_a_failure(self) -> None:
        rec = CheckRecorder(declared=frozenset({"IG-SEC-01", "EXI PSC 24"}))
        rec.evaluate(TLS_FLOOR, None)
        (result,) = rec.results
        assert result.is_inconclusive and not result.ok and rec.failures == []
        assert result.root_cause == "the SUT never connected"

    def test_require_stops_on_failure_and_on_inconclusive(self) -> None:
        rec = CheckRecorder(declared=frozenset({"IG-SEC-01", "EXI PSC 24"}))
        assert rec.require(TLS_FLOOR, "TLSv1.3")
        with pytest.raises(CheckFailed, match=r"unit_tls_floor: negotiated TLSv1\.1"):
            rec.require(TLS_FLOOR, "TLSv1.1")
        with pytest.raises(PrerequisiteNotMet):
            rec.require(TLS_FLOOR, None)

    def test_a_prerequisite_speaks_for_no_requirement(self) -> None:
        rec = CheckRecorder(declared=frozenset({"IG-SEC-01"}))  # EDC-01 need not be declared
        rec.prerequisite(SESSION, True)
        with pytest.raises(PrerequisiteNotMet) as stopped:
            rec.prerequisite(SESSION, False)
        assert stopped.value.result.prerequisite and not stopped.value.result.counts
        assert rec.failures == [] and rec.stopped_by is stopped.value.result

    def test_unjudged_requirements_become_inconclusive_with_the_blocker(self) -> None:
        rec = CheckRecorder(declared=frozenset({"IG-SEC-01", "EXI PSC 24", "EDC-05"}))
        rec.evaluate(TLS13, "TLSv1.3")
        added = rec.unjudged("stopped", root_cause="unit_session: no cookie", blocked_by="unit_session")
        assert sorted(r.requirements[0] for r in added) == ["EDC-05", "EXI PSC 24"]
        assert all(r.is_inconclusive and r.blocked_by == "unit_session" for r in added)

    def test_a_condition_outside_the_declared_requirements_is_refused(self) -> None:
        rec = CheckRecorder(declared=frozenset({"IG-SEC-01"}))
        with pytest.raises(ValueError, match=r"EXI PSC 24.*verifies"):
            rec.evaluate(TLS_FLOOR, "TLSv1.3")

    def test_exchanges_are_counted(self) -> None:
        rec = CheckRecorder(declared=frozenset())
        rec.exchanged_with_sut()
        rec.exchanged_with_sut(2)
        assert rec.sut_exchanges == 3


def test_every_harness_condition_names_a_basis_and_a_strength() -> None:
    conditions = catalogue()
    assert len({c.name for c in conditions}) == len(conditions)
    for c in conditions:
        assert c.basis.strip() and c.strength in Strength and c.fr and c.en, c.name
        if c.strength is not Strength.MUST:
            # A warning must say what it goes beyond, or which recommendation it follows.
            assert any(w in c.basis.lower() for w in ("reading", "should", "recommend", "lecture")), c.name
    assert "| theme | condition |" in markdown()
