"""An external campaign whose fixed counterpart port is taken (another campaign, another service) stops
before starting anything, with exit 3 and a report naming the port and its setting."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.results import validate_results
from conformance.cli import main
from conformance.counterparts.settings import CounterpartSettings
from conformance.counterparts.suite import Counterparts
from conformance.exitcodes import HARNESS_OR_SUT
from conformance.pki import TestPKI, server_context
from conformance.tls import Request, Response, TLSServer


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.fixture
def answering_sut(pki: TestPKI) -> Iterator[str]:
    """A SUT that passes the start-up check (any HTTP answer): without the taken port, the run goes on."""

    def ok(request: Request) -> Response:
        return Response(200, body=b"up")

    with TLSServer(server_context(pki, "psc", require_client_cert=False), ok) as server:
        yield server.url


@pytest.mark.parametrize(
    ("role", "sut_table", "setting"),
    [
        ("consumer", 'base_url = "{url}"', "psc_port"),
        ("provider", 'role = "provider"\napi_base_url = "{url}/mockservice/apipsc"', "api_as_port"),
    ],
    ids=["consumer", "provider"],
)
def test_a_taken_counterpart_port_ends_the_run_with_3_and_a_report_naming_it(
    tmp_path: Path,
    taken_port: int,
    answering_sut: str,
    role: str,
    sut_table: str,
    setting: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ports = {"psc_port": 0, "api_as_port": 0, "api_port": 0, setting: taken_port}
    config = tmp_path / "campaign.toml"
    config.write_text(
        f"[sut]\n{sut_table.format(url=answering_sut)}\n[counterparts]\n"
        + "".join(f"{key} = {port}\n" for key, port in ports.items()),
        encoding="utf-8",
    )
    out = tmp_path / "run"
    started = time.monotonic()
    assert main(["run", "--config", str(config), "--output", str(out)]) == HARNESS_OR_SUT
    assert time.monotonic() - started < 15, "said before anything starts"
    doc: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(doc)
    (error,) = doc["campaign"]["errors"]
    assert f"[counterparts] {setting} = {taken_port}" in error and f"127.0.0.1:{taken_port}" in error
    assert "in use" in error
    assert doc["campaign"]["complete"] is False and doc["scenarios"] == []
    assert error in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0


def test_the_counterparts_name_the_setting_of_a_port_they_cannot_listen_on(
    pki: TestPKI, taken_port: int
) -> None:
    """The same, when the port is taken between that check and the counterparts' bind."""
    settings = CounterpartSettings(psc_port=0, api_as_port=0, api_port=taken_port)
    with pytest.raises(OSError, match=rf"\[counterparts\] api_port = {taken_port}: .*in use"):
        Counterparts.build(pki, settings).start()
