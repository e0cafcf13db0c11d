"""Start the embedded reference proxy for a campaign, exactly as a vendor would start theirs.

The proxy is a separate process, configured only through the files a vendor gets
(`counterparts.json`, the PKI, its own TOML); the campaign then judges it over the wire like
any external SUT, with no in-process shortcut. It listens on a port the kernel picks when it binds
(port 0), which it prints (`conformance.reference.listening`).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.campaign.sut import SutProcess, SutUnreachable, wait_until_answering
from conformance.counterparts.suite import Counterparts
from conformance.pki import write_pki
from conformance.reference.consumer.variants import variant_settings
from conformance.reference.listening import announced_ports

P12_PASSWORD = "psc-conformance"
HOST = "127.0.0.1"
ANNOUNCEMENT = re.compile(r"serving https://[^\s/]+:(\d+)")  # `psc-conformance reference consumer`'s banner


@dataclass
class EmbeddedSut:
    base_url: str
    ca_file: Path
    process: SutProcess
    directory: Path
    idle_timeout_s: float
    upstream_timeout_s: float  # the bound the proxy really puts on its calls to PSC and the APIs

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def launch_reference_consumer(
    counterparts: Counterparts,
    log_path: Path,
    *,
    faults: Sequence[str] = (),
    variants: Sequence[str] = (),
    idle_timeout_s: float = 3.0,
    http_timeout_s: float = 5.0,
    startup_timeout_s: float = 30.0,
) -> EmbeddedSut:
    """Write the vendor's files for the running counterparts, start the proxy, wait until it answers.

    The files (keys included) go to a private temporary directory, never into the report; only
    the proxy's log is kept, at `log_path`. The settings some variants need (a longer upstream
    timeout) override `idle_timeout_s` and `http_timeout_s` in the proxy's file, and the returned
    SUT says which timeouts the proxy really uses, for the campaign to declare them.
    """
    settings: dict[str, float] = {
        "idle_timeout_s": idle_timeout_s,
        "http_timeout_s": http_timeout_s,
        **variant_settings(variants),
    }
    directory = Path(tempfile.mkdtemp(prefix="psc-conformance-sut-"))
    files = write_pki(counterparts.pki, directory, p12_password=P12_PASSWORD)
    counterparts.write_counterparts_file(directory, files, P12_PASSWORD)
    config = directory / "reference-proxy.toml"
    config.write_text(
        "[proxy]\n"
        'counterparts = "counterparts.json"\n'
        f'host = "{HOST}"\nport = 0\n'
        + "".join(f"{key} = {float(value)!r}\n" for key, value in settings.items()),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "conformance", "reference", "consumer", "--config", str(config)]
    for fault in faults:
        command += ["--fault", fault]
    for variant in variants:
        command += ["--variant", variant]
    process = SutProcess(tuple(command), log_path)
    process.start(cwd=directory)
    deadline = time.monotonic() + startup_timeout_s
    try:
        ports = announced_ports(log_path, ANNOUNCEMENT, exited=process.exited, deadline=deadline)
        if ports is None:
            status = process.exited()
            why = (
                f"exited with status {status}"
                if status is not None
                else f"gave no sign in {startup_timeout_s:g} s"
            )
            raise SutUnreachable(f"the reference proxy {why} before saying where it listens (see {log_path})")
        base_url = f"https://{HOST}:{ports[0]}"
        remaining = max(0.5, deadline - time.monotonic())
        wait_until_answering(base_url, timeout_s=remaining, ca_file=files.ca_bundle, process=process)
    except Exception:
        process.stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return EmbeddedSut(
        base_url,
        files.ca_bundle,
        process,
        directory,
        settings["idle_timeout_s"],
        settings["http_timeout_s"],
    )
