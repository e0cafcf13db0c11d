"""Fixtures shared by every scenario: the campaign's test PKI.

The PKI is the one a vendor configured their system with (`[campaign] pki_dir`, written by
`psc-conformance pki`), or a fresh EC PKI when the campaign runs against embedded parts only.
"""

from __future__ import annotations

import pytest

from conformance.config import Config
from conformance.pki import TestPKI, build_pki, load_pki


@pytest.fixture(scope="session")
def pki(psc_config: Config) -> TestPKI:
    if psc_config.campaign.pki_dir is not None:
        return load_pki(psc_config.campaign.pki_dir)
    return build_pki()
