"""The reference data provider: its authorization server and resource server, on two HTTPS listeners.

Both listeners are bound when the provider is built (ports 0 pick free ones), so its URLs are known
before it serves; faults and variants are applied between construction and `start()` (or later:
a replaced listener context takes effect at the next handshake).
"""

from __future__ import annotations

import logging
import ssl
from typing import Literal

from conformance.reference.https import HttpsListener
from conformance.reference.provider import LOGGER
from conformance.reference.provider.authorization_server import AuthorizationServer
from conformance.reference.provider.keys import SigningKey
from conformance.reference.provider.outgoing import OutgoingHttp
from conformance.reference.provider.resource_server import ResourceServer
from conformance.reference.provider.settings import ProviderSettings
from conformance.reference.provider.tls import listener_context
from conformance.reference.provider.urls import ProviderUrls

ListenerName = Literal["as", "rs"]
LISTENERS: tuple[ListenerName, ...] = ("as", "rs")


class ReferenceProvider:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.listeners: dict[ListenerName, HttpsListener] = {}
        try:
            ports: dict[ListenerName, int] = {"as": settings.as_port, "rs": settings.rs_port}
            for name, port in ports.items():
                self.listeners[name] = HttpsListener(
                    name, self.listener_context(name), settings.host, port, log=logging.getLogger(LOGGER)
                )
        except BaseException:
            self._close_listeners()
            raise
        self.urls = ProviderUrls(settings.host, self.listeners["as"].port, self.listeners["rs"].port)
        self.signing_key = SigningKey.generate("ES256")  # API tokens; published in the JWKS
        self.session_data_key = SigningKey.generate("ES256")  # the signature of the session data
        self.outgoing = OutgoingHttp(settings)
        self.authorization_server = AuthorizationServer(settings, self.urls, self.signing_key, self.outgoing)
        self.resource_server = ResourceServer(
            settings, self.urls, self.signing_key, self.session_data_key, self.outgoing
        )
        self.listeners["as"].app = self.authorization_server
        self.listeners["rs"].app = self.resource_server

    def listener_context(self, name: ListenerName) -> ssl.SSLContext:
        """Both listeners alike: see `tls.listener_context` (TLS >= 1.2, client certificate verified
        in the handshake with the CRL, optional so that its absence gets an HTTP answer)."""
        return listener_context(self.settings)

    def refresh_listener_contexts(self) -> None:
        """Rebuild each listener's context from the (possibly replaced) `listener_context` seam."""
        for name, listener in self.listeners.items():
            listener.context = self.listener_context(name)

    def start(self) -> ReferenceProvider:
        for listener in self.listeners.values():
            listener.start()
        return self

    def stop(self) -> None:
        self._close_listeners()
        self.outgoing.close()

    def _close_listeners(self) -> None:
        for listener in self.listeners.values():
            listener.stop()

    def __enter__(self) -> ReferenceProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["LISTENERS", "ListenerName", "ReferenceProvider"]
