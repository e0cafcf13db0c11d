"""Which scenarios verify which requirement, computed from the scenarios' own declarations.

Coverage is never maintained by hand (the Inferno lesson): it is read from the
`@pytest.mark.verifies(...)` markers by collecting the scenario tree.
"""

from __future__ import annotations

import contextlib
import io
from functools import cache

import pytest

from conformance.campaign.plugin import MARKER
from conformance.paths import scenarios_root


class _Collector:
    def __init__(self) -> None:
        self.by_requirement: dict[str, list[str]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker(MARKER)
            for rid in marker.args if marker else ():
                self.by_requirement.setdefault(rid, []).append(item.nodeid)


@cache
def scenarios_by_requirement() -> dict[str, list[str]]:
    """Requirement id -> node ids of the scenarios declaring it (collection only, nothing runs)."""
    root = scenarios_root()
    collector = _Collector()
    # Every role at once: modules named after their path, since roles share basenames (test_contrat.py).
    arguments = ["--collect-only", "-q", "-p", "no:cacheprovider", "--import-mode=importlib"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = pytest.main([*arguments, "--rootdir", str(root.parent), str(root)], plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise RuntimeError(
            f"collecting the scenarios failed (pytest status {int(code)}); run "
            f"`pytest --collect-only {root}` to see why"
        )
    return collector.by_requirement
