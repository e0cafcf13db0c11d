"""CI outputs of one real failing campaign: `--allure DIR` results, and junit.xml per requirement.

One provider campaign with a fault (about 10 s) serves every test here: the Allure results it wrote
into a directory given relative to the working directory, and its junit.xml + results.json for
`add_requirement_cases`. Without allure-pytest the campaign runs without `--allure` and only the
Allure tests are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main, run_cmd
from conformance.report.junit import SUITE_NAME, add_requirement_cases

FAULT = "rs_skips_scope_check"
FAILING = "IG-SEC-23"
SCENARIO = "test_token_without_the_api_scope_is_refused"
HAS_ALLURE = importlib.util.find_spec("allure_pytest") is not None
needs_allure = pytest.mark.skipif(
    not HAS_ALLURE,
    reason="allure-pytest is not installed: pip install -e '.[allure]' (the test extra, which .ci/run "
    "installs, has it)",
)
# What Allure calls a step's status, for each status of a condition.
ALLURE_STATUS = {"passed": "passed", "failed": "failed", "inconclusive": "skipped"}


@dataclass(frozen=True)
class Run:
    output: Path
    allure: Path
    status: int

    @property
    def results(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.output / "results.json").read_text(encoding="utf-8"))
        return doc

    def allure_results(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text(encoding="utf-8")) for p in self.allure.glob("*-result.json")]

    def allure_result(self, test_name: str) -> dict[str, Any]:
        found = [r for r in self.allure_results() if r["name"] == test_name]
        assert len(found) == 1, [r["name"] for r in self.allure_results()]
        return found[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("ci-outputs")
    argv = ["run", "--role", "provider", "--fault", FAULT, "--output", "run"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)  # --allure DIR and --output are relative to the working directory
        status = main([*argv, "--allure", "allure-out"] if HAS_ALLURE else argv)
    return Run(output=cwd / "run", allure=cwd / "allure-out", status=status)


def test_the_fault_fails_the_campaign(run: Run) -> None:
    assert run.status == 1
    assert [r["id"] for r in run.results["requirements"] if r["verdict"] == "fail"] == [FAILING]


def test_junit_of_a_real_campaign_names_the_failing_requirement(run: Run, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    shutil.copy(run.output / "junit.xml", junit)
    written = ET.parse(junit).getroot().findall("testsuite")
    assert SUITE_NAME in [s.get("name") for s in written], "`run` writes the requirements suite itself"
    before = [s for s in written if s.get("name") != SUITE_NAME]
    add_requirement_cases(junit, run.results)  # again: the suite is replaced, never doubled
    root = ET.parse(junit).getroot()
    pytest_suites = [s for s in root.findall("testsuite") if s.get("name") != SUITE_NAME]
    assert [s.attrib for s in pytest_suites] == [s.attrib for s in before]
    assert [s.get("name") for s in root.findall("testsuite")].count(SUITE_NAME) == 1
    suite = root.find(f"testsuite[@name='{SUITE_NAME}']")
    assert suite is not None
    cases = {c.get("name", "").split(" — ")[0]: c for c in suite.iter("testcase")}
    applicable = [r for r in run.results["requirements"] if "provider" in r["applies_to"]]
    assert sorted(cases) == sorted(r["id"] for r in applicable)
    failure = cases[FAILING].find("failure")
    assert failure is not None and "rs_refuses_token_without_api_scope: " in failure.get("message", "")
    assert f"-k '{SCENARIO}'" in (failure.text or "")
    manual = sum(
        1 for r in applicable if r["verdict"] in ("manual", "attested", "inconclusive", "not_tested")
    )
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        str(len(applicable)),
        "1",
        str(manual),
    )


@needs_allure
def test_allure_results_go_to_the_directory_given(run: Run) -> None:
    scenarios = {s["nodeid"].rsplit("::", 1)[-1] for s in run.results["scenarios"]}
    assert {r["name"] for r in run.allure_results()} == scenarios
    assert not (run.output / run_cmd.ALLURE_IN_RUN).exists()


@needs_allure
def test_allure_result_has_requirement_label_link_and_a_step_per_condition(run: Run) -> None:
    result = run.allure_result(SCENARIO)
    assert result["status"] == "failed"
    assert {"name": "requirement", "value": FAILING} in result["labels"]
    assert any(link["type"] == "requirement" and link["name"] == FAILING for link in result["links"])
    scenario = next(s for s in run.results["scenarios"] if s["nodeid"].endswith(f"::{SCENARIO}"))
    recorded = {(c["name"], ALLURE_STATUS[c["status"]], c["message"]) for c in scenario["checks"]}
    steps = {
        (s["name"].removeprefix("prerequisite ").split(" — ")[0], s["status"], _parameter(s, "observed"))
        for s in result["steps"]
    }
    assert steps == recorded
    failed = next(s for s in result["steps"] if s["status"] == "failed")
    assert failed["name"].startswith("rs_refuses_token_without_api_scope — ")
    assert "where it must be refused" in failed["statusDetails"]["message"]


@needs_allure
def test_allure_attachment_holds_the_exchanges_redacted_as_in_results(run: Run) -> None:
    result = run.allure_result(SCENARIO)
    [attachment] = [a for a in result["attachments"] if a["type"] == "application/json"]
    exchanges = json.loads((run.allure / attachment["source"]).read_text(encoding="utf-8"))
    scenario = next(s for s in run.results["scenarios"] if s["nodeid"].endswith(f"::{SCENARIO}"))
    cited = {ref for c in scenario["checks"] for ref in c["evidence"]}
    assert cited and cited <= set(exchanges)
    for ref in cited:
        assert exchanges[ref] == run.results["exchanges"][ref]
    bearer = [
        value
        for exchange in exchanges.values()
        for name, value in exchange["request"]["headers"]
        if name.lower() == "authorization" and value.startswith("Bearer ")
    ]
    assert bearer and all(value.endswith("…") for value in bearer), "token signatures are shortened"


def test_allure_without_the_package_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        run_cmd.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "allure_pytest" else real_find_spec(name, *args),
    )
    assert main(["run", "--role", "provider", "--output", str(tmp_path / "o"), "--allure", "a"]) == 2
    assert "pip install 'psc-conformance[allure]'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists(), "refused before anything ran"


def _parameter(step: dict[str, Any], name: str) -> str | None:
    return next((p["value"] for p in step.get("parameters", []) if p["name"] == name), None)
