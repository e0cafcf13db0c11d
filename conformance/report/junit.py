"""`junit.xml` per requirement: a CI test view shows "IG-SEC-23" failing, not a pytest node id.

pytest writes one test case per scenario; `add_requirement_cases` adds, from `results.json` alone, a
`<testsuite name="requirements">` with one test case per requirement that applies to the campaign's
role. Only what must be fixed turns a CI view red: a `fail` is a `<failure>` listing its failing
conditions; a `warning` passes with a note (a recommendation is no reason to block a pipeline); what
could not be judged, or is established by declaration, is `<skipped>` with the reason, so it stays
visible. A failure under an active waiver is skipped as well, its waiver named: the global verdict does
not count it either.

Every string may carry text the SUT chose (a message quoting its answer, an exception, a URL): it goes
through `_xml_safe`, which drops what XML 1.0 cannot carry, and ElementTree escapes the rest. The
output keeps to the xunit2 schema (pytest's `junit-10.xsd`): no `<properties>` inside a test case.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from conformance.report.html import rerun_command

SUITE_NAME: Final = "requirements"
MESSAGE_CHARS: Final = 1000  # a CI view shows the message on one line; the element's text has it all
# Characters XML 1.0 cannot carry, even escaped (controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WAIVED_STATE: Final = "active"
_DECLARED_HOW: Final = {
    "declarative": "established by declaration or document review",
    "partial": "the wire gives evidence, a declaration completes it",
}


@dataclass(frozen=True)
class CaseResult:
    """What a requirement's test case says: `outcome` is pass, failure or skipped."""

    outcome: str
    message: str = ""
    details: str = ""


def add_requirement_cases(junit_path: Path, results: Mapping[str, Any], *, lang: str = "fr") -> None:
    """Rewrite `junit_path` with one test case per requirement of the run's role, keeping pytest's suites.

    Run again, it replaces the requirement suite it added; without a junit.xml (a campaign cut short
    before pytest wrote one) it writes one holding that suite alone. `lang` chooses the requirement
    titles in the test names (French by default, as the report).
    """
    root = _read_testsuites(junit_path)
    for previous in root.findall(f"testsuite[@name='{SUITE_NAME}']"):
        root.remove(previous)
    root.append(requirement_suite(results, lang=lang))
    _update_totals(root)
    ET.indent(root, space="  ")
    scratch = junit_path.with_name(junit_path.name + ".tmp")
    ET.ElementTree(root).write(scratch, encoding="utf-8", xml_declaration=True)
    os.replace(scratch, junit_path)  # a reader never sees half a file


def requirement_suite(results: Mapping[str, Any], *, lang: str = "fr") -> ET.Element:
    """The `<testsuite name="requirements">` element, in catalogue order, with its counts."""
    role = results["sut"]["role"]
    entries = [r for r in results["requirements"] if role in r.get("applies_to", [role])]
    cases = [(entry, judge(entry, results)) for entry in entries]
    counts = {
        "tests": len(cases),
        "failures": sum(1 for _, case in cases if case.outcome == "failure"),
        "errors": 0,
        "skipped": sum(1 for _, case in cases if case.outcome == "skipped"),
    }
    suite = _element(
        "testsuite",
        name=SUITE_NAME,
        **{key: str(value) for key, value in counts.items()},
        timestamp=str(results.get("started_at", "")),
    )
    suite.append(_suite_properties(results))
    for entry, case in cases:
        suite.append(_testcase(entry, case, lang))
    return suite


def judge(entry: Mapping[str, Any], results: Mapping[str, Any]) -> CaseResult:
    """How one requirement's verdict reads in a CI view, with the reason a reader needs."""
    verdict = entry["verdict"]
    if verdict == "fail":
        return _failed(entry, results)
    if verdict == "warning":
        note = f"warning: {entry['id']} is not met as recommended"
        details = _details(_failed_conditions(entry["id"], results), entry, results)
        return CaseResult("pass", details="\n".join([note, *details]))
    if verdict == "inconclusive":
        return _inconclusive(entry, results)
    if verdict == "not_tested":
        return _skipped("not tested", _not_tested_reasons(entry, results))
    if verdict == "manual":
        how = _DECLARED_HOW.get(entry.get("method", ""), "established by declaration")
        return _skipped("to be declared", [f"{how}; no attestation given (--attestations FILE)"])
    if verdict == "attested":
        given = entry.get("attestation") or {}
        who = f"by {given.get('by') or 'unknown'}" + (f" on {given['date']}" if given.get("date") else "")
        document = f", document: {given['evidence']}" if given.get("evidence") else ""
        return _skipped("attested", [f"established by declaration, not by the harness: {who}{document}"])
    if verdict == "not_applicable":
        return _skipped("not applicable", [f"does not apply to the {results['sut']['role']} role"])
    return CaseResult("pass")


def _failed(entry: Mapping[str, Any], results: Mapping[str, Any]) -> CaseResult:
    conditions = _failed_conditions(entry["id"], results)
    failing = [c for _, c in conditions if c.get("severity") != "warning"] or [c for _, c in conditions]
    summary = "; ".join(dict.fromkeys(f"{c['name']}: {c['message']}" for c in failing))
    details = _details(conditions, entry, results)
    waiver = entry.get("waiver")
    if waiver and waiver.get("state") == _WAIVED_STATE:
        note = f"waived failure ({waiver.get('owner', '')}, until {waiver.get('expires', '')}): "
        justification = f"waiver: {waiver.get('justification', '')}"
        return CaseResult("skipped", _shorten(note + summary), "\n".join([justification, *details]))
    return CaseResult("failure", _shorten(summary or "failed"), "\n".join(details))


def _inconclusive(entry: Mapping[str, Any], results: Mapping[str, Any]) -> CaseResult:
    blockages = entry.get("inconclusive", [])
    causes = list(dict.fromkeys(b.get("root_cause") or b.get("reason", "") for b in blockages))
    lines = []
    for b in blockages:
        lines.append(f"- {b['condition']} in {b['scenario']}: {b['reason']}")
        if b.get("blocked_by"):
            seen = f" (failed in {b['failed_in']})" if b.get("failed_in") else ""
            lines.append(f"  blocked by: {b['blocked_by']}{seen}")
        lines.append(f"  re-run: {rerun_command(results, b['scenario'])}")
    return CaseResult(
        "skipped",
        _shorten("inconclusive: " + ("; ".join(causes) or "nothing could be judged")),
        "\n".join([f"root cause: {cause}" for cause in causes] + lines),
    )


def _skipped(label: str, reasons: Sequence[str]) -> CaseResult:
    text = "; ".join(reasons)
    return CaseResult("skipped", _shorten(f"{label}: {text}"), "\n".join(reasons))


def _failed_conditions(
    requirement_id: str, results: Mapping[str, Any]
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(scenario, check) for each condition that failed against the requirement (prerequisites aside)."""
    return [
        (scenario, check)
        for scenario in results.get("scenarios", [])
        for check in scenario.get("checks", [])
        if check.get("requirement") == requirement_id
        and _status(check) == "failed"
        and not check.get("prerequisite", False)
    ]


def _status(check: Mapping[str, Any]) -> str:
    return str(check.get("status") or ("passed" if check.get("ok") else "failed"))


def _details(
    conditions: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]],
    entry: Mapping[str, Any],
    results: Mapping[str, Any],
) -> list[str]:
    """The text under a failure or a note: each failing condition, its evidence, the command to re-run it."""
    lines = [f"{entry['id']} ({entry.get('level', '')}) — source: {entry.get('source', '')}"]
    exchanges = results.get("exchanges", {})
    rerun_printed: set[str] = set()
    for scenario, check in conditions:
        nodeid = str(scenario["nodeid"])
        severity = " (warning)" if check.get("severity") == "warning" else ""
        lines.append(f"- {check['name']}{severity}: {check['message']}")
        lines.append(f"  scenario: {nodeid}")
        for ref in check.get("evidence", []):
            lines.append(f"  evidence {ref}: {_exchange_line(exchanges.get(ref))}")
        if nodeid not in rerun_printed:
            rerun_printed.add(nodeid)
            lines.append(f"  re-run: {rerun_command(results, nodeid)}")
    return lines


def _exchange_line(exchange: Mapping[str, Any] | None) -> str:
    if not exchange:
        return "(see evidence/evidence.json)"
    answer = exchange.get("status") or exchange.get("error") or "no answer"
    tls = exchange.get("tls") or {}
    line = f"{exchange.get('method', '')} {exchange.get('url', '')} → {answer}"
    return line + (f" ({tls['version']})" if tls.get("version") else "")


def _not_tested_reasons(entry: Mapping[str, Any], results: Mapping[str, Any]) -> list[str]:
    """Why nothing judged the requirement: its scenarios' outcomes, the -k selection, the run's errors."""
    by_nodeid = {s["nodeid"]: s for s in results.get("scenarios", [])}
    reasons = []
    for nodeid in entry.get("scenarios", []):
        scenario = by_nodeid.get(nodeid)
        if scenario is None:
            reasons.append(f"{nodeid}: did not run")
        else:
            detail = f" ({scenario['detail']})" if scenario.get("detail") else ""
            reasons.append(f"{nodeid}: {scenario['outcome']}{detail}")
    if not entry.get("scenarios"):
        reasons.append("no scenario of this run verifies it")
    campaign = results.get("campaign", {})
    if campaign.get("selection"):
        reasons.append(f"the run was narrowed with -k {campaign['selection']!r}")
    reasons += [f"campaign error: {error}" for error in campaign.get("errors", [])]
    return reasons


def _testcase(entry: Mapping[str, Any], case: CaseResult, lang: str) -> ET.Element:
    title = entry.get("title", {})
    name = f"{entry['id']} — {title.get(lang) or title.get('fr') or ''}".rstrip(" —")
    testcase = _element("testcase", classname=str(entry["catalogue"]), name=name)
    if case.outcome == "failure":
        testcase.append(_element("failure", case.details, message=case.message, type=str(entry["verdict"])))
    elif case.outcome == "skipped":
        testcase.append(_element("skipped", case.details, message=case.message, type=str(entry["verdict"])))
    elif case.details:
        testcase.append(_element("system-out", case.details))
    return testcase


def _suite_properties(results: Mapping[str, Any]) -> ET.Element:
    """What the suite judged: the SUT and the catalogues, so a CI artefact says what it is about."""
    sut = results.get("sut", {})
    pairs = [
        ("role", sut.get("role")),
        ("sut", sut.get("name")),
        ("sut_url", sut.get("base_url")),
        ("harness_version", results.get("harness", {}).get("version")),
        *(("catalogue", f"{c['id']} {c.get('version', '')}".strip()) for c in results.get("catalogues", [])),
        *(("fault", fault) for fault in sut.get("faults", [])),
        *(("variant", variant) for variant in sut.get("variants", [])),
        ("rerun", results.get("campaign", {}).get("rerun")),
    ]
    properties = ET.Element("properties")
    for name, value in pairs:
        if value:
            properties.append(_element("property", name=name, value=str(value)))
    return properties


def _read_testsuites(junit_path: Path) -> ET.Element:
    """pytest's `<testsuites>` root (a bare `<testsuite>` is wrapped), or an empty one."""
    if not junit_path.is_file():
        return ET.Element("testsuites", name="psc-conformance")
    root = ET.parse(junit_path).getroot()
    if root.tag == "testsuites":
        return root
    wrapper = ET.Element("testsuites")
    wrapper.append(root)
    return wrapper


def _update_totals(root: ET.Element) -> None:
    """Keep the root's totals, when it carries any, equal to the sum of its suites'."""
    for key in ("tests", "failures", "errors", "skipped"):
        if key in root.attrib:
            root.set(key, str(sum(int(suite.get(key, "0")) for suite in root.findall("testsuite"))))


def _element(tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.Element(tag, {key: _xml_safe(value) for key, value in attributes.items()})
    if text:
        element.text = _xml_safe(text)
    return element


def _xml_safe(text: str) -> str:
    """`text` without what XML 1.0 cannot carry: such a character becomes its `\\uXXXX` spelling."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _shorten(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


__all__ = ["SUITE_NAME", "CaseResult", "add_requirement_cases", "judge", "requirement_suite"]
