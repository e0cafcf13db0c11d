"""Time campaigns against a role's reference SUT and say where their time goes.

    python benchmarks/campaign.py [--role consumer|provider ...] [--case reference|external ...]
                                  [--runs N] [--jobs N] [--json] [--top N] [--keep DIR] [--profile DIR]

Campaigns (default: every role and case, one after another, never two at once):
  reference  the embedded reference SUT (`psc-conformance run --role R`), ephemeral ports, short timers;
  external   the same SUT started as a vendor's (`[sut] start`), fixed free ports, PSC's default timings:
             for the consumer, the proxy waits the CIBA interval (1 s) before every poll.

For each campaign: wall time (the `psc-conformance run` command, process start to report sealed), number
of scenarios, of HTTPS exchanges (evidence.json, both directions), the longest scenario, the
critical-path ratio (wall / longest scenario), the overhead ratio (wall / (exchanges x median exchange
duration of the same run)), the scenario window, the CPU time of every process, and where the time
outside scenarios goes (see phase_timer.py). `--jobs N` is passed on to `psc-conformance run` when it has
that option. Exit status 1 when a campaign did not exit 0. Figures and how to read them:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from campaign_cases import CampaignCase, Case
from campaign_figures import CampaignFigures, campaign_figures
from phase_timer import PHASES_FILE_VARIABLE, PROFILE_DIR_VARIABLE

from conformance.roles import Role

BENCHMARKS = Path(__file__).resolve().parent
CAMPAIGN_BOUND_S = 900
_WATCH_PERIOD_S = 0.01


def run_supports_jobs() -> bool:
    """Whether this version's `psc-conformance run` takes --jobs (the concurrent runner)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return "--jobs" in help_text


def timed_campaign(
    case: CampaignCase, workdir: Path, run: int, jobs: int | None, profile: Path | None = None
) -> CampaignFigures:
    """One `psc-conformance run` of `case`, timed from the command's start to its end.

    With `profile`, the `run` command runs under cProfile (`parent.prof`) and its pytest process profiles
    its start-up and end (`startup.prof`, `finish.prof`), all in `profile`; the times then include the
    profiler's own cost.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # `pki` prints the files it writes
        arguments = case.run_arguments(workdir / f"setup-{run}")
    output = workdir / f"run-{run}"
    phases_file = workdir / f"phases-{run}.json"
    python = [sys.executable]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        python += ["-m", "cProfile", "-o", str(profile / "parent.prof")]
    command = [*python, "-m", "conformance", "run", *arguments, "--output", str(output)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCHMARKS), os.environ.get("PYTHONPATH")])),
        "PYTEST_ADDOPTS": " ".join(filter(None, [os.environ.get("PYTEST_ADDOPTS"), "-p phase_timer"])),
        PHASES_FILE_VARIABLE: str(phases_file),
    }
    if profile is not None:
        env[PROFILE_DIR_VARIABLE] = str(profile)
    workdir.mkdir(parents=True, exist_ok=True)
    console = workdir / f"console-{run}.txt"
    with console.open("wb") as sink:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        child_exit = _watch(proc, phases_file, started + CAMPAIGN_BOUND_S)
        ended = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Every process of the campaign (the command, pytest, the SUTs they started and waited for).
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if not (output / "results.json").exists():
        tail = console.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{case.name}: no results.json (exit {proc.returncode}): {tail}")
    phases = json.loads(phases_file.read_text(encoding="utf-8")) if phases_file.exists() else None
    if phases is not None and child_exit is not None:
        phases["events"]["process_exit"] = child_exit
    figures = campaign_figures(
        case.name, output, started=started, ended=ended, exit_status=proc.returncode, phases=phases, jobs=jobs
    )
    figures.cpu_s = cpu
    return figures


def _watch(proc: subprocess.Popen[bytes], phases_file: Path, deadline: float) -> float | None:
    """Wait for the `run` command to end (killing it past `deadline`); meanwhile, note when its pytest
    process exited: the phase file names it once pytest unconfigures, and /proc shows it a zombie (or
    gone) from its exit until the `run` command reaps it."""
    child: int | None = None
    exited: float | None = None
    while True:
        try:
            proc.wait(timeout=_WATCH_PERIOD_S)
            return exited
        except subprocess.TimeoutExpired:
            pass
        if time.time() > deadline:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(proc.args, CAMPAIGN_BOUND_S)
        if child is None and phases_file.exists():
            with contextlib.suppress(OSError, ValueError, KeyError):
                child = int(json.loads(phases_file.read_text(encoding="utf-8"))["pid"])
        if child is not None and exited is None and not _alive(child):
            exited = time.time()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def summary(runs: list[CampaignFigures]) -> dict[str, Any]:
    """The median of each ratio and time over a campaign's runs."""
    return {
        "wall_s": round(_median([r.wall_s for r in runs]), 3),
        "longest_scenario_s": round(_median([r.longest_scenario_s for r in runs]), 3),
        "critical_path_ratio": round(_median([r.critical_path_ratio for r in runs]), 3),
        "overhead_ratio": round(_median([r.overhead_ratio for r in runs]), 3),
        "outside_scenarios_s": round(_median([r.outside_scenarios_s or 0.0 for r in runs]), 3),
    }


def print_campaign(case: CampaignCase, runs: list[CampaignFigures], top: int) -> None:
    last = runs[-1]
    medians = summary(runs)
    walls = " ".join(f"{r.wall_s:.1f}" for r in runs)
    jobs = f", --jobs {last.jobs}" if last.jobs is not None else ""
    print(f"\n== {case.name}: {case.description} ({len(runs)} run{'s' * (len(runs) > 1)}{jobs})")
    print(
        f"  wall time             {medians['wall_s']:.1f} s" + (f"  (runs: {walls})" if len(runs) > 1 else "")
    )
    print(f"  scenarios             {last.scenarios}, {last.scenario_time_s:.1f} s added up")
    print(f"  longest scenario      {last.longest_scenario_s:.2f} s  {last.longest_scenario}")
    if last.scenario_window_s is not None and last.longest_scenario_s:
        print(
            f"  scenario window       {last.scenario_window_s:.1f} s, first start to last end "
            f"({last.scenario_window_s / last.longest_scenario_s:.2f} x the longest)"
        )
    directions = ", ".join(f"{n} {d}" for d, n in sorted(last.exchanges_by_direction.items()))
    print(
        f"  HTTPS exchanges       {last.exchanges} ({directions}), "
        f"median {last.median_exchange_s * 1000:.1f} ms"
    )
    print(f"  critical-path ratio   {medians['critical_path_ratio']:.2f}  (wall / longest scenario)")
    print(f"  overhead ratio        {medians['overhead_ratio']:.1f}  (wall / (exchanges x median exchange))")
    if last.cpu_s is not None:
        cores = os.cpu_count() or 1
        print(
            f"  CPU time              {last.cpu_s:.1f} s, every process of the campaign "
            f"({last.cpu_s / cores:.1f} s of wall on {cores} cores at best)"
        )
        if last.cpu_split:
            in_pytest = last.cpu_split.get("pytest", 0.0)
            started = last.cpu_split.get("started_by_pytest", 0.0)
            rest = last.cpu_s - in_pytest - started
            print(f"{'':24}pytest {in_pytest:.1f} s, SUT {started:.1f} s, run command {rest:.1f} s")
    print(f"  exit status           {', '.join(str(r.exit_status) for r in runs)}")
    loads = ", ".join(f"{r.load_average:.1f}" for r in runs if r.load_average is not None)
    print(f"  machine load (1 min)  {loads or 'unknown'}  ({os.cpu_count()} cores)")
    if last.outside_scenarios_s is not None:
        print(f"  outside scenarios     {last.outside_scenarios_s:.2f} s (last run):")
        for segment in last.breakdown:
            print(f"    {segment.seconds:7.3f} s  {segment.label}")
        for name, seconds in last.bring_up.items():
            if seconds >= 0.001:
                print(f"               {seconds:7.3f} s of bring-up: {name}")
        if last.worker_start_up_s:
            slowest = max(last.worker_start_up_s)
            print(f"    worker sessions: {len(last.worker_start_up_s)}, slowest start-up {slowest:.2f} s")
    if top <= 0:
        return
    themes: dict[str, list[float]] = defaultdict(list)
    for nodeid, seconds in last.scenario_durations.items():
        themes[nodeid.split("::")[0]].append(seconds)
    print("  per theme (scenarios added up):")
    for theme, values in sorted(themes.items(), key=lambda item: -sum(item[1])):
        print(f"    {sum(values):7.2f} s  {len(values):3d}  {theme}")
    print(f"  slowest {top}:")
    for nodeid, seconds in sorted(last.scenario_durations.items(), key=lambda item: -item[1])[:top]:
        print(f"    {seconds:7.2f} s  {nodeid}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--role", action="append", choices=[r.value for r in Role], help="repeatable (default: both)"
    )
    parser.add_argument(
        "--case", action="append", choices=[c.value for c in Case], help="repeatable (default: both)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each campaign (default 1)")
    parser.add_argument("--jobs", type=int, help="passed to `psc-conformance run --jobs` when it has it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--top", type=int, default=5, help="slowest scenarios to list (default 5)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the runs in DIR (default: removed)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile each run (cProfile: the run command, its pytest process's start-up and end) into "
        "DIR/<campaign>-<run>/; read them with `python -m pstats`",
    )
    args = parser.parse_args()
    roles = [Role(r) for r in args.role or [r.value for r in Role]]
    cases = [CampaignCase(role, Case(c)) for role in roles for c in args.case or [c.value for c in Case]]
    jobs = args.jobs
    if jobs is not None and not run_supports_jobs():
        print("psc-conformance run has no --jobs: running without it", file=sys.stderr)
        jobs = None
    results: dict[CampaignCase, list[CampaignFigures]] = {}
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="psc-bench-")))
        for case in cases:
            workdir = root / case.name.replace("/", "-")
            runs: list[CampaignFigures] = []
            for run in range(args.runs):
                profile = args.profile / f"{workdir.name}-{run}" if args.profile else None
                try:
                    runs.append(timed_campaign(case, workdir, run, jobs, profile))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    failures.append(f"{case.name} run {run}: {exc}")
                    print(f"{case.name} run {run}: {exc}", file=sys.stderr)
            if runs:
                results[case] = runs
                if not args.json:
                    print_campaign(case, runs, args.top)
    if args.json:
        document = {
            "campaigns": [
                {
                    "campaign": case.name,
                    "description": case.description,
                    "median": summary(runs),
                    "runs": [r.to_json() for r in runs],
                }
                for case, runs in results.items()
            ]
        }
        print(json.dumps(document, indent=2))
    passed = all(r.exit_status == 0 for runs in results.values() for r in runs)
    return 0 if passed and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
