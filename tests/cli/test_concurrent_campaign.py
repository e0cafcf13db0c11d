"""Scenarios at the same time give the campaign one after another gives: the same verdicts, the same
outcomes, the same failed checks; and each scenario's evidence holds only its own traffic.

Four real campaigns against the embedded reference proxy (the reference, and a fault whose detection
relies on per-scenario observation), each once with `--jobs 1` and once with `--jobs 16`, all four at once.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.matrix import CampaignOutcome, Kind, run_campaign

FAULT = "ciba_poll_ignores_interval"  # judged from PSC's observations of one scenario's polls
MINTED_NATIONAL_ID = re.compile(r"8999\d{8}")  # the test identities scenarios mint (psc.mint_identity)


Run = tuple[str | None, int]  # (fault, jobs)
Campaigns = dict[Run, tuple[CampaignOutcome, Path]]

# From the start of the suite, before the matrices' campaigns load the machine (tests/conftest.py): verdicts
# that depend on the SUT answering within its timers are compared, not the machine's load.
pytestmark = pytest.mark.before_matrices


def start_before_matrices(root: Path, items: list[pytest.Item]) -> Future[Campaigns]:
    """The four campaigns at once, in the background (called by tests/conftest.py)."""
    runs: list[Run] = [(name, jobs) for name in (None, FAULT) for jobs in (1, 16)]

    def one(run: Run) -> tuple[CampaignOutcome, Path]:
        name, jobs = run
        folder = root / f"{name or 'reference'}-j{jobs}"
        return run_campaign(name, folder, kind=Kind.FAULT, jobs=jobs), folder

    def all_runs() -> Campaigns:
        with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="psc-equivalence") as pool:
            return dict(zip(runs, pool.map(one, runs), strict=True))

    starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="psc-equivalence")
    try:
        return starter.submit(all_runs)
    finally:
        starter.shutdown(wait=False)


@pytest.fixture(scope="module")
def campaigns(background: Future[Campaigns]) -> Campaigns:
    return background.result()


def _results(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return doc


def _outcomes(doc: dict[str, Any]) -> dict[str, str]:
    return {s["nodeid"]: s["outcome"] for s in doc["scenarios"]}


def _failed(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (s["nodeid"], c["name"], c.get("severity", ""))
        for s in doc["scenarios"]
        for c in s["checks"]
        if c.get("status") == "failed"
    }


@pytest.mark.parametrize("name", [None, FAULT], ids=["reference", FAULT])
def test_concurrent_campaign_judges_as_the_sequential_one(name: str | None, campaigns: Campaigns) -> None:
    (sequential, one_by_one_dir), (concurrent, together_dir) = campaigns[(name, 1)], campaigns[(name, 16)]
    assert not sequential.errors and not concurrent.errors, (sequential.errors, concurrent.errors)
    assert concurrent.exit_status == sequential.exit_status
    assert concurrent.verdicts == sequential.verdicts
    one_by_one, together = _results(one_by_one_dir), _results(together_dir)
    assert _outcomes(together) == _outcomes(one_by_one)
    # The same checks failed, with the same strength (their messages count polls, and timing varies).
    assert _failed(together) == _failed(one_by_one)
    if name == FAULT:
        assert "fail" in concurrent.verdicts.values()  # the comparison is not between two empty sets
    # Scenarios did overlap: the campaign took less than the sum of its scenarios.
    assert concurrent.wall_time_s < sum(concurrent.scenario_durations.values())


def test_each_scenario_evidence_holds_only_its_own_professionals(
    campaigns: Campaigns,
) -> None:
    """The professionals named in the requests a scenario's exchanges carry are never in another
    scenario's (the traces module's scenarios share one journey: they count as one)."""
    _, run = campaigns[(None, 16)]
    exchanges = json.loads((run / "evidence" / "evidence.json").read_text(encoding="utf-8"))
    if isinstance(exchanges, dict):
        exchanges = exchanges.get("exchanges", [])
    seen: dict[str, set[str]] = {}
    for exchange in exchanges:
        if exchange.get("shared") or not exchange.get("scenario"):
            continue
        request = json.dumps(exchange.get("request", {}))
        scenario = exchange["scenario"]
        group = scenario.split("::", 1)[0] if "test_traces.py" in scenario else scenario
        for national_id in MINTED_NATIONAL_ID.findall(request):
            seen.setdefault(national_id, set()).add(group)
    assert seen, "no minted professional in the evidence: the check would prove nothing"
    mixed = {nid: groups for nid, groups in seen.items() if len(groups) > 1}
    assert not mixed, f"professionals in the evidence of several scenarios: {mixed}"
