"""The campaign's pytest process, supervised: stopped cleanly on a signal or at its time bound, and
nothing it started left running.

pytest runs in a process group of its own, so that a Ctrl-C at the terminal reaches `psc-conformance
run` alone, which decides what happens: it asks pytest to stop (SIGINT: pytest ends the scenario under
way, tears its fixtures down, which stops the SUT and the counterparts, and writes what it has), waits a
bounded time, then kills the group. A second signal kills at once. A SIGTERM (a CI job cancelled) or a
SIGHUP (the terminal closed) is handled the same way: without it, pytest would be left running alone.

Every process the campaign starts inherits a tag in its environment (as Jenkins tags a build's
processes), so that the SUTs it starts in sessions of their own are found and stopped afterwards even
when pytest itself was killed, and never those of another campaign on the same host; and a temporary
directory of its own (TMPDIR), removed afterwards, so that two campaigns share no file and a killed
one leaves none.

A process that has imported the campaign's modules already (a fork server's child: `conformance.campaign.
preload`) starts pytest by fork instead, the same command run without a new interpreter importing them
again (a second of CPU per campaign, which a matrix of a hundred campaigns pays a hundred times).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Final, NoReturn, Protocol, Self

RUN_TAG: Final = "PSC_CONFORMANCE_RUN"
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# pytest's own stop: the scenario under way, fixtures, the SUT stopped, evidence and results written.
# About 1 s on a quiet machine; a loaded CI runner, five times slower at everything, took over 5 s.
GRACE_S: Final = 10.0
_POLL_S: Final = 0.1
_PROC = Path("/proc")
LAUNCH_MODULE: Final = "conformance.campaign.launch"
# Set in a process that preloaded the campaign's modules: what a forked pytest process runs, with the
# arguments of `python -m conformance.campaign.launch ARGS` (`fork_launches`).
_forked_launch: Callable[[Sequence[str]], NoReturn] | None = None


def fork_launches(main: Callable[[Sequence[str]], NoReturn] | None) -> None:
    """From now on, start `python -m conformance.campaign.launch ARGS` as a fork of this process running
    `main(ARGS)` (None: as a new interpreter again). Only for a process whose imports are the launch's
    own, and that runs no other thread when it forks."""
    global _forked_launch
    _forked_launch = main


class _Child(Protocol):
    """What the supervisor needs of pytest's process: a `subprocess.Popen`, or a forked one."""

    pid: int

    def wait(self, timeout: float | None = None) -> int: ...

    def poll(self) -> int | None: ...


@dataclass(frozen=True)
class CampaignEnd:
    """How the campaign process ended."""

    returncode: int | None  # pytest's exit status (negative: the signal that killed it); None: not started
    error: str | None  # why the campaign did not run to its end; None: pytest's status says it all
    interrupted_by: signal.Signals | None = None
    journal_at_stop: int | None = None  # the journal's size when pytest was asked to stop: what ended before


class CampaignProcess:
    """While open, the stop signals are this supervisor's: they stop the campaign, not the command.

    Opened before the run's directory is made and closed once its report is sealed, so that a signal at
    any moment ends in a report: while the campaign runs it stops it; after, it is noted and the report
    is finished (a few seconds at most) rather than left half written.
    """

    def __init__(self, *, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.tag = uuid.uuid4().hex
        self.signals: list[signal.Signals] = []
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # Python allows handlers there only
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup, or `&` in a script: stays ignored
                    self._previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        self._previous.clear()

    def _note(self, signum: int, frame: FrameType | None) -> None:
        # Only noted here: the supervising loop acts on it (a handler must not print or wait).
        self.signals.append(signal.Signals(signum))

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        bound_s: float,
        stdout: IO[bytes] | None,
        stderr: IO[bytes] | int | None,
        journal: Path | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> CampaignEnd:
        """Run pytest to its end, its time bound or a stop signal; then stop whatever it left running.

        `journal`: the file the campaign appends each scenario's record to; its size when pytest is asked
        to stop tells which scenarios ended before (those still running then may have seen the SUT and
        counterparts go away under them). `on_tick`: called at each turn of the wait (every 0.1 s), to
        show progress.
        """
        if self.signals:  # stopped before the campaign started
            return CampaignEnd(None, _interrupted(self.signals[0]), self.signals[0])
        scratch = tempfile.mkdtemp(prefix="psc-conformance-run-")
        child_env = {**env, RUN_TAG: self.tag, "TMPDIR": scratch}
        child: _Child
        if _forked_launch is not None and list(argv[1:3]) == ["-m", LAUNCH_MODULE]:
            child = ForkedChild.start(_forked_launch, argv[3:], env=child_env, stdout=stdout, stderr=stderr)
        else:
            with _children_heed_sigint():
                child = subprocess.Popen(
                    argv,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    process_group=0,
                )
        try:
            return self._supervise(child, bound_s, journal, on_tick)
        finally:
            if child.poll() is None:  # only when supervising itself failed
                _signal_group(child, signal.SIGKILL)
                child.wait()
            stop_tagged(RUN_TAG, self.tag)
            shutil.rmtree(scratch, ignore_errors=True)

    def _supervise(
        self,
        child: _Child,
        bound_s: float,
        journal: Path | None,
        on_tick: Callable[[], None] | None,
    ) -> CampaignEnd:
        deadline = time.monotonic() + bound_s
        kill_at: float | None = None  # set once pytest has been asked to stop
        journal_at_stop: int | None = None
        stopped_by: signal.Signals | None = None  # the signal acted on; one noted as pytest ended is not
        timed_out = False
        seen = 0
        while True:
            try:
                code = child.wait(timeout=_POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if on_tick is not None:
                on_tick()
            now = time.monotonic()
            if len(self.signals) > seen:
                seen = len(self.signals)
                if kill_at is None:
                    journal_at_stop = _size(journal)
                    stopped_by = self.signals[-1]
                    _say(
                        f"{stopped_by.name} received: stopping the campaign (its report will list "
                        "what did not run; again to stop at once)"
                    )
                    _signal_group(child, signal.SIGINT)
                    kill_at = now + self.grace_s
                else:
                    _signal_group(child, signal.SIGKILL)
            elif kill_at is None and now >= deadline:  # before a signal: the bound is the reason
                timed_out = True
                journal_at_stop = _size(journal)
                _signal_group(child, signal.SIGINT)
                kill_at = now + self.grace_s
            elif kill_at is not None and now >= kill_at:
                _say(f"the campaign did not stop within {self.grace_s:g} s: killed")
                _signal_group(child, signal.SIGKILL)
                kill_at = float("inf")
        if stopped_by is not None:
            return CampaignEnd(code, _interrupted(stopped_by), stopped_by, journal_at_stop)
        if timed_out:
            bound = f"the campaign exceeded its {bound_s:g} s bound ([timeouts] campaign_s)"
            return CampaignEnd(code, bound, None, journal_at_stop)
        if code < 0:
            name = signal.Signals(-code).name
            return CampaignEnd(code, f"the campaign process was killed by {name} (see pytest.log)")
        return CampaignEnd(code, None)


@contextlib.contextmanager
def _children_heed_sigint() -> Iterator[None]:
    """Let a child started now stop on SIGINT, the stop this supervisor asks for, even when this process
    ignores it (a background job of a script): an ignored signal stays ignored across exec, a caught one
    returns to its default action. A no-op handler for that moment keeps ignoring it here."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    ):
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupted(sig: signal.Signals) -> str:
    how = " (Ctrl-C)" if sig is signal.SIGINT else ""
    return f"the campaign was interrupted by {sig.name}{how} before its end"


def _size(path: Path | None) -> int | None:
    try:
        return None if path is None else path.stat().st_size
    except OSError:
        return 0  # not written yet: nothing had ended


def _say(message: str) -> None:
    print(f"psc-conformance: {message}", file=sys.stderr, flush=True)


def _signal_group(child: _Child, sig: signal.Signals) -> None:
    """Signal pytest's process group (its id is pytest's pid, reserved until pytest is waited for)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


class ForkedChild:
    """pytest's process as a fork of this one, as `subprocess.Popen` would have started it: a process group
    of its own, standard input from /dev/null, the output redirected, the environment `env`, the stop
    signals back to their defaults (SIGINT raising KeyboardInterrupt), and none of this process's exit
    handlers."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    @classmethod
    def start(
        cls,
        main: Callable[[Sequence[str]], NoReturn],
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        stdout: IO[bytes] | None,
        stderr: IO[bytes] | int | None,
    ) -> ForkedChild:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # what this process wrote is written once, by it
        pid = os.fork()
        if pid:
            with contextlib.suppress(OSError):  # as the child does: whichever runs first
                os.setpgid(pid, pid)
            return cls(pid)
        try:  # the child: never returns
            os.setpgid(0, 0)
            _redirect(0, os.open(os.devnull, os.O_RDONLY))
            if stdout is not None:
                _redirect(1, os.dup(stdout.fileno()))
            if stderr == subprocess.STDOUT:
                os.dup2(1, 2)
            elif stderr is not None and not isinstance(stderr, int):
                _redirect(2, os.dup(stderr.fileno()))
            os.environ.clear()
            os.environ.update(env)
            tempfile.tempdir = None  # TMPDIR is read anew
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN or sig is signal.SIGINT:
                    signal.signal(sig, signal.default_int_handler if sig is signal.SIGINT else signal.SIG_DFL)
        except BaseException:
            traceback.print_exc()
            os._exit(FORKED_BODY_FAILED)
        live_as_forked_child(lambda: main(args))  # `main` ends the process itself, with os._exit

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): ended, its status lost
                self.returncode = _STATUS_LOST
            else:
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(_FORK_POLL_S)
        return code


_FORK_POLL_S: Final = 0.01
_STATUS_LOST: Final = 255
FORKED_BODY_FAILED: Final = 70  # EX_SOFTWARE: a forked child's body raised


def live_as_forked_child(body: Callable[[], object]) -> NoReturn:
    """The rest of a forked child's life: `body`, then the end the interpreter would give a process of its
    own. Only the exit handlers registered meanwhile run (not those inherited from the parent); the
    standard streams are flushed; the status is that of SystemExit (its non-daemon threads joined first),
    0 when `body` returns, 70 with the traceback when it raises. Never returns to the parent's code."""
    atexit._clear()
    status = FORKED_BODY_FAILED
    try:
        body()
        status = 0
    except SystemExit as exc:
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
        status = _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
    try:
        atexit._run_exitfuncs()
        _flush_standard_streams()
    finally:
        os._exit(status)


def _exit_code(code: object) -> int:
    """The status the interpreter exits with for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _redirect(target: int, source: int) -> None:
    os.dup2(source, target)
    if source != target:
        os.close(source)


def tagged_processes(name: str, value: str) -> list[int]:
    """The live processes whose environment holds `name=value` (Linux's /proc; none elsewhere)."""
    needle = f"{name}={value}".encode()
    me = os.getpid()
    found: list[int] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(_PROC):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                environment = (_PROC / entry.name / "environ").read_bytes()  # empty for a zombie
            except OSError:  # gone, or another user's
                continue
            if needle in environment.split(b"\0"):
                found.append(int(entry.name))
    return found


def stop_tagged(name: str, value: str, *, grace_s: float = 3.0) -> list[int]:
    """SIGTERM every process tagged `name=value` (its whole group when it leads one), SIGKILL those left
    after `grace_s`; returns the processes found."""
    found = tagged_processes(name, value)
    if not found:
        return found
    _send(found, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (alive := tagged_processes(name, value)) and time.monotonic() < deadline:
        time.sleep(0.05)
    _send(alive, signal.SIGKILL)
    return found


def _send(pids: Sequence[int], sig: signal.Signals) -> None:
    own_group = os.getpgrp()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group == pid and group != own_group:  # a SUT started in a session of its own: its children too
                os.killpg(group, sig)
            else:
                os.kill(pid, sig)


__all__ = [
    "RUN_TAG",
    "CampaignEnd",
    "CampaignProcess",
    "ForkedChild",
    "fork_launches",
    "live_as_forked_child",
    "stop_tagged",
    "tagged_processes",
]
