"""`psc-conformance requirements`: list the catalogues, each requirement and what verifies it.

Vendors use it to see what a campaign will judge for their role; auditors use it to check that every
requirement is either covered by a scenario or explicitly left to a declaration.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from conformance import exitcodes
from conformance.errors import UsageError
from conformance.requirements import (
    Catalogue,
    CatalogueError,
    Method,
    Requirement,
    Role,
    load_catalogues,
)

WIDTH = 100  # human output stays readable in a 100-column terminal
REFERENTIAL_ID = "referentiel-psc"  # shown with the referential's own FS/FD columns
_GAP = "  "


def register(sub: Any) -> None:
    """Add the `requirements` sub-command to the `psc-conformance` parser."""
    parser = sub.add_parser(
        "requirements",
        help="list the requirement catalogues and the scenarios that verify each requirement",
        description=(
            "List every requirement catalogue (Référentiel PSC v1.8, transport-security IG 1.2.0, "
            "Proxy e-Santé trust-space rules, harness self-checks) and every requirement with its "
            "level, verification method, applicability (FS = consumer, FD = provider), source and "
            "the scenarios that verify it."
        ),
        epilog=(
            "Examples: psc-conformance requirements --role provider; "
            "psc-conformance requirements --catalogue referentiel-psc --lang en; "
            "psc-conformance requirements --json > requirements.json"
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print machine-readable JSON instead of the aligned text listing",
    )
    parser.add_argument(
        "--role",
        choices=[role.value for role in Role],
        help="keep only the requirements that apply to a SUT of this role "
        "(consumer = FS column of the referential, provider = FD column)",
    )
    parser.add_argument(
        "--catalogue",
        metavar="ID",
        action="append",
        help="show only this catalogue (repeatable); ids: "
        "referentiel-psc, ig-securisation-transport, edc-proxy, harness",
    )
    parser.add_argument(
        "--lang",
        choices=["fr", "en"],
        default="fr",
        help="language of the requirement titles (default: fr)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle `psc-conformance requirements`; returns the process exit status."""
    try:
        catalogues = load_catalogues()
    except CatalogueError as exc:
        print(f"psc-conformance requirements: broken requirement catalogue: {exc}", file=sys.stderr)
        return exitcodes.HARNESS_OR_SUT

    selected = list(catalogues)
    if args.catalogue:
        known = {c.id for c in catalogues}
        unknown = [wanted for wanted in args.catalogue if wanted not in known]
        if unknown:
            print(
                f"psc-conformance requirements: unknown catalogue {unknown[0]!r} "
                f"(known: {', '.join(c.id for c in catalogues)})",
                file=sys.stderr,
            )
            return exitcodes.USAGE
        selected = [c for c in catalogues if c.id in args.catalogue]

    role = Role(args.role) if args.role else None
    scenarios = scenarios_by_requirement()
    if args.json:
        document = to_json(selected, role=role, lang=args.lang, scenarios=scenarios)
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        render_text(selected, role=role, lang=args.lang, scenarios=scenarios, out=sys.stdout)
    return exitcodes.OK


def scenarios_by_requirement() -> dict[str, list[str]] | None:
    """Scenario node ids per requirement id, from `conformance.campaign.coverage` when it is available.

    Imported lazily: the coverage map is built by collecting the scenarios, and listing the
    catalogues must still work without it. No coverage module means no scenario yet (empty map);
    a coverage module that cannot collect (no scenarios/ tree beside the package, broken scenario)
    gives None and a warning, so that "unknown" is never shown as "not verified".
    """
    try:
        coverage = importlib.import_module("conformance.campaign.coverage")
    except ImportError:
        return {}
    try:
        mapping: Mapping[str, Sequence[str]] = coverage.scenarios_by_requirement()
    except (UsageError, RuntimeError) as exc:
        print(f"psc-conformance requirements: warning: scenario coverage unavailable: {exc}", file=sys.stderr)
        return None
    return {rid: list(nodeids) for rid, nodeids in mapping.items()}


def _requirements_for(catalogue: Catalogue, role: Role | None) -> list[Requirement]:
    return [r for r in catalogue.requirements if role is None or r.applies(role)]


def _roles(requirement: Requirement) -> list[str]:
    """Roles in a stable order (consumer first), whatever order the catalogue file used."""
    return [role.value for role in Role if role in requirement.applies_to]


def to_json(
    catalogues: Sequence[Catalogue],
    *,
    role: Role | None,
    lang: str,
    scenarios: Mapping[str, Sequence[str]] | None,
) -> dict[str, Any]:
    """The `--json` document: one entry per catalogue, requirements filtered by role."""
    return {
        "catalogues": [
            {
                "id": catalogue.id,
                "title": catalogue.title_in(lang),
                "version": catalogue.version,
                "source": catalogue.source,
                "url": catalogue.url,
                "requirements": [
                    {
                        "id": r.id,
                        "title": r.title_in(lang),
                        "level": r.level.value,
                        "method": (r.method_for(role) if role else r.method).value,
                        "applies_to": _roles(r),
                        "applicability": {
                            "FS": r.applies(Role.CONSUMER),
                            "FD": r.applies(Role.PROVIDER),
                        },
                        "source": r.source,
                        "url": r.url,
                        "scenarios": sorted((scenarios or {}).get(r.id, ())),
                    }
                    for r in _requirements_for(catalogue, role)
                ],
            }
            for catalogue in catalogues
        ]
    }


def _applicability(catalogue: Catalogue, requirement: Requirement) -> str:
    """FS/FD for the referential (its own vocabulary), role names elsewhere."""
    if catalogue.id == REFERENTIAL_ID:
        fs = "FS" if requirement.applies(Role.CONSUMER) else "  "
        fd = "FD" if requirement.applies(Role.PROVIDER) else "  "
        return f"{fs} {fd}".rstrip()
    return " ".join(_roles(requirement))


def render_text(
    catalogues: Sequence[Catalogue],
    *,
    role: Role | None,
    lang: str,
    scenarios: Mapping[str, Sequence[str]] | None,
    out: TextIO,
) -> None:
    """Aligned plain-text listing: one block per requirement, wrapped to `WIDTH` columns."""
    shown: list[Requirement] = []
    if scenarios is None:
        out.write("note: scenario coverage unavailable, the 'verified by' lines are left out\n\n")
    for index, catalogue in enumerate(catalogues):
        if index:
            out.write("\n")
        requirements = _requirements_for(catalogue, role)
        shown.extend(requirements)
        _write_catalogue(out, catalogue, requirements, role=role, lang=lang, scenarios=scenarios)
    out.write("\n" + _summary(shown, len(catalogues), role, scenarios) + "\n")


def _write_catalogue(
    out: TextIO,
    catalogue: Catalogue,
    requirements: Sequence[Requirement],
    *,
    role: Role | None,
    lang: str,
    scenarios: Mapping[str, Sequence[str]] | None,
) -> None:
    title = textwrap.wrap(f"{catalogue.id} — {catalogue.title_in(lang)} (version {catalogue.version})", WIDTH)
    out.write("\n".join(title) + "\n" + "=" * max(len(line) for line in title) + "\n")
    out.write(_wrap_labelled("source: ", catalogue.source, indent=""))
    if catalogue.url:
        out.write(f"url:    {catalogue.url}\n")
    if not requirements:
        out.write(f"(no requirement of this catalogue applies to role {role.value if role else '?'})\n")
        return
    out.write("\n")

    applies_header = "FS FD" if catalogue.id == REFERENTIAL_ID else "APPLIES TO"
    columns = ["ID", "LEVEL", "METHOD", applies_header]
    cells = [
        [r.id, r.level.value, (r.method_for(role) if role else r.method).value, _applicability(catalogue, r)]
        for r in requirements
    ]
    widths = [max(len(row[i]) for row in [columns, *cells]) for i in range(len(columns))]
    prefix_width = sum(widths) + len(_GAP) * len(widths)
    title_width = max(WIDTH - prefix_width, 30)
    detail_indent = " " * (widths[0] + len(_GAP))

    header = _GAP.join(name.ljust(width) for name, width in zip(columns, widths, strict=True))
    out.write(f"{header}{_GAP}TITLE\n")
    for requirement, row in zip(requirements, cells, strict=True):
        lead = _GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + _GAP
        lines = textwrap.wrap(requirement.title_in(lang), title_width, break_on_hyphens=False) or [""]
        out.write(lead + lines[0] + "\n")
        for line in lines[1:]:
            out.write(" " * prefix_width + line + "\n")
        out.write(_wrap_labelled("source: ", requirement.source, indent=detail_indent))
        for line in _verified_by(requirement, scenarios):
            out.write(detail_indent + line + "\n")


def _wrap_labelled(label: str, text: str, *, indent: str) -> str:
    wrapped = textwrap.wrap(
        text,
        WIDTH - len(indent),
        initial_indent=label,
        subsequent_indent=" " * len(label),
        break_on_hyphens=False,
    )
    return "".join(indent + line + "\n" for line in wrapped)


def _verified_by(requirement: Requirement, scenarios: Mapping[str, Sequence[str]] | None) -> list[str]:
    """One line per scenario node id (never wrapped: node ids are copied into pytest commands)."""
    label = "verified by: "
    if scenarios is None:
        return []  # said once at the top of the listing rather than on every requirement
    nodeids = sorted(scenarios.get(requirement.id, ()))
    if not nodeids:
        if requirement.method is Method.DECLARATIVE:
            return [f"{label}- (declaration in the attestation file)"]
        return [f"{label}- (no scenario yet)"]
    return [(label if i == 0 else " " * len(label)) + nodeid for i, nodeid in enumerate(nodeids)]


def _summary(
    shown: Sequence[Requirement],
    catalogue_count: int,
    role: Role | None,
    scenarios: Mapping[str, Sequence[str]] | None,
) -> str:
    by_method = {m: sum(1 for r in shown if (r.method_for(role) if role else r.method) is m) for m in Method}
    scope = f" applicable to role {role.value}" if role else ""
    if scenarios is None:
        coverage = "scenario coverage unavailable."
    else:
        covered = sum(1 for r in shown if scenarios.get(r.id))
        coverage = f"{covered} verified by at least one scenario."
    text = (
        f"{len(shown)} requirements{scope} in {catalogue_count} catalogue(s): "
        f"{by_method[Method.AUTOMATIC]} automatic, {by_method[Method.PARTIAL]} partial, "
        f"{by_method[Method.DECLARATIVE]} declarative; {coverage}"
    )
    return textwrap.fill(text, WIDTH)
