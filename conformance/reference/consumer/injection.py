"""Named seam replacements: the one mechanism behind the reference proxy's faults and variants.

A *seam* is a small, named method of the proxy or of one of its components (PSC client, token
exchanger, sessions, traces, TLS identities) whose docstring states the reference's choice. A fault
(a defect, `faults.py`) or a variant (another behaviour the sources allow, `variants.py`) is applied
to one proxy instance by replacing seams on that instance; the proxy's own modules know nothing of
either. Both catalogues are `conformance.reference.registry.Catalogue`s, the registry every role's
reference shares: names unique, listed per role, unknown names refused with the closest known one.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from conformance.reference.consumer.proxy import ReferenceProxy
from conformance.reference.consumer.settings import UpstreamApi
from conformance.reference.registry import Apply, Catalogue, Injectable

# -- seams ------------------------------------------------------------------------------------------


def seam(component: object, name: str) -> Callable[..., Any]:
    """The current implementation of a seam, to be wrapped. Fails loudly if the proxy lost it."""
    original = getattr(component, name, None)
    if not callable(original):
        raise AttributeError(
            f"{type(component).__name__} has no seam {name!r}: the fault or variant is out of date"
        )
    return original


def replace_seam(component: object, name: str, replacement: Callable[..., Any]) -> None:
    """Replace the seam `name` of this one component instance."""
    seam(component, name)
    setattr(component, name, replacement)


def reset_upstream_clients(proxy: ReferenceProxy) -> None:
    """Drop the HTTP clients built so far, so that new ones get the replaced SSL contexts or timeouts."""
    proxy.identities.close()


def change_client_contexts(proxy: ReferenceProxy, change: Callable[[ssl.SSLContext], None]) -> None:
    """Change every SSL context the proxy builds for PSC, the authorization server and the API."""
    original = seam(proxy.identities, "context")

    def context(client_id: str | None) -> ssl.SSLContext:
        built: ssl.SSLContext = original(client_id)
        change(built)
        return built

    replace_seam(proxy.identities, "context", context)
    reset_upstream_clients(proxy)


def change_server_context(proxy: ReferenceProxy, change: Callable[[ssl.SSLContext], None]) -> None:
    """Change the SSL context of the API Conformité's own endpoint (also when already listening)."""
    original = seam(proxy, "server_context")

    def server_context() -> ssl.SSLContext:
        built: ssl.SSLContext = original()
        change(built)
        return built

    replace_seam(proxy, "server_context", server_context)
    proxy.server.context = proxy.server_context()


def change_exchange_form(proxy: ReferenceProxy, change: Callable[[dict[str, str]], None]) -> None:
    """Change the form of every RFC 8693 token exchange the proxy sends."""
    original = seam(proxy.exchanger, "form")

    def form(api: UpstreamApi, subject_token: str) -> dict[str, str]:
        fields: dict[str, str] = original(api, subject_token)
        change(fields)
        return fields

    replace_seam(proxy.exchanger, "form", form)


__all__ = [
    "Apply",
    "Catalogue",
    "Injectable",
    "change_client_contexts",
    "change_exchange_form",
    "change_server_context",
    "replace_seam",
    "reset_upstream_clients",
    "seam",
]
