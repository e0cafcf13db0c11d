"""Fixtures shared by the harness's own tests."""

from __future__ import annotations

import compileall
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from conformance.pki import TestPKI, build_pki

pytest_plugins = ["pytester"]

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]
REPOSITORY = Path(__file__).resolve().parents[1]


class BeforeMatrices:
    """Work that must not share the machine with the matrices' campaigns runs in the background from the
    start of the session, and the matrices' campaigns start once it has ended (tests/detection/conftest.py
    waits for `matrices_may_start`).

    A module marked `before_matrices` defines `start_before_matrices(directory) -> Future`, called once
    at the end of collection when one of its tests is selected; its tests read the future's result from
    the `before_matrices` fixture. Such work compares verdicts across timings (the same campaign
    sequential and concurrent): six matrix campaigns besides its own four load a 2-core machine past what
    its SUT's timers tolerate, and the comparison would judge the load. The rest of the suite runs
    meanwhile, one test at a time: a core at most."""

    NAME = "psc-before-matrices"
    MARKER = "before_matrices"
    STARTER = "start_before_matrices"

    def __init__(self) -> None:
        self.matrices_may_start = threading.Event()
        self.session_ended = False
        self.work: dict[str, Future[Any]] = {}  # by module name
        self._directories: list[Path] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        modules = {
            item.module
            for item in session.items
            if isinstance(item, pytest.Function) and item.get_closest_marker(self.MARKER) is not None
        }
        if session.config.option.collectonly:
            modules = set()
        for module in sorted(modules, key=lambda m: m.__name__):
            start = getattr(module, self.STARTER, None)
            if start is None:
                raise pytest.UsageError(
                    f"{module.__name__} is marked {self.MARKER} but has no {self.STARTER}()"
                )
            directory = Path(tempfile.mkdtemp(prefix="psc-before-matrices-"))
            self._directories.append(directory)
            self.work[module.__name__] = start(directory)
        pending = list(self.work.values())

        def open_when_done() -> None:
            futures.wait(pending)
            self.matrices_may_start.set()

        threading.Thread(target=open_when_done, name=self.NAME, daemon=True).start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.session_ended = True  # before the matrices' conftest waits for its pool
        self.matrices_may_start.set()
        for future in self.work.values():
            if not future.cancel():
                future.exception()  # wait: never leave campaign processes behind the session
        if not session.testsfailed:  # a failure's campaigns are kept for a look
            for directory in self._directories:
                shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def before_matrices(request: pytest.FixtureRequest) -> Any:
    """The result of the module's `start_before_matrices` work, once it has ended."""
    gate: BeforeMatrices = request.config.pluginmanager.get_plugin(BeforeMatrices.NAME)
    future = gate.work.get(request.module.__name__)
    if future is None:
        pytest.fail(f"no background work for {request.module.__name__}: mark it {BeforeMatrices.MARKER}")
    return future.result()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{BeforeMatrices.MARKER}: its module's {BeforeMatrices.STARTER}() runs from the start, the "
        "matrices' campaigns after it",
    )
    config.pluginmanager.register(BeforeMatrices(), BeforeMatrices.NAME)
    _compile_once()


def _compile_once() -> None:
    """Compile the project's modules once, before any campaign starts: the suite starts some 200 campaign
    processes (run command, pytest, reference SUT), and where PYTHONDONTWRITEBYTECODE is set (as on CI
    machines) each would compile every module it imports again, about 0.3 s of CPU per process. Writing
    the bytecode explicitly is not affected by that variable; an editable install has none of its own."""
    for package in ("conformance", "scenarios", "benchmarks"):
        compileall.compile_dir(REPOSITORY / package, quiet=1, workers=1)


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
    """The matrices' tests last, the `before_matrices` tests just before them: both wait for campaigns
    that run in the background (the latter's from the start, the matrices' once those have ended), so
    every other test runs while they do."""
    items.sort(
        key=lambda item: (
            item.path.parent.name == "detection",
            item.get_closest_marker(BeforeMatrices.MARKER) is not None,
        )
    )
