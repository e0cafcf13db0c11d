"""The detection matrix (BRIEF §6): a whole campaign per fault, and the requirements it made fail.

A fault must make fail exactly the requirements its catalogue entry declares, and nothing else;
the reference SUT without faults must fail nothing and leave no applicable automatic requirement
untested. Campaigns are separate `psc-conformance run` processes (the SUT is judged over the
wire, as any external one) and run a few at a time: they mostly wait on short timers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.reference.consumer.faults import FAULTS

FAILING = ("fail", "warning")  # a recommendation's failure shows as a warning


@dataclass(frozen=True)
class CampaignOutcome:
    fault: str | None  # None: the reference SUT without faults
    exit_status: int
    verdicts: dict[str, str]
    wall_time_s: float
    scenario_durations: dict[str, float] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    @property
    def failing(self) -> set[str]:
        return {rid for rid, verdict in self.verdicts.items() if verdict in FAILING}

    @property
    def declared(self) -> set[str]:
        return set(FAULTS[self.fault].requirements) if self.fault else set()

    @property
    def missed(self) -> set[str]:
        """Declared requirements the campaign did not make fail: the checks missed the defect."""
        return self.declared - self.failing

    @property
    def unrelated(self) -> set[str]:
        """Requirements that failed although the fault does not touch them: a check judged wrongly."""
        return self.failing - self.declared


def run_campaign(fault: str | None, output: Path, *, timeout_s: float = 600) -> CampaignOutcome:
    """One `psc-conformance run` against the embedded reference proxy, with `fault` injected."""
    command = [sys.executable, "-m", "conformance", "run", "--output", str(output)]
    if fault:
        command += ["--fault", fault]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    wall = time.monotonic() - started
    results = output / "results.json"
    if not results.exists():
        detail = proc.stderr.decode(errors="replace")[-2000:]
        return CampaignOutcome(fault, proc.returncode, {}, wall, errors=(f"no results.json: {detail}",))
    doc: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return CampaignOutcome(
        fault=fault,
        exit_status=proc.returncode,
        verdicts={r["id"]: r["verdict"] for r in doc["requirements"]},
        wall_time_s=wall,
        scenario_durations={s["nodeid"]: s["duration_s"] for s in doc["scenarios"]},
        errors=tuple(doc["campaign"]["errors"]),
    )


def run_matrix(
    faults: Sequence[str | None],
    directory: Path,
    *,
    parallel: int = 3,
    progress: Callable[[CampaignOutcome], None] | None = None,
) -> dict[str | None, CampaignOutcome]:
    """Every campaign of the matrix, `parallel` at a time; each writes into its own directory."""

    def one(fault: str | None) -> CampaignOutcome:
        outcome = run_campaign(fault, directory / (fault or "reference"))
        if progress is not None:
            progress(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return dict(zip(faults, pool.map(one, faults), strict=True))


def consumer_faults() -> list[str]:
    return sorted(name for name, fault in FAULTS.items() if fault.role == "consumer")


def markdown(outcomes: dict[str | None, CampaignOutcome] | None = None) -> str:
    """The matrix as a Markdown table: one row per fault, its declared requirements, and (when
    campaigns were run) what the campaign made fail."""
    lines = [
        "| fault | must fail | description |"
        if outcomes is None
        else "| fault | must fail | failed | verdict |",
        "|---|---|---|" if outcomes is None else "|---|---|---|---|",
    ]
    for name in consumer_faults():
        fault = FAULTS[name]
        declared = ", ".join(fault.requirements)
        if outcomes is None:
            lines.append(f"| `{name}` | {declared} | {fault.description_en} |")
            continue
        outcome = outcomes[name]
        failed = ", ".join(sorted(outcome.failing))
        ok = (
            "exact"
            if not (outcome.missed or outcome.unrelated)
            else (f"missed {sorted(outcome.missed)}, unrelated {sorted(outcome.unrelated)}")
        )
        lines.append(f"| `{name}` | {declared} | {failed} | {ok} |")
    return "\n".join(lines) + "\n"
