"""The campaign's pytest launcher ends its process at once, yet exits exactly as `python -m pytest`,
runs the atexit handlers, loses nothing written to its standard output, and waits for a thread that runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BOUND_S = 60.0  # a pytest process on a test file of a few lines, on a loaded 2-core machine
ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_ADDOPTS": ""}
LAUNCHER = [sys.executable, "-m", "conformance.campaign.launch"]
PYTEST = [sys.executable, "-m", "pytest"]

# A test file per exit status pytest gives, and the status.
CASES = {
    "passed": ("def test_ok():\n    pass\n", pytest.ExitCode.OK),
    "failed": ("def test_ko():\n    assert False\n", pytest.ExitCode.TESTS_FAILED),
    "interrupted": ("def test_ctrl_c():\n    raise KeyboardInterrupt\n", pytest.ExitCode.INTERRUPTED),
    "nothing collected": ("x = 1\n", pytest.ExitCode.NO_TESTS_COLLECTED),
    "pytest.exit with a status": (
        "import pytest\n\ndef test_sut_gone():\n    pytest.exit('unreachable', returncode=3)\n",
        3,
    ),
}


def run(command: list[str], directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
        check=False,
    )


def write_case(directory: Path, source: str) -> None:
    """The test module the launched pytest runs (`source` dedented)."""
    (directory / "test_case.py").write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_exit_status_is_pytest_s(case: str, tmp_path: Path) -> None:
    source, status = CASES[case]
    (tmp_path / "test_case.py").write_text(source, encoding="utf-8")
    launched = run(LAUNCHER, tmp_path, "test_case.py")
    assert launched.returncode == int(status), launched.stdout + launched.stderr
    assert run(PYTEST, tmp_path, "test_case.py").returncode == launched.returncode


def test_a_usage_error_exits_as_pytest_s(tmp_path: Path) -> None:
    launched = run(LAUNCHER, tmp_path, "--no-such-option")
    assert launched.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--no-such-option" in launched.stderr


def test_atexit_handlers_run_and_the_output_is_whole(tmp_path: Path) -> None:
    marker = tmp_path / "atexit-ran"
    write_case(
        tmp_path,
        f"""
            import atexit
            from pathlib import Path

            def test_registers():
                atexit.register(Path({str(marker)!r}).write_text, "yes")
            """,
    )
    launched = run(LAUNCHER, tmp_path, "test_case.py")
    assert launched.returncode == 0 and marker.read_text() == "yes"
    assert launched.stdout.rstrip().splitlines()[-1].startswith("1 passed")  # the last line, flushed


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    """Python waits for a non-daemon thread at exit: so does the launcher (it then exits as Python does)."""
    marker = tmp_path / "thread-finished"
    write_case(
        tmp_path,
        f"""
            import threading
            import time
            from pathlib import Path

            def late_write():
                time.sleep(0.5)
                Path({str(marker)!r}).write_text("done")

            def test_leaves_a_thread():
                threading.Thread(target=late_write).start()
            """,
    )
    launched = run(LAUNCHER, tmp_path, "test_case.py")
    assert launched.returncode == 0 and marker.read_text() == "done"
