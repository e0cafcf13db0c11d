"""Fixtures of the browser test: Chromium behind a recording proxy, and a real failing campaign.

Without Chromium these tests skip, except under CI (the `CI` environment variable set), where a missing
browser is a failure: `.ci/run` installs Debian's `chromium`, so CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_campaign import run_failing_campaign
from headless_chromium import Chromium, ConnectionRecorder, find_chromium


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        message = "no chromium or chromium-browser on PATH (Debian: apt-get install chromium; .ci/run does)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}: CI must run the browser test")
        pytest.skip(message)
    return binary


@pytest.fixture
def network() -> Iterator[ConnectionRecorder]:
    """The proxy every Chromium run of a test goes through; a test asserts what it saw."""
    with ConnectionRecorder() as recorder:
        yield recorder


@pytest.fixture
def chromium(chromium_binary: str, network: ConnectionRecorder) -> Chromium:
    return Chromium(chromium_binary, network.port)


@pytest.fixture(scope="module")
def failing_run(chromium_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A provider campaign with a fault (~10 s): its run directory. Asks for Chromium first, so that a
    machine without it skips before the campaign."""
    return run_failing_campaign(tmp_path_factory.mktemp("browser") / "fault")
