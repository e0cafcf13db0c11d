"""The campaigns the benchmark times: a role's reference SUT, embedded or started as an external SUT.

- `reference`: `psc-conformance run --role R`, the embedded reference SUT on ephemeral ports with the
  short timers of an embedded campaign (for the consumer, PSC announces a CIBA `interval` of 0.1 s).
- `external`: the same reference SUT run the way a vendor runs theirs: a campaign file whose `[sut] start`
  launches it from the files `psc-conformance pki` writes, counterparts on fixed (free) ports, PSC's
  default timings. For the consumer this is the realistic case "waits the CIBA `interval` (1 s) before
  every poll"; its idle and upstream timeouts stay those of the embedded campaign, so that only the
  interval differs. For the provider there is no interval: only the way the SUT is started differs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from conformance.cli import main as cli
from conformance.reference.listening import free_ports
from conformance.roles import Role
from conformance.roles.consumer.bringup import EMBEDDED_IDLE_TIMEOUT_S, EMBEDDED_UPSTREAM_TIMEOUT_S

_PYTHON_MODULE = (sys.executable, "-m")  # how the SUT's `[sut] start` runs a module of this harness


class Case(StrEnum):
    REFERENCE = "reference"
    EXTERNAL = "external"


@dataclass(frozen=True)
class CampaignCase:
    role: Role
    case: Case

    @property
    def name(self) -> str:
        return f"{self.role.value}/{self.case.value}"

    @property
    def description(self) -> str:
        if self.case is Case.REFERENCE:
            detail = ", CIBA interval 0.1 s" if self.role is Role.CONSUMER else ""
            return f"embedded reference {self.role.value}{detail}"
        detail = " (waits the CIBA interval of 1 s before every poll)" if self.role is Role.CONSUMER else ""
        return f"reference {self.role.value} as an external SUT{detail}"

    def run_arguments(self, workdir: Path) -> list[str]:
        """The `psc-conformance run` options that select this campaign (files written into `workdir`)."""
        if self.case is Case.REFERENCE:
            return ["--role", self.role.value]
        workdir.mkdir(parents=True, exist_ok=True)
        writer = _write_external_consumer if self.role is Role.CONSUMER else _write_external_provider
        return ["--config", str(writer(workdir))]


def _write_pki(workdir: Path, config: Path, *extra: str) -> Path:
    pki = workdir / "pki"
    status = cli(["pki", "--out", str(pki), "--config", str(config), "--force", *extra])
    if status != 0:
        raise RuntimeError(f"psc-conformance pki exited {status}")
    return pki


def _counterparts_table(psc: int, api_as: int, api: int) -> str:
    return f"[counterparts]\npsc_port = {psc}\napi_as_port = {api_as}\napi_port = {api}\n"


def _write_external_consumer(workdir: Path) -> Path:
    psc, api_as, api, proxy = free_ports(4)
    config = workdir / "campaign.toml"
    start = [*_PYTHON_MODULE, "conformance", "reference", "consumer", "--config", "pki/reference-proxy.toml"]
    config.write_text(
        "[sut]\n"
        'role = "consumer"\n'
        'name = "reference proxy, external"\n'
        f'base_url = "https://127.0.0.1:{proxy}"\n'
        f"start = {json.dumps(start)}\n"
        'ca_file = "pki/ca-bundle.pem"\n'
        "[sut.declared]\n"
        f"idle_timeout_s = {EMBEDDED_IDLE_TIMEOUT_S}\n"
        f"upstream_timeout_s = {EMBEDDED_UPSTREAM_TIMEOUT_S}\n"
        '[campaign]\npki_dir = "pki"\n' + _counterparts_table(psc, api_as, api),
        encoding="utf-8",
    )
    idle = str(int(EMBEDDED_IDLE_TIMEOUT_S))
    pki = _write_pki(
        workdir, config, "--role", "consumer", "--proxy-port", str(proxy), "--proxy-idle-timeout", idle
    )
    proxy_file = pki / "reference-proxy.toml"
    proxy_file.write_text(
        proxy_file.read_text(encoding="utf-8") + f"http_timeout_s = {EMBEDDED_UPSTREAM_TIMEOUT_S}\n",
        encoding="utf-8",
    )
    return config


def _write_external_provider(workdir: Path) -> Path:
    psc, api_as, api, as_port, rs_port = free_ports(5)
    config = workdir / "campaign.toml"
    start = [*_PYTHON_MODULE, "conformance.reference.provider", "--config", "pki/reference-provider.toml"]
    base = f"https://127.0.0.1:{rs_port}/mockservice/apipsc"
    token = f"https://127.0.0.1:{as_port}/realms/signsessiondata/protocol/openid-connect/token"
    config.write_text(
        "[sut]\n"
        'role = "provider"\n'
        'name = "reference provider, external"\n'
        f'token_endpoint = "{token}"\n'
        f'api_base_url = "{base}"\n'
        f"start = {json.dumps(start)}\n"
        'ca_file = "pki/ca-bundle.pem"\n'
        '[campaign]\npki_dir = "pki"\n' + _counterparts_table(psc, api_as, api),
        encoding="utf-8",
    )
    _write_pki(workdir, config, "--role", "provider", "--provider-ports", f"{as_port},{rs_port}")
    return config
