"""`psc-conformance requirements`: the listing a vendor's CI and an auditor's script rely on."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

from conformance.cli import main, requirements_cmd
from conformance.errors import UsageError

NODEID = "scenarios/consumer/test_transport.py::test_psc_requires_mtls"
FAKE_COVERAGE = {"EXI PSC 24": [NODEID], "IG-SEC-01": [NODEID]}

REQUIREMENT_KEYS = {
    "id",
    "title",
    "level",
    "method",
    "applies_to",
    "applicability",
    "source",
    "url",
    "scenarios",
}


@pytest.fixture(autouse=True)
def fake_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate these tests from the scenario tree: coverage is another module's job."""
    monkeypatch.setattr(requirements_cmd, "scenarios_by_requirement", lambda: FAKE_COVERAGE)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["requirements", "--json", *argv]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(capsys)
    assert set(document) == {"catalogues"}
    catalogues = document["catalogues"]
    assert [c["id"] for c in catalogues] == [
        "referentiel-psc",
        "ig-securisation-transport",
        "edc-proxy",
        "harness",
    ]
    for catalogue in catalogues:
        assert set(catalogue) == {"id", "title", "version", "source", "url", "requirements"}
        for requirement in catalogue["requirements"]:
            assert set(requirement) == REQUIREMENT_KEYS
            assert requirement["level"] in {"mandatory", "recommended"}
            assert requirement["method"] in {"automatic", "partial", "declarative"}
            assert requirement["applicability"] == {
                "FS": "consumer" in requirement["applies_to"],
                "FD": "provider" in requirement["applies_to"],
            }
            assert isinstance(requirement["scenarios"], list)
    referential = catalogues[0]
    assert len(referential["requirements"]) == 39
    by_id = {r["id"]: r for c in catalogues for r in c["requirements"]}
    assert by_id["EXI PSC 24"]["scenarios"] == [NODEID]
    assert by_id["EXI PSC 01"]["scenarios"] == []
    assert by_id["EXI PSC 03"]["applicability"] == {"FS": True, "FD": False}
    assert by_id["EXI PSC 03"]["applies_to"] == ["consumer"]
    assert by_id["EXI PSC 24"]["applies_to"] == ["consumer", "provider"]


def test_role_provider_keeps_only_fd_requirements(capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(capsys, "--role", "provider")
    ids = [r["id"] for c in document["catalogues"] for r in c["requirements"]]
    assert ids, "the provider role has requirements"
    assert "EXI PSC 03" not in ids and "RECO PSC 06" not in ids
    assert "EXI PSC 24" in ids
    for catalogue in document["catalogues"]:
        for requirement in catalogue["requirements"]:
            assert requirement["applicability"]["FD"] is True
    edc = next(c for c in document["catalogues"] if c["id"] == "edc-proxy")
    assert [r["id"] for r in edc["requirements"]] == ["EDC-17", "EDC-18"]


def test_catalogue_and_language_selection(capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(capsys, "--catalogue", "harness", "--lang", "en")
    (catalogue,) = document["catalogues"]
    assert catalogue["title"] == "Harness self-checks"
    assert [r["id"] for r in catalogue["requirements"]] == [
        "HARNESS-01",
        "HARNESS-02",
        "HARNESS-03",
        "HARNESS-04",
    ]
    french = _json(capsys, "--catalogue", "harness")
    assert french["catalogues"][0]["title"] == "Contrôles préalables du banc de test"


def test_unknown_catalogue_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements", "--catalogue", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown catalogue 'nope'" in captured.err
    assert "referentiel-psc" in captured.err


def test_text_listing_fits_100_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements"]) == 0
    out = capsys.readouterr().out
    too_wide = [line for line in out.splitlines() if len(line) > 100 and NODEID not in line]
    assert not too_wide
    assert "EXI PSC 24" in out and "FS FD" in out and "IG-SEC-20" in out and "HARNESS-04" in out
    assert f"verified by: {NODEID}" in out
    assert "88 requirements in 4 catalogue(s)" in out


def test_text_listing_for_one_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements", "--role", "provider", "--catalogue", "referentiel-psc", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "EXI PSC 24" in out and "EXI PSC 03" not in out
    assert "TLS 1.2 or higher to PSC" in out


def test_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["requirements", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for option in ("--json", "--role", "--catalogue", "--lang"):
        assert option in out


def test_missing_coverage_module_means_no_scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # use the real lookup, not the autouse fake
    monkeypatch.setitem(sys.modules, "conformance.campaign.coverage", None)  # import now raises ImportError
    assert requirements_cmd.scenarios_by_requirement() == {}


def test_coverage_that_cannot_collect_is_reported_not_hidden(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.undo()

    def broken() -> dict[str, list[str]]:
        raise UsageError("scenarios not found")

    fake = types.ModuleType("conformance.campaign.coverage")
    fake.scenarios_by_requirement = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "conformance.campaign.coverage", fake)
    assert main(["requirements", "--json"]) == 0
    captured = capsys.readouterr()
    assert "scenario coverage unavailable: scenarios not found" in captured.err
    document = json.loads(captured.out)
    assert all(r["scenarios"] == [] for c in document["catalogues"] for r in c["requirements"])
    assert main(["requirements", "--catalogue", "harness"]) == 0
    out = capsys.readouterr().out
    assert "verified by:" not in out, "unknown coverage is never shown as 'not verified'"
    assert "scenario coverage unavailable" in out


def test_coverage_module_is_used_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    fake = types.ModuleType("conformance.campaign.coverage")
    fake.scenarios_by_requirement = lambda: {"EDC-01": (NODEID,)}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "conformance.campaign.coverage", fake)
    assert requirements_cmd.scenarios_by_requirement() == {"EDC-01": [NODEID]}
