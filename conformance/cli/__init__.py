"""The `psc-conformance` command line: one module per sub-command, each exposing `register()`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from conformance import __version__, exitcodes
from conformance.cli import (
    counterparts_cmd,
    diff_cmd,
    faults_cmd,
    pki_cmd,
    reference_cmd,
    requirements_cmd,
    run_cmd,
    variants_cmd,
    verify_cmd,
)

_COMMANDS = (
    run_cmd,
    verify_cmd,
    diff_cmd,
    requirements_cmd,
    pki_cmd,
    counterparts_cmd,
    reference_cmd,
    faults_cmd,
    variants_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psc-conformance",
        description="Conformance harness for the Pro Santé Connect trust space "
        "(Proxy e-Santé, API PSC). See README.md and docs/.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exitcodes.HARNESS_OR_SUT
    except BrokenPipeError:
        # Piped into `head` or similar: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exitcodes.OK
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
