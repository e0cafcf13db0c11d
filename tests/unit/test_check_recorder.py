"""The recorder scenarios write checks into."""

from __future__ import annotations

import pytest

from conformance.checks import Check, CheckFailed, CheckRecorder
from conformance.verdicts import Severity

TLS = Check("tls_at_least_1_2", ("IG-SEC-01", "EXI PSC 24"), fr="TLS ≥ 1.2", en="TLS >= 1.2")
WARN = Check("x5t_rfc_form", ("IG-SEC-01",), fr="f", en="e", severity=Severity.WARNING)


def test_record_returns_the_outcome_and_keeps_it() -> None:
    rec = CheckRecorder(declared=frozenset({"IG-SEC-01", "EXI PSC 24"}))
    assert rec.record(TLS, True, "TLSv1.3") is True
    assert rec.record(TLS, False, "TLSv1.1") is False
    assert [r.ok for r in rec.results] == [True, False]
    assert [r.name for r in rec.failures] == ["tls_at_least_1_2"]


def test_warning_checks_are_not_failures() -> None:
    rec = CheckRecorder(declared=frozenset({"IG-SEC-01"}))
    rec.record(WARN, False)
    assert rec.failures == []


def test_require_stops_the_scenario_on_failure() -> None:
    rec = CheckRecorder(declared=frozenset({"IG-SEC-01", "EXI PSC 24"}))
    rec.require(TLS, True)
    with pytest.raises(CheckFailed, match="tls_at_least_1_2: downgraded"):
        rec.require(TLS, False, "downgraded")


def test_a_check_outside_the_declared_requirements_is_refused() -> None:
    rec = CheckRecorder(declared=frozenset({"IG-SEC-01"}))
    with pytest.raises(ValueError, match=r"EXI PSC 24.*verifies"):
        rec.record(TLS, True)


def test_a_check_must_enforce_something() -> None:
    with pytest.raises(ValueError):
        Check("vacuous", (), fr="f", en="e")


def test_exchanges_are_counted() -> None:
    rec = CheckRecorder(declared=frozenset())
    rec.exchanged_with_sut()
    rec.exchanged_with_sut(2)
    assert rec.sut_exchanges == 3
