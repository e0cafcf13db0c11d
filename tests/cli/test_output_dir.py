"""A run never replaces another: `--output DIR` that holds a run is refused unless `--force`, and the
default layout gives each run a directory of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.cli.run_cmd import _output_dir
from conformance.config import Config
from conformance.errors import UsageError
from conformance.exitcodes import USAGE

FAST = ["-k", "test_test_pki"]  # the harness's own PKI scenarios: a complete run in a few seconds


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "run"
    assert main(["run", "--output", str(out), *FAST]) == 0
    return out


def test_a_directory_holding_a_run_is_refused_and_left_as_it_was(
    first_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.relative_to(first_run): p.read_bytes() for p in first_run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["run", "--output", str(first_run), *FAST]) == USAGE
    err = capsys.readouterr().err
    assert "already holds a run" in err and "choose another directory or remove it" in err
    after = {p.relative_to(first_run): p.read_bytes() for p in first_run.rglob("*") if p.is_file()}
    assert after == before
    assert main(["verify", str(first_run)]) == 0


def test_force_replaces_the_run_and_only_its_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", "--output", str(out), *FAST]) == 0
    (out / "evidence" / "stale.json").write_text("{}", encoding="utf-8")  # a file of the old run's
    (out / "notes.txt").write_text("kept", encoding="utf-8")  # the user's own
    first_key = (out / "manifest-key.pem").read_bytes()  # a key made for each run signs its manifest
    assert main(["run", "--output", str(out), "--force", *FAST]) == 0
    assert (out / "notes.txt").read_text(encoding="utf-8") == "kept"
    assert not (out / "evidence" / "stale.json").exists()
    assert main(["verify", str(out)]) == 0
    assert (out / "manifest-key.pem").read_bytes() != first_key


def test_a_directory_without_a_run_is_used(tmp_path: Path) -> None:
    out = tmp_path / "ci-artifacts"
    out.mkdir()
    (out / "README").write_text("artifacts of this job", encoding="utf-8")
    assert main(["run", "--output", str(out), *FAST]) == 0
    assert (out / "results.json").is_file() and (out / "README").is_file()


def test_a_file_is_not_an_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "results"
    path.write_text("", encoding="utf-8")
    assert main(["run", "--output", str(path), *FAST]) == USAGE
    assert "not a directory" in capsys.readouterr().err


def test_runs_started_in_the_same_second_get_directories_of_their_own(tmp_path: Path) -> None:
    config = Config()
    config = dataclasses.replace(config, campaign=dataclasses.replace(config.campaign, output=tmp_path))
    directories = [_output_dir(None, config)[0] for _ in range(3)]
    assert len(set(directories)) == 3
    assert all((d / "campaign.json").is_file() for d in directories), "each claimed by its run"
    if len({d.name[:16] for d in directories}) == 1:  # the same second: suffixed
        assert [d.name[16:] for d in directories] == ["", "-2", "-3"]


def test_a_directory_another_run_claimed_is_refused(tmp_path: Path) -> None:
    _output_dir(tmp_path / "run", Config())
    with pytest.raises(UsageError, match="already holds a run"):
        _output_dir(tmp_path / "run", Config())
