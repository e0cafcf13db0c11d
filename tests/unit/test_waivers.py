"""Waivers (dérogations): the file's checks, each state, results.json, and the exit status of `run`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import SutInfo, build_results, validate_results
from conformance.campaign.verdicts import CheckResult, Outcome, ScenarioRecord, Severity
from conformance.campaign.waivers import (
    Waiver,
    WaiverState,
    load_waivers,
    run_date,
    unwaived_failures,
)
from conformance.cli import main
from conformance.cli.run_cmd import _exit_status
from conformance.config import parse_config
from conformance.errors import UsageError
from conformance.paths import project_root
from conformance.requirements import load_catalogues
from conformance.roles import Role

GOOD = """
[[waiver]]
requirement = "IG-SEC-23"
justification = "Portée vérifiée par la passerelle en amont ; correctif au T2"
owner = "Jeanne Martin, RSSI"
expires = 2027-06-30
"""
RUN_DAY = dt.date(2026, 12, 1)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def waiver(rid: str = "IG-SEC-23", expires: dt.date = RUN_DAY) -> Waiver:
    return Waiver(rid, "justifiée", "J. Martin", expires)


# -- the file ----------------------------------------------------------------------------------------------


def test_loads_entries_by_requirement(tmp_path: Path) -> None:
    loaded = load_waivers(write(tmp_path, GOOD + GOOD.replace("IG-SEC-23", "IG-SEC-19")))
    assert list(loaded) == ["IG-SEC-23", "IG-SEC-19"]
    assert loaded["IG-SEC-23"] == Waiver(
        "IG-SEC-23",
        "Portée vérifiée par la passerelle en amont ; correctif au T2",
        "Jeanne Martin, RSSI",
        dt.date(2027, 6, 30),
    )


def test_the_shipped_example_loads() -> None:
    example = load_waivers(project_root() / "fixtures" / "waivers.example.toml")
    assert set(example) == {"IG-SEC-19"} and example["IG-SEC-19"].expires == dt.date(2027, 6, 30)


def test_an_iso_date_string_is_accepted_and_an_empty_file_waives_nothing(tmp_path: Path) -> None:
    loaded = load_waivers(write(tmp_path, GOOD.replace("2027-06-30", '"2027-06-30"')))
    assert loaded["IG-SEC-23"].expires == dt.date(2027, 6, 30)
    assert load_waivers(write(tmp_path, "# nothing waived\n")) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("IG-SEC-23", "IG-SEC-99"),
            r"waiver #1: unknown requirement id 'IG-SEC-99' \(see `psc-conformance requirements`\)",
        ),
        (GOOD + GOOD.replace("IG-SEC-23", "EXI PSC 99"), "waiver #2: unknown requirement id 'EXI PSC 99'"),
        (GOOD.replace('owner = "Jeanne Martin, RSSI"\n', ""), r"waiver #1: missing key\(s\) \['owner'\]"),
        (GOOD.replace("expires = 2027-06-30\n", ""), r"waiver #1: missing key\(s\) \['expires'\]"),
        (GOOD.replace('"Jeanne Martin, RSSI"', '"  "'), "waiver #1: 'owner' must be a non-empty string"),
        (
            GOOD.replace('"Portée vérifiée par la passerelle en amont ; correctif au T2"', '""'),
            "waiver #1: 'justification' must be a non-empty string",
        ),
        (GOOD.replace('"Jeanne Martin, RSSI"', "42"), "waiver #1: 'owner' must be a non-empty string"),
        (GOOD + 'variant = "x"\n', r"waiver #1: unknown key\(s\) \['variant'\]"),
        (GOOD + GOOD, "waiver #2: IG-SEC-23 is waived twice"),
        (GOOD.replace("2027-06-30", '"30/06/2027"'), "waiver #1: 'expires' '30/06/2027' is not an ISO date"),
        (GOOD.replace("2027-06-30", "2027-06-30T12:00:00Z"), "waiver #1: 'expires' must be a date"),
        (GOOD.replace("[[waiver]]", "[[waivers]]"), r"unknown top-level key\(s\) \['waivers'\]"),
        ('waiver = "IG-SEC-23"\n', "'waiver' must be an array of tables"),
        ("[[waiver]\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=message) as raised:
        load_waivers(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"waiver file not found: .*nowhere\.toml"):
        load_waivers(tmp_path / "nowhere.toml")


def test_the_configuration_names_the_file_relative_to_itself(tmp_path: Path) -> None:
    config = parse_config({"campaign": {"waivers": "w.toml"}}, tmp_path / "campaign.toml")
    assert config.campaign.waivers == (tmp_path / "w.toml").resolve()
    assert parse_config({}).campaign.waivers is None


# -- the states --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "expires", "state"),
    [
        ("fail", RUN_DAY, WaiverState.ACTIVE),  # in force to the end of its last day
        ("warning", RUN_DAY + dt.timedelta(days=300), WaiverState.ACTIVE),
        ("fail", RUN_DAY - dt.timedelta(days=1), WaiverState.EXPIRED),
        ("pass", RUN_DAY - dt.timedelta(days=1), WaiverState.EXPIRED),  # stale first: it is past its date
        ("pass", RUN_DAY, WaiverState.UNUSED),
        ("inconclusive", RUN_DAY, WaiverState.UNUSED),  # nothing failed: nothing to waive
        ("not_tested", RUN_DAY, WaiverState.UNUSED),
        ("not_applicable", RUN_DAY, WaiverState.UNUSED),
    ],
)
def test_state(verdict: str, expires: dt.date, state: WaiverState) -> None:
    assert waiver(expires=expires).state(verdict, RUN_DAY) is state


def test_the_run_date_is_the_utc_day_the_campaign_started() -> None:
    assert run_date("2026-11-30T23:30:00Z") == dt.date(2026, 11, 30)
    assert run_date("2026-12-01T00:30:00+02:00") == dt.date(2026, 11, 30)


# -- results.json ------------------------------------------------------------------------------------------


def failing(rid: str, severity: Severity = Severity.FAILURE) -> ScenarioRecord:
    check = CheckResult(
        name=f"check_{rid}", requirements=(rid,), ok=False, severity=severity, message="no", title={"fr": rid}
    )
    return ScenarioRecord(
        nodeid=f"scenarios/provider/test_x.py::test_{rid}",
        requirements=(rid,),
        outcome=Outcome.FAILED,
        checks=[check],
        sut_exchanges=1,
    )


def provider_results(waivers: dict[str, Waiver]) -> dict[str, Any]:
    """IG-SEC-23 and IG-SEC-22 fail, IG-SEC-19 (a recommendation) warns, everything else is not tested."""
    return build_results(
        sut=SutInfo(Role.PROVIDER, "API", "https://127.0.0.1:8443"),
        catalogues=load_catalogues(),
        scenarios=[failing("IG-SEC-23"), failing("IG-SEC-22"), failing("IG-SEC-19", Severity.WARNING)],
        attestations={},
        started_at=f"{RUN_DAY.isoformat()}T10:00:00Z",
        finished_at=f"{RUN_DAY.isoformat()}T10:00:09Z",
        waivers=waivers,
    )


def test_results_carry_each_waiver_with_its_state_and_keep_the_verdict() -> None:
    past = RUN_DAY - dt.timedelta(days=1)
    doc = provider_results(
        {
            "IG-SEC-23": waiver("IG-SEC-23"),
            "IG-SEC-19": waiver("IG-SEC-19"),
            "IG-SEC-22": waiver("IG-SEC-22", expires=past),
            "IG-SEC-21": waiver("IG-SEC-21"),
        }
    )
    validate_results(doc)
    by_id = {r["id"]: r for r in doc["requirements"]}
    assert by_id["IG-SEC-23"]["verdict"] == "fail"  # waived, still a failure for the auditor
    assert by_id["IG-SEC-23"]["waiver"] == {
        "justification": "justifiée",
        "owner": "J. Martin",
        "expires": RUN_DAY.isoformat(),
        "state": "active",
    }
    states = {rid: by_id[rid]["waiver"]["state"] for rid in ("IG-SEC-19", "IG-SEC-22", "IG-SEC-21")}
    assert states == {"IG-SEC-19": "active", "IG-SEC-22": "expired", "IG-SEC-21": "unused"}
    assert (by_id["IG-SEC-19"]["verdict"], by_id["IG-SEC-22"]["verdict"]) == ("warning", "fail")
    assert doc["summary"]["waived"] == 2  # the fail and the warning under an active waiver
    assert doc["summary"]["verdicts"]["fail"] == 2
    assert sum("waiver" in r for r in doc["requirements"]) == 4
    assert unwaived_failures(doc["requirements"]) == ["IG-SEC-22"]  # its waiver expired


def test_without_waivers_nothing_is_waived() -> None:
    doc = provider_results({})
    validate_results(doc)
    assert doc["summary"]["waived"] == 0 and not any("waiver" in r for r in doc["requirements"])
    assert unwaived_failures(doc["requirements"]) == ["IG-SEC-22", "IG-SEC-23"]


def test_the_schema_refuses_an_unknown_waiver_state() -> None:
    doc = provider_results({"IG-SEC-23": waiver()})
    entry = next(r for r in doc["requirements"] if r["id"] == "IG-SEC-23")
    entry["waiver"]["state"] = "ignored"
    with pytest.raises(Exception, match="'ignored' is not one of"):
        validate_results(doc)


# -- the exit status of `run` ------------------------------------------------------------------------------


def test_exit_1_only_for_a_failure_without_an_active_waiver() -> None:
    waived = provider_results({"IG-SEC-23": waiver("IG-SEC-23"), "IG-SEC-22": waiver("IG-SEC-22")})
    assert _exit_status(waived, 1) == 0  # every fail is waived (the warning never failed a run)
    partly = provider_results({"IG-SEC-23": waiver("IG-SEC-23")})
    assert _exit_status(partly, 1) == 1


IG_SEC_23_SCENARIO = "test_token_without_the_api_scope_is_refused"


def run_faulty(tmp_path: Path, name: str, waivers: str | None) -> tuple[int, dict[str, Any], Path]:
    """A provider campaign with the fault that fails IG-SEC-23, narrowed to its scenario (a few seconds)."""
    out = tmp_path / name
    argv = ["run", "--role", "provider", "--fault", "rs_skips_scope_check", "-k", IG_SEC_23_SCENARIO]
    if waivers is not None:
        argv += ["--waivers", str(write(tmp_path, waivers))]
    code = main([*argv, "--output", str(out)])
    doc: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    return code, doc, out


def ig_sec_23(doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = next(r for r in doc["requirements"] if r["id"] == "IG-SEC-23")
    return entry


def test_end_to_end_a_waived_failure_exits_0_and_stays_fail(tmp_path: Path) -> None:
    unused = GOOD.replace("IG-SEC-23", "IG-SEC-22")  # IG-SEC-22 is not run here: nothing to waive
    code, doc, out = run_faulty(tmp_path, "waived", GOOD + unused)
    assert code == 0
    assert ig_sec_23(doc)["verdict"] == "fail" and ig_sec_23(doc)["waiver"]["state"] == "active"
    assert doc["summary"]["waived"] == 1
    assert next(r for r in doc["requirements"] if r["id"] == "IG-SEC-22")["waiver"]["state"] == "unused"
    assert "Portée vérifiée par la passerelle en amont" in (out / "report.html").read_text(encoding="utf-8")


def test_end_to_end_without_the_waiver_exits_1(tmp_path: Path) -> None:
    code, doc, _ = run_faulty(tmp_path, "plain", None)
    assert code == 1
    assert ig_sec_23(doc)["verdict"] == "fail" and "waiver" not in ig_sec_23(doc)
    assert doc["summary"]["waived"] == 0


def test_end_to_end_an_expired_waiver_waives_nothing(tmp_path: Path) -> None:
    code, doc, _ = run_faulty(tmp_path, "expired", GOOD.replace("2027-06-30", "2020-01-31"))
    assert code == 1
    assert ig_sec_23(doc)["waiver"] == {
        "justification": "Portée vérifiée par la passerelle en amont ; correctif au T2",
        "owner": "Jeanne Martin, RSSI",
        "expires": "2020-01-31",
        "state": "expired",
    }
    assert doc["summary"]["waived"] == 0


def test_a_bad_waiver_file_is_a_usage_error_before_the_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace("IG-SEC-23", "IG-SEC-99"))
    out = tmp_path / "out"
    assert main(["run", "--role", "provider", "--waivers", str(path), "--output", str(out)]) == 2
    assert "waiver #1: unknown requirement id 'IG-SEC-99'" in capsys.readouterr().err
    assert not (out / "pytest.log").exists()  # the campaign never started
