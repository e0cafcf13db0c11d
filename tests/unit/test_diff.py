"""`psc-conformance diff` rules on hand-made results.json documents: directions, groups, warnings."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from conformance.campaign.results import validate_results
from conformance.report.diff import VERDICT_ORDER, Direction, compare, direction, render_text

CATALOGUE_OF = {"EXI": "referentiel-psc", "IG": "ig-securisation-transport", "EDC": "edc-proxy"}


def requirement(rid: str, verdict: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": rid,
        "catalogue": CATALOGUE_OF[rid.split("-")[0].split()[0]],
        "verdict": verdict,
        "scenarios": [],
    }
    if verdict == "attested":
        entry["attestation"] = {"by": "J. Martin", "date": "2026-11-20", "evidence": "PSSI"}
    if verdict == "inconclusive":
        entry["inconclusive"] = [
            {"scenario": "s", "condition": "c", "reason": "r", "root_cause": "the connect failed"}
        ]
    return entry


def results(
    verdicts: dict[str, str],
    *,
    role: str = "provider",
    name: str = "Vendor API",
    base_url: str = "https://api.example:443",
    faults: tuple[str, ...] = (),
    catalogue_version: str = "1.8",
    campaign: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal document that keeps to the published schema, so that the rules are tested on the contract."""
    doc: dict[str, Any] = {
        "schema_version": 2,
        "harness": {"name": "psc-conformance", "version": "0.1.0"},
        "sut": {"role": role, "name": name, "base_url": base_url, "faults": list(faults)},
        "catalogues": [{"id": "referentiel-psc", "title": "Référentiel", "version": catalogue_version}],
        "requirements": [requirement(rid, verdict) for rid, verdict in verdicts.items()],
        "scenarios": [],
        "campaign": campaign or {"complete": True, "errors": []},
        "started_at": "2026-11-20T09:00:00Z",
        "finished_at": "2026-11-20T09:00:10Z",
    }
    validate_results(doc)
    return doc


RANKED = [v.value for v in VERDICT_ORDER]


@pytest.mark.parametrize(("worse", "better"), list(itertools.combinations(RANKED, 2)))
def test_every_ranked_pair_reads_worse_one_way_and_better_the_other(worse: str, better: str) -> None:
    assert direction(better, worse) is Direction.WORSE
    assert direction(worse, better) is Direction.BETTER


def test_the_ranking_is_the_documented_one() -> None:
    assert RANKED == ["fail", "inconclusive", "warning", "not_tested", "manual", "attested", "pass"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("not_applicable", "pass", Direction.CHANGED),
        ("pass", "not_applicable", Direction.CHANGED),
        ("fail", "not_applicable", Direction.CHANGED),  # not an improvement: the failure was not fixed
        ("not_applicable", "warning", Direction.CHANGED),
        ("not_applicable", "fail", Direction.WORSE),  # a new failure is always worse
    ],
)
def test_not_applicable_is_unranked_but_a_new_failure_is_worse(
    old: str, new: str, expected: Direction
) -> None:
    assert direction(old, new) is expected


def test_an_unchanged_verdict_is_no_direction() -> None:
    with pytest.raises(ValueError, match="no change"):
        direction("pass", "pass")


def test_changes_are_grouped_worse_then_better_then_other_in_catalogue_order() -> None:
    old = results(
        {
            "EXI PSC 01": "pass",
            "EXI PSC 02": "fail",
            "EXI PSC 03": "pass",
            "IG-SEC-01": "manual",
            "EDC-01": "pass",
        }
    )
    new = results(
        {
            "EXI PSC 01": "not_applicable",
            "EXI PSC 02": "pass",
            "EXI PSC 03": "inconclusive",
            "IG-SEC-01": "attested",
            "EDC-01": "fail",
        }
    )
    diff = compare(old, new)
    assert [(c.id, c.direction) for c in diff.changes] == [
        ("EXI PSC 03", Direction.WORSE),
        ("EDC-01", Direction.WORSE),
        ("EXI PSC 02", Direction.BETTER),
        ("IG-SEC-01", Direction.BETTER),
        ("EXI PSC 01", Direction.CHANGED),
    ]
    assert (diff.worse, diff.better, diff.compared) == (2, 2, 5) and diff.regressed
    lines = render_text(diff).splitlines()
    changed = lines[lines.index("") + 1 : lines.index("", lines.index("") + 1)]
    assert changed == [
        "EXI PSC 03  pass → inconclusive  (worse)",
        "EDC-01      pass → fail  (worse)",
        "EXI PSC 02  fail → pass  (better)",
        "IG-SEC-01   manual → attested  (better)",
        "EXI PSC 01  pass → not_applicable  (changed)",
    ]
    assert lines[-1] == "2 worse, 2 better, 1 changed, 0 added, 0 removed (5 requirements in both runs)"


def test_only_better_is_no_regression() -> None:
    diff = compare(results({"EXI PSC 24": "fail"}), results({"EXI PSC 24": "pass"}))
    assert not diff.regressed and (diff.worse, diff.better) == (0, 1)


def test_identical_runs_have_no_change() -> None:
    doc = results({"EXI PSC 24": "pass", "IG-SEC-23": "fail"})
    diff = compare(doc, doc)
    assert diff.changes == () and not diff.regressed
    assert "no verdict changed" in render_text(diff)


def test_added_and_removed_requirements_are_listed_and_a_new_failure_regresses() -> None:
    old = results({"EXI PSC 24": "pass", "EDC-01": "pass"})
    new = results({"EXI PSC 24": "pass", "IG-SEC-23": "fail", "IG-SEC-24": "pass"})
    diff = compare(old, new)
    assert [c.to_json() for c in diff.changes] == [
        {
            "id": "IG-SEC-23",
            "catalogue": "ig-securisation-transport",
            "old": None,
            "new": "fail",
            "direction": "added",
        },
        {
            "id": "IG-SEC-24",
            "catalogue": "ig-securisation-transport",
            "old": None,
            "new": "pass",
            "direction": "added",
        },
        {"id": "EDC-01", "catalogue": "edc-proxy", "old": "pass", "new": None, "direction": "removed"},
    ]
    assert diff.worse == 0 and diff.regressed  # IG-SEC-23 fails and did not before
    text = render_text(diff)
    assert "IG-SEC-23  — → fail  (added)" in text and "EDC-01     pass → —  (removed)" in text
    assert text.rstrip().endswith(
        "0 worse, 0 better, 0 changed, 2 added, 1 removed; fails now: IG-SEC-23 (1 requirement in both runs)"
    )


def test_an_added_requirement_that_passes_does_not_regress() -> None:
    diff = compare(results({"EXI PSC 24": "pass"}), results({"EXI PSC 24": "pass", "EDC-01": "pass"}))
    assert not diff.regressed and [c.direction for c in diff.changes] == [Direction.ADDED]


def test_different_roles_or_suts_are_a_warning_not_an_error() -> None:
    old = results({"EXI PSC 24": "pass"}, role="consumer", name="Proxy A")
    new = results({"EXI PSC 24": "not_applicable"}, role="provider", name="API B")
    diff = compare(old, new)
    assert diff.warnings == (
        "the two runs judged different roles (consumer → provider)",
        "the two runs judged different SUTs ('Proxy A' → 'API B')",
    )
    assert not diff.regressed
    text = render_text(diff)
    assert "warning: the two runs judged different roles (consumer → provider)" in text


def test_what_a_comparison_is_for_is_not_warned_about() -> None:
    """Faults and base URL differ between any two runs of the embedded reference: not a warning."""
    old = results({"EXI PSC 24": "pass"}, base_url="https://127.0.0.1:40001")
    new = results({"EXI PSC 24": "fail"}, base_url="https://127.0.0.1:40002", faults=("no_cnf",))
    diff = compare(old, new, old_source="a/results.json", new_source="b/results.json")
    assert diff.warnings == ()
    assert render_text(diff).splitlines()[:2] == [
        "old: a/results.json — provider 'Vendor API', started 2026-11-20T09:00:00Z",
        "new: b/results.json — provider 'Vendor API', faults no_cnf, started 2026-11-20T09:00:00Z",
    ]


def test_a_new_referential_or_a_partial_campaign_is_warned_about() -> None:
    old = results({"EXI PSC 24": "pass"}, campaign={"complete": True, "errors": [], "selection": "tls"})
    new = results(
        {"EXI PSC 24": "pass"},
        catalogue_version="1.9",
        campaign={"complete": False, "errors": ["the SUT did not answer"]},
    )
    new["harness"]["version"] = "0.2.0"
    assert compare(old, new).warnings == (
        "the harness version changed (0.1.0 → 0.2.0)",
        "catalogue referentiel-psc changed version: 1.8 → 1.9; some changes may come from the referential, "
        "not the SUT",
        "the old run was narrowed with -k 'tls': what it did not select is not_tested",
        "the new campaign did not complete: the SUT did not answer",
    )


def test_json_carries_both_identities_the_changes_and_the_counts() -> None:
    old = results({"EXI PSC 24": "pass"})
    new = results({"EXI PSC 24": "fail"}, name="Vendor API v2")
    doc = compare(old, new, old_source="old/results.json", new_source="new/results.json").to_json()
    assert doc["old"]["source"] == "old/results.json" and doc["new"]["sut"]["name"] == "Vendor API v2"
    assert doc["new"]["catalogues"] == {"referentiel-psc": "1.8"} and doc["new"]["harness_version"] == "0.1.0"
    assert doc["changes"] == [
        {
            "id": "EXI PSC 24",
            "catalogue": "referentiel-psc",
            "old": "pass",
            "new": "fail",
            "direction": "worse",
        }
    ]
    assert (doc["worse"], doc["better"], doc["compared"]) == (1, 0, 1)
    assert doc["warnings"] == ["the two runs judged different SUTs ('Vendor API' → 'Vendor API v2')"]
