"""A malformed catalogue is refused, and the error points at the file, the id and the key."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from conformance.requirements import (
    CATALOGUE_FILES,
    CatalogueError,
    Level,
    Role,
    load_catalogue_file,
    load_catalogues,
    loader,
)

HEAD = """
[catalogue]
id = "{catalogue_id}"
version = "1"
source = "test source"
title.fr = "Titre"
title.en = "Title"
"""

ENTRY = """
[[requirement]]
id = "{rid}"
title.fr = "Titre court"
title.en = "Short title"
level = "{level}"
method = "automatic"
applies_to = ["consumer"]
source = "somewhere"
"""


def _entry(rid: str, level: str = "mandatory", extra: str = "") -> str:
    return ENTRY.format(rid=rid, level=level) + extra


def _write(tmp_path: Path, body: str, catalogue_id: str = "referentiel-psc", name: str = "cat.toml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD.format(catalogue_id=catalogue_id) + body, encoding="utf-8")
    return path


def _error(path: Path) -> CatalogueError:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue_file(path)
    assert str(path) in str(caught.value), "the message names the file"
    return caught.value


def test_a_well_formed_file_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _entry("EXI PSC 01")
        + _entry("RECO PSC 01", level="recommended", extra='notes.en = "How."\nurl = "https://x.test/a"\n'),
    )
    catalogue = load_catalogue_file(path)
    assert catalogue.id == "referentiel-psc"
    assert [r.id for r in catalogue.requirements] == ["EXI PSC 01", "RECO PSC 01"]
    second = catalogue.requirements[1]
    assert second.level is Level.RECOMMENDED
    assert second.applies_to == frozenset({Role.CONSUMER})
    assert second.notes == {"en": "How."}
    assert second.url == "https://x.test/a"
    assert second.catalogue == "referentiel-psc"
    assert load_catalogue_file(str(path)) == catalogue, "a plain string path works too"


def test_unknown_key_in_a_requirement_is_named(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("EXI PSC 01") + _entry("EXI PSC 02", extra='levl = "x"\n')))
    assert error.requirement_id == "EXI PSC 02"
    assert error.key == "levl"
    assert "'EXI PSC 02'" in str(error) and "'levl'" in str(error)


def test_unknown_title_language_is_named(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("EXI PSC 01", extra='title.de = "Titel"\n')))
    assert (error.requirement_id, error.key) == ("EXI PSC 01", "title.de")


def test_unknown_catalogue_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cat.toml"
    path.write_text(
        HEAD.format(catalogue_id="harness").replace("[catalogue]\n", '[catalogue]\nowner = "me"\n')
        + _entry("HARNESS-01"),
        encoding="utf-8",
    )
    error = _error(path)
    assert error.requirement_id is None
    assert error.key == "catalogue.owner"


def test_bad_level_is_named(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("EXI PSC 01", level="required")))
    assert (error.requirement_id, error.key) == ("EXI PSC 01", "level")
    assert "required" in str(error)


def test_bad_role_is_named(tmp_path: Path) -> None:
    body = _entry("EXI PSC 01").replace('["consumer"]', '["consumer", "auditor"]')
    error = _error(_write(tmp_path, body))
    assert (error.requirement_id, error.key) == ("EXI PSC 01", "applies_to")


def test_missing_english_title_is_named(tmp_path: Path) -> None:
    body = _entry("EXI PSC 01").replace('title.en = "Short title"\n', "")
    error = _error(_write(tmp_path, body))
    assert (error.requirement_id, error.key) == ("EXI PSC 01", "title.en")


def test_id_without_two_digits_is_refused(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("EXI PSC 7")))
    assert (error.requirement_id, error.key) == ("EXI PSC 7", "id")


@pytest.mark.parametrize(
    ("catalogue_id", "rid"),
    [
        ("referentiel-psc", "EXI-PSC-07"),
        ("referentiel-psc", "IG-SEC-01"),
        ("ig-securisation-transport", "IG-TR-01"),
        ("edc-proxy", "EDC 01"),
        ("harness", "EDC-01"),
    ],
)
def test_id_outside_the_catalogue_pattern_is_refused(tmp_path: Path, catalogue_id: str, rid: str) -> None:
    error = _error(_write(tmp_path, _entry(rid), catalogue_id=catalogue_id))
    assert (error.requirement_id, error.key) == (rid, "id")
    assert catalogue_id in str(error)


def test_duplicate_id_in_a_file_is_refused(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("EXI PSC 01") + _entry("EXI PSC 02") + _entry("EXI PSC 01")))
    assert (error.requirement_id, error.key) == ("EXI PSC 01", "id")
    assert "duplicate" in str(error)


def test_referential_level_must_match_the_prefix(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("RECO PSC 01", level="mandatory")))
    assert (error.requirement_id, error.key) == ("RECO PSC 01", "level")


def test_unknown_catalogue_id_is_refused(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _entry("EXI PSC 01"), catalogue_id="my-catalogue"))
    assert error.key == "catalogue.id"


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[catalogue]\nid = "harness\n', encoding="utf-8")
    assert "invalid TOML" in str(_error(path))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    assert "cannot read" in str(_error(tmp_path / "absent.toml"))


def test_same_id_in_two_files_is_refused(fake_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Per-catalogue patterns are disjoint, so a clash needs a widened pattern to get past them:
    # the cross-file check must still hold if the patterns ever change.
    patterns = dict(loader.ID_PATTERNS)
    patterns["harness"] = re.compile(r"^(HARNESS|EDC)-\d{2}$")
    monkeypatch.setattr(loader, "ID_PATTERNS", patterns)
    harness = fake_data_dir / "harness.toml"
    harness.write_text(harness.read_text(encoding="utf-8") + _entry("EDC-03"), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogues()
    error = caught.value
    assert (error.requirement_id, error.key) == ("EDC-03", "id")
    assert "harness.toml" in str(error) and "edc-proxy.toml" in str(error)


def test_unregistered_catalogue_file_is_refused(fake_data_dir: Path) -> None:
    (fake_data_dir / "extra.toml").write_text("", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"extra\.toml.*not registered"):
        load_catalogues()


def test_catalogue_id_must_match_its_file_name(fake_data_dir: Path) -> None:
    harness, edc = fake_data_dir / "harness.toml", fake_data_dir / "edc-proxy.toml"
    harness_text, edc_text = harness.read_text(encoding="utf-8"), edc.read_text(encoding="utf-8")
    harness.write_text(edc_text, encoding="utf-8")
    edc.write_text(harness_text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"edc-proxy\.toml.*'harness' does not match the file name"):
        load_catalogues()


def test_packaged_schema_is_valid_and_every_packaged_file_conforms() -> None:
    """Checked with jsonschema directly, independently of the loader's own code path."""
    schema_text = resources.files("conformance").joinpath("schemas/catalogue.schema.json").read_text("utf-8")
    schema = json.loads(schema_text)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in CATALOGUE_FILES:
        data = tomllib.loads(
            resources.files("conformance.requirements").joinpath("data", name).read_text("utf-8")
        )
        assert not list(validator.iter_errors(data)), name
