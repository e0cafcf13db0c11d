"""The figures of one timed campaign, from what its run wrote (results.json, evidence/evidence.json,
the files' modification times) and the instants `phase_timer` recorded in its pytest process.

Wall time is the `psc-conformance run` command's, process start to report sealed. The time outside
scenarios is cut into consecutive segments, each ending at an instant the benchmark can observe:
the child process's start, the plugin's hooks, a session fixture's set-up, a file written.
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# What each instant ends, in the campaign's timeline (the segment *before* the instant).
_EVENT_LABELS = {
    "process_start": "parent start-up: python, CLI imports, configuration, output directory",
    "loaded": "pytest process start-up: python, pytest imports",
    "configure_start": "plugin loading: campaign plugin, conftests and their imports",
    "configure_end": "pytest_configure, session start: settings; embedded SUT: counterparts, process run",
    "collection_finish_start": "collection: scenario modules imported, items built",
    "collection_finish_end": "collection finish: plan written, an external SUT started and answering",
    "collection_end": "collection (end)",
    "first_scenario_start": "run loop before the first scenario: SUT answering, worker sessions' start-up",
    "last_scenario_end": "scenarios, first start to last end (bring-up in session fixtures excluded)",
    "runtestloop_end": "run loop after the last scenario: worker sessions end",
    "sessionfinish_end": "session finish: results, report, SUT and counterparts stopped",
    "unconfigure_end": "pytest unconfigure",
    "interpreter_exit": "pytest process shutdown: threads joined, atexit handlers",
    "process_exit": "pytest process finalization (modules, objects) until exit",
}
# Files written after the scenarios, and what their modification time ends.
_FILE_LABELS = {
    "evidence/evidence.json": "results built, evidence written (evidence.json, evidence.har)",
    "results.json": "results.json validated and written",
    "report.html": "report.html rendered",
    "junit.xml": "parent: pytest process reaped, SUT processes swept, junit.xml requirement cases",
    "manifest.json": "bundle sealed (manifest hashed and signed)",
}
_END_LABEL = "parent: summary printed, process exit"
BRING_UP = "bring-up in session fixtures (PKI, counterparts, SUT) while scenarios run"
SCENARIOS = _EVENT_LABELS["last_scenario_end"]


@dataclass(frozen=True)
class Segment:
    label: str
    seconds: float


@dataclass
class CampaignFigures:
    """What the benchmark prints for one campaign run."""

    campaign: str  # role/case
    exit_status: int
    wall_s: float
    scenarios: int
    exchanges: int  # every recorded HTTPS exchange, both directions
    exchanges_by_direction: dict[str, int]
    median_exchange_s: float
    longest_scenario: str
    longest_scenario_s: float
    scenario_time_s: float  # the scenarios' durations added up
    outside_scenarios_s: float | None  # wall time not spent in the run loop's scenarios
    breakdown: list[Segment] = field(default_factory=list)
    bring_up: dict[str, float] = field(default_factory=dict)  # session fixture -> set-up seconds
    worker_start_up_s: list[float] = field(default_factory=list)  # worker sessions: configure + collection
    scenario_durations: dict[str, float] = field(default_factory=dict)
    jobs: int | None = None
    load_average: float | None = None  # the machine's 1-minute load at the end: how noisy the figures are
    scenario_window_s: float | None = None  # first scenario's start to last one's end
    cpu_s: float | None = None  # user + system time of every process of the campaign
    cpu_split: dict[str, float] = field(default_factory=dict)  # pytest process, the processes it started

    @property
    def critical_path_ratio(self) -> float:
        """Wall time / longest scenario: 1 is a campaign that lasts exactly its longest scenario."""
        return self.wall_s / self.longest_scenario_s if self.longest_scenario_s else float("inf")

    @property
    def overhead_ratio(self) -> float:
        """Wall time / (exchanges x median exchange cost): what the campaign costs beyond its traffic."""
        traffic = self.exchanges * self.median_exchange_s
        return self.wall_s / traffic if traffic else float("inf")

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.pop("scenario_durations")
        document["critical_path_ratio"] = round(self.critical_path_ratio, 3)
        document["overhead_ratio"] = round(self.overhead_ratio, 3)
        document["breakdown"] = [{"label": s.label, "seconds": round(s.seconds, 3)} for s in self.breakdown]
        return document


def exchange_figures(evidence_file: Path) -> tuple[int, dict[str, int], float]:
    """Exchanges (all, by direction) and the median exchange duration in seconds."""
    document = json.loads(evidence_file.read_text(encoding="utf-8"))
    exchanges: list[dict[str, Any]] = document.get("exchanges", [])
    directions = Counter(str(e.get("direction", "?")) for e in exchanges)
    durations = [float(e["duration_ms"]) / 1000 for e in exchanges if e.get("duration_ms") is not None]
    return len(exchanges), dict(directions), statistics.median(durations) if durations else 0.0


def bring_up_costs(phases: dict[str, Any], since: float = 0.0) -> dict[str, float]:
    """Each session fixture's set-up, the first time it was set up (the one that did the work: a worker
    session that asks later gets what the first brought up), in the order they were set up; only those
    that started at `since` or later."""
    first: dict[str, dict[str, float]] = {}
    for entry in sorted(phases.get("fixtures", []), key=lambda e: e["start"]):
        first.setdefault(entry["name"], entry)
    return {name: entry["end"] - entry["start"] for name, entry in first.items() if entry["start"] >= since}


def _scenario_window(phases: dict[str, Any]) -> dict[str, float]:
    """When the first scenario started and the last one ended, as instants of the timeline."""
    items = phases.get("items", {}).values()
    starts = [times["setup_start"] for times in items if "setup_start" in times]
    ends = [times["teardown_end"] for times in items if "teardown_end" in times]
    return {"first_scenario_start": min(starts), "last_scenario_end": max(ends)} if starts and ends else {}


def timeline(
    run_dir: Path, started: float, ended: float, phases: dict[str, Any] | None
) -> tuple[list[Segment], float | None]:
    """Consecutive segments from the command's start to its end, and the time outside scenarios."""
    if not phases:
        return [], None
    events: dict[str, float] = {k: v for k, v in phases.get("events", {}).items() if v}
    events.update(_scenario_window(phases))
    instants = [(events[name], label) for name, label in _EVENT_LABELS.items() if name in events]
    loop_end = events.get("runtestloop_end", started)
    for name, label in _FILE_LABELS.items():
        path = run_dir / name
        if path.exists() and path.stat().st_mtime > loop_end:
            instants.append((path.stat().st_mtime, label))
    instants.append((ended, _END_LABEL))
    instants.sort()
    bring_up = sum(bring_up_costs(phases, since=events.get("first_scenario_start", ended)).values())
    segments, previous, in_scenarios = [], started, None
    for instant, label in instants:
        seconds = max(0.0, instant - previous)
        previous = max(previous, instant)
        if label == SCENARIOS:
            segments.append(Segment(BRING_UP, bring_up))
            seconds -= bring_up
            in_scenarios = seconds
        if seconds > 0.0005 or label != _EVENT_LABELS["collection_end"]:
            segments.append(Segment(label, seconds))
    outside = None if in_scenarios is None else (ended - started) - in_scenarios
    return segments, outside


def campaign_figures(
    campaign: str,
    run_dir: Path,
    *,
    started: float,
    ended: float,
    exit_status: int,
    phases: dict[str, Any] | None,
    jobs: int | None = None,
) -> CampaignFigures:
    """The figures of the run in `run_dir`, timed by the caller from `started` to `ended` (epoch seconds)."""
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    durations = {s["nodeid"]: float(s["duration_s"]) for s in results["scenarios"]}
    longest = max(durations, key=lambda nodeid: durations[nodeid], default="")
    exchanges, directions, median = exchange_figures(run_dir / "evidence" / "evidence.json")
    segments, outside = timeline(run_dir, started, ended, phases)
    return CampaignFigures(
        campaign=campaign,
        exit_status=exit_status,
        wall_s=ended - started,
        scenarios=len(durations),
        exchanges=exchanges,
        exchanges_by_direction=directions,
        median_exchange_s=median,
        longest_scenario=longest,
        longest_scenario_s=durations.get(longest, 0.0),
        scenario_time_s=sum(durations.values()),
        outside_scenarios_s=outside,
        breakdown=segments,
        bring_up=bring_up_costs(phases or {}),
        worker_start_up_s=[w["end"] - w["start"] for w in (phases or {}).get("workers", [])],
        scenario_durations=durations,
        jobs=jobs,
        load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        scenario_window_s=_window_length(phases or {}),
        cpu_split=dict((phases or {}).get("cpu", {})),
    )


def _window_length(phases: dict[str, Any]) -> float | None:
    window = _scenario_window(phases)
    return window["last_scenario_end"] - window["first_scenario_start"] if window else None
