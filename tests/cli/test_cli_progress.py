"""`psc-conformance run` shows a campaign's progress on stderr: one updating line under a terminal (a
pseudo-terminal here), a line per theme through pipes (CI), nothing with --quiet; and, for an external SUT,
where the counterparts listen and that the SUT answered before the first scenario.

Each test runs a short real provider campaign (a few scenarios selected by -k) with `python -m conformance`.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from conformance.campaign.journal import PLAN
from conformance.cli import main as cli
from conformance.cli.progress import theme_of
from conformance.reference.listening import free_ports

SUBSET = "jeton or transport"  # two themes, a handful of scenarios: a campaign of a few seconds
CAMPAIGN_BOUND_S = 120.0  # start-up, PKI, reference SUT and the scenarios on a busy 2-core machine
TERMINAL_COLUMNS = 200


def _command(output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "conformance", "run", "--output", str(output), "-k", SUBSET, *extra]


def _run_with_pipes(output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(output, *extra), capture_output=True, text=True, timeout=CAMPAIGN_BOUND_S, check=False
    )


def _run_under_terminal(output: Path, *extra: str) -> tuple[int, str]:
    """The campaign with stderr on a pseudo-terminal (stdout piped away); its exit status and stderr."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, TERMINAL_COLUMNS, 0, 0))
    process = subprocess.Popen(
        _command(output, *extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    received = bytearray()
    deadline = time.monotonic() + CAMPAIGN_BOUND_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            received += chunk
        code = process.wait(timeout=max(deadline - time.monotonic(), 1.0))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, received.decode("utf-8").replace("\r\n", "\n")  # the terminal's own newline mapping


def _planned(output: Path) -> list[str]:
    return [entry["nodeid"] for entry in json.loads((output / PLAN).read_text(encoding="utf-8"))["scenarios"]]


def test_under_a_terminal_one_line_is_updated_in_place_then_ended(tmp_path: Path) -> None:
    code, stderr = _run_under_terminal(tmp_path / "run")
    assert code == 0, stderr
    total = len(_planned(tmp_path / "run"))
    assert 2 < total < 30  # the subset, not the whole campaign
    updates = [part.rstrip() for part in stderr.rstrip("\n").split("\r") if part.strip()]
    assert len(updates) >= 2, stderr  # drawn, then redrawn in place
    counted = [line for line in updates if not line.startswith("collecting scenarios... ")]  # until the plan
    assert counted and all(f"/{total} scenarios | " in line for line in counted), updates
    assert updates[-1].startswith(f"done: {total}/{total} scenarios | no failure | "), updates
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr  # a single line, ended once
    assert "scenarios done" not in stderr  # CI's per-theme lines are not for a terminal


def test_through_pipes_a_line_per_theme_and_a_final_line(tmp_path: Path) -> None:
    result = _run_with_pipes(tmp_path / "run")
    assert result.returncode == 0, result.stderr
    planned = _planned(tmp_path / "run")
    assert "\r" not in result.stderr
    lines = result.stderr.splitlines()
    themes = [line.split(":", 1)[0] for line in lines[:-1]]
    assert sorted(themes) == sorted({theme_of(nodeid) for nodeid in planned}), lines  # each theme once
    assert all(" scenarios done | " in line for line in lines[:-1]), lines
    assert lines[-1].startswith(f"done: {len(planned)}/{len(planned)} scenarios | no failure | "), lines


def test_quiet_shows_no_progress_but_the_summary(tmp_path: Path) -> None:
    result = _run_with_pipes(tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "scenarios |" not in result.stderr and "done:" not in result.stderr, result.stderr
    assert "report:" in result.stdout  # the final summary stays


def _external_provider(workdir: Path) -> tuple[Path, dict[str, int]]:
    """A campaign file whose [sut] start launches the reference provider as a vendor's SUT."""
    psc, api_as, api, token_port, resource_port = free_ports(5)
    start = [
        sys.executable,
        "-m",
        "conformance.reference.provider",
        "--config",
        "pki/reference-provider.toml",
    ]
    sut = {
        "role": "provider",
        "token_endpoint": f"https://127.0.0.1:{token_port}/realms/signsessiondata/protocol/openid-connect/token",
        "api_base_url": f"https://127.0.0.1:{resource_port}/mockservice/apipsc",
        "ca_file": "pki/ca-bundle.pem",
    }
    config = workdir / "campaign.toml"
    config.write_text(
        "[sut]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in sut.items())
        + f"start = {json.dumps(start)}\n"
        + f'[campaign]\npki_dir = "pki"\n[counterparts]\npsc_port = {psc}\napi_as_port = {api_as}\n'
        + f"api_port = {api}\n",
        encoding="utf-8",
    )
    pki_args = ["--role", "provider", "--provider-ports", f"{token_port},{resource_port}"]
    assert cli(["pki", "--out", str(workdir / "pki"), "--config", str(config), *pki_args]) == 0
    return config, {"psc_port": psc, "api_as_port": api_as}


def test_an_external_sut_is_announced_before_the_first_scenario(tmp_path: Path) -> None:
    config, ports = _external_provider(tmp_path)
    result = _run_with_pipes(tmp_path / "run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for index, (key, port) in enumerate(ports.items()):
        assert lines[index].endswith(f"listens on https://127.0.0.1:{port} ([counterparts] {key})"), lines
    assert lines[len(ports)].startswith("the SUT answered its health check (https://127.0.0.1:"), lines
    assert lines[-1].startswith("done: "), lines
