"""How the proxy reaches PSC and the APIs: one TLS identity per client id, all checks on.

TLS 1.2 at least, the counterparts' certificates verified against the configured CA bundle and
host name, and every call bounded in time. Each LPS has its own client certificate; the
proxy's own certificate is used only where the proxy acts for itself (introspection).
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass

import httpx
from cryptography import x509

from conformance.reference.consumer.settings import ProxySettings


class UpstreamUnavailable(Exception):
    """PSC or an API could not be reached, or answered 5xx: the proxy answers 503 (or 502/504)."""

    def __init__(self, message: str, *, timeout: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.status = status


@dataclass(frozen=True)
class UpstreamRefusal(Exception):
    """A counterpart refused the request (4xx): carried to the LPS in an error descriptor."""

    status: int
    error: str
    description: str

    def __str__(self) -> str:
        return f"{self.status} - {self.error} : {self.description}"


class Identities:
    """SSL contexts and HTTP clients per PSC client id, built once and shared by threads."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self._clients: dict[str | None, httpx.Client] = {}
        self._lock = threading.Lock()

    def context(self, client_id: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.settings.ca_bundle))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if client_id is not None:
            client = self.settings.clients[client_id]
            context.load_cert_chain(client.cert, client.key)
            context.post_handshake_auth = True
        return context

    def http(self, client_id: str | None) -> httpx.Client:
        """The HTTP client presenting `client_id`'s certificate (None: no client certificate)."""
        with self._lock:
            if client_id not in self._clients:
                verify, timeout = self.context(client_id), self.timeout()
                self._clients[client_id] = httpx.Client(verify=verify, timeout=timeout)
            return self._clients[client_id]

    def timeout(self) -> float:
        """The bound, in seconds, on every call to PSC, an authorization server or an API: http_timeout_s."""
        return self.settings.http_timeout_s

    def subject(self, client_id: str) -> str:
        """The subject DN of the certificate used for `client_id`, traced as dn: its RFC 4514 string."""
        pem = self.settings.clients[client_id].cert.read_bytes()
        return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def call(client: httpx.Client, method: str, url: str, **kwargs: object) -> httpx.Response:
    """One upstream call; transport failures become `UpstreamUnavailable`."""
    try:
        return client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailable(f"{method} {url}: {type(exc).__name__}", timeout=True) from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def oauth_refusal(response: httpx.Response) -> UpstreamRefusal:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return UpstreamRefusal(
        response.status_code,
        str(body.get("error", "error")),
        str(body.get("error_description", response.reason_phrase)),
    )
