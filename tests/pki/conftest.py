"""Fixtures of the PKI tests: one EC PKI per session, written once to disk for the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.pki import PkiFiles, TestPKI, build_pki

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    return build_pki()


@pytest.fixture(scope="session")
def pki_files(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    return pki.write(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def openssl() -> OpenSSL:
    """Runner for the openssl CLI: `openssl("verify", ..., input=b"")`; never raises on a non-zero exit."""
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl CLI not installed")

    def run(*args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [path, *map(str, args)], input=input, capture_output=True, timeout=30, check=False
        )

    return run
