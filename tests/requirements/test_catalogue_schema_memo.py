"""The schema step of loading the packaged catalogues is remembered per exact bytes, and only so:
a catalogue that changed is checked again, a broken one is still refused, and the memo can be turned off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.requirements import CATALOGUE_FILES, CatalogueError, load_catalogues, loader


@pytest.fixture
def packaged_copy(fake_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the packaged catalogues, loaded as the packaged ones, with a memo of its own."""
    monkeypatch.setenv(loader.SCHEMA_MEMO_VARIABLE, str(tmp_path / "cache"))
    return fake_data_dir


def _count_schema_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    original = loader._check_schema

    def counting(name: str, data: dict[str, object]) -> None:
        checked.append(Path(name).name)
        original(name, data)

    monkeypatch.setattr(loader, "_check_schema", counting)
    return checked


def _reload() -> None:
    load_catalogues.cache_clear()
    load_catalogues()


def test_a_second_load_skips_the_schema_of_unchanged_files(
    packaged_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    checked = _count_schema_checks(monkeypatch)
    first = load_catalogues()
    assert sorted(checked) == sorted(CATALOGUE_FILES)
    assert len(list((tmp_path / "cache").rglob("*"))) == 1 + len(CATALOGUE_FILES)  # folder + one marker each
    checked.clear()
    _reload()
    assert checked == []
    assert load_catalogues() == first


def test_a_changed_file_is_checked_again_and_still_refused_when_broken(
    packaged_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_catalogues()
    checked = _count_schema_checks(monkeypatch)
    harness = packaged_copy / "harness.toml"
    harness.write_text(
        harness.read_text(encoding="utf-8").replace('method = "automatic"', 'method = "telepathy"', 1),
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match="telepathy"):
        _reload()
    assert checked == ["harness.toml"]  # the others passed before, byte for byte


def test_a_changed_schema_checks_every_file_again(
    packaged_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_catalogues()
    checked = _count_schema_checks(monkeypatch)
    edited = loader._schema_bytes().replace(b'"title"', b'"title" ', 1)
    monkeypatch.setattr(loader, "_schema_bytes", lambda: edited)
    _reload()
    assert sorted(checked) == sorted(CATALOGUE_FILES)


def test_the_memo_can_be_turned_off(packaged_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loader.SCHEMA_MEMO_VARIABLE, "off")
    checked = _count_schema_checks(monkeypatch)
    load_catalogues()
    _reload()
    assert sorted(checked) == sorted(CATALOGUE_FILES * 2)


def test_an_unwritable_memo_only_costs_the_check(
    packaged_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(loader.SCHEMA_MEMO_VARIABLE, str(blocker))
    checked = _count_schema_checks(monkeypatch)
    load_catalogues()
    _reload()
    assert sorted(checked) == sorted(CATALOGUE_FILES * 2)
