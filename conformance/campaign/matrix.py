"""The detection matrix (BRIEF §6) and its dual, the allowed-variation matrix: a whole campaign per
fault or per variant, and the requirements it made fail.

A fault must make fail exactly the requirements its catalogue entry declares, and nothing else;
the reference SUT without faults must fail nothing and leave no applicable automatic requirement
untested. A variant (a behaviour the sources allow) must make fail nothing at all. Campaigns are
separate `psc-conformance run` processes (the SUT is judged over the wire, as any external one)
and run a few at a time: they mostly wait on short timers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from conformance.campaign.preload import ForkServer
from conformance.reference import registry
from conformance.roles import Role

FAILING = ("fail", "warning")  # a recommendation's failure shows as a warning


class Kind(StrEnum):
    """What a campaign of a matrix applies to the reference SUT."""

    FAULT = "fault"  # a defect: its declared requirements must fail
    VARIANT = "variant"  # an allowed behaviour: nothing may fail

    @property
    def option(self) -> str:
        """The `psc-conformance run` option that applies one."""
        return f"--{self.value}"


class Job(NamedTuple):
    """One campaign of a matrix: the reference SUT of `role`, with the fault or variant `name`
    (None: the reference as it is)."""

    kind: Kind
    name: str | None
    role: Role = Role.CONSUMER

    @property
    def folder(self) -> str:
        prefix = "" if self.role is Role.CONSUMER else f"{self.role.value}-"
        return prefix + (f"{self.kind.value}-{self.name}" if self.name else "reference")


@dataclass(frozen=True)
class CampaignOutcome:
    name: str | None  # the fault or variant applied (see `kind`); None: the reference SUT as it is
    exit_status: int
    verdicts: dict[str, str]
    wall_time_s: float
    scenario_durations: dict[str, float] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    kind: Kind = Kind.FAULT
    failed_checks: tuple[str, ...] = ()  # "<requirement> <scenario> :: <check>: <message>", failed ones
    role: Role = Role.CONSUMER
    # "<requirement> <scenario> :: <condition>: <root cause>", for each inconclusive one: why it was not
    # judged, which a matrix prints when a campaign leaves a requirement unjudged
    unjudged: tuple[str, ...] = ()

    @property
    def fault(self) -> str | None:
        return self.name if self.kind is Kind.FAULT else None

    @property
    def variant(self) -> str | None:
        return self.name if self.kind is Kind.VARIANT else None

    @property
    def failing(self) -> set[str]:
        return {rid for rid, verdict in self.verdicts.items() if verdict in FAILING}

    @property
    def failed(self) -> set[str]:
        return {rid for rid, verdict in self.verdicts.items() if verdict == "fail"}

    @property
    def warned(self) -> set[str]:
        """Requirements with a warning: a SHOULD, or the project's reading beyond the sources."""
        return {rid for rid, verdict in self.verdicts.items() if verdict == "warning"}

    @property
    def inconclusive(self) -> set[str]:
        return {rid for rid, verdict in self.verdicts.items() if verdict == "inconclusive"}

    @property
    def accepted(self) -> bool:
        """For a variant: the campaign judged the proxy conformant — exit 0, no `fail`, every requirement
        judged (none inconclusive), no campaign error. A warning is allowed: it comes only from a
        SHOULD or from the project's reading, and says so; the matrix lists them."""
        return self.exit_status == 0 and not self.failed and not self.inconclusive and not self.errors

    @property
    def declared(self) -> set[str]:
        return set(registry.fault(self.role, self.fault).requirements) if self.fault else set()

    @property
    def missed(self) -> set[str]:
        """Declared requirements the campaign did not make fail: the checks missed the defect."""
        return self.declared - self.failing

    @property
    def unrelated(self) -> set[str]:
        """Requirements that failed although the fault does not touch them: a check judged wrongly."""
        return self.failing - self.declared


def run_campaign(
    name: str | None,
    output: Path,
    *,
    kind: Kind = Kind.FAULT,
    role: Role = Role.CONSUMER,
    timeout_s: float = 600,
    jobs: int | None = None,
    niceness: int = 0,
    server: ForkServer | None = None,
) -> CampaignOutcome:
    """One `psc-conformance run` against the embedded reference SUT of `role`, with the fault or
    variant `name` (and `--jobs` when given), its processes `niceness` lower in priority (`nice`): a
    new interpreter, or a fork of `server` (`conformance.campaign.preload`), which imported it all once."""
    arguments = ["run", "--role", role.value, "--output", str(output)]
    if name:
        arguments += [kind.option, name]
    if jobs is not None:
        arguments += ["--jobs", str(jobs)]
    started = time.monotonic()
    if server is None:
        status, console = _run_interpreter(arguments, timeout_s, niceness)
    else:
        status, console = _run_fork(server, arguments, output, timeout_s, niceness)
    wall = time.monotonic() - started
    results = output / "results.json"
    if not results.exists():
        detail = console[-2000:]
        return CampaignOutcome(
            name, status, {}, wall, errors=(f"no results.json: {detail}",), kind=kind, role=role
        )
    doc: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return CampaignOutcome(
        name=name,
        exit_status=status,
        verdicts={r["id"]: r["verdict"] for r in doc["requirements"]},
        wall_time_s=wall,
        scenario_durations={s["nodeid"]: s["duration_s"] for s in doc["scenarios"]},
        errors=tuple(doc["campaign"]["errors"]),
        kind=kind,
        failed_checks=tuple(_failed_checks(doc)),
        role=role,
        unjudged=tuple(_unjudged(doc)),
    )


def _run_interpreter(arguments: list[str], timeout_s: float, niceness: int) -> tuple[int, str]:
    """`python -m conformance ARGUMENTS`: its exit status and its standard error."""
    command = [sys.executable, "-m", "conformance", *arguments]
    nice = shutil.which("nice") if niceness else None
    if nice is not None:
        command = [nice, "-n", str(niceness), *command]
    proc = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    return proc.returncode, proc.stderr.decode(errors="replace")


def _run_fork(
    server: ForkServer, arguments: list[str], output: Path, timeout_s: float, niceness: int
) -> tuple[int, str]:
    """`psc-conformance ARGUMENTS` as a fork of `server`: its exit status and its output (kept beside
    the run's directory)."""
    console = output.with_name(f"{output.name}.console.txt")
    try:
        status = server.run(arguments, console, niceness=niceness, timeout_s=timeout_s)
    except RuntimeError as exc:
        return -1, str(exc)
    try:
        return status, console.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return status, f"no output ({exc})"


def _unjudged(doc: dict[str, Any]) -> list[str]:
    """Why each inconclusive requirement of a results.json was not judged, one line per blockage."""
    lines = []
    for requirement in doc["requirements"]:
        for blockage in requirement.get("inconclusive", ()):
            test = str(blockage.get("scenario", "")).rsplit("::", 1)[-1]
            cause = " ".join(str(blockage.get("root_cause", "")).split())
            lines.append(f"{requirement['id']} {test} :: {blockage.get('condition')}: {cause}")
    return lines


def _failed_checks(doc: dict[str, Any]) -> list[str]:
    """Every failed check of a results.json, one line each: what the matrices print when a campaign
    fails what it should not."""
    lines = []
    for scenario in doc["scenarios"]:
        test = str(scenario.get("nodeid", "")).rsplit("::", 1)[-1]
        for check in scenario.get("checks", ()):
            if check.get("status", "failed" if check.get("ok") is False else "passed") != "failed":
                continue  # passed, or inconclusive: not what made a requirement fail
            message = " ".join(str(check.get("message", "")).split())
            lines.append(f"{check.get('requirement')} {test} :: {check.get('name')}: {message}")
    return lines


def run_matrix(
    names: Sequence[str | None],
    directory: Path,
    *,
    kind: Kind = Kind.FAULT,
    role: Role = Role.CONSUMER,
    parallel: int = 3,
    progress: Callable[[CampaignOutcome], None] | None = None,
) -> dict[str | None, CampaignOutcome]:
    """Every campaign of the matrix (one per fault, or per variant), `parallel` at a time; each writes
    into its own directory."""
    jobs = [Job(kind, name, role) for name in names]
    outcomes = run_campaigns(jobs, directory, parallel=parallel, progress=progress)
    return {job.name: outcomes[job] for job in jobs}


Campaigns = dict[Job, CampaignOutcome]


def select(campaigns: Campaigns, kind: Kind, role: Role) -> dict[str | None, CampaignOutcome]:
    """The campaigns of one matrix (a kind, a role), by fault or variant name (None: the reference)."""
    return {job.name: outcome for job, outcome in campaigns.items() if job.kind is kind and job.role is role}


def run_campaigns(
    jobs: Sequence[Job],
    directory: Path,
    *,
    parallel: int = 3,
    progress: Callable[[CampaignOutcome], None] | None = None,
    campaign_jobs: int | None = None,
    niceness: int = 0,
) -> Campaigns:
    """Campaigns of both matrices in one pool: they mostly wait on the SUT's short timers, so running
    several at a time costs little CPU. The slowest go first, so that the pool ends together. Each is a
    fork of one process that imported the campaigns' modules once (`conformance.campaign.preload`).

    `campaign_jobs` is each campaign's `--jobs`; `niceness` lowers their priority (a pool in the
    background of other work)."""

    def one(job: Job) -> CampaignOutcome:
        outcome = run_campaign(
            job.name,
            directory / job.folder,
            kind=job.kind,
            role=job.role,
            jobs=campaign_jobs,
            niceness=niceness,
            server=server,
        )
        if progress is not None:
            progress(outcome)
        return outcome

    ordered = sorted(dict.fromkeys(jobs), key=lambda job: -_expected_duration(job))
    with ForkServer() as server, ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return dict(zip(ordered, pool.map(one, ordered), strict=True))


def _expected_duration(job: Job) -> float:
    """A consumer campaign takes longer than a provider's (CIBA timers); a variant that lengthens the
    SUT's own timers lengthens the scenarios that must outlast them."""
    base = 1000.0 if job.role is Role.CONSUMER else 0.0
    if job.kind is Kind.VARIANT and job.name is not None:
        return base + sum(registry.variant(job.role, job.name).settings.values())
    return base


def role_faults(role: Role) -> list[str]:
    return sorted(fault.name for fault in registry.faults(role))


def role_variants(role: Role) -> list[str]:
    return sorted(variant.name for variant in registry.variants(role))


def consumer_faults() -> list[str]:
    return role_faults(Role.CONSUMER)


def consumer_variants() -> list[str]:
    return role_variants(Role.CONSUMER)


def markdown(outcomes: dict[str | None, CampaignOutcome] | None = None, role: Role = Role.CONSUMER) -> str:
    """The matrix as a Markdown table: one row per fault, its declared requirements, and (when
    campaigns were run) what the campaign made fail."""
    lines = [
        "| fault | must fail | description |"
        if outcomes is None
        else "| fault | must fail | failed | verdict |",
        "|---|---|---|" if outcomes is None else "|---|---|---|---|",
    ]
    for name in role_faults(role):
        fault = registry.fault(role, name)
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


def variation_markdown(
    outcomes: dict[str | None, CampaignOutcome] | None = None, role: Role = Role.CONSUMER
) -> str:
    """The allowed-variation matrix as a Markdown table: one row per variant, what allows it and what
    it does (and, when campaigns were run, what the campaign made fail: nothing, if it is right)."""
    lines = [
        "| variant | allowed by | description |"
        if outcomes is None
        else "| variant | failed | inconclusive | warnings (SHOULD or project reading) | verdict |",
        "|---|---|---|" if outcomes is None else "|---|---|---|---|---|",
    ]
    for name in role_variants(role):
        if outcomes is not None and name not in outcomes:
            continue  # not run
        variant = registry.variant(role, name)
        if outcomes is None:
            lines.append(f"| `{name}` | {_cell(variant.basis)} | {_cell(variant.description_en)} |")
            continue
        outcome = outcomes[name]
        cells = [
            ", ".join(sorted(ids)) or "—" for ids in (outcome.failed, outcome.inconclusive, outcome.warned)
        ]
        verdict = "accepted" if outcome.accepted else "REJECTED"
        lines.append(f"| `{name}` | {' | '.join(cells)} | {verdict} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text fit for a Markdown table cell."""
    return text.replace("|", "\\|")
