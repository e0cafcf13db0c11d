"""A run stopped before its end (SIGTERM, Ctrl-C, its pytest process killed) still leaves a valid, sealed
run directory that lists what did not run, and nothing of it left running.

Each test starts a real provider campaign with `python -m conformance run`, waits until the journal has
its first scenario records, then stops it. The scenarios run one after another (`--jobs 1`, about 40 s
of them), so that the stop always lands while they run. Linux only: the processes are read from /proc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.journal import JOURNAL, PLAN
from conformance.campaign.results import validate_results
from conformance.cli import main
from conformance.cli.campaign_process import RUN_TAG, CampaignEnd, CampaignProcess, tagged_processes
from conformance.exitcodes import HARNESS_OR_SUT

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads processes from /proc")


@pytest.fixture(autouse=True)
def interruptible() -> Iterator[None]:
    """Ctrl-C reaches this test run and the campaigns it starts as it does from a terminal, even when the
    suite itself was started with SIGINT ignored (a script's `cmd &`, some CI runners): ignored, it
    stays ignored in every child (the campaign keeps it so on purpose, as `nohup` asks)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


STARTUP_BOUND_S = 90.0  # PKI, the reference provider and the first scenarios, on a busy 2-core machine
STOP_BOUND_S = 30.0  # pytest's own stop (GRACE_S, 10 s, at most), then the report and its seal


@dataclass
class Campaign:
    process: subprocess.Popen[bytes]
    output: Path

    def pytest_child(self) -> int:
        """The campaign's pytest process: the run command's only child."""
        children = [pid for pid in _pids() if _parent(pid) == self.process.pid]
        assert len(children) == 1, children
        return children[0]

    def tag(self) -> str:
        """The tag every process of this campaign carries in its environment."""
        environment = Path(f"/proc/{self.pytest_child()}/environ").read_bytes().split(b"\0")
        prefix = f"{RUN_TAG}=".encode()
        return next(v[len(prefix) :].decode() for v in environment if v.startswith(prefix))

    def wait_for_records_and_sut(self) -> str:
        """Until scenarios have ended and the reference provider runs (started for the first scenario
        that needs it, after the harness's own); the campaign's tag."""
        journal = self.output / JOURNAL
        deadline = time.monotonic() + STARTUP_BOUND_S
        while True:
            assert self.process.poll() is None, f"the campaign ended first: {self.process.returncode}"
            assert time.monotonic() < deadline, "no scenario record and SUT within the bound"
            if journal.exists() and journal.stat().st_size > 0:
                tag = self.tag()
                if len(tagged_processes(RUN_TAG, tag)) >= 2:  # pytest and the reference provider
                    return tag
            time.sleep(0.05)

    def wait_for_end(self) -> tuple[int, float]:
        started = time.monotonic()
        try:
            status = self.process.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the run did not end within {STOP_BOUND_S:g} s of being stopped")
        return status, time.monotonic() - started

    def results(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.output / "results.json").read_text(encoding="utf-8"))
        validate_results(doc)
        return doc


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after "pid (comm)": state, parent pid, ...; None for a process gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _parent(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else int(stat[1])


def _state(pid: int) -> str | None:
    stat = _stat(pid)
    return None if stat is None else stat[0]  # "Z": ended, waiting for its parent to read its status


def start_campaign(output: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance",
            "run",
            "--role",
            "provider",
            "--jobs",
            "1",
            "--output",
            str(output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
def campaign(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Campaign]:
    """A provider campaign under way, in a session of its own (as a terminal's foreground job); with the
    parameter "sigint ignored", started as a script's background job is (SIGINT ignored, inherited)."""
    output = tmp_path / "run"
    if getattr(request, "param", None) == "sigint ignored":
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process = start_campaign(output)
        finally:
            signal.signal(signal.SIGINT, previous)
    else:
        process = start_campaign(output)
    try:
        yield Campaign(process, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def assert_stopped_run_is_whole(campaign: Campaign, tag: str, error: str) -> dict[str, Any]:
    """results.json valid, incomplete, saying why; every planned scenario in it, those that did not end
    `not_run`; the run sealed; no process of the campaign left."""
    doc = campaign.results()
    assert doc["campaign"]["complete"] is False
    assert any(error in e for e in doc["campaign"]["errors"]), doc["campaign"]["errors"]
    plan = json.loads((campaign.output / PLAN).read_text(encoding="utf-8"))["scenarios"]
    assert [s["nodeid"] for s in doc["scenarios"]] != []
    assert {s["nodeid"] for s in doc["scenarios"]} == {p["nodeid"] for p in plan}
    not_run = [s for s in doc["scenarios"] if s["outcome"] == "not_run"]
    assert not_run and all(error in s["detail"] for s in not_run)
    assert len(not_run) < len(plan), "the scenarios that ended before the stop are kept"
    assert doc["summary"]["outcomes"]["not_run"] == len(not_run)
    assert (campaign.output / "report.html").is_file()
    assert main(["verify", str(campaign.output)]) == 0
    assert tagged_processes(RUN_TAG, tag) == [], "a process of the campaign is still running"
    return doc


@pytest.mark.parametrize("campaign", ["foreground", "sigint ignored"], indirect=True)
def test_sigterm_leaves_a_sealed_report_listing_what_did_not_run(campaign: Campaign) -> None:
    tag = campaign.wait_for_records_and_sut()
    campaign.process.send_signal(signal.SIGTERM)
    status, took = campaign.wait_for_end()
    assert status == HARNESS_OR_SUT
    assert took < STOP_BOUND_S
    output = campaign.process.stdout.read().decode() if campaign.process.stdout else ""
    assert "SIGTERM received: stopping the campaign" in output and "sealed: manifest.json" in output
    # pytest stopped by itself (evidence written, fixtures torn down), even under a parent ignoring SIGINT
    assert "did not stop within" not in output
    assert "KeyboardInterrupt" in (campaign.output / "pytest.log").read_text(encoding="utf-8")
    assert_stopped_run_is_whole(campaign, tag, "interrupted by SIGTERM")


def test_ctrl_c_exits_130_with_the_same_report(campaign: Campaign) -> None:
    tag = campaign.wait_for_records_and_sut()
    os.killpg(campaign.process.pid, signal.SIGINT)  # what a terminal does: the foreground group
    status, _ = campaign.wait_for_end()
    assert status == 130
    assert_stopped_run_is_whole(campaign, tag, "interrupted by SIGINT (Ctrl-C)")


def test_a_killed_pytest_process_leaves_the_report_and_no_sut_behind(campaign: Campaign) -> None:
    tag = campaign.wait_for_records_and_sut()
    os.kill(campaign.pytest_child(), signal.SIGKILL)  # the reference provider, its child, is orphaned
    status, _ = campaign.wait_for_end()
    assert status == HARNESS_OR_SUT
    doc = assert_stopped_run_is_whole(campaign, tag, "killed by SIGKILL")
    passed = [s for s in doc["scenarios"] if s["outcome"] == "passed"]
    assert passed, "the journal's records of the scenarios that ended are kept"


# -- the supervisor alone, around small child processes (about a second each) --------------------------

STUBBORN = """
import signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a campaign that does not stop when asked
Path(sys.argv[1]).write_text("ready")
time.sleep(60)
"""

LEAVES_A_PROCESS = """
import subprocess, sys, tempfile
from pathlib import Path
sut = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
Path(sys.argv[1]).write_text(f"{sut.pid} {tempfile.gettempdir()}")
"""


def signal_self_when_ready(ready: Path, *signals: signal.Signals) -> threading.Thread:
    """Send `signals` to this process, 0.2 s apart, once the child has written `ready`."""

    def send() -> None:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not ready.exists():
            return  # the child failed to start: a signal now would reach this test run instead
        for sig in signals:
            os.kill(os.getpid(), sig)
            time.sleep(0.2)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def supervise(script: str, argument: Path, supervisor: CampaignProcess) -> CampaignEnd:
    return supervisor.run(
        [sys.executable, "-c", script, str(argument)], env=os.environ, bound_s=30, stdout=None, stderr=None
    )


def test_a_second_signal_kills_a_campaign_that_does_not_stop(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    started = time.monotonic()
    with CampaignProcess(grace_s=30) as supervisor:
        sender = signal_self_when_ready(ready, signal.SIGTERM, signal.SIGTERM)
        end = supervise(STUBBORN, ready, supervisor)
    sender.join()
    assert time.monotonic() - started < 10, "not the 30 s grace"
    assert end.returncode == -signal.SIGKILL and end.interrupted_by is signal.SIGTERM
    assert end.error == "the campaign was interrupted by SIGTERM before its end"


def test_a_campaign_that_does_not_stop_is_killed_after_the_grace(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    with CampaignProcess(grace_s=0.5) as supervisor:
        sender = signal_self_when_ready(ready, signal.SIGINT)
        end = supervise(STUBBORN, ready, supervisor)
    sender.join()
    assert end.returncode == -signal.SIGKILL and end.interrupted_by is signal.SIGINT
    assert "(Ctrl-C)" in (end.error or "")


def test_what_a_campaign_left_running_is_stopped_and_its_temporary_files_removed(tmp_path: Path) -> None:
    told = tmp_path / "told"
    with CampaignProcess() as supervisor:
        end = supervise(LEAVES_A_PROCESS, told, supervisor)
    assert end == CampaignEnd(0, None)
    pid, scratch = told.read_text().split(" ", 1)
    assert scratch != tempfile.gettempdir() and not Path(scratch).exists(), "a TMPDIR of its own, removed"
    assert _state(int(pid)) in (None, "Z"), "the process it left is still running"
    assert tagged_processes(RUN_TAG, supervisor.tag) == []
