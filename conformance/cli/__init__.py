"""The `psc-conformance` command line: one module per sub-command, each exposing `register()`.

A command's module is imported only when that command runs (or for the full help): each pulls in what
it needs (the campaign machinery, the counterparts, the reference SUTs), and a process started for one
command, such as the reference SUT a campaign launches, should not pay for the others' imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from conformance import __version__, exitcodes

# The sub-commands, by module (`<command>_cmd`), in the order the help lists them. An entry may also be
# an imported module (a test registering one): it is then always registered.
_COMMANDS: tuple[str | ModuleType, ...] = (
    "init_cmd",
    "run_cmd",
    "verify_cmd",
    "diff_cmd",
    "requirements_cmd",
    "pki_cmd",
    "counterparts_cmd",
    "reference_cmd",
    "faults_cmd",
    "variants_cmd",
)


def _command_name(entry: str | ModuleType) -> str:
    module = entry if isinstance(entry, str) else entry.__name__.rsplit(".", 1)[-1]
    return module.removesuffix("_cmd")


def _command_module(entry: str | ModuleType) -> ModuleType:
    return importlib.import_module(f"{__name__}.{entry}") if isinstance(entry, str) else entry


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of `command` (the others' modules are not imported)."""
    parser = argparse.ArgumentParser(
        prog="psc-conformance",
        description="Conformance harness for the Pro Santé Connect trust space "
        "(Proxy e-Santé, API PSC). See README.md and docs/.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    registered: set[str] = set()
    for entry in _COMMANDS:
        name = _command_name(entry)
        if name in registered or (command is not None and isinstance(entry, str) and name != command):
            continue
        _command_module(entry).register(sub)
        registered.add(name)
    return parser


def _invoked_command(argv: Sequence[str]) -> str | None:
    """The sub-command `argv` starts with, if it names one; None (every command) for anything else:
    the full help, --version, a usage error that lists the commands."""
    known = {_command_name(entry) for entry in _COMMANDS}
    return argv[0] if argv and argv[0] in known else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_invoked_command(arguments))
    args = parser.parse_args(arguments)
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
