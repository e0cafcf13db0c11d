"""What every process of a campaign imports stays light: reading the configuration, the package itself
and the reference SUT's command load no counterpart server, HTTP client, JWT library or package metadata
(0.05-0.4 s of CPU each, in every campaign process, when they did)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVERS_AND_CLIENTS = ("httpx", "jwt", "conformance.counterparts.psc", "conformance.tls.server")

LIGHT_IMPORTS = {
    "conformance": ("importlib.metadata",),
    "conformance.config": (*SERVERS_AND_CLIENTS, "importlib.metadata"),
    "conformance.counterparts.settings": SERVERS_AND_CLIENTS,
    "conformance.cli.reference_cmd": (*SERVERS_AND_CLIENTS, "conformance.cli.counterparts_cmd"),
}


def modules_loaded_by(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `module`."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", LIGHT_IMPORTS)
def test_import_stays_light(module: str) -> None:
    loaded = modules_loaded_by(module)
    assert module in loaded
    assert sorted(loaded & set(LIGHT_IMPORTS[module])) == []
