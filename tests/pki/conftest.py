"""Fixtures of the PKI tests: the session's PKI, written once to disk for the openssl CLI."""

from __future__ import annotations

import pytest

from conformance.pki import PkiFiles, TestPKI, write_pki


@pytest.fixture(scope="session")
def pki_files(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    return write_pki(pki, tmp_path_factory.mktemp("pki"))
