"""A pytest plugin the campaign benchmark loads into the campaign's pytest process (through
`PYTEST_ADDOPTS=-p phase_timer`) to timestamp where that process spends its time.

It changes nothing in the campaign: it only records wall-clock instants (epoch seconds, so that they
compare with the benchmark's own clock and with the files the run writes) and writes them as JSON to
the file named by `PSC_BENCH_PHASES` when pytest ends. Without that variable it records nothing.
With `PSC_BENCH_PROFILE=DIR` it also profiles (cProfile, main thread) the process's start-up, from this
plugin's import to the run loop (`DIR/startup.prof`), and its end, from the run loop's end to pytest's
unconfigure (`DIR/finish.prof`).

The campaign may run its scenarios in worker sessions (pytest sessions in threads of the same process,
which read `PYTEST_ADDOPTS` too): the phases are those of the first session configured, the one
`psc-conformance run` started; the workers' own start-up is recorded apart, their scenarios with the rest.
"""

from __future__ import annotations

import atexit
import cProfile
import json
import os
import resource
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

PHASES_FILE_VARIABLE = "PSC_BENCH_PHASES"
PROFILE_DIR_VARIABLE = "PSC_BENCH_PROFILE"

_LOADED_AT = time.time()  # pytest is imported by now, the campaign's plugin not yet: -p comes first


def process_started_at() -> float | None:
    """When this process was created (epoch seconds, ~10 ms resolution), from /proc on Linux.

    /proc/self/stat gives the start in clock ticks since boot; the boot-time clock gives "now" on the
    same scale, so the difference is this process's age.
    """
    try:
        fields = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5); fields[0] is field 3
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - age


class PhaseLog:
    """The instants of one campaign process, written once at its end."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.primary: pytest.Config | None = None
        self.events: dict[str, float] = {"process_start": process_started_at() or 0.0, "loaded": _LOADED_AT}
        self.fixtures: list[dict[str, Any]] = []  # session-scoped fixture set-ups, every session's
        self.workers: list[dict[str, float]] = []  # worker sessions: configure to end of collection
        self.items: dict[str, dict[str, float]] = {}  # nodeid -> {setup_start, ..., teardown_end}
        self._worker_started: dict[int, float] = {}

    def is_primary(self, config: pytest.Config) -> bool:
        return config is self.primary

    def mark(self, name: str) -> None:
        self.events[name] = time.time()

    def configured(self, config: pytest.Config) -> None:
        with self.lock:
            if self.primary is None:
                self.primary = config
                self.mark("configure_start")
            else:
                self._worker_started[id(config)] = time.time()

    def worker_collected(self, config: pytest.Config) -> None:
        with self.lock:
            started = self._worker_started.pop(id(config), None)
            if started is not None:
                self.workers.append({"start": started, "end": time.time()})

    def write(self) -> None:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        document = {
            "pid": os.getpid(),
            # CPU seconds of this process, and of the processes it started and reaped (the SUTs).
            "cpu": {
                "pytest": own.ru_utime + own.ru_stime,
                "started_by_pytest": children.ru_utime + children.ru_stime,
            },
            "events": self.events,
            "fixtures": self.fixtures,
            "workers": self.workers,
            "items": self.items,
        }
        self.target.write_text(json.dumps(document, indent=1), encoding="utf-8")


_LOG: PhaseLog | None = (
    PhaseLog(Path(os.environ[PHASES_FILE_VARIABLE])) if os.environ.get(PHASES_FILE_VARIABLE) else None
)


class _Profiles:
    """cProfile of the primary session's start-up and end, when PSC_BENCH_PROFILE names a directory."""

    def __init__(self, directory: str | None) -> None:
        self.directory = Path(directory) if directory else None
        self.current: cProfile.Profile | None = None
        self.name = ""
        self.start("startup")

    def start(self, name: str) -> None:
        if self.directory is not None:
            self.current = cProfile.Profile()
            self.current.enable()
            self.name = name

    def stop(self) -> None:
        if self.current is not None and self.directory is not None:
            self.current.disable()
            self.directory.mkdir(parents=True, exist_ok=True)
            self.current.dump_stats(self.directory / f"{self.name}.prof")
            self.current = None


_PROFILES = _Profiles(os.environ.get(PROFILE_DIR_VARIABLE))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if _LOG is not None:
        _LOG.configured(config)


def _window(config: pytest.Config, name: str) -> Generator[None, object, object]:
    """Mark `<name>_start` and `<name>_end` around a hook of the primary session."""
    if _LOG is None or not _LOG.is_primary(config):
        return (yield)
    _LOG.mark(f"{name}_start")
    try:
        return (yield)
    finally:
        _LOG.mark(f"{name}_end")


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    if _LOG is not None and _LOG.is_primary(session.config):
        _LOG.mark("configure_end")  # every plugin's pytest_configure has run before collection
    try:
        return (yield from _window(session.config, "collection"))
    finally:
        if _LOG is not None:
            _LOG.worker_collected(session.config)


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session: pytest.Session) -> Generator[None, object, object]:
    # The campaign's plugin starts an external SUT here, and waits until it answers.
    return (yield from _window(session.config, "collection_finish"))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    primary = _LOG is not None and _LOG.is_primary(session.config)
    if primary:
        _PROFILES.stop()
    try:
        return (yield from _window(session.config, "runtestloop"))
    finally:
        if primary:
            _PROFILES.start("finish")


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, object, object]:
    # The campaign's plugin writes results.json and report.html here, then stops the SUT and counterparts.
    return (yield from _window(session.config, "sessionfinish"))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    if _LOG is None or fixturedef.scope != "session":
        return (yield)
    started = time.time()
    try:
        return (yield)
    finally:
        entry = {"name": fixturedef.argname, "start": started, "end": time.time()}
        with _LOG.lock:
            _LOG.fixtures.append(entry)


def _timed_phase(item: pytest.Item, phase: str) -> Generator[None, None, None]:
    if _LOG is None:
        return (yield)
    with _LOG.lock:
        times = _LOG.items.setdefault(item.nodeid, {})
    times[f"{phase}_start"] = time.time()
    try:
        return (yield)
    finally:
        times[f"{phase}_end"] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _timed_phase(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _timed_phase(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    return (yield from _timed_phase(item, "teardown"))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _LOG is not None and _LOG.is_primary(config):
        _PROFILES.stop()
        _LOG.mark("unconfigure_end")
        _LOG.write()


def _at_exit() -> None:
    """The interpreter's shutdown: non-daemon threads joined, the atexit handlers registered after this
    module's (most of them: it is imported first) run."""
    if _LOG is not None and _LOG.primary is not None:
        _LOG.mark("interpreter_exit")
        _LOG.write()


atexit.register(_at_exit)
