"""`psc-conformance faults`: the injectable defects of the reference SUTs and what each must fail.

This is the detection matrix in readable form: for every fault, the requirement ids a correct
campaign makes fail (a RECO or a recommended rule gives a warning). Auditors use it to see what
the harness has proven it catches. Vendors use it to pick a `--fault` for `run` or `reference`.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from conformance.cli.listing import add_role_option, list_entries
from conformance.roles import Role

if TYPE_CHECKING:
    from conformance.reference.registry import Fault

WIDTH = 100
_GAP = "  "


def register(sub: Any) -> None:
    """Add the `faults` sub-command to the `psc-conformance` parser."""
    parser = sub.add_parser(
        "faults",
        help="list the injectable faults of the reference SUTs and the requirements each must fail",
        description=(
            "List the faults that can be injected in the embedded reference SUTs (run --fault, "
            "reference --fault): each a realistic defect, with the requirement ids a correct campaign "
            "makes fail for it (a recommendation gives a warning)."
        ),
        epilog="Examples: psc-conformance faults; psc-conformance faults --json > faults.json",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print JSON {"faults": [{"name", "role", "requirements", "description"}]} instead of a table',
    )
    add_role_option(parser, "faults")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle `psc-conformance faults`; returns the process exit status."""
    from conformance.reference import registry  # the reference SUTs: only when asked

    return list_entries(args, "faults", registry.faults, to_json, render_text)


def to_json(fault: Fault) -> dict[str, Any]:
    return {
        "name": fault.name,
        "role": Role(fault.role).value,
        "requirements": list(fault.requirements),
        "description": fault.description_en,
    }


def render_text(faults: Sequence[Fault], roles: Sequence[Role], out: TextIO) -> None:
    """One row per fault (name, role, ids), its description wrapped beneath."""
    if not faults:
        out.write(f"no injectable fault for role {', '.join(r.value for r in roles)}\n")
        return
    rows = [(f.name, Role(f.role).value, ", ".join(f.requirements)) for f in faults]
    header = ("FAULT", "ROLE", "MUST FAIL")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
    indent = " " * (sum(widths) + 2 * len(_GAP))

    def line(cells: Sequence[str]) -> str:
        return _GAP.join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)) + _GAP

    out.write(line(header) + header[2] + "\n")
    for fault, row in zip(faults, rows, strict=True):
        out.write(line(row) + row[2] + "\n")
        for text in textwrap.wrap(fault.description_en, max(WIDTH - len(indent), 40)):
            out.write(indent + text + "\n")
    counts = ", ".join(f"{sum(1 for f in faults if Role(f.role) is r)} {r.value}" for r in roles)
    out.write(f"\n{len(faults)} faults ({counts}). Inject one with: psc-conformance run --fault NAME\n")
