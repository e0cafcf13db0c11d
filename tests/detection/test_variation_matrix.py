"""The allowed-variation matrix, the dual of the detection matrix: the checks accept what the sources allow.

One full campaign per consumer variant of the reference proxy (a behaviour an RFC, the IG 1.2.0,
the Référentiel PSC or the upstream OpenAPI documents allow, and the reference does not choose),
each a separate `psc-conformance run --variant NAME` process judging the proxy over the wire. A
campaign must fail nothing, leave nothing inconclusive, end with exit status 0 and report no
campaign error: a harness that failed a conformant proxy would be as wrong as one that passed a
broken one. A warning is allowed where a SHOULD or the project's stricter reading speaks (the
condition says so in its message); the matrix document lists them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from expectations import assert_variant_fails_nothing

from conformance.campaign.matrix import (
    CampaignOutcome,
    Campaigns,
    Kind,
    consumer_variants,
    select,
    variation_markdown,
)
from conformance.roles import Role

ROLE = Role.CONSUMER  # the conftest reads it: these are consumer campaigns
DOC = Path(__file__).resolve().parents[2] / "docs" / "variation-matrix.md"


@pytest.fixture(scope="module")
def matrix(campaigns: Campaigns) -> dict[str | None, CampaignOutcome]:
    """The variants' campaigns (run with the faults', see conftest.py)."""
    return select(campaigns, Kind.VARIANT, ROLE)


@pytest.mark.parametrize("variant", consumer_variants())
def test_variant_fails_nothing(matrix: dict[str | None, CampaignOutcome], variant: str) -> None:
    assert_variant_fails_nothing(matrix[variant], variant)


def test_documented_matrix_is_the_catalogue() -> None:
    """docs/variation-matrix.md lists every variant with its basis, as the catalogue says."""
    text = DOC.read_text(encoding="utf-8")
    assert variation_markdown() in text, (
        "docs/variation-matrix.md is stale: regenerate its table with detection.variation_markdown()"
    )
