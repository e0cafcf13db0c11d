"""Fixtures of the TLS tests: one EC PKI per session, and an openssl CLI runner."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.pki import TestPKI, build_pki

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    return build_pki()


@pytest.fixture(scope="session")
def openssl() -> OpenSSL:
    """Runner for the openssl CLI; never raises on a non-zero exit."""
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl CLI not installed")

    def run(*args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [path, *map(str, args)], input=input, capture_output=True, timeout=30, check=False
        )

    return run
