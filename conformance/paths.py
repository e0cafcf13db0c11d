"""Where the harness finds its scenarios and writes its reports."""

from __future__ import annotations

from pathlib import Path

import conformance
from conformance.errors import UsageError


def project_root() -> Path:
    return Path(conformance.__file__).resolve().parent.parent


def scenarios_root() -> Path:
    """The `scenarios/` tree beside the package (an editable or source install)."""
    root = project_root() / "scenarios"
    if not (root / "conftest.py").is_file():
        raise UsageError(
            f"scenarios not found at {root}: install psc-conformance from its source tree "
            "(pip install -e .) so that scenarios/ stays beside the package"
        )
    return root
