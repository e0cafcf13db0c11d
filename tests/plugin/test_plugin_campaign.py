"""The plugin end to end: real pytest sessions over small scenario files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import validate_results

SCENARIOS = '''
import time
import pytest
from conformance.campaign.conditions import Strength, condition, inconclusive, judged


def rule(name, rid, strength=Strength.MUST):
    return condition(name, (rid,), basis="unit basis, section 1", strength=strength, fr=name, en=name)(
        lambda ok, message="": judged(ok, message)
    )


FLOOR = rule("tls_floor", "EXI PSC 24")
SCOPE = rule("scope_openid", "EXI PSC 17")
RECO = rule("session_cookie", "RECO PSC 06")
SOFT = rule("x5t_form", "IG-SEC-01", Strength.READING)
LOGOUT = rule("logout", "EXI PSC 20")
PKI = rule("pki", "HARNESS-01")
FLOWS = rule("flows", "EXI PSC 10")
TOKEN = rule("token_request", "EXI PSC 15")
SESSION = rule("lps_session", "EDC-01")
LISTENER = condition(
    "listener_refused", ("IG-SEC-03",), basis="unit basis", strength=Strength.MUST, fr="l", en="l",
    precondition="the SUT made a handshake with the listener",
)(lambda handshakes: inconclusive("0 handshakes with the listener") if not handshakes else judged(True, "ok"))

@pytest.mark.verifies("EXI PSC 24")
def test_passes(checks):
    """Le plancher TLS est respecté"""
    checks.exchanged_with_sut()
    checks.evaluate(FLOOR, True, "TLSv1.3")

@pytest.mark.verifies("EXI PSC 17")
def test_soft_failure_runs_to_the_end(checks):
    checks.exchanged_with_sut()
    checks.evaluate(SCOPE, False, "scope=openid only")
    checks.evaluate(SCOPE, True, "second look")

@pytest.mark.verifies("EXI PSC 16")
def test_vacuous(checks):
    checks.exchanged_with_sut()

@pytest.mark.verifies("EXI PSC 20")
def test_talks_to_nobody(checks):
    checks.evaluate(LOGOUT, True)

@pytest.mark.verifies("HARNESS-01", sut=False)
def test_self_check(checks):
    checks.evaluate(PKI, True)

@pytest.mark.verifies("RECO PSC 06")
def test_reco_failure(checks):
    checks.exchanged_with_sut()
    checks.evaluate(RECO, False, "Max-Age=86400")

@pytest.mark.verifies("IG-SEC-01")
def test_warning_only(checks):
    checks.exchanged_with_sut()
    checks.evaluate(SOFT, False, "hex form")

@pytest.mark.verifies("EXI PSC 09")
def test_crashes(checks):
    checks.exchanged_with_sut()
    raise KeyError("access_token")

@pytest.mark.verifies("EXI PSC 10")
def test_hangs(checks):
    checks.exchanged_with_sut()
    checks.evaluate(FLOWS, True)
    time.sleep(30)

@pytest.mark.verifies("EXI PSC 15")
def test_records_evidence(checks, evidence):
    from conformance.evidence import Exchange
    evidence.record(Exchange(counterpart="psc", direction="to_harness", method="POST",
                             url="https://127.0.0.1:1/evidence-probe", started_at=time.time(),
                             status=200))
    checks.exchanged_with_sut()
    checks.evaluate(TOKEN, True)

@pytest.mark.verifies("IG-SEC-03")
def test_prerequisite_fails(checks):
    checks.exchanged_with_sut()
    checks.prerequisite(SESSION, False, "HTTP 200, body not JSON, no cookie")
    checks.evaluate(LISTENER, 1)

@pytest.mark.verifies("IG-SEC-04")
def test_only_a_prerequisite(checks):
    checks.exchanged_with_sut()
    checks.prerequisite(SESSION, True, "session")

@pytest.mark.verifies("IG-SEC-02")
def test_subject_never_observed(checks):
    checks.exchanged_with_sut()
    checks.evaluate(LISTENER.bound("IG-SEC-02"), 0)

def test_plain_pytest_is_ignored():
    assert True
'''


@pytest.fixture
def campaign(pytester: pytest.Pytester) -> tuple[pytest.RunResult, dict[str, Any], Path]:
    pytester.makefile(".toml", campaign="[timeouts]\nscenario_s = 1\n")
    pytester.makepyfile(test_scenarios=SCENARIOS)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        f"--psc-output={out}",
        f"--psc-config={pytester.path / 'campaign.toml'}",
        f"--junitxml={out / 'junit.xml'}",
        "-p",
        "no:cacheprovider",
    )
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return result, doc, out


def test_outcomes_follow_the_verdict_rules(campaign: tuple[pytest.RunResult, dict[str, Any], Path]) -> None:
    result, doc, _ = campaign
    validate_results(doc)
    outcomes = {s["nodeid"].split("::")[1]: s["outcome"] for s in doc["scenarios"]}
    assert outcomes == {
        "test_passes": "passed",
        "test_soft_failure_runs_to_the_end": "failed",
        "test_vacuous": "not_run",
        "test_talks_to_nobody": "not_run",
        "test_self_check": "passed",
        "test_reco_failure": "failed",
        "test_warning_only": "passed",
        "test_crashes": "error",
        "test_hangs": "error",
        "test_records_evidence": "passed",
        "test_prerequisite_fails": "inconclusive",
        "test_only_a_prerequisite": "not_run",
        "test_subject_never_observed": "inconclusive",
    }
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts["EXI PSC 24"] == "pass"
    assert verdicts["EXI PSC 17"] == "fail"
    assert verdicts["EXI PSC 16"] == "not_tested"
    assert verdicts["EXI PSC 20"] == "not_tested"
    assert verdicts["RECO PSC 06"] == "warning"
    assert verdicts["IG-SEC-01"] == "warning"
    assert verdicts["EXI PSC 09"] == "inconclusive"  # an error proves nothing either way, and says so
    assert verdicts["EXI PSC 10"] == "not_tested"
    assert verdicts["HARNESS-01"] == "pass"
    assert verdicts["EXI PSC 01"] == "manual"
    # the soft failure did not stop the scenario: both evaluations are recorded
    soft = next(s for s in doc["scenarios"] if s["nodeid"].endswith("test_soft_failure_runs_to_the_end"))
    assert [c["ok"] for c in soft["checks"]] == [False, True]
    hang = next(s for s in doc["scenarios"] if s["nodeid"].endswith("test_hangs"))
    assert "exceeded its 1 s bound" in hang["detail"] and hang["duration_s"] < 10
    assert doc["scenarios"][0]["title"] == "Le plancher TLS est respecté"
    # pytest's own verdict agrees: failing checks fail the test, vacuous scenarios are skipped
    # a failed prerequisite is no failure of what the scenario verifies, nor of its own requirement
    assert verdicts["IG-SEC-03"] == "inconclusive" and verdicts["EDC-01"] == "not_tested"
    blocked = next(r for r in doc["requirements"] if r["id"] == "IG-SEC-03")["inconclusive"]
    assert blocked[0]["blocked_by"] == "lps_session" and "body not JSON" in blocked[0]["root_cause"]
    assert verdicts["IG-SEC-04"] == "not_tested"  # a prerequisite alone proves nothing
    assert verdicts["IG-SEC-02"] == "inconclusive"
    never = next(r for r in doc["requirements"] if r["id"] == "IG-SEC-02")["inconclusive"]
    assert never[0]["reason"] == "0 handshakes with the listener"
    # pytest's own verdict agrees: failing checks fail the test, vacuous and inconclusive ones are skipped
    result.assert_outcomes(passed=5, failed=4, skipped=5)


def test_junit_carries_requirement_ids(campaign: tuple[pytest.RunResult, dict[str, Any], Path]) -> None:
    _, _, out = campaign
    tree = ET.parse(out / "junit.xml")
    case = next(c for c in tree.iter("testcase") if c.get("name") == "test_passes")
    props = {(p.get("name"), p.get("value")) for p in case.iter("property")}
    assert ("requirement", "EXI PSC 24") in props


def test_journal_report_and_evidence_are_written(
    campaign: tuple[pytest.RunResult, dict[str, Any], Path],
) -> None:
    _, doc, out = campaign
    lines = (out / "scenarios.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(doc["scenarios"]) == 13
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Matrice des exigences" in page and "EXI PSC 24" in page
    exchanges = json.loads((out / "evidence" / "evidence.json").read_text(encoding="utf-8"))["exchanges"]
    [exchange] = [e for e in exchanges if e["request"]["url"].endswith("/evidence-probe")]
    assert exchange["scenario"].endswith("::test_records_evidence")
    har = json.loads((out / "evidence" / "evidence.har").read_text(encoding="utf-8"))
    assert har["log"]["version"] == "1.2" and har["log"]["entries"][0]["_scenario"].endswith(
        "test_records_evidence"
    )


def test_unknown_requirement_id_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest
@pytest.mark.verifies("EXI PSC 99")
def test_x(checks):
    pass
"""
    )
    result = pytester.runpytest_subprocess(f"--psc-output={pytester.path / 'o'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*EXI PSC 99*psc-conformance requirements*"])


def test_checks_fixture_needs_a_declaration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_undeclared="""
import pytest
@pytest.mark.verifies("EXI PSC 24")
def test_ok(checks):
    pass
def test_x(checks):
    pass
"""
    )
    result = pytester.runpytest_subprocess(f"--psc-output={pytester.path / 'o'}")
    result.stdout.fnmatch_lines(["*uses `checks` but declares no @pytest.mark.verifies*"])


def test_inert_without_scenarios(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x():\n    assert True\n")
    result = pytester.runpytest_subprocess(f"--psc-output={pytester.path / 'o'}")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "o").exists()


def test_unreachable_sut_ends_the_run_with_3_and_a_report(pytester: pytest.Pytester) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never accepting
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        pytester.makefile(
            ".toml", campaign=f'[sut]\nbase_url = "https://127.0.0.1:{port}"\nstartup_timeout_s = 0.5\n'
        )
        pytester.makepyfile(
            test_s="""
import pytest
@pytest.mark.verifies("EXI PSC 24")
def test_x(checks):
    checks.exchanged_with_sut()
"""
        )
        out = pytester.path / "o"
        result = pytester.runpytest_subprocess(
            f"--psc-output={out}", f"--psc-config={pytester.path / 'campaign.toml'}"
        )
    assert result.ret == 3
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["campaign"]["complete"] is False
    assert "did not answer" in doc["campaign"]["errors"][0]
    assert (out / "report.html").exists()


def test_collect_only_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_s=SCENARIOS)
    result = pytester.runpytest_subprocess("--collect-only", f"--psc-output={pytester.path / 'o'}")
    assert result.ret == 0
    assert not (pytester.path / "o").exists() and not (pytester.path / "reports").exists()


def test_a_worker_dying_mid_scenario_leaves_it_not_run_and_the_run_incomplete(
    pytester: pytest.Pytester,
) -> None:
    """A worker session that ends in an internal error (CPython 3.11 raised one when two threads parsed
    source at once) must not make its scenario vanish: it is `not_run`, said why, and the run exits 3."""
    pytester.makeconftest(
        """
import pytest
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if item.name == "test_dies":
        raise SystemError("simulated internal error")
"""
    )
    pytester.makepyfile(
        test_s="""
import pytest
@pytest.mark.verifies("EXI PSC 24")
def test_dies(checks):
    pass
@pytest.mark.verifies("HARNESS-01", sut=False)
def test_lives(checks):
    pass
"""
    )
    out = pytester.path / "o"
    result = pytester.runpytest_subprocess(f"--psc-output={out}", "--psc-jobs=2", "-p", "no:cacheprovider")
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    scenarios = {s["nodeid"].split("::")[1]: s for s in doc["scenarios"]}
    assert set(scenarios) == {"test_dies", "test_lives"}
    assert scenarios["test_dies"]["outcome"] == "not_run"
    assert "status 3" in json.dumps(scenarios["test_dies"])
    assert doc["campaign"]["complete"] is False
    assert any("not run to their end" in error for error in doc["campaign"]["errors"])
    assert result.ret == 3


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_embedded_sut_that_does_not_start_ends_the_run_with_3(
    pytester: pytest.Pytester, jobs: int
) -> None:
    """The embedded SUT is brought up from the first collected scenario on, in a thread: its failure to
    start still ends the run where the SUT is first needed, with 3, the reason and a report."""
    pytester.makeconftest(
        """
import conformance.roles.consumer.bringup as bringup

def _refuse(*args, **kwargs):
    raise RuntimeError("simulated: the reference proxy exited with status 1")

bringup.launch_reference_consumer = _refuse
"""
    )
    pytester.makepyfile(
        test_s="""
import pytest
@pytest.mark.verifies("EXI PSC 24")
def test_x(checks, sut):
    checks.exchanged_with_sut()
@pytest.mark.verifies("EXI PSC 17")
def test_y(checks, sut):
    checks.exchanged_with_sut()
"""
    )
    out = pytester.path / "o"
    result = pytester.runpytest_subprocess(
        f"--psc-output={out}", f"--psc-jobs={jobs}", "-p", "no:cacheprovider"
    )
    assert result.ret == 3
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["campaign"]["complete"] is False
    assert "did not start" in doc["campaign"]["errors"][0] and "simulated" in doc["campaign"]["errors"][0]
    assert (out / "report.html").exists()


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_selection_of_the_harness_own_scenarios_never_brings_the_sut_up(
    pytester: pytest.Pytester, jobs: int
) -> None:
    """`-k` narrowing the run to scenarios that do not talk to the SUT: the embedded SUT is not started
    (here it could not be, and the run still passes); one that does is selected, and the SUT is brought
    up for it (and its failure to start ends the run with 3)."""
    pytester.makeconftest(
        """
import pathlib
import conformance.roles.consumer.bringup as bringup

def _refuse(*args, **kwargs):
    pathlib.Path("launched").touch()
    raise RuntimeError("simulated: the reference proxy exited with status 1")

bringup.launch_reference_consumer = _refuse
"""
    )
    pytester.makepyfile(
        test_s="""
import pytest
from conformance.campaign.conditions import Strength, condition, judged
def rule(name, rid):
    return condition(name, (rid,), basis="unit basis", strength=Strength.MUST, fr=name, en=name)(
        lambda ok: judged(ok, "")
    )
PKI, TLS = rule("pki", "HARNESS-01"), rule("tls", "HARNESS-02")
@pytest.mark.verifies("EXI PSC 24")
def test_needs_the_sut(checks, sut):
    checks.exchanged_with_sut()
@pytest.mark.verifies("HARNESS-01", sut=False)
def test_harness_a(checks):
    checks.evaluate(PKI, True)
@pytest.mark.verifies("HARNESS-02", sut=False)
def test_harness_b(checks):
    checks.evaluate(TLS, True)
"""
    )
    options = [f"--psc-jobs={jobs}", "-p", "no:cacheprovider"]
    harness_only = pytester.runpytest_subprocess(
        f"--psc-output={pytester.path / 'h'}", "-k", "harness", *options
    )
    doc = json.loads((pytester.path / "h" / "results.json").read_text(encoding="utf-8"))
    assert not (pytester.path / "launched").exists(), "the SUT was launched for scenarios that never use it"
    assert harness_only.ret == 0, doc["campaign"]["errors"]
    assert {s["nodeid"].split("::")[1]: s["outcome"] for s in doc["scenarios"]} == {
        "test_harness_a": "passed",
        "test_harness_b": "passed",
    }
    with_sut = pytester.runpytest_subprocess(
        f"--psc-output={pytester.path / 'w'}", "-k", "sut or harness_a", *options
    )
    assert (pytester.path / "launched").exists()
    assert with_sut.ret == 3
    doc = json.loads((pytester.path / "w" / "results.json").read_text(encoding="utf-8"))
    assert "did not start" in doc["campaign"]["errors"][0]


def test_worker_sessions_ignore_pytest_addopts_and_show_errors_without_parsing_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PYTEST_ADDOPTS (common in CI) is the coordinator's: a worker session, without the terminal plugin,
    refused `--tb` as unknown and ran nothing; only the plugins it names (`-p`) load in the workers too,
    so they see the scenarios run. An error is shown in Python's own traceback style, and a call the
    breaker did not send in one line, its reason: no traceback for what never went out."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-rA -p watcher")
    pytester.makepyfile(
        watcher="""
from pathlib import Path
def pytest_runtest_setup(item):
    with Path(__file__).with_name("watched.txt").open("a") as watched:
        watched.write(item.name + "\\n")
"""
    )
    pytester.makepyfile(
        test_s="""
import pytest
from conformance.evidence.breaker import SutUnresponsive
@pytest.mark.verifies("EXI PSC 24")
def test_not_sent(checks):
    raise SutUnresponsive("call not sent: the SUT is held unresponsive (simulated)")
@pytest.mark.verifies("EXI PSC 17")
def test_crashes(checks):
    checks.exchanged_with_sut()
    raise KeyError("access_token")
"""
    )
    out = pytester.path / "o"
    result = pytester.runpytest_subprocess(f"--psc-output={out}", "--psc-jobs=2", "-p", "no:cacheprovider")
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["campaign"]["complete"] is True, doc["campaign"]["errors"]
    scenarios = {s["nodeid"].split("::")[1]: s for s in doc["scenarios"]}
    assert scenarios["test_not_sent"]["outcome"] == "error"
    assert scenarios["test_not_sent"]["detail"] == (
        "SutUnresponsive: call not sent: the SUT is held unresponsive (simulated)"
    )
    crash = scenarios["test_crashes"]["detail"]
    assert scenarios["test_crashes"]["outcome"] == "error"
    assert 'File "' in crash and crash.endswith("KeyError: 'access_token'"), crash  # native style
    assert result.ret == 1
    watched = (pytester.path / "watched.txt").read_text(encoding="utf-8").split()
    assert sorted(watched) == ["test_crashes", "test_not_sent"]  # set up once each, in a worker
