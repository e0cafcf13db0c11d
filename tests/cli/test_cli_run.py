"""`psc-conformance run` end to end: a real pytest child process, real TLS, real files."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import validate_results
from conformance.cli import main


def results(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    return doc


def test_default_campaign_writes_every_output_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 0
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink() and (latest / "report.html").is_file()
    doc = results(latest)
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert {verdicts[f"HARNESS-0{i}"] for i in range(1, 5)} == {"pass"}
    assert "fail" not in verdicts.values()
    # the embedded reference proxy was judged, over the wire
    assert doc["sut"]["name"] == "psc-conformance reference proxy"
    assert doc["sut"]["base_url"].startswith("https://127.0.0.1:") and doc["sut"]["faults"] == []
    assert verdicts["EXI PSC 24"] == "pass" and verdicts["EDC-01"] == "pass"
    assert verdicts["EXI PSC 01"] == "manual"
    assert ET.parse(latest / "junit.xml").getroot().iter("property")
    assert (latest / "evidence" / "evidence.har").is_file() and (latest / "sut.log").is_file()
    out = capsys.readouterr().out
    assert "report.html" in out


def test_english_report_and_attestations(tmp_path: Path) -> None:
    attestations = tmp_path / "attest.toml"
    attestations.write_text(
        '[[attestation]]\nrequirement = "EXI PSC 01"\nby = "J. Martin"\n'
        'date = 2026-11-20\nevidence = "Kbis"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["run", "--output", str(out), "--lang", "en", "--attestations", str(attestations)]) == 0
    verdicts = {r["id"]: r["verdict"] for r in results(out)["requirements"]}
    assert verdicts["EXI PSC 01"] == "attested"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "J. Martin" in page


def test_deselection_leaves_requirements_not_tested(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--output", str(out), "-k", "test_test_pki"]) == 0
    doc = results(out)
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts["HARNESS-01"] == "pass" and verdicts["HARNESS-03"] == "not_tested"
    assert doc["campaign"]["selection"] == "test_test_pki"


def test_selection_matching_nothing_is_a_usage_error_with_a_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--output", str(out), "-k", "no_such_scenario"]) == 2
    doc = results(out)
    assert doc["campaign"]["complete"] is False and "no scenario was selected" in doc["campaign"]["errors"][0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault", "no_such_fault"], "unknown consumer fault 'no_such_fault'"),
        (["--config", "missing.toml"], "configuration file not found"),
        (["--attestations", "missing.toml"], "attestation file not found"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--output", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_config_key_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[sut]\nbase_ul = 'https://127.0.0.1:1'\n", encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 2
    assert "unknown key(s) base_ul" in capsys.readouterr().err


def test_unreachable_sut_exits_3_with_a_report(tmp_path: Path) -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        config = tmp_path / "c.toml"
        config.write_text(
            f'[sut]\nname = "Proxy <b>X</b>"\nbase_url = "https://127.0.0.1:{sock.getsockname()[1]}"\n'
            "startup_timeout_s = 0.5\n",
            encoding="utf-8",
        )
        out = tmp_path / "out"
        assert main(["run", "--config", str(config), "--output", str(out)]) == 3
    doc = results(out)
    assert doc["campaign"]["complete"] is False and "did not answer" in doc["campaign"]["errors"][0]
    assert doc["sut"]["name"] == "Proxy <b>X</b>"
    assert "Proxy &lt;b&gt;X&lt;/b&gt;" in (out / "report.html").read_text(encoding="utf-8")


def test_sut_start_command_that_dies_exits_3(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[sut]\nbase_url = "https://127.0.0.1:9"\n'
        "start = \"sh -c 'echo booting; exit 7'\"\nstartup_timeout_s = 5\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--output", str(out)]) == 3
    assert "exited with status 7" in results(out)["campaign"]["errors"][0]
    assert "booting" in (out / "sut.log").read_text(encoding="utf-8")


def test_campaign_over_its_time_bound_exits_3_with_a_report(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[timeouts]\ncampaign_s = 0.2\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--output", str(out)]) == 3
    doc = results(out)
    assert "exceeded its 0.2 s bound" in doc["campaign"]["errors"][0]
    assert (out / "report.html").is_file()


def test_allure_results_carry_requirement_labels(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", "--output", str(out), "--allure", "-k", "auth_cli_profile"]) == 0
    labels = [
        label
        for result in (out / "allure-results").glob("*-result.json")
        for label in json.loads(result.read_text(encoding="utf-8"))["labels"]
        if label["name"] == "requirement"
    ]
    assert {"name": "requirement", "value": "HARNESS-02"} in labels


def test_upstream_openapi_documents_are_used_unchanged_with_warnings(tmp_path: Path) -> None:
    upstream = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "swagger"
    assert upstream.is_dir(), f"{upstream} missing: CI runs with ../shared beside the clone"
    out = tmp_path / "out"
    status = main(["run", "--output", str(out), "-k", "contrat", "--swagger", str(upstream)])
    doc = results(out)
    notes = doc["campaign"]["notes"]
    assert any("traces" in note for note in notes), notes
    # The upstream document's own defects (e.g. /traces typed as an object) are notes, never failures:
    # the mandatory contract checks read it leniently, as the project's baseline states it.
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert verdicts["EDC-16"] == "pass" and status == 0
    assert "traces" in (out / "report.html").read_text(encoding="utf-8")


def test_swagger_option_needs_the_upstream_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--output", str(tmp_path / "o"), "--swagger", str(tmp_path)]) == 2
    assert "API-Proxy-eSante.json" in capsys.readouterr().err
