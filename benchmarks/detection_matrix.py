"""Run the detection matrix (a campaign per consumer fault) and print what each fault made fail.

    python benchmarks/detection_matrix.py [--parallel 3] [--only FAULT ...] [--markdown FILE]

Prints, per fault: the requirements declared, those that failed, and whether they match
exactly; then the wall time of the whole matrix and of each campaign. Exit status 1 when a
fault is missed or makes an unrelated requirement fail.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from conformance.campaign.matrix import CampaignOutcome, markdown, role_faults, run_matrix
from conformance.roles import Role


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--role", choices=[r.value for r in Role], default="consumer", help="default consumer"
    )
    parser.add_argument("--parallel", type=int, default=3, help="campaigns at a time (default 3)")
    parser.add_argument("--only", nargs="*", metavar="FAULT", help="run these faults only")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the matrix as Markdown")
    args = parser.parse_args()
    role = Role(args.role)
    faults: list[str | None] = [None, *(args.only or role_faults(role))]
    started = time.monotonic()

    def progress(outcome: CampaignOutcome) -> None:
        name = outcome.fault or "(reference, no fault)"
        status = (
            "exact"
            if not (outcome.missed or outcome.unrelated)
            else (f"MISSED {sorted(outcome.missed)} UNRELATED {sorted(outcome.unrelated)}")
        )
        print(f"{outcome.wall_time_s:6.1f} s  {name:42} {status}", flush=True)

    with tempfile.TemporaryDirectory(prefix="psc-matrix-") as tmp:
        outcomes = run_matrix(faults, Path(tmp), role=role, parallel=args.parallel, progress=progress)
    wall = time.monotonic() - started
    campaigns = [o.wall_time_s for o in outcomes.values()]
    print(
        f"\n{len(outcomes)} campaigns in {wall:.1f} s wall ({args.parallel} at a time); "
        f"per campaign: min {min(campaigns):.1f} s, mean {sum(campaigns) / len(campaigns):.1f} s, "
        f"max {max(campaigns):.1f} s"
    )
    reference = outcomes[None]
    print(f"reference SUT: exit {reference.exit_status}, failing {sorted(reference.failing) or 'none'}")
    if args.markdown:
        args.markdown.write_text(markdown({k: v for k, v in outcomes.items() if k}, role), encoding="utf-8")
    bad = [o for o in outcomes.values() if o.missed or o.unrelated or (o.fault is None and o.failing)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
