"""`verify` checks a bundle's results.json against the results schema (a campaign writes it unchecked),
and `seal` dates the manifest by the results document its caller hands it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import SCHEMA_VERSION, SutInfo, build_results, write_results
from conformance.report.bundle import MANIFEST, seal, verify
from conformance.requirements import load_catalogues
from conformance.roles import Role

STARTED, FINISHED = "2026-12-01T10:00:00Z", "2026-12-01T10:00:09Z"


def results_document() -> dict[str, Any]:
    """A results document as a campaign builds it (no scenario ran): valid against the schema."""
    return build_results(
        sut=SutInfo(Role.PROVIDER, "provider under test", "https://127.0.0.1:9443"),
        catalogues=load_catalogues(),
        scenarios=[],
        attestations={},
        started_at=STARTED,
        finished_at=FINISHED,
    )


def sealed_run(directory: Path, doc: dict[str, Any]) -> Path:
    directory.mkdir()
    write_results(doc, directory / "results.json")
    (directory / "report.html").write_text("<!doctype html><title>rapport</title>", encoding="utf-8")
    seal(directory)
    return directory


def schema_problems(directory: Path) -> list[str]:
    return [p for p in verify(directory).problems if "does not meet the results schema" in p]


def test_a_valid_results_document_verifies(tmp_path: Path) -> None:
    result = verify(sealed_run(tmp_path / "run", results_document()))
    assert result.ok, result.problems


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (lambda doc: doc.pop("sut"), "the document"),
        (lambda doc: doc["requirements"][0].update(verdict="conforme"), "requirements/0/verdict"),
    ],
)
def test_a_sealed_results_document_that_breaks_the_schema_fails_verification(
    tmp_path: Path, breakage: Any, where: str
) -> None:
    doc = results_document()
    breakage(doc)
    run = sealed_run(tmp_path / "run", doc)
    result = verify(run)
    assert not result.ok and result.signature_valid
    assert result.altered == result.added == result.removed == []
    [problem] = schema_problems(run)
    assert f"results.json does not meet the results schema (version {SCHEMA_VERSION}) at {where}:" in problem


def test_an_altered_results_document_is_named_altered_only(tmp_path: Path) -> None:
    run = sealed_run(tmp_path / "run", results_document())
    results = run / "results.json"
    results.write_text(results.read_text(encoding="utf-8").replace('"provider"', '"nobody"', 1))
    result = verify(run)
    assert result.altered == ["results.json"] and result.problems == []


@pytest.mark.parametrize("version", [SCHEMA_VERSION - 1, None])
def test_a_document_of_another_schema_version_is_not_judged(tmp_path: Path, version: int | None) -> None:
    doc = results_document()
    doc.pop("sut")  # would break this harness's schema
    if version is None:
        doc.pop("schema_version")
    else:
        doc["schema_version"] = version
    assert verify(sealed_run(tmp_path / "run", doc)).ok


def test_seal_dates_the_manifest_by_the_document_it_is_given(tmp_path: Path) -> None:
    run = sealed_run(tmp_path / "run", results_document())
    given = ("2026-12-02T08:00:00Z", "2026-12-02T08:00:30Z")
    seal(run, results={"started_at": given[0], "finished_at": given[1], "sut": {}})
    manifest = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["started_at"], manifest["finished_at"]) == given
    seal(run)  # without it, read from results.json
    manifest = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["started_at"], manifest["finished_at"]) == (STARTED, FINISHED)
