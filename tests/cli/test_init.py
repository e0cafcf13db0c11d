"""`psc-conformance init DIR`: the scaffold a vendor starts from loads, refuses to overwrite, and runs.

The end-to-end test does what the generated campaign.toml tells a vendor to do to see a campaign
before their proxy is connected (uncomment the example `start` line), then runs that campaign.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.campaign.attestation import load_attestations
from conformance.cli import main
from conformance.cli.init_cmd import CI_TEMPLATES, EXAMPLE_START
from conformance.config import load_config
from conformance.reference.listening import free_ports
from conformance.roles import Role

ROOT = Path(__file__).resolve().parents[2]
UNCOMMENT_INSTRUCTION = 'remove the "# " in front of the next line'
CAMPAIGN_TIMEOUT_S = 300  # one external consumer campaign takes about 50 s on a quiet machine


def init(directory: Path, *extra: str) -> int:
    """`init` on free ports, so that the test never depends on 9443-9445 or 8443 being free."""
    return main(init_arguments(directory, *extra))


def init_arguments(directory: Path, *extra: str) -> list[str]:
    psc, api_as, api, *sut = free_ports(5)
    role = extra[extra.index("--role") + 1] if "--role" in extra else "consumer"
    sut_ports = sut[:1] if role == "consumer" else sut
    return [
        "init",
        str(directory),
        "--counterpart-ports",
        f"{psc},{api_as},{api}",
        "--sut-ports",
        ",".join(map(str, sut_ports)),
        *extra,
    ]


def counterparts(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / "pki" / "counterparts.json").read_text("utf-8"))
    return document


def test_consumer_scaffold_is_a_valid_campaign_with_its_pki(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "vendor"
    assert init(target) == 0
    config = load_config(target / "campaign.toml")
    assert config.sut.role is Role.CONSUMER and config.sut.start == ()
    assert config.campaign.pki_dir == target / "pki" and (target / "pki" / "ca-bundle.pem").is_file()
    # counterparts.json announces the ports the campaign file serves the counterparts on
    psc_url = counterparts(target)["psc"]["discovery_url"]
    assert f":{config.counterparts.psc_port}/" in psc_url
    # the reference proxy of the example listens where base_url points, with the declared idle timeout
    proxy = tomllib.loads((target / "pki" / "reference-proxy.toml").read_text("utf-8"))["proxy"]
    assert config.sut.base_url == f"https://127.0.0.1:{proxy['port']}"
    assert proxy["idle_timeout_s"] == config.sut.declared["idle_timeout_s"]
    out = capsys.readouterr().out
    assert f"psc-conformance run --config {target / 'campaign.toml'}" in out
    assert "counterparts.json" in out and "ca-bundle.pem" in out and "server-sut.pem" in out


def test_attestation_template_attests_nothing_until_an_entry_is_uncommented(tmp_path: Path) -> None:
    assert init(tmp_path / "vendor") == 0
    path = tmp_path / "vendor" / "attestations.toml"
    assert load_attestations(path) == {}
    text = path.read_text("utf-8")
    entry = text.index('# [[attestation]]\n# requirement = "EXI PSC 01"')
    block = text[entry:].split("\n\n", 1)[0]
    path.write_text(text.replace(block, block.replace("# ", "", 5)), encoding="utf-8")
    assert list(load_attestations(path)) == ["EXI PSC 01"]


@pytest.mark.parametrize("name", CI_TEMPLATES)
def test_ci_recipes_are_those_of_the_documentation(tmp_path: Path, name: str) -> None:
    """The recipes ship inside the package (docs/ is not installed): the copies must not drift."""
    assert init(tmp_path / "vendor") == 0
    written = (tmp_path / "vendor" / "ci" / name).read_text("utf-8")
    assert written == (ROOT / "docs" / "ci" / name).read_text("utf-8")


def test_provider_scaffold(tmp_path: Path) -> None:
    target = tmp_path / "vendor"
    assert init(target, "--role", "provider") == 0
    config = load_config(target / "campaign.toml")
    assert config.sut.role is Role.PROVIDER
    provider = tomllib.loads((target / "pki" / "reference-provider.toml").read_text("utf-8"))["provider"]
    assert f":{provider['rs_port']}/" in str(config.sut.api_base_url)
    assert f":{provider['as_port']}/" in str(config.sut.token_endpoint)
    assert EXAMPLE_START[Role.PROVIDER] in (target / "campaign.toml").read_text("utf-8")


def test_second_init_refuses_to_overwrite_then_force_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "vendor"
    assert init(target) == 0
    campaign = target / "campaign.toml"
    campaign.write_text(campaign.read_text("utf-8").replace("My Proxy e-Santé", "Edited"), encoding="utf-8")
    bundle = (target / "pki" / "ca-bundle.pem").read_bytes()
    capsys.readouterr()
    assert init(target) == 2
    err = capsys.readouterr().err
    assert "campaign.toml" in err and "attestations.toml" in err and "pki/ (" in err and "--force" in err
    assert "Edited" in campaign.read_text("utf-8")
    assert (target / "pki" / "ca-bundle.pem").read_bytes() == bundle
    assert init(target, "--force") == 0
    assert "Edited" not in campaign.read_text("utf-8")
    assert (target / "pki" / "ca-bundle.pem").read_bytes() != bundle


def test_a_pki_directory_alone_is_protected_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "mine.pem").write_text("x", encoding="utf-8")
    assert init(tmp_path) == 2
    assert "pki/ (1 files)" in capsys.readouterr().err and not (tmp_path / "campaign.toml").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--counterpart-ports", "9443,9444"], "--counterpart-ports '9443,9444': expected 3"),
        (["--counterpart-ports", "9443,9444,9443"], "the ports must all differ"),
        (["--sut-ports", "0"], "--sut-ports '0': expected 1"),
        (["--role", "provider", "--sut-ports", "8446"], "--sut-ports '8446': expected 2"),
    ],
)
def test_bad_ports_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["init", str(tmp_path / "vendor"), *argv]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "vendor").exists()


def uncomment_example_start(campaign: Path) -> None:
    """Do exactly what the file's comment says: remove the "# " in front of the line after it."""
    lines = campaign.read_text("utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if UNCOMMENT_INSTRUCTION in line)
    example = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("# start = "))
    assert example <= index + 2, "the example must follow its instruction"
    lines[example] = lines[example].removeprefix("# ")
    campaign.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class VendorRun:
    """The scaffold's campaign, run as its comments tell a vendor to."""

    start: tuple[str, ...]  # the campaign file's `[sut] start`, once uncommented
    completed: subprocess.CompletedProcess[str]
    output: Path


def start_with_matrices(root: Path, items: list[pytest.Item]) -> dict[str, Future[VendorRun]]:
    """The vendor's campaign waits on the reference proxy's declared timers (about 25 s): it runs in the
    background from when the matrices' campaigns start (tests/conftest.py), the rest of the suite
    meanwhile."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="psc-init")
    try:
        return {"vendor": pool.submit(vendor_campaign, root)}
    finally:
        pool.shutdown(wait=False)


def vendor_campaign(root: Path) -> VendorRun:
    target = root / "vendor"
    # The vendor's shell finds `psc-conformance` on PATH; so must the SUT the harness starts here.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cli = [sys.executable, "-m", "conformance"]
    subprocess.run([*cli, *init_arguments(target)], env=env, capture_output=True, check=True, timeout=60)
    uncomment_example_start(target / "campaign.toml")
    start = load_config(target / "campaign.toml").sut.start
    out = root / "out"
    command = ["run", "--config", str(target / "campaign.toml"), "--output", str(out)]
    completed = subprocess.run(
        [*cli, *command],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=CAMPAIGN_TIMEOUT_S,
        check=False,
    )
    return VendorRun(start, completed, out)


@pytest.mark.with_matrices
def test_init_then_run_with_the_reference_proxy_as_the_vendors(
    background: dict[str, Future[VendorRun]],
) -> None:
    run = background["vendor"].result()
    assert run.start[:3] == ("psc-conformance", "reference", "consumer")
    completed, out = run.completed, run.output
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text("utf-8"))
    assert doc["sut"]["name"] == "My Proxy e-Santé"
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    assert "fail" not in verdicts.values()
    assert verdicts["EXI PSC 32"] == "pass"  # the declared idle timeout is the reference proxy's
    assert "Reference Proxy e-Santé serving" in (out / "sut.log").read_text("utf-8")
