"""The resource-server-only mode, end to end: a provider configuration that names no authorization
server makes the harness play it, and judge the resource server alone.

The SUT is the reference provider started as a vendor's would be (`[sut] start`), from the files
`psc-conformance pki --role provider` writes; only its API is named in the configuration.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from conformance.cli import main
from conformance.reference.listening import free_ports

RESOURCE_SERVER_IDS = ("IG-SEC-15", "IG-SEC-21", "IG-SEC-22", "IG-SEC-23", "IG-SEC-24", "IG-SEC-25", "EDC-17")
AUTHORIZATION_SERVER_IDS = ("IG-SEC-13", "IG-SEC-14", "IG-SEC-17", "IG-SEC-18", "IG-SEC-26", "IG-SEC-27")


def test_resource_server_alone_is_judged_and_passes(tmp_path: Path) -> None:
    psc, api_as, api, as_port, rs_port = free_ports(5)
    config = tmp_path / "campaign.toml"
    start = [
        sys.executable,
        "-m",
        "conformance.reference.provider",
        "--config",
        "pki/reference-provider.toml",
    ]
    config.write_text(
        "[sut]\n"
        'role = "provider"\n'
        'name = "reference provider, resource server alone"\n'
        f'api_base_url = "https://127.0.0.1:{rs_port}/mockservice/apipsc"\n'
        f"start = {json.dumps(start)}\n"
        "[campaign]\n"
        'pki_dir = "pki"\n'
        "[counterparts]\n"
        f"psc_port = {psc}\napi_as_port = {api_as}\napi_port = {api}\n",
        encoding="utf-8",
    )
    pki = ["pki", "--out", str(tmp_path / "pki"), "--config", str(config), "--role", "provider"]
    assert main([*pki, "--provider-ports", f"{as_port},{rs_port}"]) == 0
    out = tmp_path / "run"
    assert main(["run", "--config", str(config), "--output", str(out)]) == 0
    doc: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert doc["sut"]["role"] == "provider"
    for rid in RESOURCE_SERVER_IDS:
        assert verdicts[rid] == "pass", (rid, verdicts[rid])
    for rid in AUTHORIZATION_SERVER_IDS:  # the harness played the AS: nothing of the SUT's to judge
        assert verdicts[rid] == "not_tested", (rid, verdicts[rid])
    assert "fail" not in verdicts.values()
