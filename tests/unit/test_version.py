"""`conformance.__version__` is a constant (no `importlib.metadata` in every process): it must stay the
version pyproject.toml declares and the installed distribution carries, and `--version` must print it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from conformance import __version__
from conformance.cli import main

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert __version__ == declared, "bump conformance/__init__.py's __version__ with pyproject.toml's"


def test_version_is_the_installed_distributions() -> None:
    assert __version__ == version("psc-conformance"), "the installed metadata is stale: pip install -e ."


def test_version_option_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"psc-conformance {__version__}\n"
