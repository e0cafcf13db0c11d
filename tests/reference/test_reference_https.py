"""The reference SUTs' own HTTPS server over real loopback TLS: keep-alive or one request per
connection, every method reaching the application, each SUT's answer to what cannot be read, and to
its own failures."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.pki import TestPKI, server_context
from conformance.reference.https import HttpsListener, Request, Response


class Echo:
    """Answers with what it saw; `/boom` raises, and with `broken_errors` so does its error answer."""

    def __init__(self, *, broken_errors: bool = False) -> None:
        self.seen: list[Request] = []
        self.broken_errors = broken_errors

    def handle(self, request: Request) -> Response:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("secret detail")
        body: dict[str, Any] = {"method": request.method, "path": request.path, "query": request.query}
        if request.body:
            body["json"] = request.json()
        return Response.json(body)

    def internal_error(self, exc: Exception) -> Response:
        if self.broken_errors:
            raise RuntimeError("the error answer fails too")
        return Response.json({"code": "500", "message": "internal error"}, 500)


@pytest.fixture
def serve(pki: TestPKI) -> Iterator[Any]:
    started: list[HttpsListener] = []

    def start(app: Echo, **options: Any) -> HttpsListener:
        context = server_context(pki, "sut", require_client_cert=False)
        listener = HttpsListener("test", context, "127.0.0.1", 0, **options)
        listener.app = app
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def client(pki: TestPKI, listener: HttpsListener) -> httpx.Client:
    verify = ssl.create_default_context(cadata=pki.ca_bundle_pem)
    return httpx.Client(base_url=listener.url, verify=verify, timeout=5)


def test_keep_alive_serves_several_requests_on_one_connection(serve: Any, pki: TestPKI) -> None:
    app = Echo()
    listener = serve(app, keep_alive=True)
    with client(pki, listener) as http:
        first, second = http.get("/a?x=1"), http.post("/b", json={"k": "v"})
    assert first.json() == {"method": "GET", "path": "/a", "query": {"x": ["1"]}}
    assert second.json()["json"] == {"k": "v"}
    assert "close" not in first.headers.get("Connection", "")
    assert first.headers["Server"] == "psc-conformance-reference"
    assert app.seen[0].client_address == app.seen[1].client_address  # the same TCP connection


def test_without_keep_alive_every_answer_closes_its_connection(serve: Any, pki: TestPKI) -> None:
    app = Echo()
    listener = serve(app)
    with client(pki, listener) as http:
        answers = [http.get("/a"), http.get("/b")]
    assert [a.headers["Connection"] for a in answers] == ["close", "close"]
    assert app.seen[0].client_address != app.seen[1].client_address


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
def test_every_method_reaches_the_application(serve: Any, pki: TestPKI, method: str) -> None:
    """Not the standard library's 501: the application answers (404, 405) as its contract says."""
    listener = serve(Echo())
    with client(pki, listener) as http:
        answer = http.request(method, "/x")
    assert answer.status_code == 200
    assert answer.json()["method"] == method


def test_what_cannot_be_read_gets_the_sut_own_error_format(serve: Any, pki: TestPKI) -> None:
    def malformed(status: int, message: str) -> Response:
        return Response.json({"code": str(status), "message": message}, status)

    app = Echo()
    listener = serve(app, keep_alive=True, max_body=100, malformed=malformed)
    with client(pki, listener) as http:
        too_large = http.post("/x", content=b"x" * 101)
    assert too_large.status_code == 413
    assert too_large.json() == {"code": "413", "message": "request body too large"}
    assert too_large.headers["Connection"] == "close"
    raw = socket.create_connection(listener.address, timeout=5)
    context = ssl.create_default_context(cadata=pki.ca_bundle_pem)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: -3\r\n\r\n")
        received = b""
        while chunk := tls.recv(4096):  # until the server closes the connection
            received += chunk
    answer = received.decode("latin-1")
    assert answer.startswith("HTTP/1.1 400")
    assert answer.endswith('{"code": "400", "message": "invalid Content-Length"}')
    assert app.seen == []  # neither reached the application


def test_a_failing_application_answers_its_internal_error_never_the_exception(
    serve: Any, pki: TestPKI
) -> None:
    listener = serve(Echo())
    broken = serve(Echo(broken_errors=True))
    with client(pki, listener) as http, client(pki, broken) as other:
        answer, fallback = http.get("/boom"), other.get("/boom")
    assert (answer.status_code, answer.json()["message"]) == (500, "internal error")
    assert fallback.status_code == 500
    assert "secret detail" not in answer.text + fallback.text


def test_a_wildcard_bind_is_given_as_loopback(pki: TestPKI) -> None:
    listener = HttpsListener("test", server_context(pki, "sut"), "0.0.0.0", 0)
    try:
        assert listener.url == f"https://127.0.0.1:{listener.port}"
    finally:
        listener.stop()
