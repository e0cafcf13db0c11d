"""Fixtures shared by the harness's own tests."""

from __future__ import annotations

import compileall
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.pki import TestPKI, build_pki

pytest_plugins = ["pytester"]

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]
REPOSITORY = Path(__file__).resolve().parents[1]


class BeforeMatrices:
    """Tests marked `before_matrices` run first, and the matrices' background campaigns start only once
    they have run (tests/detection/conftest.py waits for `started`). Such a test compares verdicts across
    timings (the same campaign sequential and concurrent): six matrix campaigns besides its own four
    load a 2-core machine past what its SUT's timers tolerate, and the comparison would judge the load."""

    NAME = "psc-before-matrices"
    MARKER = "before_matrices"

    def __init__(self) -> None:
        self.matrices_may_start = threading.Event()
        self.session_ended = False

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not any(item.get_closest_marker(self.MARKER) for item in items):
            self.matrices_may_start.set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker(self.MARKER) is None:  # the marked tests, sorted first, are over
            self.matrices_may_start.set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.session_ended = True  # before the matrices' conftest waits for its pool
        self.matrices_may_start.set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{BeforeMatrices.MARKER}: runs first, before the matrices' campaigns load the machine"
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
    """The matrices' tests last: their campaigns start in the background once the `before_matrices`
    tests, first, have run (tests/detection/conftest.py), so every other test runs while they do."""
    items.sort(
        key=lambda item: (
            item.path.parent.name == "detection",
            item.get_closest_marker(BeforeMatrices.MARKER) is None,
        )
    )
