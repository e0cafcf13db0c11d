"""What `faults` and `variants` share: the reference SUTs' catalogue entries, by role, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeVar

from conformance import exitcodes
from conformance.roles import Role

T = TypeVar("T")


def add_role_option(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument(
        "--role",
        choices=[role.value for role in Role],
        help=f"keep only the {kind} of the reference SUT of this role (default: every role)",
    )


def list_entries(
    args: argparse.Namespace,
    kind: str,
    of_role: Callable[[Role], Sequence[T]],
    to_json: Callable[[T], dict[str, Any]],
    render_text: Callable[[Sequence[T], Sequence[Role], TextIO], None],
) -> int:
    """Print the `kind` entries of the selected roles ({kind: [...]} with --json); exit status 0."""
    roles = [Role(args.role)] if args.role else list(Role)
    entries = [entry for role in roles for entry in of_role(role)]
    if args.json:
        json.dump({kind: [to_json(e) for e in entries]}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        render_text(entries, roles, sys.stdout)
    return exitcodes.OK
