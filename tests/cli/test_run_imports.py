"""`psc-conformance run` starts pytest without first importing what only the end of a run needs, and
imports that while pytest runs (its supervisor's first tick)."""

from __future__ import annotations

import json
import subprocess
import sys

# What only the end of a normal run needs, and what only a rescued run (or a check of a document) does.
END = ("conformance.campaign.waivers", "conformance.report.junit", "conformance.report.i18n")
RESCUE = ("jsonschema", "conformance.campaign.results", "conformance.evidence")
REPORT = "conformance.report.html"  # the rescue renders the report; the end's junit.xml cases import it
NOT_BEFORE_PYTEST = (*END, *RESCUE, REPORT)


def loaded_after(code: str) -> dict[str, bool]:
    """Which of NOT_BEFORE_PYTEST a fresh interpreter has loaded after running `code`."""
    report = f"import json, sys\nprint(json.dumps({{m: m in sys.modules for m in {NOT_BEFORE_PYTEST!r}}}))"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: dict[str, bool] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_run_command_imports_none_of_the_end_before_pytest_starts() -> None:
    loaded = loaded_after("import conformance.cli.run_cmd")
    assert not any(loaded.values()), [m for m, yes in loaded.items() if yes]


def test_the_first_tick_imports_what_the_end_needs_and_each_tick_shows_progress() -> None:
    loaded = loaded_after(
        "from conformance.cli import run_cmd\n"
        "ticks = []\n"
        "tick = run_cmd._while_pytest_runs(lambda: ticks.append(1))\n"
        "tick(); tick()\n"
        "assert ticks == [1, 1], ticks"
    )
    assert all(loaded[m] for m in END) and not any(loaded[m] for m in RESCUE), loaded
