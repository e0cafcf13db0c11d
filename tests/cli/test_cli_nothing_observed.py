"""No pass on nothing: a server that answers every request 200 with a body that is not JSON and no cookie.

Such a "proxy" never contacts PSC, the authorization server or the API. The session prerequisite
(strict: the documented body and cookie) does not hold, so the transport scenarios that need a
session are inconclusive and the requirements they speak for are never passed on that alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import validate_results
from conformance.cli import main
from conformance.pki import load_pki, server_context
from conformance.tls import Request, Response, TLSServer


@pytest.fixture
def always_200(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    assert main(["pki", "--out", str(tmp_path / "pki")]) == 0  # the files a vendor gets
    pki = load_pki(tmp_path / "pki")

    def handler(request: Request) -> Response:
        return Response.text("OK, whatever you asked", 200)

    context = server_context(pki, "sut", require_client_cert=False)
    with TLSServer(context, handler, name="always-200") as server:
        yield server.url, tmp_path / "pki"


def test_a_server_that_answers_200_to_everything_passes_nothing(
    tmp_path: Path, always_200: tuple[str, Path]
) -> None:
    url, pki_dir = always_200
    config = tmp_path / "c.toml"
    config.write_text(
        f'[sut]\nname = "always 200"\nbase_url = "{url}"\nca_file = "{pki_dir / "ca-bundle.pem"}"\n'
        "startup_timeout_s = 5\n"
        f'[campaign]\npki_dir = "{pki_dir}"\n'
        "[counterparts]\npsc_port = 0\napi_as_port = 0\napi_port = 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    main(
        [
            "run",
            "--config",
            str(config),
            "--output",
            str(out),
            "-k",
            "links_to_the_counterparts or client_certificates_are_auth_cli or api_server_certificate",
        ]
    )
    doc: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    outcomes = {s["nodeid"].split("::")[-1]: s["outcome"] for s in doc["scenarios"]}
    assert outcomes and set(outcomes.values()) == {"inconclusive"}, outcomes
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    for rid in ("IG-SEC-01", "IG-SEC-02", "IG-SEC-04", "EXI PSC 24"):
        assert verdicts[rid] == "inconclusive", (rid, verdicts[rid])
    prerequisite = next(c for s in doc["scenarios"] for c in s["checks"] if c.get("prerequisite"))
    assert prerequisite["name"] == "connect_answers_session" and "cookie absent" in prerequisite["message"]
