"""The one build step pyproject.toml cannot declare: the harness's data travels inside the package.

`scenarios/`, `swagger/` and `fixtures/` stay at the top level of the source tree (the layout promises
it); a wheel, and so `pip install .`, carries a copy of them in `conformance/_data/`, where
`conformance.paths.project_root` finds them. The copy also takes `pyproject.toml`, whose pytest
settings the campaign's pytest must read in both layouts. An editable install copies nothing: it reads
the tree itself. The sdist carries the same directories (MANIFEST.in), so it builds this wheel again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRECTORIES = ("scenarios", "swagger", "fixtures")
DATA_FILES = ("pyproject.toml",)
DATA_TARGET = Path("conformance", "_data")  # keep in step with conformance/paths.py


class BuildPyWithData(build_py):
    """`build_py`, then the top-level data copied into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / DATA_TARGET
        shutil.rmtree(target, ignore_errors=True)  # a build/ left by an earlier build keeps no stale file
        for name in DATA_DIRECTORIES:
            shutil.copytree(name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
        for name in DATA_FILES:
            shutil.copy2(name, target / name)


setup(cmdclass={"build_py": BuildPyWithData})
