"""Many campaigns, each a fork of one process that imported their modules once.

A matrix runs a hundred `psc-conformance run` campaigns. Each imports the same modules twice, in the
`run` command and then in its pytest process: over a second of CPU per campaign before any scenario.
Here a fork server (`python -m conformance.campaign.preload`) imports them once. Each campaign is a fork
of it running `psc-conformance run`, and that command starts its pytest process as a fork too
(`campaign_process.fork_launches`). Each campaign still runs in processes of its own, against an SUT
process of its own (started by exec), with the same command line as when run by hand.

The server reads one JSON request per line on its standard input and answers one JSON line per event on
its standard output: `{"id", "pid"}` when a command started, `{"id", "status"}` when it ended (the
status as `subprocess` gives it: negative for a signal). It ends when its standard input closes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pkgutil
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final, NoReturn

import conformance

# Imported by pytest itself, as `-p` or entry-point plugin, which then rewrites its asserts: imported
# here first, it would be used unrewritten, and pytest would warn about it. So neither it nor a module
# that imports it (tests/unit/test_preload.py checks that none of the others does).
PYTEST_PLUGINS: Final = frozenset({"conformance.campaign.plugin"})
_IMPORTING_THE_PLUGIN: Final = frozenset({"conformance.campaign.coverage"})
# The reference SUTs run in processes of their own, started by exec: only their catalogue is the
# harness's (`run --fault`, `--variant`).
_SUT_PACKAGE: Final = "conformance.reference."
_SUT_CATALOGUE: Final = "conformance.reference.registry"
_REAP_PERIOD_S: Final = 0.05
STOP_GRACE_S: Final = 30.0  # a command stopped at its bound (SIGTERM): time to stop its SUT, write its report


def campaign_modules() -> list[str]:
    """What a campaign imports, in the `run` command and in its pytest process, except its scenarios.
    Found on disk: nothing is imported to list them."""
    names = ["pytest"]
    packages = [(Path(directory), f"{conformance.__name__}.") for directory in conformance.__path__]
    while packages:
        directory, prefix = packages.pop()
        for module in pkgutil.iter_modules([str(directory)], prefix):
            name = module.name
            if name.endswith(".__main__") or name in PYTEST_PLUGINS | _IMPORTING_THE_PLUGIN:
                continue
            if name.startswith(_SUT_PACKAGE) and name != _SUT_CATALOGUE:
                continue
            names.append(name)
            if module.ispkg:
                packages.append((directory / name.rsplit(".", 1)[1], f"{name}."))
    return sorted(names)


class ForkServer:
    """The client side: start the server, have it run commands, from any number of threads."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()
        self._started: dict[int, Future[int]] = {}
        self._ended: dict[int, Future[int]] = {}
        self._next = 0
        self._reader = threading.Thread(target=self._read, name="psc-fork-server", daemon=True)
        self._reader.start()

    def run(self, arguments: Sequence[str], console: Path, *, niceness: int = 0, timeout_s: float) -> int:
        """`psc-conformance ARGUMENTS` in a fork, its output into `console`, `niceness` lower in priority:
        its exit status. Past `timeout_s`, stopped as a CI would (SIGTERM: a run writes its report), then
        killed."""
        started, ended = Future[int](), Future[int]()
        with self._lock:
            ident, self._next = self._next, self._next + 1
            self._started[ident], self._ended[ident] = started, ended
            request = {"id": ident, "arguments": [*arguments], "console": str(console), "niceness": niceness}
            try:
                assert self._process.stdin is not None
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
            except OSError as exc:
                raise RuntimeError(f"the fork server is gone ({exc})") from exc
        try:
            pid = started.result(timeout=timeout_s)
        except TimeoutError as exc:
            raise RuntimeError(f"the fork server started nothing within {timeout_s:g} s") from exc
        with contextlib.suppress(TimeoutError):
            return ended.result(timeout=timeout_s)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            with contextlib.suppress(TimeoutError):
                return ended.result(timeout=STOP_GRACE_S)
        raise RuntimeError(f"the command (pid {pid}) outlived SIGKILL by {STOP_GRACE_S:g} s")

    def close(self) -> None:
        """End the server once the commands under way have ended (at most STOP_GRACE_S later: then it is
        killed, and they run on alone)."""
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        try:
            self._process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:  # a command outlived its caller's bound: the server goes anyway
            self._process.kill()
            self._process.wait()
        self._reader.join()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            event = json.loads(line)
            with self._lock:
                if "pid" in event:
                    self._started.pop(event["id"]).set_result(event["pid"])
                else:
                    self._ended.pop(event["id"]).set_result(event["status"])
        with self._lock:  # the server ended: nothing waits for ever
            gone = RuntimeError(f"the fork server ended (status {self._process.poll()})")
            for future in [*self._started.values(), *self._ended.values()]:
                future.set_exception(gone)
            self._started.clear()
            self._ended.clear()


# -- the server side --------------------------------------------------------------------------------------


def serve() -> None:
    """Import the campaigns' modules, then fork a child per request until standard input closes; report
    each child's start and end. One thread: a fork copies this process as it is."""
    for name in campaign_modules():
        importlib.import_module(name)
    children: dict[int, int] = {}  # pid -> request id
    pending = b""
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    reading = True
    while reading or children:
        if not reading:
            time.sleep(_REAP_PERIOD_S)
        elif selector.select(_REAP_PERIOD_S):
            chunk = os.read(sys.stdin.fileno(), 65536)
            reading = bool(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = _fork(request)
                children[pid] = request["id"]
                _answer({"id": request["id"], "pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                _answer({"id": children.pop(pid), "status": os.waitstatus_to_exitcode(status)})


def _answer(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _fork(request: dict[str, Any]) -> int:
    from conformance.cli.campaign_process import live_as_forked_child

    sys.stdout.flush()
    pid = os.fork()
    if pid:
        return pid
    arguments, console, niceness = request["arguments"], Path(request["console"]), int(request["niceness"])
    live_as_forked_child(lambda: _run_command(arguments, console, niceness))


def _run_command(arguments: Sequence[str], console: Path, niceness: int) -> NoReturn:
    """`psc-conformance ARGUMENTS`, as its own process would run it, its output into `console`."""
    from conformance.campaign import launch
    from conformance.cli import campaign_process, main

    if niceness:
        os.nice(niceness)
    output = os.open(console, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    for source, descriptors in ((nothing, (0,)), (output, (1, 2))):  # the server's pipes: none kept open
        for descriptor in descriptors:
            os.dup2(source, descriptor)
        os.close(source)
    campaign_process.fork_launches(launch.main)
    sys.exit(main(list(arguments)))


if __name__ == "__main__":
    serve()
