"""The report as a reader opens it, in headless Chromium (issue 10, point 5).

A real failing campaign's report must show its global verdict on the first screen, a matrix that fits
1400 and 1280 px without horizontal scrolling, the failing requirement's evidence and the command that
re-runs it; nothing may be fetched from the network; and hostile SUT text carried in an exchange must
stay text. The report's hooks (`#global-verdict`, `#matrix`, `.requirement` sections `req-<slug>`,
`.evidence`, `code.rerun`) are documented in docs/report.md.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Final

import pytest
from browser_campaign import FAILING_REQUIREMENT, FAULT
from headless_chromium import Chromium, ConnectionRecorder

from conformance.report import render_html

GLOBAL_FAIL: Final = {"fr": "non conforme", "en": "not conformant"}
WIDTHS: Final = (1400, 1280)
SCREEN_HEIGHT: Final = 900
# Hostile SUT text: a script element, an attribute breaker, a javascript: URL, and a fetch that the
# recording proxy would see if it ever became an element.
HOSTILE_SCRIPT: Final = "<script>document.title='pwned'</script>"
HOSTILE_ATTRIBUTE: Final = "\"><img src=x onerror=document.title='pwned'>"
HOSTILE_URL: Final = "javascript:document.title='pwned'"
HOSTILE_FETCH: Final = '<img src="http://hostile.psc-conformance.invalid/beacon.png">'
_CSP_META: Final = re.compile(r"<meta\s+http-equiv=[\"']?content-security-policy[^>]*>", re.IGNORECASE)


def section_anchor(requirement_id: str) -> str:
    """The documented id of a requirement's section: `req-` and the id in lower-case words."""
    return "req-" + re.sub(r"[^a-z0-9]+", "-", requirement_id.lower()).strip("-")


def load_results(run: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((run / "results.json").read_text("utf-8"))
    return doc


def failing_check(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scenario and the failed condition of FAILING_REQUIREMENT that cite an exchange."""
    for scenario in doc["scenarios"]:
        for check in scenario["checks"]:
            failed = check["status"] == "failed"
            if check["requirement"] == FAILING_REQUIREMENT and failed and check["evidence"]:
                return scenario, check
    raise AssertionError(f"{FAULT} left no failed condition of {FAILING_REQUIREMENT} with evidence")


def assert_fits(widths: list[dict[str, Any]]) -> None:
    """At each width: the matrix is visible and nothing makes the page scroll sideways."""
    assert [w["width"] for w in widths] == list(WIDTHS)
    for w in widths:
        assert w["width"] - 40 < w["client_width"] <= w["width"], w  # the probe did resize the report
        assert w["matrix_visible"], w
        assert w["scroll_width"] <= w["client_width"], f"horizontal scroll at {w['width']} px: {w}"
        assert w["matrix_right"] <= w["client_width"], w
        assert w["matrix_tables_right"] is None or w["matrix_tables_right"] <= w["client_width"] + 0.5, w


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_failing_report_shows_verdict_matrix_evidence_and_rerun(
    chromium: Chromium, network: ConnectionRecorder, failing_run: Path, tmp_path: Path, lang: str
) -> None:
    doc = load_results(failing_run)
    if lang == "fr":
        report = failing_run / "report.html"  # the file the campaign itself wrote
    else:
        report = tmp_path / "report.html"
        report.write_text(render_html(doc, "en"), "utf-8")
    anchor = section_anchor(FAILING_REQUIREMENT)
    seen = chromium.probe_report(report, widths=WIDTHS, height=SCREEN_HEIGHT, requirements=[anchor])

    verdict = seen["global_verdict"]
    assert verdict["visible"], verdict
    assert verdict["text"].casefold() == GLOBAL_FAIL[lang], verdict
    assert 0 <= verdict["top"] < SCREEN_HEIGHT, f"the global verdict is not on the first screen: {verdict}"
    assert_fits(seen["widths"])

    section = seen["requirements"][anchor]
    assert section["present"] and section["is_requirement"] and section["visible"], section
    assert section["linked_from_matrix"] and section["linked_from_root_causes"], section
    assert section["evidence_visible"] >= 1, section
    scenario, _ = failing_check(doc)
    function = scenario["nodeid"].rsplit("::", 1)[-1]
    reruns = section["reruns_visible"]
    base = doc["campaign"]["rerun"]
    assert any(cmd.startswith(base + " -k ") and function in cmd for cmd in reruns), reruns
    assert network.seen == []


def test_the_recorder_sees_what_a_page_fetches(
    chromium: Chromium, network: ConnectionRecorder, tmp_path: Path
) -> None:
    """The control for `network.seen == []`: a page that fetches, from a remote name and from loopback,
    is seen (so Chromium does send its traffic, loopback included, through the recorder)."""
    page = tmp_path / "fetches.html"
    page.write_text(
        '<!DOCTYPE html><img src="http://fetch.psc-conformance.invalid/a.png">'
        '<img src="http://127.0.0.1:8999/b.png">',
        "utf-8",
    )
    chromium.run("--dump-dom", page.as_uri())
    seen = " ".join(network.seen)
    assert "fetch.psc-conformance.invalid" in seen and "127.0.0.1:8999" in seen, network.seen


def hostile_results(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with hostile SUT text wherever a SUT's words land: the failed condition's message and its
    scenario's failure detail, the exchange's URL, error, headers, body and token claims, the SUT's name
    and base URL; and a javascript: URL wherever the report makes a link."""
    hostile = copy.deepcopy(doc)
    scenario, check = failing_check(hostile)
    check["message"] = f"{check['message']} {HOSTILE_SCRIPT}"
    scenario["detail"] = f"{HOSTILE_SCRIPT}{HOSTILE_ATTRIBUTE}"
    exchange = hostile["exchanges"][check["evidence"][0]]
    exchange["url"] = HOSTILE_URL
    exchange["error"] = HOSTILE_ATTRIBUTE
    response = exchange.setdefault("response", {"headers": [], "body": "", "size": 0, "truncated": False})
    response["headers"].append(["X-Hostile", HOSTILE_ATTRIBUTE])
    response["body"] = HOSTILE_SCRIPT + HOSTILE_FETCH
    for token in exchange.get("tokens", []):
        token["claims"]["sub"] = HOSTILE_ATTRIBUTE
    hostile["sut"]["name"] = HOSTILE_ATTRIBUTE + HOSTILE_FETCH
    hostile["sut"]["base_url"] = HOSTILE_URL
    # The report's own links (catalogue and requirement sources) must refuse a javascript: URL too.
    for entry in [*hostile["catalogues"], *hostile["requirements"]]:
        entry["url"] = HOSTILE_URL
    return hostile


@pytest.mark.parametrize("csp", ["as rendered", "removed"])
def test_hostile_sut_text_stays_text(
    chromium: Chromium, network: ConnectionRecorder, failing_run: Path, tmp_path: Path, csp: str
) -> None:
    """With the report's Content-Security-Policy, and without it (the escaping alone must hold): nothing
    injected runs, loads or becomes an element, a link or a handler, and the hostile text is shown."""
    doc = load_results(failing_run)
    pages = {"clean": render_html(doc, "fr"), "hostile": render_html(hostile_results(doc), "fr")}
    seen = {}
    for name, page in pages.items():
        report = tmp_path / f"{name}.html"
        report.write_text(_CSP_META.sub("", page) if csp == "removed" else page, "utf-8")
        seen[name] = chromium.probe_report(
            report,
            widths=WIDTHS[:1],
            requirements=[section_anchor(FAILING_REQUIREMENT)],
            needles=[HOSTILE_SCRIPT, HOSTILE_ATTRIBUTE, HOSTILE_URL, HOSTILE_FETCH],
        )
    clean, hostile = seen["clean"], seen["hostile"]
    assert hostile["title"] == clean["title"] and "pwned" not in hostile["title"]
    assert hostile["injection"] == clean["injection"]
    assert hostile["injection"]["event_handlers"] == [] and hostile["injection"]["script_urls"] == []
    assert network.seen == []
    # The hostile strings were rendered, as text, in the failing requirement's evidence.
    assert all(hostile["found"].values()), hostile["found"]
    assert hostile["requirements"][section_anchor(FAILING_REQUIREMENT)]["evidence_visible"] >= 1
    if csp == "removed":
        assert hostile["csp"] is None
