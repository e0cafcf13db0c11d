"""Run the allowed-variation matrix (a campaign per consumer variant) and print what each made fail.

    python benchmarks/variation_matrix.py [--parallel 3] [--only VARIANT ...] [--markdown FILE] [--checks]

Prints, per variant: the wall time of its campaign, and what failed (nothing, if the harness accepts
the variant, as it must); with --checks, also each failed check and its message. Then the wall
time of the whole matrix and per campaign. Exit status 1 when a variant is rejected: a campaign
failed a requirement, left one inconclusive, or ended in error (warnings, from a SHOULD or the
project's reading, are printed but accepted).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from conformance.campaign.matrix import (
    CampaignOutcome,
    Kind,
    role_variants,
    run_matrix,
    variation_markdown,
)
from conformance.roles import Role


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--role", choices=[r.value for r in Role], default="consumer", help="default consumer"
    )
    parser.add_argument("--parallel", type=int, default=3, help="campaigns at a time (default 3)")
    parser.add_argument("--only", nargs="*", metavar="VARIANT", help="run these variants only")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the matrix as Markdown")
    parser.add_argument("--checks", action="store_true", help="print every failed check with its message")
    args = parser.parse_args()
    role = Role(args.role)
    variants: list[str | None] = list(args.only or role_variants(role))
    started = time.monotonic()

    def progress(outcome: CampaignOutcome) -> None:
        failing = ", ".join(
            f"{rid} ({outcome.verdicts[rid]})" for rid in sorted(outcome.failing | outcome.inconclusive)
        )
        warned = f" (warnings: {', '.join(sorted(outcome.warned))})" if outcome.warned else ""
        status = (
            f"accepted{warned}"
            if outcome.accepted
            else f"REJECTED exit {outcome.exit_status}: {failing or '-'}"
        )
        print(f"{outcome.wall_time_s:6.1f} s  {outcome.name:34} {status}", flush=True)
        for error in outcome.errors:
            print(f"          ! {error}", flush=True)
        if args.checks:
            for line in outcome.failed_checks:
                print(f"          {line}", flush=True)

    with tempfile.TemporaryDirectory(prefix="psc-variation-") as tmp:
        outcomes = run_matrix(
            variants, Path(tmp), kind=Kind.VARIANT, role=role, parallel=args.parallel, progress=progress
        )
    wall = time.monotonic() - started
    campaigns = [o.wall_time_s for o in outcomes.values()]
    rejected = sorted(str(name) for name, o in outcomes.items() if not o.accepted)
    print(
        f"\n{len(outcomes)} campaigns in {wall:.1f} s wall ({args.parallel} at a time); "
        f"per campaign: min {min(campaigns):.1f} s, mean {sum(campaigns) / len(campaigns):.1f} s, "
        f"max {max(campaigns):.1f} s"
    )
    print(f"rejected variants: {', '.join(rejected) or 'none'}")
    if args.markdown:
        args.markdown.write_text(variation_markdown(outcomes, role), encoding="utf-8")
    return 1 if rejected else 0


if __name__ == "__main__":
    sys.exit(main())
