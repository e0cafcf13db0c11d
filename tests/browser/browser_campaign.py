"""The campaign the browser test and the docs' screenshot look at: the reference provider with one fault,
so that the report has a failure to show (a red global verdict, a root cause, evidence, a re-run)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from conformance import cli
from conformance.exitcodes import REQUIREMENT_FAILED

FAULT: Final = "rs_skips_scope_check"
FAILING_REQUIREMENT: Final = "IG-SEC-23"  # what the fault registry says FAULT makes fail, and only it


def run_failing_campaign(out: Path) -> Path:
    """`psc-conformance run --role provider --fault FAULT --output out` (~10 s); the run directory."""
    argv = ["run", "--role", "provider", "--fault", FAULT, "--output", str(out)]
    code = cli.main(argv)
    if code != REQUIREMENT_FAILED:
        raise RuntimeError(f"psc-conformance {' '.join(argv)} exited {code}, not {REQUIREMENT_FAILED}")
    for name in ("report.html", "results.json"):
        if not (out / name).is_file():
            raise RuntimeError(f"the campaign wrote no {name} in {out}")
    return out
