"""Fixtures of the catalogue tests."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from conformance.requirements import CATALOGUE_FILES, load_catalogues, loader


@pytest.fixture
def fake_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the packaged loader at a copy of the real data, and never leak its cache."""
    data = tmp_path / "data"
    data.mkdir()
    for name in CATALOGUE_FILES:
        source = resources.files("conformance.requirements").joinpath("data", name)
        (data / name).write_bytes(source.read_bytes())
    monkeypatch.setattr(loader, "_data_dir", lambda: data)
    load_catalogues.cache_clear()
    loader._index.cache_clear()
    yield data
    load_catalogues.cache_clear()
    loader._index.cache_clear()
