"""`psc-conformance diff OLD NEW`: the requirements whose verdict changed between two runs.

For CI (exit 1 when anything got worse) and for a vendor re-submitting after fixes. Both runs are
read from their `results.json` only, validated against the published schema first: a comparison
of documents the harness did not write would prove nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema

from conformance import exitcodes
from conformance.campaign.results import SCHEMA_VERSION, validate_results
from conformance.errors import UsageError
from conformance.report.diff import VERDICT_ORDER, compare, render_text

PROG = "psc-conformance diff"
RESULTS_FILE = "results.json"


def register(sub: Any) -> None:
    """Add the `diff` sub-command to the `psc-conformance` parser."""
    ranking = " < ".join(v.value for v in VERDICT_ORDER)
    parser = sub.add_parser(
        "diff",
        help="list the requirements whose verdict changed between two runs",
        description=(
            "Compare two campaigns requirement by requirement and list every verdict that changed, "
            f"worse first. Verdicts rank {ranking}; a change to or from not_applicable is 'changed'. "
            "Exit status: 0 nothing got worse, 1 a verdict got worse or a requirement fails that did "
            "not, 2 usage error (missing or invalid results.json)."
        ),
        epilog="Example: psc-conformance diff reports/2026-11-20T09-00-00Z reports/latest",
    )
    parser.add_argument(
        "old", type=Path, metavar="OLD", help="the earlier run: its directory or results.json"
    )
    parser.add_argument("new", type=Path, metavar="NEW", help="the later run: its directory or results.json")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print JSON {"old", "new", "changes": [{"id", "catalogue", "old", "new", "direction"}], '
        '"worse", "better", "compared", "warnings"} instead of text',
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle `psc-conformance diff`; returns the process exit status."""
    try:
        old_file, old_doc = load_results(args.old, "OLD")
        new_file, new_doc = load_results(args.new, "NEW")
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    diff = compare(old_doc, new_doc, old_source=str(old_file), new_source=str(new_file))
    if args.json:
        json.dump(diff.to_json(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(diff))
    return exitcodes.REQUIREMENT_FAILED if diff.regressed else exitcodes.OK


def load_results(path: Path, label: str) -> tuple[Path, dict[str, Any]]:
    """The validated `results.json` of a run directory, or of the file itself.

    Raises `UsageError` naming the file and what is wrong with it.
    """
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        reason = "not a run directory: it has no results.json" if path.is_dir() else "no such file"
        raise UsageError(f"{label} {path}: {reason}")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{label} {file}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label} {file}: not JSON: {exc}") from None
    version = doc.get("schema_version", SCHEMA_VERSION) if isinstance(doc, dict) else SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{label} {file}: results.json of schema_version {version!r}; this harness reads "
            f"version {SCHEMA_VERSION}: re-run that campaign with this version"
        )
    try:
        validate_results(doc)
    except jsonschema.ValidationError as exc:
        raise UsageError(
            f"{label} {file}: not a valid results.json: {exc.message} (at {exc.json_path})"
        ) from None
    return file, doc
