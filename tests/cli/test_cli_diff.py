"""`psc-conformance diff` end to end: two real provider campaigns, and the usage errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance import cli
from conformance.cli import diff_cmd

FAULT = "rs_skips_scope_check"  # the registry says it must fail IG-SEC-23, and only it

Main = Callable[[Sequence[str]], int]


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> Main:
    """`conformance.cli.main`, with `diff` registered even before cli/__init__.py lists it."""
    if diff_cmd not in cli._COMMANDS:
        monkeypatch.setattr(cli, "_COMMANDS", (*cli._COMMANDS, diff_cmd))
    return cli.main


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A reference provider campaign and one with the fault (~10 s each, run one after the other)."""
    root = tmp_path_factory.mktemp("runs")
    reference, faulty = root / "reference", root / "fault"
    assert cli.main(["run", "--role", "provider", "--output", str(reference)]) == 0
    assert cli.main(["run", "--role", "provider", "--fault", FAULT, "--output", str(faulty)]) == 1
    return reference, faulty


def diff_json(main: Main, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["diff", "--json", *argv])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, doc


def test_a_fault_is_exactly_its_requirement_getting_worse(
    runs: tuple[Path, Path], main: Main, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, faulty = runs
    code, doc = diff_json(main, capsys, str(reference), str(faulty))
    assert code == 1
    assert doc["changes"] == [
        {
            "id": "IG-SEC-23",
            "catalogue": "ig-securisation-transport",
            "old": "pass",
            "new": "fail",
            "direction": "worse",
        }
    ]
    assert (doc["worse"], doc["better"]) == (1, 0)
    assert doc["new"]["sut"]["faults"] == [FAULT] and doc["old"]["sut"]["faults"] == []
    # same SUT, same role: the reference's new port on each run is no reason to warn
    assert doc["old"]["sut"]["base_url"] != doc["new"]["sut"]["base_url"] and doc["warnings"] == []

    assert main(["diff", str(reference), str(faulty / "results.json")]) == 1
    out = capsys.readouterr().out
    assert "\nIG-SEC-23  pass → fail  (worse)\n" in out
    assert out.rstrip().splitlines()[-1].startswith("1 worse, 0 better, 0 changed, 0 added, 0 removed (")


def test_the_fix_reads_better_and_exits_0(
    runs: tuple[Path, Path], main: Main, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, faulty = runs
    code, doc = diff_json(main, capsys, str(faulty), str(reference))
    assert code == 0
    assert [(c["id"], c["old"], c["new"], c["direction"]) for c in doc["changes"]] == [
        ("IG-SEC-23", "fail", "pass", "better")
    ]
    assert (doc["worse"], doc["better"]) == (0, 1)


def test_a_run_against_itself_changes_nothing(
    runs: tuple[Path, Path], main: Main, capsys: pytest.CaptureFixture[str]
) -> None:
    _, faulty = runs
    assert main(["diff", str(faulty), str(faulty)]) == 0
    assert "no verdict changed" in capsys.readouterr().out


VALID = "valid"  # the reference run's results.json


@pytest.mark.parametrize(
    ("old_content", "new_content", "message"),
    [
        (None, VALID, "error: OLD {old}: no such file"),
        (VALID, "<html>", "error: NEW {new}: not JSON: Expecting value: line 1 column 1"),
        (
            VALID,
            {"schema_version": 1},
            "error: NEW {new}: results.json of schema_version 1; this harness reads version 2",
        ),
        ({}, VALID, "error: OLD {old}: not a valid results.json: 'schema_version' is a required property"),
    ],
)
def test_a_missing_or_invalid_results_file_is_a_usage_error_naming_it(
    runs: tuple[Path, Path],
    tmp_path: Path,
    main: Main,
    capsys: pytest.CaptureFixture[str],
    old_content: object,
    new_content: object,
    message: str,
) -> None:
    paths: dict[str, Path] = {}
    for label, content in (("old", old_content), ("new", new_content)):
        paths[label] = tmp_path / f"{label}.json"
        if content == VALID:
            paths[label] = runs[0] / "results.json"
        elif content is not None:
            text = content if isinstance(content, str) else json.dumps(content)
            paths[label].write_text(text, encoding="utf-8")
    assert main(["diff", str(paths["old"]), str(paths["new"])]) == 2
    assert message.format(**paths) in capsys.readouterr().err


def test_a_directory_that_is_not_a_run_is_a_usage_error(
    tmp_path: Path, main: Main, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(tmp_path), str(tmp_path)]) == 2
    assert f"error: OLD {tmp_path}: not a run directory: it has no results.json" in capsys.readouterr().err
