"""The provider's detection and variation matrices: the reference data provider passes, every provider
fault fails exactly its declared requirements, and every provider variant fails nothing.

Each campaign is a separate `psc-conformance run --role provider` process judging the reference provider
over the wire; they share the consumer matrices' pool (conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from expectations import (
    assert_fault_fails_exactly_its_requirements,
    assert_reference_is_clean,
    assert_variant_fails_nothing,
)

from conformance.campaign.matrix import (
    CampaignOutcome,
    Campaigns,
    Kind,
    markdown,
    role_faults,
    role_variants,
    select,
    variation_markdown,
)
from conformance.roles import Role

ROLE = Role.PROVIDER  # the conftest reads it: these are provider campaigns
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def faults(campaigns: Campaigns) -> dict[str | None, CampaignOutcome]:
    return select(campaigns, Kind.FAULT, ROLE)


@pytest.fixture(scope="module")
def variants(campaigns: Campaigns) -> dict[str | None, CampaignOutcome]:
    return select(campaigns, Kind.VARIANT, ROLE)


def test_reference_provider_passes_every_applicable_automatic_requirement(
    faults: dict[str | None, CampaignOutcome],
) -> None:
    assert_reference_is_clean(faults[None], ROLE)


@pytest.mark.parametrize("fault", role_faults(ROLE))
def test_provider_fault_fails_exactly_its_requirements(
    faults: dict[str | None, CampaignOutcome], fault: str
) -> None:
    assert_fault_fails_exactly_its_requirements(faults[fault], fault)


@pytest.mark.parametrize("variant", role_variants(ROLE))
def test_provider_variant_fails_nothing(variants: dict[str | None, CampaignOutcome], variant: str) -> None:
    assert_variant_fails_nothing(variants[variant], variant)


def test_documented_provider_matrices_are_the_catalogues() -> None:
    """docs/detection-matrix.md and docs/variation-matrix.md list the provider's faults and variants."""
    assert markdown(role=ROLE) in (DOCS / "detection-matrix.md").read_text(encoding="utf-8")
    assert variation_markdown(role=ROLE) in (DOCS / "variation-matrix.md").read_text(encoding="utf-8")
