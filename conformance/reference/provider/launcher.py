"""Start the reference data provider for a campaign, exactly as a vendor would start theirs.

The provider is a separate process in its own process group, configured only through the files a
vendor gets (`counterparts.json`, the PKI, its own TOML); the campaign then judges it over the wire
like any external SUT. The harness has already written the PKI and counterparts.json into the
directory; this module adds `reference-provider.toml` there, on ports 0: the kernel picks two free
ports as the provider binds, and the provider prints them (`conformance.reference.listening`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from conformance.reference.listening import announced_ports
from conformance.reference.provider.faults import FAULT_CATALOGUE
from conformance.reference.provider.settings import DEFAULTS, load_settings, write_config
from conformance.reference.provider.tls import outgoing_context
from conformance.reference.provider.urls import ProviderUrls, origin
from conformance.reference.provider.variants import VARIANT_CATALOGUE, variant_settings
from conformance.roles import Role

HOST: Final = "127.0.0.1"
STOP_TIMEOUT_S: Final = 10.0
_PROBE_PERIOD_S: Final = 0.05
_PROJECT_ROOT: Final = Path(__file__).resolve().parents[3]  # provider/ → reference/ → conformance/ → root
# What the provider prints once both listeners are bound (conformance/reference/provider/__main__.py).
ANNOUNCEMENT: Final = re.compile(r": AS https://[^\s/]+:(\d+)\S*, RS https://[^\s/]+:(\d+)")


class ProviderStartError(RuntimeError):
    """The provider process exited, or did not answer in time; the message ends with its log's tail."""


@dataclass
class EmbeddedProvider:
    as_issuer: str
    token_endpoint: str
    introspection_endpoint: str
    jwks_uri: str
    rs_base_url: str
    ca_file: Path
    settings: dict[str, float | bool]  # the numeric and boolean settings the provider really runs with
    config: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        """SIGTERM to its process group, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
        _stop_process_group(self.process)


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)


def _log_tail(log_path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_answering(
    urls: Sequence[str],
    context: ssl.SSLContext,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout_s: float,
    deadline: float,
) -> None:
    """Until each URL answers over TLS (any HTTP status), the process dies, or `deadline` passes."""
    pending = list(urls)
    with httpx.Client(verify=context, timeout=2.0) as client:
        while pending:
            _check_running(process, log_path)
            for url in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    client.get(url)
                    pending.remove(url)
            if pending:
                if time.monotonic() > deadline:
                    raise ProviderStartError(
                        f"the reference provider did not answer at {', '.join(pending)} "
                        f"within {timeout_s:g} s:\n"
                        f"{_log_tail(log_path)}"
                    )
                time.sleep(_PROBE_PERIOD_S)


def _check_running(process: subprocess.Popen[bytes], log_path: Path) -> None:
    status = process.poll()
    if status is not None:
        raise ProviderStartError(
            f"the reference provider exited with status {status} before answering:\n{_log_tail(log_path)}"
        )


def launch_reference_provider(
    directory: Path,
    log_path: Path,
    *,
    faults: Sequence[str] = (),
    variants: Sequence[str] = (),
    startup_timeout_s: float = 30.0,
    settings: Mapping[str, float | bool] | None = None,
) -> EmbeddedProvider:
    """Write `directory/reference-provider.toml` (ports 0), start the provider, read the ports it bound from
    its log, wait until both listeners answer over TLS.

    `settings` overrides the provider's numeric and boolean settings (token_ttl_s, introspection_cache_s,
    http_timeout_s, trust_harness_as); the settings the variants need win over them. The returned
    provider says which settings it really runs with. Unknown fault or variant names: UsageError, before
    anything starts.
    """
    directory = Path(directory)
    faults = FAULT_CATALOGUE.check_names(faults, Role.PROVIDER)
    variants = VARIANT_CATALOGUE.check_names(variants, Role.PROVIDER)
    used: dict[str, float | bool] = {
        key: value
        for key, value in DEFAULTS.items()
        if isinstance(value, int | float) and not key.endswith("_port")
    }
    used.update(settings or {})
    used.update(variant_settings(variants))
    overrides: dict[str, Any] = {"host": HOST, **used}
    config = write_config(directory, as_port=0, rs_port=0, **overrides)
    provider_settings = load_settings(config)
    command = [sys.executable, "-m", "conformance.reference.provider", "--config", str(config)]
    command += [arg for name in faults for arg in ("--fault", name)]
    command += [arg for name in variants for arg in ("--variant", name)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    deadline = time.monotonic() + startup_timeout_s
    try:
        ports = announced_ports(log_path, ANNOUNCEMENT, exited=process.poll, deadline=deadline)
        if ports is None:
            _check_running(process, log_path)
            raise ProviderStartError(
                f"the reference provider did not say where it listens within {startup_timeout_s:g} s:\n"
                f"{_log_tail(log_path)}"
            )
        as_port, rs_port = ports
        urls = ProviderUrls(HOST, as_port, rs_port)
        # With the provider's own client certificate: the rs_rejects_in_handshake variant requires one.
        context = outgoing_context(provider_settings, provider_settings.provider_client)
        _wait_until_answering(
            [origin(HOST, as_port) + "/", origin(HOST, rs_port) + "/"],
            context,
            process,
            log_path,
            startup_timeout_s,
            deadline,
        )
    except BaseException:
        _stop_process_group(process)
        raise
    return EmbeddedProvider(
        as_issuer=urls.issuer,
        token_endpoint=urls.token_endpoint,
        introspection_endpoint=urls.introspection_endpoint,
        jwks_uri=urls.jwks_uri,
        rs_base_url=urls.rs_base_url,
        ca_file=provider_settings.ca_bundle,
        settings=used,
        config=config,
        log_path=log_path,
        process=process,
    )


__all__ = ["EmbeddedProvider", "ProviderStartError", "launch_reference_provider"]
