"""The fork server's preloaded modules (conformance.campaign.preload): what a campaign imports, except
what pytest must import itself."""

from __future__ import annotations

import json
import subprocess
import sys

from conformance.campaign.preload import PYTEST_PLUGINS, campaign_modules


def test_preloading_leaves_the_pytest_plugin_to_pytest() -> None:
    """Imported before pytest loads it, the campaign plugin would run with its asserts unrewritten and
    pytest would warn in every campaign's log: no preloaded module may import it."""
    names = campaign_modules()
    script = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    imported = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout
    )
    assert not PYTEST_PLUGINS & set(imported)
    assert {"pytest", "conformance.cli.run_cmd", "conformance.campaign.launch"} <= set(names)


def test_preloading_leaves_the_reference_suts_out() -> None:
    """The reference SUTs run in processes of their own, started by exec: only their catalogue (the
    names `run --fault` and `--variant` take) belongs in the harness's processes."""
    suts = [name for name in campaign_modules() if name.startswith("conformance.reference")]
    assert suts == ["conformance.reference", "conformance.reference.registry"]
