"""Starting, waiting for and stopping an external system under test (BRIEF §7 `[sut] start`).

Every wait is bounded: a SUT that never comes up costs `startup_timeout_s`, not a hung CI job.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx


class SutUnreachable(Exception):
    """The SUT did not answer in time; the campaign is reported as incomplete (exit status 3)."""


@dataclass
class SutProcess:
    """A SUT started by the harness, in its own process group so that stopping it stops its children."""

    command: tuple[str, ...]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise SutUnreachable(f"cannot start the SUT ({' '.join(self.command)}): {exc.strerror}") from None
        finally:
            log.close()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, grace_s: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=grace_s)
        except ProcessLookupError:
            pass


def liveness_context(ca_file: Path | None) -> ssl.SSLContext:
    """A context for the readiness probe only: it asks 'is something answering?', it judges nothing."""
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_until_answering(
    base_url: str,
    *,
    timeout_s: float,
    ca_file: Path | None = None,
    process: SutProcess | None = None,
    poll_s: float = 0.2,
) -> None:
    """Return once `base_url` gives any HTTP answer; raise `SutUnreachable` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    ctx = liveness_context(ca_file)
    with httpx.Client(verify=ctx, timeout=httpx.Timeout(min(5.0, timeout_s))) as client:
        while True:
            if process is not None and (code := process.exited()) is not None:
                raise SutUnreachable(
                    f"the SUT process exited with status {code} before answering at {base_url} "
                    f"(see {process.log_path})"
                )
            try:
                client.get(base_url)
                return
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                host = urlsplit(base_url).netloc
                raise SutUnreachable(
                    f"the SUT did not answer at {base_url} within {timeout_s:g} s "
                    f"(last error: {last_error}); "
                    f"check that it listens on {host} and that [sut] base_url is right"
                )
            time.sleep(poll_s)
