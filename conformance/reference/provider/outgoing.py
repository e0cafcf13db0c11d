"""The provider's own calls: to PSC (introspection) and to the harness's AS (JWKS, introspection).

All go over TLS with the test root trusted and the provider's PSC client certificate presented
(RFC 8705 tls_client_auth), each bounded by `http_timeout_s`.
"""

from __future__ import annotations

import ssl
import threading

import httpx

from conformance.reference.provider.settings import ProviderSettings
from conformance.reference.provider.tls import outgoing_context


class OutgoingHttp:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def context(self) -> ssl.SSLContext:
        """The test root trusted, the provider's client certificate presented."""
        return outgoing_context(self.settings, self.settings.provider_client)

    def client(self) -> httpx.Client:
        """One pooled client, built at the first call (so a replaced `context` seam takes effect)."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(verify=self.context(), timeout=self.settings.http_timeout_s)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


__all__ = ["OutgoingHttp"]
