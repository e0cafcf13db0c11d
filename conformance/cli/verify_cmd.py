"""`psc-conformance verify`: check a run directory against its signed manifest, naming every difference.

An auditor runs it on the directory a vendor sent. Exit 0 only when every file matches manifest.json
and its signature verifies; 1 names what was altered, added or removed; 2 when there is nothing to
verify or the pinned key cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from conformance import exitcodes

if TYPE_CHECKING:
    from conformance.report.bundle import Verification

MISMATCH = exitcodes.REQUIREMENT_FAILED  # "something is wrong with the evidence": the same status 1
_NOT_PINNED = (
    "not pinned: the files are unchanged since they were sealed with manifest-key.pem,\n"
    "     which says nothing of who sealed them: anyone can re-seal altered files with a key of their own.\n"
    "     Pin the sealer's key with --key PUBLIC.pem, or compare the thumbprint above with the one the\n"
    "     sealer published."
)


def register(sub: Any) -> None:
    """Add the `verify` sub-command to the `psc-conformance` parser."""
    parser = sub.add_parser(
        "verify",
        help="check a run directory against its signed manifest (altered, added, removed files)",
        description=(
            "Recompute the SHA-256 of every file of a run directory, compare them with its manifest.json, "
            "and verify the detached JWS manifest.jws. Names every file altered, added or removed. "
            "Without --key the signature is checked with the bundle's own manifest-key.pem, which proves "
            "integrity but not who sealed the bundle; with --key that key must be the bundle's key. "
            "Exit status: 0 everything matches, 1 a difference or an invalid signature, "
            "2 usage error (no manifest, unreadable key)."
        ),
        epilog="Examples: psc-conformance verify reports/latest; "
        "psc-conformance verify run/ --key vendor-public.pem --json",
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="the run directory (the bundle)")
    parser.add_argument(
        "--key",
        type=Path,
        metavar="PUBLIC.pem",
        help="the key the bundle must have been sealed with (PEM public key or certificate): the bundle's "
        "manifest-key.pem must be this key, otherwise verification fails",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print JSON {"ok", "altered", "added", "removed", "signature_valid", "key_pinned", '
        '"problems", …} instead of text',
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle `psc-conformance verify`; returns the process exit status."""
    from conformance.report.bundle import BundleError, verify  # cryptography: only when asked

    directory: Path = args.directory
    try:
        result = verify(directory, public_key=args.key)
    except BundleError as exc:
        print(f"psc-conformance verify: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    if args.json:
        json.dump({"directory": str(directory), **result.to_json()}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        render_text(result, directory, pinned=args.key is not None, out=sys.stdout)
    return exitcodes.OK if result.ok else MISMATCH


def render_text(result: Verification, directory: Path, *, pinned: bool, out: TextIO) -> None:
    """One line per difference, then the signature's state, then the verdict."""
    for label, paths in (("altered", result.altered), ("added", result.added), ("removed", result.removed)):
        for path in paths:
            out.write(f"{label:8} {path}\n")
    for problem in result.problems:
        out.write(f"problem  {problem}\n")
    key = f"key thumbprint {result.key_thumbprint}" if result.key_thumbprint else "no usable manifest-key.pem"
    if result.signature_valid:
        out.write(f"signature: valid ({result.algorithm}, {key})\n")
    else:
        out.write(f"signature: NOT valid ({key})\n")
    if pinned:
        state = "the key given with --key" if result.key_pinned else "NOT the key given with --key"
        out.write(f"key: manifest-key.pem is {state}\n")
    else:
        out.write(f"key: {_NOT_PINNED}\n")
    if result.ok:
        out.write(f"{directory}: verified, {result.files_checked} files match manifest.json\n")
        return
    counts = {
        "files differ": len(result.altered) + len(result.added) + len(result.removed),
        "problems": len(result.problems),
    }
    summary = ", ".join(f"{count} {what}" for what, count in counts.items() if count)
    out.write(f"{directory}: NOT verified ({summary or 'signature not valid'})\n")
