"""`conformance.__version__` is a constant (no `importlib.metadata` in every process), the one place the
version is written: pyproject.toml takes it from there, the installed distribution must carry it, and
`--version` must print it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from conformance import __version__
from conformance.cli import main

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_takes_the_version_from_the_package() -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"], "write the version in conformance/__init__.py only"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "conformance.__version__"}


def test_version_is_the_installed_distributions() -> None:
    assert __version__ == version("psc-conformance"), "the installed metadata is stale: pip install -e ."


def test_version_option_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"psc-conformance {__version__}\n"
