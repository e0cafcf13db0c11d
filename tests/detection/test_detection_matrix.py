"""The detection matrix (BRIEF §6): every check is shown to catch the defects it is written for.

One full campaign against the reference proxy, then one per consumer fault, each a separate
`psc-conformance run` process judging the proxy over the wire. A fault must make fail exactly
its declared requirements; the reference proxy must fail nothing and leave no applicable
automatic requirement untested.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from expectations import assert_fault_fails_exactly_its_requirements, assert_reference_is_clean

from conformance.campaign.matrix import CampaignOutcome, Campaigns, Kind, consumer_faults, markdown, select
from conformance.roles import Role

ROLE = Role.CONSUMER  # the conftest reads it: these are consumer campaigns
DOC = Path(__file__).resolve().parents[2] / "docs" / "detection-matrix.md"


@pytest.fixture(scope="module")
def matrix(campaigns: Campaigns) -> dict[str | None, CampaignOutcome]:
    """The reference's and the faults' campaigns (run with the variants', see conftest.py)."""
    return select(campaigns, Kind.FAULT, ROLE)


def test_reference_proxy_passes_every_applicable_automatic_requirement(
    matrix: dict[str | None, CampaignOutcome],
) -> None:
    assert_reference_is_clean(matrix[None], ROLE)


@pytest.mark.parametrize("fault", consumer_faults())
def test_fault_fails_exactly_its_requirements(matrix: dict[str | None, CampaignOutcome], fault: str) -> None:
    assert_fault_fails_exactly_its_requirements(matrix[fault], fault)


def test_documented_matrix_is_the_catalogue() -> None:
    """docs/detection-matrix.md lists every fault with its declared requirements, as the catalogue says."""
    text = DOC.read_text(encoding="utf-8")
    assert markdown() in text, (
        "docs/detection-matrix.md is stale: regenerate its table with conformance.campaign.matrix"
    )
