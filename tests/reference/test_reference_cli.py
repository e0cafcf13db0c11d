"""The counterparts and the reference proxy as a vendor runs them: separate processes, driven by curl.

`docs/reference-proxy.md` promises a sequence of commands and answers; the end-to-end test runs
that sequence (with the real `curl` binary when there is one, else httpx with the same requests),
so the documentation cannot drift from what the tools do.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import conformance
from conformance.cli import main
from conformance.pki import LPS1_CLIENT_ID
from conformance.reference.consumer.settings import load_settings
from conformance.reference.listening import free_ports

PS1 = "899900000019"
CURL = shutil.which("curl")
STARTUP_S = 10.0  # bound on a server process becoming ready
STOP_S = 5.0  # bound on a server process exiting after SIGTERM


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conformance", *args]


def child_env() -> dict[str, str]:
    """The children import the same `conformance` as this test, wherever it is installed from."""
    source = str(Path(conformance.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def trusting(ca_bundle: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_bundle))


@dataclass
class Served:
    """A serving command in its own process, its output in files (a full pipe could block it)."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @classmethod
    def start(cls, name: str, args: list[str], directory: Path) -> Served:
        stdout, stderr = directory / f"{name}.out", directory / f"{name}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                cli(*args), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=directory, env=child_env()
            )
        return cls(name, process, stdout, stderr)

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8") + self.stderr.read_text(encoding="utf-8")

    def wait_until_answering(self, url: str, ca_bundle: Path) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
            try:
                httpx.get(url, verify=trusting(ca_bundle), timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        pytest.fail(f"{self.name} did not answer {url} within {STARTUP_S} s:\n{self.output()}")

    def terminate(self) -> int:
        """SIGTERM, then the exit status (bounded: a process that hangs fails the test)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running {STOP_S} s after SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_S)


class Lps:
    """The LPS side of the documented sequence: curl with a cookie jar, as in docs/reference-proxy.md."""

    def __init__(self, base_url: str, ca_bundle: Path, jar: Path) -> None:
        self.base_url, self.ca_bundle, self.jar = base_url, ca_bundle, jar
        self.http = None if CURL else httpx.Client(verify=trusting(ca_bundle), timeout=10)  # no curl: httpx

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
        url = self.base_url + path
        if self.http is not None:
            answer = self.http.request(method, url, json=body)
            return answer.status_code, answer.text
        assert CURL is not None
        command = [CURL, "-sS", "--max-time", "10", "--cacert", str(self.ca_bundle)]
        command += ["-c", str(self.jar), "-b", str(self.jar), "-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            command += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        done = subprocess.run([*command, url], capture_output=True, text=True, timeout=15, check=False)
        assert done.returncode == 0, done.stderr
        text, _, status = done.stdout.rpartition("\n")
        return int(status), text

    def cookie(self) -> str | None:
        if self.http is not None:
            return self.http.cookies.get("proxy_session_id")
        for line in self.jar.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) == 7 and fields[5] == "proxy_session_id":
                return fields[6]
        return None


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Served]]:
    """Processes started by the test; whatever SIGTERM did not end is killed (by pid) afterwards."""
    started: list[Served] = []
    yield started
    for served in started:
        served.kill()


def test_documented_sequence_across_processes(tmp_path: Path, servers: list[Served]) -> None:
    psc_port, api_as_port, api_port, proxy_port = free_ports(4)
    config = tmp_path / "campaign.toml"
    config.write_text(
        f"[campaign]\npki_dir = 'pki'\n\n[counterparts]\npsc_port = {psc_port}\napi_as_port = {api_as_port}\n"
        f"api_port = {api_port}\n\n[counterparts.timings]\nciba_interval_s = 0.2\n"
        "slow_down_increment_s = 0.2\n",
        encoding="utf-8",
    )
    pki = tmp_path / "pki"
    written = subprocess.run(
        cli("pki", "--out", str(pki), "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        check=False,
    )
    assert written.returncode == 0, written.stderr
    ca_bundle = pki / "ca-bundle.pem"

    # terminal 1: the counterparts find the PKI through [campaign] pki_dir; terminal 2: the proxy
    counterparts = Served.start("counterparts", ["counterparts", "--config", str(config)], tmp_path)
    servers.append(counterparts)
    proxy_config = str(pki / "reference-proxy.toml")
    proxy_args = ["reference", "consumer", "--config", proxy_config, "--port", str(proxy_port)]
    proxy = Served.start("proxy", proxy_args, tmp_path)
    servers.append(proxy)
    discovery = (
        f"https://127.0.0.1:{psc_port}/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    )
    counterparts.wait_until_answering(discovery, ca_bundle)
    base_url = f"https://127.0.0.1:{proxy_port}"
    proxy.wait_until_answering(base_url + "/check/alive", ca_bundle)

    # terminal 3: the LPS
    if CURL is None:
        warnings.warn("curl not found: the documented sequence ran with httpx instead", stacklevel=1)
    lps = Lps(base_url, ca_bundle, tmp_path / "cookies.txt")
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    connect = {"nationalId": PS1, "bindingMessage": "42", "clientId": LPS1_CLIENT_ID, "channel": "MOBILE"}
    status, text = lps.call("POST", "/connect", connect)
    assert status == 200, text
    session = json.loads(text)
    assert set(session) == {"proxy_session_id", "session_state"}
    assert lps.cookie() == session["proxy_session_id"]

    data = {"nationalId": PS1, "clientID": LPS1_CLIENT_ID, **session}
    status, text = lps.call("POST", "/send/apipsc/signsessiondata", data)
    assert status == 200, text
    signed = json.loads(text)
    assert signed["signature"].count(".") == 2 and {k: signed[k] for k in data} == data

    status, text = lps.call("GET", f"/traces?start={start}")
    assert status == 200, text
    traces = json.loads(text)
    assert [t["type"] for t in traces] == ["CONNECT_SUCCESS", "SEND"]
    assert {t["proxy_id_session"] for t in traces} == {session["proxy_session_id"]}

    status, text = lps.call("DELETE", "/disconnect")
    assert status == 200, text
    status, text = lps.call("POST", "/send/apipsc/signsessiondata", data)
    assert status == 401, text

    assert proxy.terminate() == 0, proxy.output()
    assert counterparts.terminate() == 0, counterparts.output()  # it prints what is left, then exits
    assert f"serving {base_url}" in proxy.output()
    log = counterparts.output()
    assert f"PSC issuer          https://127.0.0.1:{psc_port}/auth/realms/esante-wallet" in log
    for expected in (
        f"psc ciba.request {LPS1_CLIENT_ID} CIBA request for {PS1}",
        "psc introspection proxy-esante-edc-test",
        f"api-as token_exchange.issued {LPS1_CLIENT_ID}",
        f"api api.call {LPS1_CLIENT_ID}",
        f"psc logout {LPS1_CLIENT_ID}",
    ):
        assert expected in log, log
    assert "warning" not in log  # counterparts.json announces the ports that are served
    assert log.rstrip().endswith("counterparts stopped")


# -- usage errors and the files `pki --out` writes ----------------------------------------------------


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "pki"
    assert main(["pki", "--out", str(out), "--proxy-port", "18443"]) == 0
    return out


def test_pki_writes_a_reference_proxy_config_that_loads(pki_dir: Path) -> None:
    text = (pki_dir / "reference-proxy.toml").read_text(encoding="utf-8")
    assert text.count("\n# ") >= 5  # every key is explained
    settings = load_settings(pki_dir / "reference-proxy.toml")
    assert (settings.host, settings.port) == ("127.0.0.1", 18443)
    assert (settings.idle_timeout_s, settings.session_timeout_s) == (900, 14400)
    assert settings.ca_bundle == (pki_dir / "ca-bundle.pem").resolve()
    assert settings.psc_discovery_url.startswith("https://127.0.0.1:9443/")
    assert LPS1_CLIENT_ID in settings.lps_clients and settings.proxy_client.role == "proxy"


def test_pki_rejects_a_bad_proxy_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pki", "--out", str(tmp_path / "pki"), "--proxy-port", "70000"]) == 2
    assert "--proxy-port 70000 is not a TCP port" in capsys.readouterr().err


def test_unknown_fault_exits_2_and_lists_the_known_ones(
    pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(pki_dir / "reference-proxy.toml")
    assert main(["reference", "consumer", "--config", config, "--fault", "no-such-fault"]) == 2
    err = capsys.readouterr().err
    try:
        from conformance.reference.consumer.faults import FAULTS  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # the fault catalogue is not in this version yet
        assert "has no injectable faults" in err
    else:
        assert "unknown consumer fault 'no-such-fault'" in err
        consumer_faults = [
            n for n, fault in FAULTS.items() if getattr(fault, "role", "consumer") == "consumer"
        ]
        assert consumer_faults and all(name in err for name in consumer_faults)


def test_reference_provider_without_config_says_how_to_write_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the default is reference-provider.toml in the current directory
    assert main(["reference", "provider"]) == 2
    assert "psc-conformance pki --out DIR" in capsys.readouterr().err


def test_reference_consumer_without_config_says_how_to_write_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the default is reference-proxy.toml in the current directory
    assert main(["reference", "consumer"]) == 2
    assert "psc-conformance pki --out DIR" in capsys.readouterr().err


def test_counterparts_without_a_pki_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["counterparts"]) == 2
    assert "no PKI: give --pki DIR" in capsys.readouterr().err
    config = tmp_path / "c.toml"
    config.write_text("[counterparts]\npsc_port = 19443\n", encoding="utf-8")
    assert main(["counterparts", "--config", str(config)]) == 2  # and no [campaign] pki_dir
    assert "[campaign]" in capsys.readouterr().err
    assert main(["counterparts", "--pki", str(tmp_path)]) == 2
    assert "not a PKI directory" in capsys.readouterr().err


def test_busy_ports_exit_3(pki_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        psc_port, api_port = free_ports(2)
        config = tmp_path / "c.toml"
        config.write_text(
            f"[counterparts]\npsc_port = {psc_port}\napi_as_port = {port}\napi_port = {api_port}\n",
            encoding="utf-8",
        )
        assert main(["counterparts", "--config", str(config), "--pki", str(pki_dir)]) == 3
        assert "choose free ports in [counterparts]" in capsys.readouterr().err
        proxy_config = str(pki_dir / "reference-proxy.toml")
        assert main(["reference", "consumer", "--config", proxy_config, "--port", str(port)]) == 3
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["counterparts"], ["reference"], ["reference", "consumer"], ["reference", "provider"]]
)
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: psc-conformance {' '.join(command)}" in capsys.readouterr().out
