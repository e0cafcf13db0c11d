"""junit.xml per requirement: each verdict reads as the right CI outcome, in valid xunit2, SUT text inert."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import validate_results
from conformance.report.junit import SUITE_NAME, add_requirement_cases

RERUN = "psc-conformance run --role provider --fault rs_skips_scope_check"
SCOPE_TEST = "scenarios/provider/test_ressource.py::test_token_without_the_api_scope_is_refused"
HEADERS_TEST = "scenarios/provider/test_ressource.py::test_refusals_carry_www_authenticate"
PYTEST_JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
    '<testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="1.0">'
    '<testcase classname="scenarios.provider.test_ressource"'
    ' name="test_token_without_the_api_scope_is_refused" time="0.1">'
    '<failure message="failed check(s)">trace</failure></testcase>'
    '<testcase classname="scenarios.provider.test_ressource" name="test_refusals_carry_www_authenticate"'
    ' time="0.1" /></testsuite></testsuites>'
)


def check(requirement: str, name: str, status: str, message: str, **extra: Any) -> dict[str, Any]:
    entry = {"requirement": requirement, "name": name, "ok": status == "passed", "status": status}
    entry |= {"message": message, "severity": "failure", "evidence": [], "prerequisite": False, **extra}
    if status == "inconclusive":
        entry.setdefault("root_cause", message)
    return entry


def requirement(rid: str, verdict: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": rid, "catalogue": "ig-securisation-transport", "verdict": verdict}
    entry["scenarios"] = []
    entry |= {"title": {"fr": f"titre {rid}", "en": f"title {rid}"}, "level": "mandatory"}
    entry |= {"method": "automatic", "applies_to": ["provider"], "source": "IG 1.2.0", **extra}
    return entry


def results_doc() -> dict[str, Any]:
    """A provider run with one requirement per verdict, valid against the results.json schema."""
    blockage = {
        "scenario": HEADERS_TEST,
        "condition": "not_reached",
        "reason": "not judged: the scenario stopped",
        "root_cause": "ConnectError: the resource server closed the connection",
        "blocked_by": None,
        "failed_in": None,
    }
    doc: dict[str, Any] = {
        "schema_version": 2,
        "harness": {"name": "psc-conformance", "version": "0.1.0"},
        "sut": {"role": "provider", "name": "vendor RS", "base_url": "https://rs.example", "faults": []},
        "catalogues": [{"id": "ig-securisation-transport", "title": "IG", "version": "1.2.0"}],
        "requirements": [
            requirement("IG-SEC-23", "fail", scenarios=[SCOPE_TEST, HEADERS_TEST]),
            requirement("IG-SEC-24", "warning", level="recommended", scenarios=[HEADERS_TEST]),
            requirement("IG-SEC-25", "inconclusive", scenarios=[HEADERS_TEST], inconclusive=[blockage]),
            requirement("IG-SEC-26", "not_tested"),
            requirement("IG-SEC-27", "manual", method="declarative"),
            requirement(
                "IG-SEC-28",
                "attested",
                method="declarative",
                attestation={"by": "RSSI Vendor", "date": "2026-11-02", "evidence": "PAS-2026.pdf"},
            ),
            requirement("IG-SEC-29", "pass", scenarios=[SCOPE_TEST]),
            requirement("IG-SEC-01", "not_applicable", applies_to=["consumer"]),
        ],
        "scenarios": [
            {
                "nodeid": SCOPE_TEST,
                "outcome": "failed",
                "requirements": ["IG-SEC-23", "IG-SEC-29"],
                "duration_s": 0.1,
                "checks": [
                    check("EDC-17", "rs_serves_valid_token", "passed", "served", prerequisite=True),
                    check("IG-SEC-23", "token_has_no_api_scope", "failed", "prerequisite", prerequisite=True),
                    check(
                        "IG-SEC-23",
                        "rs_refuses_token_without_api_scope",
                        "failed",
                        "HTTP 200: served, where it must be refused",
                        evidence=["ex-000071"],
                    ),
                    check("IG-SEC-23", "rs_checks_audience", "passed", "refused with 401"),
                    check("IG-SEC-29", "rs_refuses_token_without_api_scope", "failed", "counts for 29 only"),
                ],
            },
            {
                "nodeid": HEADERS_TEST,
                "outcome": "failed",
                "requirements": ["IG-SEC-23", "IG-SEC-24", "IG-SEC-25"],
                "duration_s": 0.1,
                "checks": [
                    check("IG-SEC-23", "rs_answers_401", "failed", "HTTP 500 instead of 401"),
                    check(
                        "IG-SEC-23", "www_authenticate_names_error", "failed", "no error=", severity="warning"
                    ),
                    check("IG-SEC-24", "www_authenticate_bearer", "failed", "no Bearer challenge"),
                ],
            },
        ],
        "campaign": {"complete": True, "errors": [], "selection": "ressource", "rerun": RERUN},
        "exchanges": {
            "ex-000071": {
                "counterpart": "sut",
                "direction": "to_sut",
                "method": "POST",
                "url": "https://rs.example/api",
                "status": 200,
                "error": None,
                "tls": {"version": "TLSv1.3"},
            }
        },
        "started_at": "2026-12-01T10:00:00Z",
        "finished_at": "2026-12-01T10:00:09Z",
    }
    validate_results(doc)  # the fixture keeps to the published contract
    return doc


def write_junit(directory: Path, text: str = PYTEST_JUNIT) -> Path:
    path = directory / "junit.xml"
    path.write_text(text, encoding="utf-8")
    return path


def requirement_suite(path: Path) -> ET.Element:
    suites = ET.parse(path).getroot().findall(f"testsuite[@name='{SUITE_NAME}']")
    assert len(suites) == 1
    return suites[0]


def cases(path: Path) -> dict[str, ET.Element]:
    """The requirement test cases by requirement id (the name starts with it)."""
    return {case.get("name", "").split(" — ")[0]: case for case in requirement_suite(path).iter("testcase")}


@pytest.fixture
def junit(tmp_path: Path) -> Path:
    path = write_junit(tmp_path)
    add_requirement_cases(path, results_doc())
    return path


def test_each_verdict_reads_as_its_ci_outcome(junit: Path) -> None:
    by_id = cases(junit)
    outcomes = {rid: [child.tag for child in case] for rid, case in by_id.items()}
    assert outcomes == {
        "IG-SEC-23": ["failure"],
        "IG-SEC-24": ["system-out"],  # a warning passes, with a note
        "IG-SEC-25": ["skipped"],
        "IG-SEC-26": ["skipped"],
        "IG-SEC-27": ["skipped"],
        "IG-SEC-28": ["skipped"],
        "IG-SEC-29": [],
    }
    assert by_id["IG-SEC-23"].get("classname") == "ig-securisation-transport"
    assert by_id["IG-SEC-23"].get("name") == "IG-SEC-23 — titre IG-SEC-23"


def test_failure_lists_the_failing_conditions_of_that_requirement(junit: Path) -> None:
    failure = cases(junit)["IG-SEC-23"].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert message == (
        "rs_refuses_token_without_api_scope: HTTP 200: served, where it must be refused; "
        "rs_answers_401: HTTP 500 instead of 401"
    )
    details = failure.text or ""
    # The warning-severity condition is in the details, marked; passed ones, prerequisites and
    # another requirement's failures are nowhere.
    assert "www_authenticate_names_error (warning): no error=" in details
    assert not any(text in details for text in ("rs_checks_audience", "token_has_no_api_scope", "for 29"))
    assert "evidence ex-000071: POST https://rs.example/api → 200 (TLSv1.3)" in details
    assert f"re-run: {RERUN} -k 'test_token_without_the_api_scope_is_refused'" in details
    assert f"re-run: {RERUN} -k 'test_refusals_carry_www_authenticate'" in details


def test_reasons_of_warnings_and_skips(junit: Path) -> None:
    by_id = cases(junit)

    def said(rid: str, tag: str) -> str:
        element = by_id[rid].find(tag)
        assert element is not None
        return f"{element.get('message', '')}\n{element.text or ''}"

    assert "warning: IG-SEC-24" in said("IG-SEC-24", "system-out")
    assert "www_authenticate_bearer: no Bearer challenge" in said("IG-SEC-24", "system-out")
    inconclusive = said("IG-SEC-25", "skipped")
    assert inconclusive.startswith("inconclusive: ConnectError: the resource server closed the connection")
    assert f"{RERUN} -k 'test_refusals_carry_www_authenticate'" in inconclusive
    assert "no scenario of this run verifies it" in said("IG-SEC-26", "skipped")
    assert "narrowed with -k 'ressource'" in said("IG-SEC-26", "skipped")
    assert said("IG-SEC-27", "skipped").startswith("to be declared: established by declaration")
    assert "by RSSI Vendor on 2026-11-02, document: PAS-2026.pdf" in said("IG-SEC-28", "skipped")


def test_counts_are_right_and_pytest_suites_are_kept(junit: Path) -> None:
    root = ET.parse(junit).getroot()
    assert [suite.get("name") for suite in root.findall("testsuite")] == ["pytest", SUITE_NAME]
    original = ET.fromstring(PYTEST_JUNIT).find("testsuite")
    kept = root.find("testsuite[@name='pytest']")
    assert original is not None and kept is not None
    assert kept.attrib == original.attrib
    assert [c.attrib for c in kept.iter("testcase")] == [c.attrib for c in original.iter("testcase")]
    suite = requirement_suite(junit)
    # IG-SEC-01 applies to the consumer only: a provider run has no test case for it.
    assert {key: suite.get(key) for key in ("tests", "failures", "errors", "skipped")} == {
        "tests": "7",
        "failures": "1",
        "errors": "0",
        "skipped": "4",
    }


def test_totals_on_the_root_follow_when_it_has_them(tmp_path: Path) -> None:
    path = write_junit(tmp_path, PYTEST_JUNIT.replace('name="pytest tests"', 'tests="2" failures="1"'))
    add_requirement_cases(path, results_doc())
    root = ET.parse(path).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("9", "2", None)


def test_running_it_again_replaces_the_requirement_suite(junit: Path) -> None:
    doc = results_doc()
    doc["requirements"][0]["verdict"] = "pass"
    add_requirement_cases(junit, doc)
    suite = requirement_suite(junit)
    assert suite.get("failures") == "0"
    assert len(ET.parse(junit).getroot().findall("testsuite")) == 2
    assert not list(junit.parent.glob("*.tmp"))


def test_without_junit_xml_the_requirement_suite_stands_alone(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    add_requirement_cases(path, results_doc(), lang="en")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert [suite.get("name") for suite in root] == [SUITE_NAME]
    assert "IG-SEC-23 — title IG-SEC-23" in {case.get("name") for case in root.iter("testcase")}


@pytest.mark.parametrize(
    ("state", "outcome"), [("active", "skipped"), ("expired", "failure"), ("unused", "failure")]
)
def test_only_an_active_waiver_keeps_a_failure_out_of_the_red(
    tmp_path: Path, state: str, outcome: str
) -> None:
    doc = results_doc()
    waiver = {"justification": "fix in 2.4", "owner": "Jane Vendor", "expires": "2027-01-31", "state": state}
    doc["requirements"][0]["waiver"] = waiver
    validate_results(doc)
    path = write_junit(tmp_path)
    add_requirement_cases(path, doc)
    case = cases(path)["IG-SEC-23"]
    assert [child.tag for child in case] == [outcome]
    if state == "active":
        element = case[0]
        assert element.get("message", "").startswith("waived failure (Jane Vendor, until 2027-01-31): ")
        assert "rs_refuses_token_without_api_scope" in element.get("message", "")
        assert "waiver: fix in 2.4" in (element.text or "")


HOSTILE = '<script>alert("x")</script> & ]]> \' "><img src=x onerror=alert(1)>'


def test_sut_text_is_data_in_a_well_formed_file(tmp_path: Path) -> None:
    doc = results_doc()
    hostile = HOSTILE + "\x00\x1b\ud800\ufffe\u2028 é 😀\r\n"
    doc["scenarios"][0]["checks"][2]["message"] = hostile
    doc["exchanges"]["ex-000071"]["url"] = "javascript:alert(1)//" + HOSTILE
    doc["sut"]["name"] = hostile
    path = write_junit(tmp_path)
    add_requirement_cases(path, doc)
    raw = path.read_bytes()
    raw.decode("utf-8")  # strict: no lone surrogate was written
    assert b"<script>" not in raw and b"<img" not in raw
    failure = cases(path)["IG-SEC-23"].find("failure")
    assert failure is not None
    # Kept as text, character for character, except what XML 1.0 cannot carry at all.
    spelled = HOSTILE + "\\u0000\\u001b\\ud800\\ufffe\u2028 é 😀\r\n"
    assert failure.get("message", "").startswith(f"rs_refuses_token_without_api_scope: {spelled}")
    assert f"POST javascript:alert(1)//{HOSTILE} → 200" in (failure.text or "")
    properties = requirement_suite(path).find("properties")
    assert properties is not None
    assert {p.get("name"): p.get("value") for p in properties}["sut"] == spelled


def test_long_messages_are_shortened_in_the_attribute_only(tmp_path: Path) -> None:
    doc = results_doc()
    doc["scenarios"][0]["checks"][2]["message"] = "x" * 5000
    path = write_junit(tmp_path)
    add_requirement_cases(path, doc)
    failure = cases(path)["IG-SEC-23"].find("failure")
    assert failure is not None
    assert len(failure.get("message", "")) == 1000 and failure.get("message", "").endswith("…")
    assert "x" * 5000 in (failure.text or "")


# The xunit2 schema pytest validates against (testing/example_scripts/junit-10.xsd), as data:
# element -> (allowed attributes, required attributes, allowed children).
XUNIT2: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set(), {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname"}
        | {"id", "package", "file", "log", "url", "version"},
        {"name", "tests", "failures", "errors"},
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": (
        {"name", "time", "classname", "group"},
        {"name"},
        {"skipped", "errors", "failure", "system-out", "system-err"},
    ),
    "failure": ({"type", "message"}, set(), set()),
    "skipped": ({"type", "message"}, set(), set()),
    "system-out": (set(), set(), set()),
}


def test_the_requirement_suite_keeps_to_the_xunit2_schema(junit: Path) -> None:
    root = ET.parse(junit).getroot()
    suite = requirement_suite(junit)
    for element in [root, *suite.iter()]:
        allowed, required, children = XUNIT2[element.tag]
        assert set(element.attrib) <= allowed, element.tag
        assert required <= set(element.attrib), element.tag
        assert {child.tag for child in element} <= children, element.tag
        if element is not root and element.tag not in ("failure", "skipped", "system-out"):
            assert not (element.text or "").strip(), f"{element.tag} is not mixed content"
    assert suite.get("timestamp") == "2026-12-01T10:00:00Z"
