"""The detection matrix (BRIEF §6): every check is shown to catch the defects it is written for.

One full campaign against the reference proxy, then one per consumer fault, each a separate
`psc-conformance run` process judging the proxy over the wire. A fault must make fail exactly
its declared requirements; the reference proxy must fail nothing and leave no applicable
automatic requirement untested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.detection import CampaignOutcome, Campaigns, Kind, consumer_faults, markdown
from conformance.requirements import requirement_index
from conformance.requirements.model import Method
from conformance.roles import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "detection-matrix.md"


@pytest.fixture(scope="module")
def matrix(campaigns: Campaigns) -> dict[str | None, CampaignOutcome]:
    """The reference's and the faults' campaigns (run with the variants', see conftest.py)."""
    return {name: outcome for (kind, name), outcome in campaigns.items() if kind is Kind.FAULT}


def test_reference_proxy_passes_every_applicable_automatic_requirement(
    matrix: dict[str | None, CampaignOutcome],
) -> None:
    reference = matrix[None]
    assert reference.exit_status == 0, reference.errors
    assert reference.failing == set()
    assert reference.inconclusive == set(), "the reference proxy must let every condition be judged"
    index = requirement_index()
    untested = {
        rid
        for rid, verdict in reference.verdicts.items()
        if verdict == "not_tested"
        and index[rid].method is Method.AUTOMATIC
        and index[rid].applies(Role.CONSUMER)
    }
    assert untested == set()


@pytest.mark.parametrize("fault", consumer_faults())
def test_fault_fails_exactly_its_requirements(matrix: dict[str | None, CampaignOutcome], fault: str) -> None:
    outcome = matrix[fault]
    assert not outcome.errors, outcome.errors
    assert outcome.missed == set(), f"{fault}: the campaign missed {sorted(outcome.missed)}"
    assert outcome.unrelated == set(), f"{fault}: unrelated requirements failed {sorted(outcome.unrelated)}"
    # exit 1 exactly when a requirement fails; a warning (a SHOULD, a recommendation) leaves it 0
    assert outcome.exit_status == (1 if outcome.failed else 0)


def test_documented_matrix_is_the_catalogue() -> None:
    """docs/detection-matrix.md lists every fault with its declared requirements, as the catalogue says."""
    text = DOC.read_text(encoding="utf-8")
    assert markdown() in text, (
        "docs/detection-matrix.md is stale: regenerate its table with conformance.detection"
    )
