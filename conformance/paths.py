"""Where the harness finds the files it ships beside its code: scenarios, OpenAPI documents, fixtures.

They live at the top level of the source tree (`scenarios/`, `swagger/`, `fixtures/`); a wheel or
`pip install .` carries a copy of them inside the package, in `conformance/_data/` (setup.py). Either
way one directory holds all three, and it is the campaign's pytest rootdir, so that node ids read
`scenarios/<role>/test_x.py::…` whichever the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import conformance
from conformance.errors import UsageError

EMBEDDED_DATA: Final = "_data"  # inside the package; keep in step with setup.py
REINSTALL_HINT: Final = (
    "this installation of psc-conformance is incomplete: reinstall it (pip install psc-conformance, "
    "or pip install . from its source tree)"
)


def project_root() -> Path:
    """The directory holding `scenarios/`, `swagger/` and `fixtures/`: the copy inside an installed
    package when there is one, else the source tree beside the package (a checkout, an editable install)."""
    package = Path(conformance.__file__).resolve().parent
    embedded = package / EMBEDDED_DATA
    return embedded if (embedded / "scenarios").is_dir() else package.parent


def scenarios_root() -> Path:
    """The `scenarios/` tree, whichever the layout."""
    root = project_root() / "scenarios"
    if not (root / "conftest.py").is_file():
        raise UsageError(f"scenarios not found at {root}: {REINSTALL_HINT}")
    return root
