"""`psc-conformance variants`: the allowed variants of the reference SUTs and what allows each.

The allowed-variation matrix in readable form, the dual of `faults`: for every variant, a behaviour
the sources allow that the reference does not choose, and its basis (the source and clause that
allow it). A campaign against the reference with any of them must fail nothing. Vendors use it to
see that the harness accepts what their proxy does differently; `run --variant` and
`reference consumer --variant` apply one.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from conformance.cli.listing import add_role_option, list_entries
from conformance.roles import Role

if TYPE_CHECKING:
    from conformance.reference.registry import Variant

WIDTH = 100
_INDENT = "    "


def register(sub: Any) -> None:
    """Add the `variants` sub-command to the `psc-conformance` parser."""
    parser = sub.add_parser(
        "variants",
        help="list the allowed variants of the reference SUTs and the source that allows each",
        description=(
            "List the variants that can be applied to the embedded reference SUTs (run --variant, "
            "reference consumer --variant): each a behaviour the sources (RFCs, the IG 1.2.0, the "
            "Référentiel PSC v1.8, the upstream OpenAPI documents) allow but the reference does not "
            "choose, with its basis. A campaign against the reference with any of them must fail nothing."
        ),
        epilog="Examples: psc-conformance variants; psc-conformance variants --json > variants.json",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print JSON {"variants": [{"name", "role", "description", "basis"}]} instead of a list',
    )
    add_role_option(parser, "variants")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle `psc-conformance variants`; returns the process exit status."""
    from conformance.reference import registry  # the reference SUTs: only when asked

    return list_entries(args, "variants", registry.variants, to_json, render_text)


def to_json(variant: Variant) -> dict[str, Any]:
    return {
        "name": variant.name,
        "role": Role(variant.role).value,
        "description": variant.description_en,
        "basis": variant.basis,
    }


def render_text(variants: Sequence[Variant], roles: Sequence[Role], out: TextIO) -> None:
    """One line per variant (name, role), its description and basis wrapped beneath."""
    if not variants:
        out.write(f"no allowed variant for role {', '.join(r.value for r in roles)}\n")
        return
    width = max(len(v.name) for v in variants)
    for variant in variants:
        out.write(f"{variant.name.ljust(width)}  {Role(variant.role).value}\n")
        for text in textwrap.wrap(variant.description_en, WIDTH - len(_INDENT)):
            out.write(_INDENT + text + "\n")
        for text in textwrap.wrap(f"allowed by: {variant.basis}", WIDTH - len(_INDENT)):
            out.write(_INDENT + text + "\n")
    counts = ", ".join(f"{sum(1 for v in variants if Role(v.role) is r)} {r.value}" for r in roles)
    out.write(f"\n{len(variants)} variants ({counts}). Apply one with: psc-conformance run --variant NAME\n")
