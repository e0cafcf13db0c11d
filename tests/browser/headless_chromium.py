"""Headless Chromium driven with the standard library only (no selenium, no playwright).

Two uses: `probe_report` opens a report in an iframe of a probe page and measures it as a reader would see
it (visibility, widths, injected elements), read back through `--dump-dom`; `screenshot` takes the picture
for the docs. Every Chromium run is bounded in time and its whole process group is killed afterwards (the
browser leaves helpers such as the crash handler behind). Each run goes through `ConnectionRecorder`, a
listener posing as Chromium's HTTP proxy for every destination, loopback included, so that any fetch a
report tries is seen.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

CHROMIUM_NAMES: Final = ("chromium", "chromium-browser")
CHROMIUM_TIMEOUT_S: Final = 90.0  # a cold start on a busy 2-core machine takes a few seconds; a hang, forever
PROBE_SCRIPT: Final = Path(__file__).with_name("report_probe.js")
_RESULT_ID: Final = "psc-probe-result"
_REFUSAL: Final = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_RESULT: Final = re.compile(rf'<pre id="{_RESULT_ID}">(.*?)</pre>', re.DOTALL)
# Chromium's own traffic is switched off so that the recorder sees only what a page asks for: updates,
# safe browsing, metrics, network time, optimization hints, the on-device model manifest (read from an
# empty directory instead). The one service with no off switch, the sign-in probe (`ListAccounts`, sent
# for every profile once its network is up), is sent to OWN_TRAFFIC_HOST, a name no report can contain.
OWN_TRAFFIC_HOST: Final = "chromium-own-traffic.invalid"
_QUIET_FLAGS: Final = (
    "--headless",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-component-extensions-with-background-pages",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-features="
    + ",".join(
        (
            "NetworkTimeServiceQuerying",
            "OptimizationHints",
            "OptimizationHintsFetching",
            "OptimizationGuideModelDownloading",
            "OptimizationTargetPrediction",
            "OptimizationHintsFetchingAnonymousDataConsent",
            "OptimizationGuideOnDeviceModel",
            "Translate",
            "MediaRouter",
            "DialMediaRouteProvider",
        )
    ),
    f"--gaia-url=http://{OWN_TRAFFIC_HOST}/",
    "--metrics-recording-only",
    "--no-pings",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
)


class ChromiumError(RuntimeError):
    """Chromium failed, hung, or printed something other than what was asked for."""


def find_chromium() -> str | None:
    """The Chromium binary on PATH (Debian names it `chromium`, some distributions `chromium-browser`)."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


NO_REQUEST_LINE: Final = "(a connection that sent no request line)"
FIRST_LINE_WAIT_S: Final = 10.0  # Chromium on a loaded 2-core machine can take seconds to use a socket


class ConnectionRecorder:
    """A TCP listener on 127.0.0.1 given to Chromium as its proxy: it records the first line of every
    connection (`CONNECT host:443 HTTP/1.1`, `GET http://host/ HTTP/1.1`) and refuses it with a 403.
    `seen` is what pages asked for; `own` is Chromium's own traffic, sent to OWN_TRAFFIC_HOST."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="chromium-proxy-recorder", daemon=True)

    def __enter__(self) -> ConnectionRecorder:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    @property
    def seen(self) -> list[str]:
        """Every request so far not from Chromium itself, by its first request line."""
        with self._lock:
            return [
                line
                for line in self._lines
                if line != NO_REQUEST_LINE and _target_host(line) != OWN_TRAFFIC_HOST
            ]

    @property
    def own(self) -> list[str]:
        """Chromium's own requests (see OWN_TRAFFIC_HOST), and connections that named no target at all: a
        request through a proxy names its target in its first line (`CONNECT host:port`, `GET http://…`),
        so a connection that sent none fetched nothing; Chromium opens such sockets to its proxy ahead of
        use, and on a loaded machine one can stay silent past the recorder's wait."""
        with self._lock:
            return [
                line
                for line in self._lines
                if line == NO_REQUEST_LINE or _target_host(line) == OWN_TRAFFIC_HOST
            ]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            # One thread a connection: a silent one must not hold up the next while its first line is awaited.
            threading.Thread(target=self._record, args=(connection,), daemon=True).start()

    def _record(self, connection: socket.socket) -> None:
        with connection:
            line = self._first_line(connection)
            with self._lock:
                self._lines.append(line)
            with contextlib.suppress(OSError):
                connection.sendall(_REFUSAL)

    @staticmethod
    def _first_line(connection: socket.socket) -> str:
        connection.settimeout(FIRST_LINE_WAIT_S)
        data = b""
        try:
            while b"\n" not in data and len(data) < 8192:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        line = data.split(b"\r\n", 1)[0].decode("latin-1").strip()
        return line or NO_REQUEST_LINE


@dataclass(frozen=True)
class Chromium:
    """One Chromium binary, run headless with its network going to `proxy_port`."""

    binary: str
    proxy_port: int
    timeout_s: float = CHROMIUM_TIMEOUT_S

    def command(self, scratch: Path, *arguments: str) -> list[str]:
        """The command line, with a fresh profile and an empty model manifest under `scratch`."""
        manifest = scratch / "no-model-manifest"
        manifest.mkdir(exist_ok=True)
        flags = [
            self.binary,
            *_QUIET_FLAGS,
            f"--user-data-dir={scratch / 'profile'}",
            f"--optimization-guide-manifest-override={manifest}",
            f"--proxy-server=http://127.0.0.1:{self.proxy_port}",
            "--proxy-bypass-list=<-loopback>",  # loopback too goes through the recorder
        ]
        if os.geteuid() == 0:  # Chromium refuses to start as root with its sandbox (CI runs as root)
            flags.append("--no-sandbox")
        return [*flags, *arguments]

    def run(self, *arguments: str) -> str:
        """Run Chromium with `arguments` and a fresh profile; its standard output."""
        with tempfile.TemporaryDirectory(prefix="psc-chromium-") as scratch:
            output = Path(scratch, "stdout")
            # Output to files, not pipes: a helper process that outlives the browser would hold a pipe open.
            with output.open("wb") as out, Path(scratch, "stderr").open("wb") as err:
                process = subprocess.Popen(
                    self.command(Path(scratch), *arguments),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    env={**os.environ, "HOME": scratch},
                )
                try:
                    code = process.wait(timeout=self.timeout_s)
                except subprocess.TimeoutExpired:
                    code = None
                finally:
                    _kill_group(process.pid)
                    process.wait(timeout=10)
            stderr = Path(scratch, "stderr").read_text("utf-8", "replace")
            if code is None:
                raise ChromiumError(f"Chromium did not end within {self.timeout_s:.0f} s:\n{stderr[-3000:]}")
            if code != 0:
                raise ChromiumError(f"Chromium exited with {code}:\n{stderr[-3000:]}")
            return output.read_text("utf-8", "replace")

    def probe_report(
        self,
        report: Path,
        *,
        widths: Sequence[int] = (1400, 1280),
        height: int = 900,
        requirements: Sequence[str] = (),
        needles: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Measurements of `report` opened in an iframe `widths[0]` x `height` pixels (see report_probe.js):
        the global verdict, each requirement section whose anchor is in `requirements`, the document's
        widths at each of `widths`, the elements and attributes that could run code, and which `needles`
        appear in the page's text."""
        config = {
            "report": report.resolve().as_uri(),
            "widths": list(widths),
            "height": height,
            "requirements": list(requirements),
            "needles": list(needles),
        }
        with tempfile.TemporaryDirectory(prefix="psc-probe-") as scratch:
            page = Path(scratch, "probe.html")
            page.write_text(_probe_page(config), "utf-8")
            dom = self.run(
                "--allow-file-access-from-files",  # the probe page reads the report's DOM in its iframe
                f"--window-size={max(widths) + 100},{height + 100}",
                "--dump-dom",
                page.as_uri(),
            )
        match = _RESULT.search(dom)
        if match is None or not match.group(1).strip():
            raise ChromiumError(f"the probe page wrote no result; Chromium printed:\n{dom[:2000]}")
        result: dict[str, Any] = json.loads(html.unescape(match.group(1)))
        if "error" in result:
            raise ChromiumError(f"the probe failed in the browser: {result['error']}")
        return result

    def screenshot(self, page: Path, image: Path, width: int = 1400, height: int = 900) -> None:
        """A PNG of the first `width` x `height` pixels of `page` (scrollbars hidden, as on paper)."""
        image.parent.mkdir(parents=True, exist_ok=True)
        image.unlink(missing_ok=True)
        self.run(
            f"--screenshot={image.resolve()}",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            page.resolve().as_uri(),
        )
        if not image.is_file() or image.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            raise ChromiumError(f"Chromium wrote no PNG at {image}")


def _probe_page(config: dict[str, Any]) -> str:
    """The probe page: the probe script inline, started with `config` (JSON is valid JavaScript; `<` is
    escaped so that no value can close the script element)."""
    literal = json.dumps(config).replace("<", "\\u003c")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>report probe</title></head>\n'
        f'<body style="margin:0"><pre id="{_RESULT_ID}"></pre>\n'
        f"<script>\n{PROBE_SCRIPT.read_text('utf-8')}\nstartProbe({literal});\n</script>\n</body></html>\n"
    )


def _target_host(request_line: str) -> str | None:
    """The host a proxy request line asks for: `CONNECT host:port …` or `GET http://host:port/… …`."""
    parts = request_line.split()
    if len(parts) < 2:
        return None
    target = parts[1] if parts[0] != "CONNECT" else f"//{parts[1]}"
    try:
        return urlsplit(target).hostname
    except ValueError:
        return None


def _kill_group(pid: int) -> None:
    """End the browser and every helper it started: they share the session started for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
