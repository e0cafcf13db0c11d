"""Named seam replacements: the one mechanism behind the reference proxy's faults and variants.

A *seam* is a small, named method of the proxy or of one of its components (PSC client, token
exchanger, sessions, traces, TLS identities) whose docstring states the reference's choice. A fault
(a defect, `faults.py`) or a variant (another behaviour the sources allow, `variants.py`) is applied
to one proxy instance by replacing seams on that instance; the proxy's own modules know nothing of
either. Both catalogues share the registry shape of `Catalogue`: names unique, listed per role,
unknown names refused with the closest known one.
"""

from __future__ import annotations

import difflib
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from conformance.errors import UsageError
from conformance.reference.consumer.proxy import ReferenceProxy
from conformance.reference.consumer.settings import UpstreamApi
from conformance.roles import Role

Apply = Callable[[ReferenceProxy], None]


class Injectable(Protocol):
    """What both catalogues hold: a named change of a reference proxy, for one role."""

    @property
    def name(self) -> str: ...

    @property
    def description_en(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def apply(self) -> Apply: ...


T = TypeVar("T", bound=Injectable)


class Catalogue(Generic[T]):
    """A registry of injectables of one kind ("fault", "variant"), in catalogue order."""

    def __init__(self, kind: str, entries: Iterable[T]) -> None:
        self.kind = kind
        self.entries: dict[str, T] = {}
        for entry in entries:
            if entry.name in self.entries:
                raise ValueError(f"{kind} {entry.name!r} is in the catalogue twice")
            self.entries[entry.name] = entry

    def for_role(self, role: Role | str) -> list[T]:
        """The entries of the reference SUT of `role`, in catalogue order."""
        wanted = Role(role)
        return [entry for entry in self.entries.values() if entry.role == wanted]

    def check_names(self, names: Iterable[str], role: Role | str = Role.CONSUMER) -> list[str]:
        """The names, without repeats; an unknown one is a UsageError naming the closest known one."""
        known = [entry.name for entry in self.for_role(role)]
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UsageError(
                    f"unknown {Role(role).value} {self.kind} {name!r}.{hint} "
                    f"Known {self.kind}s: {', '.join(known)}"
                )
        return wanted

    def apply(self, proxy: ReferenceProxy, names: Sequence[str]) -> None:
        """Apply the named entries to `proxy`, before or after it starts; all names are checked first."""
        for name in self.check_names(names):
            self.entries[name].apply(proxy)


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
