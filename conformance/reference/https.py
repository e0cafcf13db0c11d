"""A small threaded HTTPS/1.1 server for the reference SUTs, the client certificate exposed.

Both reference SUTs serve through it: the reference Proxy e-Santé (its API Conformité, with keep-alive)
and the reference provider's two listeners (one request per connection). It is theirs alone: the
harness's counterparts have their own server (`conformance.tls`), so that a defect of one cannot hide
the same defect in the other. The TLS handshake runs in the connection's own thread (never in the accept
loop), so a slow or refused handshake holds up nobody else; the SSL context is read per connection, so a
fault or a variant can replace it on a live listener.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, urlsplit

_DEFAULT_LOG = logging.getLogger("conformance.reference")

MAX_BODY_BYTES: Final = 1024 * 1024
_POLL_INTERVAL_S: Final = 0.05
LEGACY_CIPHERS: Final = "DEFAULT:@SECLEVEL=0"  # OpenSSL 3 needs level 0 on both sides for TLS 1.0/1.1


@dataclass(frozen=True)
class Request:
    """One HTTP request as an application sees it; `path` excludes the query string."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    peer_cert_der: bytes | None  # the client's leaf certificate (DER), None without one
    client_address: tuple[str, int]
    tls_version: str | None = None

    def header(self, name: str) -> str | None:
        """First value of a header (case-insensitive)."""
        value = self.headers.get(name)
        return None if value is None else str(value)

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower case ('' when absent)."""
        return (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not)."""
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(
            status,
            {"Content-Type": "application/json", **(headers or {})},
            json.dumps(data, ensure_ascii=False).encode("utf-8"),
        )

    @classmethod
    def text(cls, text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(
            status, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}, text.encode("utf-8")
        )


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Every answer of the provider is JSON (RFC 6749 §5.1 and the API PSC contract)."""
    return Response.json(data, status, headers)


class App(Protocol):
    """What a listener serves: an answer to every request, and the answer when that fails."""

    def handle(self, request: Request) -> Response: ...

    def internal_error(self, exc: Exception) -> Response: ...


def _minimal_internal_error() -> Response:
    return json_response({"code": "internal_error", "message": "internal error"}, 500)


def _malformed_json(status: int, message: str) -> Response:
    return json_response({"code": "invalid_request", "message": message}, status)


Malformed = Callable[[int, str], Response]  # the answer to a request that cannot be read as HTTP


def allow_legacy_versions(context: ssl.SSLContext) -> None:
    """TLS 1.0 and 1.1 accepted (a fault of either reference SUT, on a listener or an outgoing context):
    the minimum lowered, and the security level with it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"ssl\.TLSVersion\.", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers(LEGACY_CIPHERS)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, listener: HttpsListener, address: tuple[str, int], family: socket.AddressFamily
    ) -> None:
        self.address_family = family
        self.listener = listener
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN (a reverse DNS lookup): not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        tls = self.listener.handshake(request, client_address)
        if tls is None:
            return
        try:
            self.finish_request(tls, client_address)
        except Exception as exc:  # a broken connection: nothing to answer to
            self.listener.log.debug(
                "%s: connection from %s ended: %r", self.listener.name, client_address[0], exc
            )
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.listener.log.debug("%s: error on the connection from %s", self.listener.name, client_address[0])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "psc-conformance-reference"
    sys_version = ""
    disable_nagle_algorithm = True  # keep-alive request/response otherwise stalls ~40 ms on delayed ACKs
    server: _Server

    def version_string(self) -> str:
        return self.server_version  # the stdlib appends " " and the empty sys_version

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the application (`do_GET`, `do_PUT`, ... and unknown ones alike), which
        answers 404 or 405 as its contract says, instead of the stdlib's 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        listener = self.server.listener
        if not listener.keep_alive:
            self.close_connection = True
        started = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        target = urlsplit(self.path)
        connection = self.connection
        assert isinstance(connection, ssl.SSLSocket)
        request = Request(
            method=self.command.upper(),
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            peer_cert_der=connection.getpeercert(binary_form=True),
            client_address=(str(self.client_address[0]), int(self.client_address[1])),
            tls_version=connection.version(),
        )
        response = listener.respond(request)
        self._send(response)
        listener.log_request(request, response.status, time.monotonic() - started)

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked), or None after answering 400 / 413."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        try:
            length = int(text)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "invalid Content-Length")
            return None
        if length > self.server.listener.max_body:
            self.send_error(413, "request body too large")
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.send_error(400, "invalid chunked body")
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(chunks)
            total += size
            if total > self.server.listener.max_body:
                self.send_error(413, "request body too large")
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in response.headers):
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get the application's kind of error too, never the stdlib's HTML page."""
        self.close_connection = True
        self._send(self.server.listener.malformed(code, message or "bad request"))
        self.server.listener.log.info(
            "%s %s malformed request -> %d", self.server.listener.name, self.client_address[0], code
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: each request is logged once, by `HttpsListener.log_request`."""


class HttpsListener:
    """One HTTPS listener serving `app`; bound at construction, so its port is known before it serves.

    With `keep_alive`, a connection serves requests until the client closes it or stays silent
    `timeout_s`; without, every answer closes it (`Connection: close`). `malformed` answers a request
    that cannot be read (a bad Content-Length or chunk, a body over `max_body` bytes)."""

    def __init__(
        self,
        name: str,
        context: ssl.SSLContext,
        host: str,
        port: int,
        *,
        timeout_s: float = 10.0,
        max_body: int = MAX_BODY_BYTES,
        keep_alive: bool = False,
        malformed: Malformed = _malformed_json,
        log: logging.Logger = _DEFAULT_LOG,
    ) -> None:
        self.name = name
        self.context = context  # read per connection: replacing it changes the next handshakes
        self.timeout_s = timeout_s
        self.max_body = max_body
        self.keep_alive = keep_alive
        self.malformed = malformed
        self.log = log  # each request in one line, at INFO; the SUT decides where it goes
        self.app: App | None = None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _Server(self, (host, port), family)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def url(self) -> str:
        """`https://host:port`, a wildcard bind given as loopback."""
        host = self.address[0]
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},
            name=f"reference-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self._server.server_close()

    def handshake(self, raw: socket.socket, client_address: tuple[str, int]) -> ssl.SSLSocket | None:
        """The TLS session of an accepted connection, or None (logged, connection closed) if refused."""
        raw.settimeout(self.timeout_s)
        try:
            tls = self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except (ssl.SSLError, OSError) as exc:
            self.log.info("%s %s TLS setup failed: %s", self.name, client_address[0], exc)
            raw.close()
            return None
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            self.log.info("%s %s TLS handshake refused: %s", self.name, client_address[0], reason)
            tls.close()
            return None
        return tls

    def respond(self, request: Request) -> Response:
        """The application's answer; an unexpected exception becomes its internal-error answer."""
        app = self.app
        if app is None:
            return _minimal_internal_error()
        try:
            return app.handle(request)
        except Exception as exc:
            self.log.error("%s %s %s failed: %s", self.name, request.method, request.path, type(exc).__name__)
            try:
                return app.internal_error(exc)
            except Exception:
                return _minimal_internal_error()

    def log_request(self, request: Request, status: int, duration_s: float) -> None:
        """One line per request: never a header or a body (tokens and secrets travel there)."""
        self.log.info(
            "%s %s %s %s -> %d (%.0f ms, %s, %s)",
            self.name,
            request.client_address[0],
            request.method,
            request.path,
            status,
            duration_s * 1000,
            request.tls_version or "-",
            "client certificate" if request.peer_cert_der else "no client certificate",
        )


__all__ = [
    "LEGACY_CIPHERS",
    "MAX_BODY_BYTES",
    "App",
    "HttpsListener",
    "Malformed",
    "Request",
    "Response",
    "allow_legacy_versions",
    "json_response",
]
