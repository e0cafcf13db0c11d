"""A hostile Proxy e-Santé: its health URL answers like a live proxy, every other request misbehaves.

The campaign's start-up check polls the SUT's `base_url` (GET /) and goes on at the first HTTP answer,
so this server answers GET / with 200 and then does, to everything the LPS sends (/connect, /send/…,
/disconnect, /traces…), the one thing its `--mode` names. A campaign run against it must still end
within its bound, in bounded memory, with every scenario that needs the SUT not passed.

Stand-alone on purpose (stdlib only, started by `[sut] start` like a vendor's proxy):

    python tests/hostile/hostile_proxy.py --mode silent --port 8443 --cert server-sut.pem --key server-sut.key
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Final

HEALTH_PATH: Final = "/"
# No wait of this server is unbounded: a client that left is noticed within this.
IDLE_S: Final = 60.0
FLOOD_BYTES: Final = 200 * 1024 * 1024
TRICKLE_PAUSE_S: Final = 1.0
COOKIES: Final = 10_000
LIFETIME_S: Final = 900.0  # a server its campaign failed to stop does not outlive the test run for long
DIES_AFTER: Final = 5  # requests answered (503) before the process exits, in `dies` mode
Misbehaviour = Callable[[ssl.SSLSocket, str], None]  # what is done to a request for `path`
_JSON_ANSWER: Final = b'{"error": "hostile", "error_description": "this proxy misbehaves on purpose"}'


def http_answer(
    status: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = (), *, length: int | None = None
) -> bytes:
    """One HTTP/1.1 answer that closes its connection; `length` may lie about the body."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(body) if length is None else length}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


JSON: Final = (("Content-Type", "application/json"),)
HEALTHY: Final = http_answer("200 OK", b'{"status": "UP"}', JSON)


def read_request(conn: ssl.SSLSocket) -> str | None:
    """The request line's path, once the whole request (head and Content-Length body) is read."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > 1024 * 1024:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    parts = lines[0].split(" ")
    return parts[1] if len(parts) >= 2 else None


def wait_for_close(conn: socket.socket, path: str = "") -> None:
    """Hold the connection, answering nothing, until the client gives up (or `IDLE_S` passes)."""
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


def trickle(conn: ssl.SSLSocket, path: str) -> None:
    """A whole valid answer, head included, one byte a second: each read is quick, the answer is not."""
    for byte in http_answer("200 OK", _JSON_ANSWER, JSON):
        conn.sendall(bytes([byte]))
        time.sleep(TRICKLE_PAUSE_S)


def flood(conn: ssl.SSLSocket, path: str) -> None:
    conn.sendall(http_answer("200 OK", headers=JSON, length=FLOOD_BYTES))
    block = b"[" + b"0," * 32767 + b"0"  # 64 KiB of a JSON array that never ends
    for _ in range(FLOOD_BYTES // len(block)):
        conn.sendall(block)


def close_mid_response(conn: ssl.SSLSocket, path: str) -> None:
    conn.sendall(
        http_answer("200 OK", _JSON_ANSWER[: len(_JSON_ANSWER) // 2], JSON, length=len(_JSON_ANSWER))
    )


def cookies(conn: ssl.SSLSocket, path: str) -> None:
    jar = tuple(("Set-Cookie", f"hostile{i}=x; Path=/; Secure; HttpOnly") for i in range(COOKIES))
    conn.sendall(http_answer("200 OK", _JSON_ANSWER, JSON + jar))


def redirect_to_itself(conn: ssl.SSLSocket, path: str) -> None:
    conn.sendall(http_answer("302 Found", headers=(("Location", path),)))


def answer_with(payload: bytes) -> Misbehaviour:
    return lambda conn, path: conn.sendall(payload)


MISBEHAVIOURS: Final[dict[str, Misbehaviour]] = {
    "no_tls": wait_for_close,  # a connection that got TLS before the start-up check passed
    "silent": wait_for_close,
    "trickle": trickle,
    "flood": flood,
    "bad_http": answer_with(b"\x00\xffSSH-2.0-not-http\r\n\x16\x03\x01 garbage \xde\xad\xbe\xef\r\n\r\n"),
    "bad_json": answer_with(http_answer("200 OK", b'{"proxy_session_id": "abc", "status": ', JSON)),
    "redirect_loop": redirect_to_itself,
    "close_mid_response": close_mid_response,
    "empty_200": answer_with(http_answer("200 OK")),
    "cookies": cookies,
    "dies": answer_with(http_answer("503 Service Unavailable", _JSON_ANSWER, JSON)),
}
MODES: Final = tuple(MISBEHAVIOURS)


class HostileProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, mode: str, context: ssl.SSLContext, dies_after: int) -> None:
        super().__init__(("127.0.0.1", port), HostileHandler)
        self.mode = mode
        self.context = context
        self.dies_after = dies_after
        self.healthy_once = threading.Event()  # `no_tls`: TLS stops once the start-up check has passed
        self.misbehaved = 0
        self.lock = threading.Lock()


class HostileHandler(socketserver.BaseRequestHandler):
    server: HostileProxy

    def handle(self) -> None:
        raw: socket.socket = self.request
        raw.settimeout(IDLE_S)
        server = self.server
        if server.mode == "no_tls" and server.healthy_once.is_set():
            wait_for_close(raw)  # accept TCP, never say a word of TLS
            return
        try:
            conn = server.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with contextlib.suppress(OSError), conn:
            path = read_request(conn)
            if path is None:
                return
            if path == HEALTH_PATH:
                conn.sendall(HEALTHY)
                server.healthy_once.set()
                return
            self.misbehave(conn, path)

    def misbehave(self, conn: ssl.SSLSocket, path: str) -> None:
        server = self.server
        MISBEHAVIOURS[server.mode](conn, path)
        if server.mode == "dies":
            with server.lock:
                server.misbehaved += 1
                last = server.misbehaved >= server.dies_after
            if last:
                print(f"hostile proxy: dying after {server.misbehaved} requests", flush=True)
                os._exit(17)


def server_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if ca:  # an LPS certificate is welcome, never required
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--cert", required=True, help="PEM chain of the server certificate (server-sut.pem)")
    parser.add_argument("--key", required=True, help="its private key")
    parser.add_argument("--ca", help="CA bundle for optional LPS client certificates")
    parser.add_argument("--dies-after", type=int, default=DIES_AFTER, help="`dies`: requests before exiting")
    parser.add_argument(
        "--lifetime-s", type=float, default=LIFETIME_S, help="exit after this long, whoever forgot to stop it"
    )
    args = parser.parse_args(argv)
    threading.Timer(args.lifetime_s, os._exit, args=(0,)).start()
    with HostileProxy(
        args.port, args.mode, server_context(args.cert, args.key, args.ca), args.dies_after
    ) as srv:
        print(f"hostile proxy ({args.mode}) on https://127.0.0.1:{args.port}", flush=True)
        srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
