"""A small threaded HTTPS/1.1 server for the harness counterparts (simulated PSC, API PSC, …).

Why not a framework: the handler must see the TLS session (negotiated version, cipher, the client
certificate for RFC 8705 binding), failed handshakes must be recorded rather than lost, and adversarial
modes (:mod:`conformance.tls.modes`) need hooks at the connection level. stdlib `http.server` with one
thread per connection gives all of that.

Each accepted connection is wrapped with ``do_handshake_on_connect=False`` and the handshake runs in the
connection's own thread, so a slow or failing client never blocks the accept loop. Every socket
operation is bounded by ``timeout``. Subclasses can override :meth:`TLSServer.handshake`,
:meth:`TLSServer.serve_connection` or :meth:`TLSServer.handle_request`.

Every request gets a process-unique id (``Request.id``) and is passed to the optional observer with the
response it got, so counterparts can log what the SUT sent them and scenarios can correlate it.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import itertools
import json
import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import parse_qs, urlsplit

from cryptography import x509

from conformance.pki.facts import certificate_facts
from conformance.tls.modes import ListenerMode, ModeContexts, ModeSettings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024
_NO_BODY_STATUSES: Final = frozenset({204, 304})


@dataclass(frozen=True)
class TLSInfo:
    """What the TLS layer established for a connection; the peer fields are None without a client cert."""

    version: str | None
    cipher: str | None
    alpn_protocol: str | None = None
    peer_cert_der: bytes | None = None
    peer_subject: str | None = None
    peer_issuer: str | None = None
    peer_serial: int | None = None
    peer_common_name: str | None = None
    peer_x5t_s256: str | None = None

    @classmethod
    def from_socket(cls, sock: ssl.SSLSocket) -> TLSInfo:
        """Read the session of a handshaken socket (on Python 3.11 only the peer's leaf is available)."""
        cipher = sock.cipher()
        der = sock.getpeercert(binary_form=True)
        info = cls(
            version=sock.version(),
            cipher=cipher[0] if cipher else None,
            alpn_protocol=sock.selected_alpn_protocol(),
            peer_cert_der=der,
        )
        if not der:
            return info
        facts = certificate_facts(der)
        return replace(
            info,
            peer_x5t_s256=facts.x5t_s256,
            peer_subject=facts.subject,
            peer_issuer=facts.issuer,
            peer_serial=facts.serial,
            peer_common_name=facts.common_name,
        )

    @property
    def peer_cert(self) -> x509.Certificate | None:
        return x509.load_der_x509_certificate(self.peer_cert_der) if self.peer_cert_der else None


_request_ids = itertools.count(1)  # next() on a count is atomic under the GIL


def next_request_id() -> str:
    """A short id, unique within the process and increasing, e.g. ``r-000042``."""
    return f"r-{next(_request_ids):06d}"


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handler sees it. `path` is the raw path, without the query string."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: http.client.HTTPMessage
    body: bytes
    tls: TLSInfo
    client_address: tuple[str, int]
    id: str = field(default_factory=next_request_id)
    # Whom the request concerns (a professional's national id, a token's subject), as the handler learns
    # it: scenarios running at the same time tell their traffic apart by it.
    subjects: list[str] = field(default_factory=list, compare=False)

    def concerns(self, *subjects: str | None) -> None:
        """Note whom this request concerns (empty values are ignored)."""
        self.subjects.extend(s for s in subjects if s)

    def header(self, name: str) -> str | None:
        """First value of a header (case-insensitive)."""
        return self.headers.get(name)

    def form(self) -> dict[str, list[str]]:
        """The body decoded as `application/x-www-form-urlencoded` (empty dict for other content types)."""
        content_type = (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return {}
        return parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def param(self, name: str) -> str | None:
        """First value of a form field, else of a query parameter."""
        values = self.form().get(name) or self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    """What a handler returns. Content-Length is added unless the headers set it."""

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


Handler = Callable[[Request], Response | None]  # None: reset the connection, answering nothing


def answer_in_mode(
    settings: ModeSettings, stopping: threading.Event, serve: Callable[[], Response | None]
) -> Response | None:
    """The answer a listener mode imposes on a request (None: reset the connection): a reset, a stall then
    `serve()` (a reset if `stopping` is set meanwhile), a canned error, else `serve()`."""
    if settings.mode is ListenerMode.RESET:
        return None
    if settings.mode is ListenerMode.SLOW and stopping.wait(settings.slow_s):
        return None  # stopping during the stall: drop the connection rather than hold shutdown up
    canned = settings.canned_response()
    return Response(*canned) if canned is not None else serve()


# (request, response, started_at as time.time(), duration in seconds). The response has status 0 when
# the connection was reset instead of answered (ListenerMode.RESET, or stop() during a SLOW delay).
Observer = Callable[[Request, Response, float, float], None]


@dataclass(frozen=True)
class HandshakeFailure:
    """A connection whose TLS handshake did not complete, with OpenSSL's reason when there is one."""

    client_address: tuple[str, int]
    error_type: str  # exception class, e.g. SSLCertVerificationError, SSLError, TimeoutError
    reason: str | None  # OpenSSL reason code, e.g. CERTIFICATE_VERIFY_FAILED, UNSUPPORTED_PROTOCOL
    verify_message: str | None  # X.509 verification message, e.g. "certificate has expired"
    message: str
    at: float  # time.time()

    @classmethod
    def from_exception(cls, client_address: tuple[str, int], exc: BaseException) -> HandshakeFailure:
        return cls(
            client_address=client_address,
            error_type=type(exc).__name__,
            reason=getattr(exc, "reason", None),
            verify_message=getattr(exc, "verify_message", None),
            message=str(exc),
            at=time.time(),
        )


class _HTTPSServer(http.server.HTTPServer):
    """Accept loop only: every connection goes to the owning `TLSServer`, which runs it in a new thread
    (like `socketserver.ThreadingMixIn`, plus tracking so that `stop()` can interrupt and join them)."""

    request_queue_size = 64

    def __init__(self, owner: TLSServer, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.owner = owner
        self.address_family = family
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it, it can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._start_connection_thread(request, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error while serving %s", client_address)


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; dispatches every method to the owner's `handle_request`."""

    protocol_version = "HTTP/1.1"
    server_version = "psc-conformance"
    sys_version = ""
    disable_nagle_algorithm = True  # keep-alive request/response otherwise stalls ~40 ms on delayed ACKs

    @property
    def owner(self) -> TLSServer:
        return cast(_HTTPSServer, self.server).owner

    def handle_one_request(self) -> None:
        # Same structure as the stdlib method, but any method name is dispatched and I/O errors end the
        # connection quietly (a peer that resets or times out is not a harness error).
        try:
            if not self.owner._await_request():
                self.close_connection = True  # accepted before a mode switch: the client reconnects
                return
            self.raw_requestline = self.rfile.readline(65537)
            self.owner._request_arrived()
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(http.HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._dispatch()
            self.wfile.flush()
        except OSError as exc:  # includes TimeoutError and ssl.SSLError
            log.debug("connection %s ended: %r", self.client_address, exc)
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering an error (the connection is then closed)."""
        limit = self.owner.max_body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self.send_error(http.HTTPStatus.BAD_REQUEST, "invalid Content-Length")
            return None
        if length > limit:
            self.send_error(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("peer closed the connection inside the request body")
        return body

    def _read_chunked(self, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size_total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.send_error(http.HTTPStatus.BAD_REQUEST, "invalid chunk size")
                return None
            if size == 0:
                while self.rfile.readline(8194).strip():  # trailers, ignored
                    pass
                return b"".join(chunks)
            size_total += size
            if size_total > limit:
                self.send_error(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("peer closed the connection inside a chunk")
            chunks.append(chunk)
            self.rfile.readline(3)  # CRLF after the chunk data

    def _dispatch(self) -> None:
        started_at, start = time.time(), time.perf_counter()
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            headers=cast(http.client.HTTPMessage, self.headers),
            body=body,
            tls=TLSInfo.from_socket(cast(ssl.SSLSocket, self.connection)),
            client_address=(str(self.client_address[0]), int(self.client_address[1])),
        )
        response = self.owner._respond(request)
        # Observed before the write, so the observer has run by the time the client has its answer.
        self.owner._observe(request, response or Response(0), started_at, time.perf_counter() - start)
        if response is None:
            self._reset()
        else:
            self.owner._writing()
            self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        names = {name.lower() for name in response.headers}
        for name, value in response.headers.items():
            self.send_header(name, value)  # a `Connection: close` header also ends keep-alive
        bodiless_status = response.status in _NO_BODY_STATUSES or response.status < 200
        if "content-length" not in names and not bodiless_status:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and not bodiless_status:
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """End the connection with a TCP RST and no TLS close_notify: with SO_LINGER 0, the final close
        of the socket (when the connection thread finishes) resets instead of sending a FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


@dataclass(eq=False)
class _Connection:
    """A live connection: a dup of its socket (to interrupt it from another thread), the mode it was
    accepted in, and whether it is waiting for its next request (keep-alive idle)."""

    control: socket.socket
    settings: ModeSettings
    generation: int  # TLSServer._generation when accepted; a mode switch increments it
    idle: bool = False  # waiting for the next request
    writing: bool = False  # sending a response: its client may act on it before the thread moves on


class TLSServer:
    """Threaded HTTPS/1.1 server; mutual TLS is whatever `context.verify_mode` says.

    Usage::

        with TLSServer(server_context(pki), handler) as srv:
            httpx.get(srv.url + "/path", verify=client_context(pki, LPS1_CLIENT_ID))

    Adversarial modes (:class:`~conformance.tls.modes.ListenerMode`) are switched with :meth:`set_mode`;
    TLS-level ones need `mode_contexts`, e.g. ``ModeContexts.from_pki(pki, "psc")``.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int = DEFAULT_MAX_BODY,
        poll_interval: float = 0.05,
        join_timeout: float = 2.0,
        name: str = "tls-server",
        observer: Observer | None = None,
        mode_contexts: ModeContexts | None = None,
    ) -> None:
        self.context = context
        self.handler = handler
        self.name = name
        self.observer = observer
        self.mode_contexts = mode_contexts
        self.timeout = timeout
        self.max_body = max_body
        self._bind = (host, port)
        self._poll_interval = poll_interval
        self._join_timeout = join_timeout
        self._httpd: _HTTPSServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closing = threading.Event()  # set by stop(); also cuts a SLOW delay short
        self._connections: set[_Connection] = set()
        self._local = threading.local()  # `.connection`: the _Connection this thread serves
        self._mode = ModeSettings()
        self._generation = 0
        self._threads: set[threading.Thread] = set()
        self._handshake_failures: list[HandshakeFailure] = []
        self._accepted: list[float] = []  # when each connection was accepted (time.time())
        self._handler_errors: list[BaseException] = []
        self._requests_served = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start accepting connections in a background thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        host, port = self._bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._closing.clear()
        self._httpd = _HTTPSServer(self, (host, port), family)
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, interrupt live connections and wait (bounded) for their threads."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()  # returns within one poll interval
        with self._lock:
            self._closing.set()
            controls = [conn.control for conn in self._connections]
            threads = list(self._threads)
        for control in controls:
            _interrupt(control)
        httpd.server_close()
        deadline = time.monotonic() + self._join_timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._serve_thread is not None:
            self._serve_thread.join(self._join_timeout)
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            log.warning("%s: connection threads still running after stop: %s", self.name, stuck)

    close = stop

    def __enter__(self) -> Self:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def url(self) -> str:
        """Base URL without a trailing slash; wildcard binds are reported as loopback."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}"

    # -- adversarial modes ---------------------------------------------------------------------------

    @property
    def mode(self) -> ListenerMode:
        return self._mode.mode

    @property
    def mode_settings(self) -> ModeSettings:
        return self._mode

    def set_mode(
        self, mode: ListenerMode | str, *, slow_s: float | None = None, status: int | None = None
    ) -> None:
        """Switch mode in place: the listening socket, hence the address, does not change.

        The mode applies to connections accepted from now on. Connections accepted before are closed
        as soon as they are idle (an in-flight request is still answered in the old mode), so a SUT
        that pools connections meets the new mode on its next request instead of reusing an old one.
        `slow_s` (SLOW, default 5 s) and `status` (SERVER_ERROR, default 503) are the parameters.
        """
        settings = ModeSettings.for_mode(mode, slow_s=slow_s, status=status)
        if settings.mode.tls_level and (
            self.mode_contexts is None or settings.mode not in self.mode_contexts
        ):
            raise ValueError(
                f"{self.name}: mode {settings.mode} needs its SSLContext; construct the server with "
                "mode_contexts=ModeContexts.from_pki(...)"
            )
        with self._changed:
            if settings == self._mode:
                return
            self._mode = settings
            self._generation += 1
            # A client may already hold a response whose connection thread has not marked itself idle
            # yet; wait for those writes (a stale connection shuts itself down once written), so that
            # no client reuses a connection of the previous mode. Requests still being handled are not
            # waited for: they are answered in the old mode, then their connection closes.
            self._changed.wait_for(lambda: not any(c.writing for c in self._connections), self._join_timeout)
            for conn in self._connections:
                if conn.idle:
                    _interrupt(conn.control)  # FIN now: a pooling client sees the connection is gone
        log.info("%s: mode %s", self.name, settings)

    # -- observations for tests and checks -----------------------------------------------------------

    @property
    def handshake_failures(self) -> list[HandshakeFailure]:
        """Failed handshakes so far (a copy)."""
        with self._lock:
            return list(self._handshake_failures)

    handshake_errors = handshake_failures

    @property
    def handler_errors(self) -> list[BaseException]:
        """Exceptions raised by the handler (each answered with a 500)."""
        with self._lock:
            return list(self._handler_errors)

    @property
    def requests_served(self) -> int:
        with self._lock:
            return self._requests_served

    def accepted_since(self, since: float) -> int:
        """Connections accepted since `since` (time.time()). Counted before their handshake starts, so
        before a client can learn anything from this listener: none means that no handshake outcome is
        still to come for a client that has already answered its own caller."""
        with self._lock:
            return sum(1 for at in self._accepted if at >= since)

    def wait_for_handshake_failures(self, count: int = 1, timeout: float = 5.0) -> list[HandshakeFailure]:
        """Wait until at least `count` failures are recorded (the client may see the alert first)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._handshake_failures) >= count, timeout)
            return list(self._handshake_failures)

    def clear_observations(self) -> None:
        with self._lock:
            self._handshake_failures.clear()
            self._accepted.clear()
            self._handler_errors.clear()

    # -- per connection (override points) ----------------------------------------------------------

    def _start_connection_thread(
        self, raw: socket.socket, client_address: tuple[str, int], httpd: _HTTPSServer
    ) -> None:
        thread = threading.Thread(
            target=self._run_connection,
            args=(raw, client_address, httpd),
            name=f"tls-conn-{client_address[1]}",
            daemon=True,
        )
        with self._lock:
            self._accepted.append(time.time())
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)
        thread.start()

    def _run_connection(
        self, raw: socket.socket, client_address: tuple[str, int], httpd: _HTTPSServer
    ) -> None:
        control = raw.dup()  # shutdown() on a dup reaches the same TCP connection, from any thread
        with self._lock:
            conn = _Connection(control, self._mode, self._generation)
            self._connections.add(conn)
            closing = self._closing.is_set()
        self._local.connection = conn  # one thread per connection: its state is thread-local
        try:
            if closing:
                _interrupt(control)
            raw.settimeout(self.timeout)
            self.serve_connection(raw, client_address, httpd)
        except Exception:
            log.exception("%s: error while serving %s", self.name, client_address)
        finally:
            self._local.connection = None
            with self._changed:
                self._connections.discard(conn)
                self._changed.notify_all()
            control.close()
            raw.close()

    def serve_connection(
        self, raw: socket.socket, client_address: tuple[str, int], httpd: socketserver.BaseServer
    ) -> None:
        """Handshake, then serve HTTP requests until the connection ends."""
        tls = self.handshake(raw, client_address)
        if tls is None:
            return
        try:
            _RequestHandler(tls, client_address, httpd)
        finally:
            _close_quietly(tls)

    def handshake(self, raw: socket.socket, client_address: tuple[str, int]) -> ssl.SSLSocket | None:
        """Run the server-side TLS handshake (with the context of the connection's mode); on failure
        record it and return None."""
        mode = self._connection_settings().mode
        context = self.context
        if mode.tls_level and self.mode_contexts is not None:
            context = self.mode_contexts.get(mode)
        tls = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError, TimeoutError, resets, EOF
            failure = HandshakeFailure.from_exception(client_address, exc)
            log.debug("%s: handshake with %s failed: %s", self.name, client_address, failure.message)
            with self._changed:
                self._handshake_failures.append(failure)
                self._changed.notify_all()
            _close_quietly(tls)
            return None
        return tls

    def handle_request(self, request: Request) -> Response | None:
        """Call the application handler; subclasses may wrap it."""
        return self.handler(request)

    def _respond(self, request: Request) -> Response | None:
        """The answer to send: the handler's, or the one the connection's mode imposes (None: reset)."""
        with self._lock:
            self._requests_served += 1
        return answer_in_mode(self._connection_settings(), self._closing, lambda: self._call_handler(request))

    def _call_handler(self, request: Request) -> Response | None:
        try:
            return self.handle_request(request)
        except Exception as exc:
            log.exception(
                "%s: handler failed on %s %s (%s)", self.name, request.method, request.path, request.id
            )
            with self._lock:
                self._handler_errors.append(exc)
            return Response.text("internal error in the harness handler\n", 500)

    def _observe(self, request: Request, response: Response, started_at: float, duration_s: float) -> None:
        if self.observer is None:
            return
        try:
            self.observer(request, response, started_at, duration_s)
        except Exception:  # an observer bug must not turn into a failure the SUT sees
            log.exception(
                "%s: observer failed on %s %s (%s)", self.name, request.method, request.path, request.id
            )

    # -- per-connection state (one thread per connection) ---------------------------------------------

    def _connection_settings(self) -> ModeSettings:
        """The mode of the connection this thread serves (the current mode outside a connection)."""
        conn: _Connection | None = getattr(self._local, "connection", None)
        return conn.settings if conn is not None else self._mode

    def _await_request(self) -> bool:
        """Mark the connection idle before reading the next request; False when it was accepted before
        a mode switch: it is then shut down at once (set_mode shuts down those already idle)."""
        conn: _Connection | None = getattr(self._local, "connection", None)
        if conn is None:
            return True
        with self._changed:
            conn.writing = False
            self._changed.notify_all()
            if conn.generation != self._generation:
                _interrupt(conn.control)
                return False
            conn.idle = True
            return True

    def _request_arrived(self) -> None:
        conn: _Connection | None = getattr(self._local, "connection", None)
        if conn is not None:
            with self._lock:
                conn.idle = False

    def _writing(self) -> None:
        conn: _Connection | None = getattr(self._local, "connection", None)
        if conn is not None:
            with self._lock:
                conn.writing = True


def _interrupt(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
