"""Campaigns as forks of a server that imported their modules once (conformance.campaign.preload), as the
matrices run them: each command behaves as its own process would, its pytest process is a fork too, and
one stopped at its bound still leaves its report. Linux only: fork, and the processes read from /proc."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import __version__
from conformance.campaign.preload import ForkServer
from conformance.campaign.results import validate_results
from conformance.exitcodes import HARNESS_OR_SUT, OK, USAGE

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads processes from /proc")

COMMAND_BOUND_S = 120.0  # a few harness scenarios on a busy 2-core machine


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    with ForkServer() as running:
        yield running


def test_a_forked_command_exits_and_writes_as_its_own_process(server: ForkServer, tmp_path: Path) -> None:
    console = tmp_path / "version.txt"
    assert server.run(["--version"], console, timeout_s=COMMAND_BOUND_S) == OK
    assert __version__ in console.read_text(encoding="utf-8")
    refused = tmp_path / "refused.txt"
    assert server.run(["run", "--no-such-option"], refused, timeout_s=COMMAND_BOUND_S) == USAGE
    assert "--no-such-option" in refused.read_text(encoding="utf-8")


def test_a_forked_campaign_forks_its_pytest_process_and_judges_as_usual(
    server: ForkServer, tmp_path: Path
) -> None:
    """The harness's own scenarios only (`-k`): the campaign plugin was left for pytest to import, so its
    log carries no warning (a preloaded plugin would be used unrewritten, with a warning)."""
    output = tmp_path / "run"
    arguments = ["run", "--role", "consumer", "--output", str(output), "-k", "test_test_pki"]
    status = server.run(arguments, tmp_path / "console.txt", timeout_s=COMMAND_BOUND_S)
    doc = json.loads((output / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    outcomes = {s["nodeid"].rsplit("::", 1)[1]: s["outcome"] for s in doc["scenarios"]}
    assert outcomes and all(name.startswith("test_") for name in outcomes), outcomes
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert status == OK
    log = (output / "pytest.log").read_text(encoding="utf-8")
    assert "passed" in log and "warning" not in log, log[-2000:]


def test_a_forked_campaign_past_its_bound_is_stopped_with_its_report(
    server: ForkServer, tmp_path: Path
) -> None:
    """Stopped as a CI would stop it (SIGTERM): a sealed report that says it is incomplete, and exit 3."""
    output = tmp_path / "run"
    arguments = ["run", "--role", "provider", "--jobs", "1", "--output", str(output)]
    status = server.run(arguments, tmp_path / "console.txt", timeout_s=5.0)
    assert status == HARNESS_OR_SUT
    doc = json.loads((output / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    assert doc["campaign"]["complete"] is False
    assert (output / "manifest.json").exists()


_FORKED_CHILD_SCRIPT = """
import os, signal, subprocess, sys, tempfile
from conformance.cli.campaign_process import ForkedChild

def show(args):
    interrupts = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    print(os.environ["PSC_X"], os.getpgrp() == os.getpid(), interrupts, *args)
    sys.stdout.flush()
    os._exit(7)

def leave(args):
    raise SystemExit(3)

def fail(args):
    raise RuntimeError("broken")

signal.signal(signal.SIGINT, lambda signum, frame: None)  # the supervisor's handler: not the child's
with tempfile.TemporaryFile() as out:
    statuses = [
        ForkedChild.start(main, ["a"], env={"PSC_X": "y"}, stdout=out, stderr=subprocess.STDOUT).wait(30)
        for main in (show, leave, fail)
    ]
    out.seek(0)
    print(statuses, out.read().decode())
"""


def test_a_forked_child_starts_as_popen_would_and_ends_with_its_status() -> None:
    """In a process of one thread, as a fork server's child is: its own process group, the environment
    given, SIGINT back to KeyboardInterrupt, the output redirected; the status of os._exit, of
    SystemExit, or 70 when the entry point failed (its traceback in the output)."""
    result = subprocess.run(
        [sys.executable, "-c", _FORKED_CHILD_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("[7, 3, 70]"), result.stdout + result.stderr
    assert "y True True a" in result.stdout and "RuntimeError: broken" in result.stdout
