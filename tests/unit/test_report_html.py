"""The auditor's report: global verdict, root causes, evidence, re-run commands, and hostile SUT strings.

The exchanges are summarized by the real `summarize` from real `Exchange` objects, so what the report
shows is what a campaign would write; `write_campaign` is exercised for `campaign.rerun` and the
configuration hash.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.plugin import Campaign, write_campaign
from conformance.campaign.results import CampaignStatus, SutInfo, build_results, validate_results
from conformance.campaign.verdicts import CheckResult, Outcome, ScenarioRecord, Severity, Status
from conformance.config import Config
from conformance.evidence import EvidenceRecorder, Exchange, TLSDetails
from conformance.evidence.summary import BODY_CHARS, summarize
from conformance.report import render_html
from conformance.report.html import global_verdict, requirement_anchor, rerun_command
from conformance.report.i18n import TEXTS
from conformance.requirements import load_catalogues
from conformance.roles import Role

HOSTILE = '<script>alert(1)</script>"\' onmouseover="alert(2)'
JS_URL = "javascript:alert(3)"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


SIGNATURE = "SIGNATUREabcdefghijklmnopqrstuvwxyz0123456789"
ACCESS_TOKEN = (
    f"{_b64({'alg': 'RS256', 'typ': 'at+jwt'})}.{_b64({'scope': 'openid', 'sub': HOSTILE})}.{SIGNATURE}"
)
CLIENT_SECRET = "s3cr3t-client-secret-value"


def hostile_exchange(**overrides: Any) -> Exchange:
    """An exchange whose every SUT-controlled field carries markup, quotes and a javascript: URL."""
    fields: dict[str, Any] = {
        "counterpart": "psc",
        "direction": "to_harness",
        "method": "POST",
        "url": f"https://127.0.0.1:9443/token?next={JS_URL}&x={HOSTILE}",
        "started_at": 1_796_133_862.0,
        "duration_s": 0.012,
        "request_headers": [
            ("Authorization", f"Bearer {ACCESS_TOKEN}"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Evil", HOSTILE),
        ],
        "request_body": f"grant_type=client_credentials&client_secret={CLIENT_SECRET}&note=ok".encode(),
        "status": 400,
        "response_headers": [("Content-Type", "application/json"), ("Location", JS_URL)],
        "response_body": json.dumps({"error": HOSTILE, "link": JS_URL}).encode(),
        "tls": TLSDetails(
            version="TLSv1.3",
            cipher="TLS_AES_256_GCM_SHA384",
            client_subject=f"CN={HOSTILE}",
            client_x5t_s256="thumb",
        ),
        "id": "ex-000001",
    }
    fields.update(overrides)
    return Exchange(**fields)


def check(name: str, requirement: str, ok: bool, **extra: Any) -> CheckResult:
    return CheckResult(
        name=name,
        requirements=(requirement,),
        ok=ok,
        severity=extra.pop("severity", Severity.FAILURE),
        message=extra.pop("message", f"{name}: {HOSTILE}"),
        title={"fr": f"titre {name}", "en": f"title {name}"},
        evidence=extra.pop("evidence", ("ex-000001",)),
        basis="RFC 6749 §5.2",
        strength="must",
        **extra,
    )


def scenario(
    nodeid: str, requirements: tuple[str, ...], outcome: Outcome, *checks: CheckResult
) -> ScenarioRecord:
    return ScenarioRecord(nodeid, requirements, outcome, list(checks), 0.2, f"title of {nodeid}", 1)


def campaign_doc(
    scenarios: list[ScenarioRecord] | None = None,
    status: CampaignStatus | None = None,
    exchanges: dict[str, dict[str, Any]] | None = None,
    rerun: str | None = "psc-conformance run --role provider --fault rs_skips_scope_check",
) -> dict[str, Any]:
    """A provider campaign: one defect (`token_refused`) behind two failed requirements and one blocked."""
    if scenarios is None:
        scenarios = [
            scenario(
                "scenarios/provider/test_jeton.py::test_token",
                ("IG-SEC-23", "EDC-17"),
                Outcome.FAILED,
                check("token_refused", "IG-SEC-23", False),
                check("token_refused", "EDC-17", False),
                check("later_check", "EDC-17", False),
            ),
            scenario(
                "scenarios/provider/test_ressource.py::test_token_again",
                ("IG-SEC-23",),
                Outcome.FAILED,
                check("token_refused", "IG-SEC-23", False),
            ),
            scenario(
                "scenarios/provider/test_ressource.py::test_blocked",
                ("IG-SEC-22",),
                Outcome.INCONCLUSIVE,
                check(
                    "not_reached",
                    "IG-SEC-22",
                    False,
                    status=Status.INCONCLUSIVE,
                    root_cause="token_refused: refused",
                    blocked_by="token_refused",
                ),
            ),
            scenario(
                "scenarios/provider/test_transport.py::test_tls",
                ("IG-SEC-01",),
                Outcome.PASSED,
                check("tls_floor", "IG-SEC-01", True, message="TLSv1.3"),
            ),
        ]
    return build_results(
        sut=SutInfo(Role.PROVIDER, f"API {HOSTILE}", "https://127.0.0.1:8443", ("rs_skips_scope_check",)),
        catalogues=load_catalogues(),
        scenarios=scenarios,
        attestations={},
        started_at="2026-12-01T10:00:00Z",
        finished_at="2026-12-01T10:00:09Z",
        status=status or CampaignStatus(),
        exchanges={"ex-000001": summarize(hostile_exchange())} if exchanges is None else exchanges,
        rerun=rerun,
    )


class Page(HTMLParser):
    """Tags with their attributes, text by element id, and every class seen: enough to read a report."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag not in ("meta", "input", "br", "col", "link"):
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text_by_id.setdefault(str(attributes["id"]), "")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data

    def with_class(self, cls: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if cls in (a.get("class") or "").split()]


# -- summarize -----------------------------------------------------------------------------------------


def test_summary_carries_lines_tls_and_decoded_tokens_but_no_secret() -> None:
    summary = summarize(hostile_exchange())
    text = json.dumps(summary, ensure_ascii=False)
    assert CLIENT_SECRET not in text and SIGNATURE not in text  # redacted, and signatures shortened
    assert summary["status"] == 400 and summary["tls"]["version"] == "TLSv1.3"
    assert summary["tls"]["client_subject"] == f"CN={HOSTILE}"
    assert ["X-Evil", HOSTILE] in summary["request"]["headers"]
    [token] = summary["tokens"]
    assert token["where"] == "request.header.Authorization"
    assert (
        token["claims"] == {"scope": "openid", "sub": HOSTILE} and token["signature"] == SIGNATURE[:8] + "…"
    )
    assert "[redacted]" in summary["request"]["body"] and summary["request"]["truncated"] is False
    assert summary["response"]["size"] == len(hostile_exchange().response_body)


def test_summary_caps_bodies_and_hides_binary_and_missing_responses() -> None:
    big = summarize(hostile_exchange(request_body=b"x" * (BODY_CHARS + 5), request_headers=[]))
    assert len(big["request"]["body"]) == BODY_CHARS and big["request"]["truncated"] is True
    binary = summarize(hostile_exchange(response_body=b"\xff\xfe\x00\x01", response_headers=[]))
    assert binary["response"]["body"] == "" and binary["response"]["binary"] is True
    silent = summarize(hostile_exchange(status=None, error="ReadTimeout: no answer", response_body=b""))
    assert "response" not in silent and silent["error"] == "ReadTimeout: no answer"


def test_summaries_validate_and_the_schema_refuses_a_whole_signature() -> None:
    doc = campaign_doc()
    validate_results(doc)
    broken = copy.deepcopy(doc)
    broken["exchanges"]["ex-000001"]["tokens"][0]["signature"] = SIGNATURE
    with pytest.raises(Exception, match="is too long"):
        validate_results(broken)


# -- global verdict ------------------------------------------------------------------------------------


def _fail_waived(doc: dict[str, Any], state: str) -> dict[str, Any]:
    for req in doc["requirements"]:
        if req["verdict"] == "fail":
            req["waiver"] = {
                "justification": HOSTILE,
                "owner": "R. Dupont",
                "expires": "2027-01-31",
                "state": state,
            }
    return doc


def test_global_verdict_non_conforme_on_an_unwaived_failure() -> None:
    doc = campaign_doc()
    verdict = global_verdict(doc)
    assert verdict.value == "fail" and ("why.fail", 2) in verdict.reasons
    assert Page(render_html(doc, "fr")).text_by_id["global-verdict"] == "Non conforme"
    assert Page(render_html(doc, "en")).text_by_id["global-verdict"] == "Not conformant"
    # an expired waiver covers nothing
    assert global_verdict(_fail_waived(campaign_doc(), "expired")).value == "fail"


def test_global_verdict_waived_failures_leave_only_what_is_missing() -> None:
    doc = _fail_waived(campaign_doc(), "active")
    verdict = global_verdict(doc)
    assert verdict.value == "inconclusive"  # IG-SEC-22 is still inconclusive
    assert ("why.waived", 2) in verdict.reasons and ("why.inconclusive", 1) in verdict.reasons
    for req in doc["requirements"]:
        if req["verdict"] in ("inconclusive", "not_tested"):
            req["verdict"] = "pass"
    verdict = global_verdict(doc)
    assert verdict.value == "pass" and verdict.reasons[:2] == (("why.pass_waived", 0), ("why.waived", 2))
    page = Page(render_html(doc, "fr"))
    assert page.text_by_id["global-verdict"] == "Conforme"
    # the waived failures are not hidden: stated beside the verdict, and counted red
    assert (
        "2 échec(s) sous dérogation" in page.text_by_id["cover"]
        and "non conforme 2" in page.text_by_id["cover"]
    )


def test_global_verdict_conforme_needs_a_complete_run() -> None:
    passing = [
        scenario("s::test_tls", ("IG-SEC-01",), Outcome.PASSED, check("tls_floor", "IG-SEC-01", True)),
    ]
    doc = campaign_doc(passing)
    # everything else automatic in the provider role was not tested: not a "conforme"
    assert global_verdict(doc).value == "inconclusive"
    for req in doc["requirements"]:
        if req["verdict"] == "not_tested":
            req["verdict"] = "pass"
    verdict = global_verdict(doc)
    assert verdict.value == "pass" and verdict.reasons[0] == ("why.pass", 0)
    assert any(key == "why.manual" for key, _ in verdict.reasons)  # declarations are counted beside it
    assert Page(render_html(doc, "fr")).text_by_id["global-verdict"] == "Conforme"
    doc["campaign"]["complete"] = False
    assert global_verdict(doc).value == "inconclusive"
    doc["campaign"].update(complete=True, selection="test_tls")
    assert global_verdict(doc).value == "inconclusive"


# -- re-run commands -----------------------------------------------------------------------------------


def test_rerun_command_selects_one_scenario() -> None:
    doc = campaign_doc()
    assert rerun_command(doc, "scenarios/provider/test_jeton.py::test_token") == (
        "psc-conformance run --role provider --fault rs_skips_scope_check "
        "-k 'test_token and not test_token_again'"
    )
    assert rerun_command(doc, "a.py::test_x[case-1]").endswith(" -k 'test_x[case-1]'")
    # a parameter id -k cannot read falls back to the function (all its cases)
    assert rerun_command(doc, "a.py::test_x[a b]").endswith(" -k 'test_x'")
    doc["campaign"]["rerun"] = None  # results written before `rerun` existed
    assert rerun_command(doc, "a.py::test_y") == (
        "psc-conformance run --role provider --fault rs_skips_scope_check -k 'test_y'"
    )


def test_write_campaign_records_rerun_config_hash_and_cited_exchanges(tmp_path: Path) -> None:
    resolved = tmp_path / "campaign.json"
    resolved.write_text('{"config": {}}\n', encoding="utf-8")
    evidence = EvidenceRecorder()
    evidence.record(hostile_exchange(id="ex-000001"))
    evidence.record(hostile_exchange(id="ex-000002"))  # cited by nothing: not in results.json
    record = scenario("scenarios/provider/test_jeton.py::test_token", ("IG-SEC-23",), Outcome.FAILED)
    record.checks.append(check("token_refused", "IG-SEC-23", False))
    campaign = Campaign(
        config=Config(source=Path("my campaign.toml")),
        role=Role.PROVIDER,
        output=tmp_path,
        lang="fr",
        attestations={},
        sut=SutInfo(Role.PROVIDER, "API", None, ("rs_skips_scope_check",), ("tls_1_3_only",)),
        records=[record],
        evidence=evidence,
    )
    doc = write_campaign(campaign, CampaignStatus())
    config = str(Path("my campaign.toml").resolve())
    assert doc["campaign"]["rerun"] == (
        f"psc-conformance run --role provider --config '{config}' "
        "--fault rs_skips_scope_check --variant tls_1_3_only"
    )
    assert doc["campaign"]["config_sha256"] == hashlib.sha256(resolved.read_bytes()).hexdigest()
    assert list(doc["exchanges"]) == ["ex-000001"] and "tokens" in doc["exchanges"]["ex-000001"]
    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written["campaign"]["rerun"] == doc["campaign"]["rerun"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "-k &#x27;test_token&#x27;" in page


# -- the page ------------------------------------------------------------------------------------------


def test_hostile_sut_strings_never_become_markup_links_or_attributes() -> None:
    page = render_html(campaign_doc(), "fr")
    parsed = Page(page)
    assert HOSTILE not in page and JS_URL in page  # shown, as text
    tags = {tag for tag, _ in parsed.elements}
    assert "script" not in tags and "iframe" not in tags and "img" not in tags
    for _, attributes in parsed.elements:
        assert not any(name.startswith("on") for name in attributes)
        href = attributes.get("href")
        if href is not None:
            assert href.startswith("#") or re.match(r"https?://", href), href
    assert CLIENT_SECRET not in page and SIGNATURE not in page


def test_only_the_inline_style_may_run_or_load() -> None:
    page = render_html(campaign_doc(), "fr")
    head = page.split("<body>")[0]
    [csp] = [a for tag, a in Page(page).elements if tag == "meta" and a.get("http-equiv")]
    assert csp["content"] is not None and "default-src 'none'" in csp["content"]
    assert "script-src" not in csp["content"]  # no script at all: default-src 'none' forbids every one
    assert head.index("Content-Security-Policy") < head.index("<style>")
    assert "<link" not in page and "src=" not in page and "@import" not in page and "url(" not in head


def test_failing_requirement_section_shows_conditions_evidence_and_rerun() -> None:
    doc = campaign_doc()
    page = render_html(doc, "fr")
    parsed = Page(page)
    section = parsed.text_by_id[requirement_anchor("IG-SEC-23")]
    assert "non conforme" in section and "RFC 6749 §5.2" in section and "obligation" in section
    assert "TLSv1.3" in section and "TLS_AES_256_GCM_SHA384" in section and f"CN={HOSTILE}" in section
    assert "POST" in section and "HTTP 400" in section and '"scope": "openid"' in section
    assert SIGNATURE[:8] + "…" in section  # the decoded token's shortened signature
    assert "-k 'test_token and not test_token_again'" in section and "-k 'test_token_again'" in section
    start = page.index(f'id="{requirement_anchor("IG-SEC-23")}"')
    fragment = page[start : page.index("</section>", start)]
    assert 'class="evidence"' in fragment and 'class="rerun"' in fragment
    # a requirement with nothing to show says why
    assert "À établir par déclaration" in parsed.text_by_id[requirement_anchor("EXI PSC 17")]
    assert "Ne s'applique pas au rôle" in parsed.text_by_id[requirement_anchor("EXI PSC 03")]
    # every requirement of every catalogue has a matrix row linking to its section
    for req in doc["requirements"]:
        assert f'href="#{requirement_anchor(req["id"])}">{req["id"]}</a>' in page
        assert requirement_anchor(req["id"]) in parsed.text_by_id


def test_root_causes_come_first_grouped_by_the_condition_that_failed_first() -> None:
    page = render_html(campaign_doc(), "en")
    parsed = Page(page)
    assert page.index('id="global-verdict"') < page.index('id="matrix"') < page.index('id="root-causes"')
    assert page.index('id="root-causes"') < page.index(f'id="{requirement_anchor("IG-SEC-23")}"')
    causes = parsed.with_class("root-cause")
    assert len(causes) == 1  # one defect: two failed requirements, one blocked, later failures folded in
    text = parsed.text_by_id[str(causes[0]["id"])]
    assert "token_refused" in text and "later_check" in text
    assert "IG-SEC-23" in text and "EDC-17" in text and "IG-SEC-22" in text
    # the cover names it first, and the inconclusive requirement points to it
    assert f'href="#{causes[0]["id"]}"' in page.split('id="matrix"')[0]
    start = page.index(f'id="{requirement_anchor("IG-SEC-22")}"')
    assert f'href="#{causes[0]["id"]}"' in page[start : page.index("</section>", start)]
    matrix = parsed.text_by_id["matrix"]
    assert "blocked by title token_refused" in matrix


def test_blockage_without_a_failed_condition_is_its_own_root_cause() -> None:
    errored = scenario(
        "s::test_error",
        ("IG-SEC-22",),
        Outcome.ERROR,
        check(
            "never_judged",
            "IG-SEC-22",
            False,
            status=Status.INCONCLUSIVE,
            root_cause=f"TimeoutError: {HOSTILE}",
        ),
    )
    parsed = Page(render_html(campaign_doc([errored]), "fr"))
    [cause] = parsed.with_class("root-cause")
    text = parsed.text_by_id[str(cause["id"])]
    assert "blocage" in text and f"TimeoutError: {HOSTILE}" in text and "IG-SEC-22" in text


def test_waivers_and_attestations_are_listed_and_stale_waivers_flagged() -> None:
    doc = campaign_doc()
    by_id = {r["id"]: r for r in doc["requirements"]}
    by_id["IG-SEC-23"]["waiver"] = {
        "justification": HOSTILE,
        "owner": "R. Dupont",
        "expires": "2027-01-31",
        "state": "active",
    }
    by_id["EDC-17"]["waiver"] = {
        "justification": "old",
        "owner": "A",
        "expires": "2025-01-01",
        "state": "expired",
    }
    by_id["IG-SEC-01"]["waiver"] = {
        "justification": "fixed",
        "owner": "B",
        "expires": "2027-01-01",
        "state": "unused",
    }
    by_id["EXI PSC 01"].update(
        verdict="attested", attestation={"by": HOSTILE, "date": "2026-11-20", "evidence": "Kbis"}
    )
    page = render_html(doc, "fr")
    parsed = Page(page)
    declarations = parsed.text_by_id["declarations"]
    assert HOSTILE in declarations and "R. Dupont" in declarations and "Kbis" in declarations
    assert "expirée" in declarations and "sans objet" in declarations
    assert parsed.with_class("waiver-expired") and parsed.with_class("waiver-unused")
    # a waived failure stays red, with its mark
    section = parsed.text_by_id[requirement_anchor("IG-SEC-23")]
    assert "non conforme" in section and "dérogation" in section
    assert global_verdict(doc).value == "fail"  # EDC-17's waiver expired


def test_matrix_filters_are_css_only_one_per_verdict_and_catalogue() -> None:
    doc = campaign_doc()
    page = render_html(doc, "fr")
    parsed = Page(page)
    checkboxes = {a["id"] for tag, a in parsed.elements if tag == "input" and a.get("type") == "checkbox"}
    verdicts = {r["verdict"] for r in doc["requirements"]}
    assert {f"fv-{v}" for v in verdicts} | {f"fc-{i}" for i in range(len(doc["catalogues"]))} == checkboxes
    for i in range(len(doc["catalogues"])):
        assert f"#fc-{i}:not(:checked) ~ .matrix-wrap tr.c-{i}" in page
    rows = [a for tag, a in parsed.elements if tag == "tr" and "v-fail" in (a.get("class") or "").split()]
    assert len(rows) == 2


def test_evidence_urls_are_links_only_when_http() -> None:
    doc = campaign_doc()
    doc["catalogues"][0]["url"] = JS_URL
    doc["catalogues"][1]["url"] = 'https://example.org/a"b'
    page = render_html(doc, "fr")
    assert 'href="javascript' not in page.lower()
    assert 'href="https://example.org/a&quot;b"' in page


def test_every_text_exists_in_both_languages() -> None:
    assert set(TEXTS["fr"]) == set(TEXTS["en"])


def test_bodies_are_indented_only_when_nothing_is_lost() -> None:
    def page_with(body: bytes) -> str:
        exchanges = {"ex-000001": summarize(hostile_exchange(response_body=body))}
        return render_html(campaign_doc(exchanges=exchanges), "fr")

    assert "{\n  &quot;error&quot;: &quot;invalid_request&quot;\n}" in page_with(
        b'{"error":"invalid_request"}'
    )
    # a duplicate key would vanish if re-serialized: the evidence is shown exactly as sent
    assert "{&quot;a&quot;:1,&quot;a&quot;:2}" in page_with(b'{"a":1,"a":2}')


def test_parametrized_scenarios_are_told_apart() -> None:
    cases = [
        ScenarioRecord(
            f"s.py::test_connects[{case}]",
            ("IG-SEC-23",),
            Outcome.FAILED,
            [check("refused", "IG-SEC-23", False)],
            title="Un LPS se connecte",
            sut_exchanges=1,
        )
        for case in ("lps1-mobile", "lps2-card")
    ]
    text = Page(render_html(campaign_doc(cases), "fr")).text_by_id["root-causes"]
    assert "Un LPS se connecte [lps1-mobile]" in text and "Un LPS se connecte [lps2-card]" in text
    assert "-k 'test_connects[lps2-card]'" in text
