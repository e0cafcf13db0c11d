"""Time one campaign against the embedded reference SUT of a role, and what each scenario costs.

    python benchmarks/campaign.py [--role consumer|provider] [--runs N] [--top N]

Prints the wall time of each `psc-conformance run` (process start to report written), the time
spent in scenarios, the cost per theme (scenario module) and the slowest scenarios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from conformance.campaign.matrix import run_campaign
from conformance.roles import Role


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--role", choices=[r.value for r in Role], default="consumer", help="default consumer"
    )
    parser.add_argument("--runs", type=int, default=1, help="campaigns to run (default 1)")
    parser.add_argument("--top", type=int, default=10, help="slowest scenarios to list (default 10)")
    args = parser.parse_args()
    walls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="psc-bench-") as tmp:
        for run in range(args.runs):
            outcome = run_campaign(None, Path(tmp) / f"run-{run}", role=Role(args.role))
            if outcome.exit_status != 0:
                print(f"run {run}: exit {outcome.exit_status} {outcome.errors}", file=sys.stderr)
                return 1
            walls.append(outcome.wall_time_s)
    durations = outcome.scenario_durations
    in_scenarios = sum(durations.values())
    print(
        f"campaign wall time: {' '.join(f'{w:.1f}' for w in walls)} s"
        + (f" (median {statistics.median(walls):.1f} s)" if len(walls) > 1 else "")
    )
    print(
        f"{len(durations)} scenarios, {in_scenarios:.1f} s in scenarios, "
        f"{walls[-1] - in_scenarios:.1f} s of set-up (processes, counterparts, reference SUT, report)"
    )
    print(
        f"per scenario: mean {in_scenarios / len(durations) * 1000:.0f} ms, "
        f"median {statistics.median(durations.values()) * 1000:.0f} ms"
    )
    themes: dict[str, list[float]] = defaultdict(list)
    for nodeid, seconds in durations.items():
        themes[nodeid.split("::")[0]].append(seconds)
    print("\nper theme:")
    for theme, values in sorted(themes.items(), key=lambda item: -sum(item[1])):
        print(f"  {sum(values):6.2f} s  {len(values):3d} scenarios  {theme}")
    print(f"\nslowest {args.top}:")
    for nodeid, seconds in sorted(durations.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {seconds:6.2f} s  {nodeid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
