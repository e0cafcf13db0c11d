"""Fixtures shared by the harness's own tests."""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conformance.pki import TestPKI, build_pki

pytest_plugins = ["pytester"]

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]
REPOSITORY = Path(__file__).resolve().parents[1]


class Background:
    """Campaigns that tests wait for run in the background, so that the rest of the suite runs meanwhile.

    A test module opts in with a marker and a starter, `start_<marker>(directory, items)`, whose result
    its tests read from the `background` fixture (`items`: the module's selected tests):

    - `before_matrices`: started at the end of collection, it returns a `Future`; the matrices' campaigns
      start once it has ended (tests/detection/conftest.py waits for `matrices_may_start`). For work that
      compares verdicts across timings (the same campaign sequential and concurrent): six matrix campaigns
      besides its own four load a 2-core machine past what its SUT's timers tolerate, and the comparison
      would judge the load. The tests run meanwhile, one at a time, take a core at most.
    - `with_matrices`: started with the matrices' campaigns, it returns a mapping of `Future`s; for
      campaigns judged against a yardstick measured beside them, under the same load.

    At the end of the session, work not yet begun is cancelled and work under way waited for."""

    NAME = "psc-background"
    BEFORE_MATRICES = "before_matrices"
    WITH_MATRICES = "with_matrices"

    def __init__(self) -> None:
        self.matrices_may_start = threading.Event()
        self.session_ended = False
        self._work: dict[str, Any] = {}  # by module name: what its starter returned, or why it failed
        self._started: dict[str, threading.Event] = {}
        self._directories: list[Path] = []
        self._lock = threading.Lock()  # a start and the session's end never interleave

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        before = self._plan(session, self.BEFORE_MATRICES)
        later = self._plan(session, self.WITH_MATRICES)
        for module, items in before:
            self._start(module, items, self.BEFORE_MATRICES)
        pending = [work for work in self._work.values() if isinstance(work, Future)]

        def with_the_matrices() -> None:
            futures.wait(pending)
            self.matrices_may_start.set()
            for module, items in later:
                self._start(module, items, self.WITH_MATRICES)

        threading.Thread(target=with_the_matrices, name=self.NAME, daemon=True).start()

    def _plan(self, session: pytest.Session, marker: str) -> list[tuple[ModuleType, list[pytest.Item]]]:
        if session.config.option.collectonly:
            return []
        modules: dict[ModuleType, list[pytest.Item]] = {}
        for item in session.items:
            if isinstance(item, pytest.Function) and item.get_closest_marker(marker) is not None:
                modules.setdefault(item.module, []).append(item)
        for module in modules:
            if not hasattr(module, f"start_{marker}"):
                raise pytest.UsageError(f"{module.__name__} is marked {marker}: define start_{marker}()")
            self._started[module.__name__] = threading.Event()
        return sorted(modules.items(), key=lambda entry: entry[0].__name__)

    def _start(self, module: ModuleType, items: list[pytest.Item], marker: str) -> None:
        name = module.__name__
        with self._lock:
            try:
                if self.session_ended:
                    raise RuntimeError("the session ended before this work started")
                directory = Path(tempfile.mkdtemp(prefix=f"psc-{name.rsplit('.', 1)[-1]}-"))
                self._directories.append(directory)
                self._work[name] = getattr(module, f"start_{marker}")(directory, items)
            except Exception as exc:  # said by the module's tests, which would otherwise wait for ever
                self._work[name] = exc
        self._started[name].set()

    def work_of(self, module: ModuleType) -> Any:
        started = self._started.get(module.__name__)
        if started is None:
            pytest.fail(f"{module.__name__} has no background work: mark it and define its starter")
        started.wait()
        work = self._work[module.__name__]
        if isinstance(work, Exception):
            pytest.fail(f"the background work of {module.__name__} did not start: {work!r}")
        return work

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        with self._lock:
            self.session_ended = True  # before the matrices' conftest waits for its pool
            started = list(self._work.values())
        self.matrices_may_start.set()
        for work in started:  # a Future, a mapping of them, or the exception a starter raised
            if isinstance(work, Future):
                pending = [work]
            else:
                pending = list(work.values()) if isinstance(work, Mapping) else []
            for future in pending:
                if not future.cancel():
                    future.exception()  # wait: never leave campaign processes behind the session
        if not session.testsfailed:  # a failure's campaigns are kept for a look
            for directory in self._directories:
                shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def background(request: pytest.FixtureRequest) -> Any:
    """What the module's starter returned (see `Background`), once it has been called."""
    plugin: Background = request.config.pluginmanager.get_plugin(Background.NAME)
    return plugin.work_of(request.module)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{Background.BEFORE_MATRICES}: its module's start_{Background.BEFORE_MATRICES}() runs from the "
        "start, the matrices' campaigns once it has ended (tests/conftest.py)",
    )
    config.addinivalue_line(
        "markers",
        f"{Background.WITH_MATRICES}: its module's start_{Background.WITH_MATRICES}() runs with the "
        "matrices' campaigns (tests/conftest.py)",
    )
    config.pluginmanager.register(Background(), Background.NAME)
    _compile_once()
    _let_campaigns_cache_bytecode()


def _compile_once() -> None:
    """Compile the project's modules once, before any campaign starts: the suite starts some 200 campaign
    processes (run command, pytest, reference SUT), and where PYTHONDONTWRITEBYTECODE is set (as on CI
    machines) each would compile every module it imports again, about 0.3 s of CPU per process. Writing
    the bytecode explicitly is not affected by that variable; an editable install has none of its own."""
    for package in ("conformance", "scenarios", "benchmarks"):
        compileall.compile_dir(REPOSITORY / package, quiet=1, workers=1)


def _let_campaigns_cache_bytecode() -> None:
    """The processes this session starts may write bytecode: pytest caches its rewrite of a module's
    asserts only where bytecode is written, and where PYTHONDONTWRITEBYTECODE is set every campaign
    would rewrite every scenario module again (a few percent of a campaign's CPU)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    """One EC test PKI for the session (about a millisecond to build)."""
    return build_pki()


@pytest.fixture(scope="session")
def openssl() -> OpenSSL:
    """Runner for the openssl CLI, an implementation independent of ours: never raises on a non-zero exit."""
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl CLI is needed by these tests: apt-get install openssl (.ci/run does)")

    def run(*args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [path, *map(str, args)], input=input, capture_output=True, timeout=30, check=False
        )

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The matrices' tests last, the tests of background work just before them: they wait for campaigns
    that run in the background, so every other test runs while they do."""
    items.sort(
        key=lambda item: (
            item.path.parent.name == "detection",
            any(item.get_closest_marker(m) for m in (Background.BEFORE_MATRICES, Background.WITH_MATRICES)),
        )
    )
