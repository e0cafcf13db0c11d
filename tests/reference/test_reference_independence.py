"""The reference SUTs are independent implementations: they import none of the harness.

A reference SUT that shared code with what judges it (the conditions, the standards modules' constants,
the counterparts' TLS server, the test PKI's helpers) could carry the same defect as the harness, and the
matrices would then prove nothing about it. Only the product's plumbing is shared: its error type, the
role names, the exit codes and the command line that starts it. The launchers, which start a reference
SUT from the harness's side, are not part of it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import conformance

REFERENCE = Path(conformance.__file__).parent / "reference"
LAUNCHERS = {"launcher.py"}
# What a reference SUT may import from the product besides conformance.reference itself.
PLUMBING = ("conformance.errors", "conformance.roles", "conformance.exitcodes", "conformance.cli")


def sut_modules() -> list[Path]:
    """Every module that runs in a reference SUT's process."""
    files = [REFERENCE / "https.py", REFERENCE / "registry.py", REFERENCE / "listening.py"]
    for package in ("consumer", "provider"):
        files += sorted(p for p in (REFERENCE / package).glob("*.py") if p.name not in LAUNCHERS)
    return files


def _allowed(module: str) -> bool:
    if not module.startswith("conformance."):
        return True  # the standard library, the third-party libraries, the package's bare __init__
    return module.startswith("conformance.reference") or any(
        module == allowed or module.startswith(allowed + ".") for allowed in PLUMBING
    )


def harness_imports(source: str) -> list[str]:
    """The product modules `source` imports that are not the reference's own nor plumbing."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return sorted(name for name in found if not _allowed(name))


def test_no_reference_sut_module_imports_the_harness() -> None:
    offending = {
        str(path.relative_to(REFERENCE)): names
        for path in sut_modules()
        if (names := harness_imports(path.read_text(encoding="utf-8")))
    }
    assert offending == {}


def test_the_scan_sees_a_harness_import() -> None:
    assert harness_imports("from conformance.tls import TLSServer\nimport conformance.standards.rfc8693") == [
        "conformance.standards.rfc8693",
        "conformance.tls",
    ]
    assert harness_imports("from conformance.reference.https import Request\nimport ssl") == []


def test_a_reference_sut_process_loads_none_of_the_harness() -> None:
    """What the modules import in turn counts too: load them all in a fresh interpreter, as the SUT
    process does, and list the product modules that came with them."""
    names = [
        "conformance.reference." + ".".join(p.relative_to(REFERENCE).with_suffix("").parts)
        for p in sut_modules()
        if p.name != "__main__.py"
    ]
    script = (
        "import importlib, sys\n"
        "from conformance.cli import main\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "try:\n    main(['reference', 'consumer', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('conformance'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = [line for line in done.stdout.splitlines() if line.startswith("conformance")]
    assert "conformance.reference.consumer.proxy" in loaded
    assert [name for name in loaded if not _allowed(name)] == []
