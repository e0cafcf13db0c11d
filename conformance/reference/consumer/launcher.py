"""Start the embedded reference proxy for a campaign, exactly as a vendor would start theirs.

The proxy is a separate process, configured only through the files a vendor gets
(`counterparts.json`, the PKI, its own TOML); the campaign then judges it over the wire like
any external SUT, with no in-process shortcut.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.campaign.sut import SutProcess, wait_until_answering
from conformance.counterparts.suite import Counterparts
from conformance.pki import write_pki
from conformance.reference.consumer.variants import variant_settings

P12_PASSWORD = "psc-conformance"


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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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
    port = free_port()
    config = directory / "reference-proxy.toml"
    config.write_text(
        "[proxy]\n"
        'counterparts = "counterparts.json"\n'
        f"port = {port}\n" + "".join(f"{key} = {float(value)!r}\n" for key, value in settings.items()),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "conformance", "reference", "consumer", "--config", str(config)]
    for fault in faults:
        command += ["--fault", fault]
    for variant in variants:
        command += ["--variant", variant]
    process = SutProcess(tuple(command), log_path)
    process.start(cwd=directory)
    base_url = f"https://127.0.0.1:{port}"
    try:
        wait_until_answering(base_url, timeout_s=startup_timeout_s, ca_file=files.ca_bundle, process=process)
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
