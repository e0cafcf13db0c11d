"""An httpx client whose every request to the SUT is recorded as evidence, failures included.

Recording sits in a transport wrapper rather than in event hooks: the transport sees connect errors and
timeouts (hooks never run for those), gets the TLS session from the network stream before anyone reads
the body (once the server closes the connection it is gone), and can wrap the body stream so that the
exchange is recorded when the body has been read, whether the caller used `client.get` or
`client.stream`. Each redirect hop is its own exchange.

The total deadline of an exchange is enforced under httpcore, on every read and write of its connection
(`bounded_transport`): a per-read timeout alone lets a SUT send its answer, head included, one byte at a
time for ever. The deadline is the connect budget plus the read budget and a second, brought in to the
read budget and a second from the moment the TLS connection is up (`Deadline`).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import httpcore
import httpx

from conformance.evidence.model import TO_SUT, Exchange, TLSDetails
from conformance.evidence.recorder import EvidenceRecorder
from conformance.pki.facts import certificate_facts

if TYPE_CHECKING:
    from conformance.evidence.breaker import SutBreaker

log = logging.getLogger(__name__)

EXCHANGE_ID: Final = "exchange_id"  # key of the exchange id in `response.extensions`

# Client options that configure the default transport; they go to the transport we build and wrap.
_TRANSPORT_OPTIONS: Final = ("http1", "http2", "limits", "proxy", "cert")
# No answer of a system under test is legitimately bigger: past it, the harness stops reading (a hostile
# SUT must not exhaust its memory) and the exchange ends in error.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
# What the evidence keeps of an answer that outgrew the cap: its beginning shows what it was; keeping the
# whole 8 MiB of every such exchange is how a flooding SUT would still exhaust the harness's memory.
OVERSIZED_KEPT_BYTES: Final = 64 * 1024


class ResponseTooLarge(httpx.ReadError):
    """The SUT's answer outgrew `max_body_bytes`: the harness stopped reading it."""


class ExchangeDeadlineExceeded(httpx.ReadTimeout):
    """The whole exchange (connect, TLS, head and body) outlasted its deadline, though every single read
    kept within the read timeout: an answer trickled byte by byte."""


# Its text says "Timeout": conditions tell a SUT that said nothing from one that refused by that word.
_DEADLINE_TEXT: Final = "Timeout of the whole exchange: it outlasted its total deadline"


def total_deadline_s(timeout: httpx.Timeout | float) -> float:
    """The deadline of one whole exchange: its connect budget plus its read budget, and a second."""
    budgets = httpx.Timeout(timeout).as_dict()
    return (budgets.get("connect") or 5.0) + (budgets.get("read") or 10.0) + 1.0


def _read_budget_s(request: httpx.Request) -> float:
    """What is left of an exchange once its connection is up: its read budget, and a second."""
    budgets = request.extensions.get("timeout") or {}
    return (budgets.get("read") or 10.0) + 1.0


def _request_deadline_s(request: httpx.Request) -> float:
    """The deadline of this request, from the timeout it was sent with (the client's, or the one a
    scenario gave that call: a stalled API is waited for longer than an ordinary answer)."""
    budgets = request.extensions.get("timeout") or {}
    return (budgets.get("connect") or 5.0) + (budgets.get("read") or 10.0) + 1.0


class Deadline:
    """The perf_counter instant by which an exchange must be over. Set from its connect and read budgets;
    once its TLS connection is up, it is brought in to the read budget (and a second) from that moment:
    a SUT that connects at once and then trickles its answer is not given the unused connect budget."""

    def __init__(self, instant: float, after_connect_s: float | None = None) -> None:
        self.instant = instant
        self._after_connect_s = after_connect_s

    def connected(self) -> None:
        if self._after_connect_s is not None:
            self.instant = min(self.instant, time.perf_counter() + self._after_connect_s)


# The deadline of the exchange under way in this thread (None: unbounded).
_DEADLINE: ContextVar[Deadline | None] = ContextVar("exchange_deadline", default=None)


@contextmanager
def _deadline_at(deadline: Deadline | None) -> Iterator[None]:
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def within_deadline(seconds: float) -> AbstractContextManager[None]:
    """Bound every network operation of `bounded_transport`s in this block to `seconds` all told."""
    return _deadline_at(Deadline(time.perf_counter() + seconds))


def _budget(timeout: float | None) -> float | None:
    """What is left of the exchange's deadline for one operation, never more than its own `timeout`."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline.instant - time.perf_counter()
    if left <= 0:
        raise httpcore.ReadTimeout(_DEADLINE_TEXT)
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads, writes and TLS handshake all count against the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _budget(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _budget(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        stream = _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _budget(timeout)))
        deadline = _DEADLINE.get()
        if deadline is not None:
            deadline.connected()
        return stream

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _budget(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _budget(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_transport(verify: ssl.SSLContext, **options: Any) -> httpx.HTTPTransport:
    """An `httpx.HTTPTransport` whose connections honour the deadline set by `within_deadline` (or by
    the recording client, per exchange). httpx offers no public way to give httpcore its network
    backend: the pool's is wrapped (tests/hostile's trickle mode fails if httpx ever moves it)."""
    transport = httpx.HTTPTransport(verify=verify, **options)
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def recording_client(
    recorder: EvidenceRecorder,
    *,
    counterpart: str = "sut",
    verify: ssl.SSLContext,
    timeout: httpx.Timeout | float,
    client_cert_der: bytes | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    breaker: SutBreaker | None = None,
    **httpx_kwargs: Any,
) -> httpx.Client:
    """An `httpx.Client` recording every exchange into `recorder` under `counterpart`.

    Every exchange is bounded as a whole, not only read by read: past `total_deadline_s` of the timeout
    it was sent with (the client's, or the request's own) or
    `max_body_bytes` of answer, reading stops with `ExchangeDeadlineExceeded` / `ResponseTooLarge` (both
    `httpx.TransportError`s, so callers treat them as the SUT not answering properly).
    `breaker`, the campaign's `SutBreaker`, is told how each exchange ended, and fails calls at once
    while it holds the SUT unresponsive (`SutUnresponsive`, recorded like any failed call, and not an
    `httpx` error: it ends the scenario rather than being judged as the SUT's answer).

    `verify` is required so that no harness call falls back to the system trust store, and `timeout`
    so that a silent SUT cannot hang a campaign. `client_cert_der` is the certificate loaded in `verify`
    (an `ssl.SSLContext` cannot tell), shown as the client certificate of the exchanges.
    A failed request is recorded with `error` and the exception re-raised. An exchange is recorded when
    its response is closed (`client.get` does it; so does leaving `client.stream(...)`);
    `response.extensions["exchange_id"]` names it.
    """
    transport_options = {k: httpx_kwargs.pop(k) for k in _TRANSPORT_OPTIONS if k in httpx_kwargs}
    inner = httpx_kwargs.pop("transport", None) or bounded_transport(verify, **transport_options)
    mounts = httpx_kwargs.pop("mounts", None)

    def wrap(transport: httpx.BaseTransport) -> RecordingTransport:
        return RecordingTransport(
            inner=transport,
            recorder=recorder,
            counterpart=counterpart,
            client_cert_der=client_cert_der,
            max_body_bytes=max_body_bytes,
            breaker=breaker,
        )

    if mounts is not None:
        mounts = {pattern: wrap(t) if t is not None else None for pattern, t in mounts.items()}
    return httpx.Client(verify=verify, timeout=timeout, transport=wrap(inner), mounts=mounts, **httpx_kwargs)


class RecordingTransport(httpx.BaseTransport):
    """Wraps a transport; records each request/response pair into an `EvidenceRecorder`."""

    def __init__(
        self,
        *,
        inner: httpx.BaseTransport,
        recorder: EvidenceRecorder,
        counterpart: str = "sut",
        client_cert_der: bytes | None = None,
        deadline_s: float | None = None,  # None: each request's own timeout decides (`total_deadline_s`)
        max_body_bytes: int = MAX_BODY_BYTES,
        breaker: SutBreaker | None = None,
    ) -> None:
        self._inner = inner
        self._recorder = recorder
        self._counterpart = counterpart
        self._client_tls = _client_tls(client_cert_der)
        self._deadline_s = deadline_s
        self._max_body_bytes = max_body_bytes
        self._breaker = breaker
        # A client made inside a scenario stays that scenario's, even used from a thread of its own.
        self._scenario = recorder.current_scenario

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange_id = self._recorder.new_id()
        scenario = self._recorder.current_scenario or self._scenario
        started_at, start = time.time(), time.perf_counter()
        body = _RequestBody(request)
        base = Exchange(
            id=exchange_id,
            counterpart=self._counterpart,
            direction=TO_SUT,
            method=request.method,
            url=str(request.url),
            started_at=started_at,
            request_headers=_decode_headers(request.headers.raw),
            scenario=scenario,
        )
        deadline = (
            Deadline(start + self._deadline_s)
            if self._deadline_s is not None
            else Deadline(start + _request_deadline_s(request), _read_budget_s(request))
        )
        try:
            if self._breaker is not None:
                self._breaker.before_call()
            with _deadline_at(deadline):
                response = self._inner.handle_request(request)
        except Exception as exc:
            error = _past_deadline(exc, deadline)
            self._recorder.record(
                replace(
                    base,
                    request_body=body.value,
                    duration_s=time.perf_counter() - start,
                    tls=self._client_tls,
                    error=describe_error(error),
                )
            )
            self._tell_breaker(error)
            if error is not exc:
                raise error from exc
            raise
        head_s = time.perf_counter() - start
        tls = self._session_tls(response, request)  # before the body is read: the stream may be gone after
        head = replace(
            base,
            status=response.status_code,
            reason=_text(response.extensions.get("reason_phrase")),
            response_headers=_decode_headers(response.headers.raw),
            http_version=_text(response.extensions.get("http_version")) or "HTTP/1.1",
            headers_received_s=head_s,
            tls=tls,
        )

        def finish(chunks: bytes, error: Exception | None) -> None:
            self._recorder.record(
                replace(
                    head,
                    request_body=body.value,
                    response_body=chunks,
                    error=describe_error(error) if error is not None else None,
                    duration_s=time.perf_counter() - start,
                )
            )
            self._tell_breaker(error)

        response.stream = _RecordingStream(response.stream, finish, deadline, self._max_body_bytes)
        response.extensions[EXCHANGE_ID] = exchange_id
        return response

    def close(self) -> None:
        self._inner.close()

    def _tell_breaker(self, error: Exception | None) -> None:
        if self._breaker is None:
            return
        if error is None:
            self._breaker.succeeded()
        else:
            self._breaker.failed(error, describe_error(error))

    def _session_tls(self, response: httpx.Response, request: httpx.Request) -> TLSDetails | None:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if ssl_object is None:
            return self._client_tls
        try:
            cipher = ssl_object.cipher()
            # httpcore hands out the C-level SSL object: positional argument only.
            server = _cert_fields(ssl_object.getpeercert(True))
            return replace(
                self._client_tls or TLSDetails(),
                version=ssl_object.version(),
                cipher=cipher[0] if cipher else None,
                alpn_protocol=ssl_object.selected_alpn_protocol(),
                server_subject=server[0],
                server_issuer=server[1],
                server_x5t_s256=server[2],
            )
        except Exception:  # evidence is best effort; the harness call itself must go on
            log.exception("could not read the TLS session of %s", request.url)
            return self._client_tls


def _past_deadline(exc: Exception, deadline: Deadline) -> Exception:
    """A timeout that struck because the exchange's deadline ran out, told as such."""
    timer = isinstance(exc, httpx.TimeoutException) and not isinstance(exc, ExchangeDeadlineExceeded)
    if timer and time.perf_counter() >= deadline.instant - 0.01:
        return ExchangeDeadlineExceeded(_DEADLINE_TEXT, request=getattr(exc, "_request", None))
    return exc


def describe_error(exc: BaseException) -> str:
    """`"ReadTimeout: The read operation timed out"`: the class says what failed, the text says how."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _RequestBody:
    """The request body: read already for ordinary requests; captured while sent for streamed ones."""

    def __init__(self, request: httpx.Request) -> None:
        self._chunks: list[bytes] = []
        try:
            self._content: bytes | None = request.content
        except httpx.RequestNotRead:
            self._content = None
            request.stream = _CapturingRequestStream(request.stream, self._chunks)

    @property
    def value(self) -> bytes:
        return self._content if self._content is not None else b"".join(self._chunks)


class _CapturingRequestStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, sink: list[bytes]) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink.append(chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _RecordingStream(httpx.SyncByteStream):
    """Passes the body through, keeps a copy, and records once on close (with the read error, if any);
    stops reading past the exchange's deadline or its size cap."""

    def __init__(
        self,
        inner: Any,
        finish: Callable[[bytes, Exception | None], None],
        deadline: Deadline | None = None,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._inner = inner
        self._finish = finish
        self._chunks: list[bytes] = []
        self._error: Exception | None = None
        self._done = False
        self._deadline = deadline
        self._max_bytes = max_bytes

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        chunks = iter(self._inner)
        try:
            while True:
                with _deadline_at(self._deadline):  # around each read only: the caller runs between them
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                size += len(chunk)
                if size > self._max_bytes:
                    self._chunks = [b"".join(self._chunks)[:OVERSIZED_KEPT_BYTES]]
                    raise ResponseTooLarge(f"the answer exceeds {self._max_bytes} bytes: reading stopped")
                if self._deadline is not None and time.perf_counter() > self._deadline.instant:
                    raise ExchangeDeadlineExceeded(_DEADLINE_TEXT)
                self._chunks.append(chunk)
                yield chunk
        except Exception as exc:
            self._error = _past_deadline(exc, self._deadline) if self._deadline is not None else exc
            if self._error is not exc:
                raise self._error from exc
            raise

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                self._finish(b"".join(self._chunks), self._error)


def _client_tls(der: bytes | None) -> TLSDetails | None:
    if der is None:
        return None
    subject, issuer, x5t = _cert_fields(der)
    return TLSDetails(client_subject=subject, client_issuer=issuer, client_x5t_s256=x5t)


def _cert_fields(der: bytes | None) -> tuple[str | None, str | None, str | None]:
    """Subject, issuer (RFC 4514) and RFC 8705 thumbprint; the thumbprint even when parsing fails."""
    if not der:
        return None, None, None
    facts = certificate_facts(der)
    return facts.subject, facts.issuer, facts.x5t_s256


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None
