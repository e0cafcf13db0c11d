"""Named seam replacements: the one mechanism behind the reference provider's faults and variants.

A *seam* is a small, named method of the provider or of one of its parts (authorization server,
resource server) whose docstring states the reference's choice. A fault (`faults.py`) or a variant
(`variants.py`) is applied to one provider instance by replacing seams on that instance; the
provider's own modules know nothing of either.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import Any

from conformance.reference.provider.provider import LISTENERS, ListenerName, ReferenceProvider


def seam(component: object, name: str) -> Callable[..., Any]:
    """The current implementation of a seam, to be wrapped. Fails loudly if the provider lost it."""
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


def change_listener_contexts(
    provider: ReferenceProvider,
    change: Callable[[ssl.SSLContext], None],
    listeners: Iterable[ListenerName] = LISTENERS,
) -> None:
    """Change the SSL context of the named listeners (also when already listening)."""
    original = seam(provider, "listener_context")
    changed = frozenset(listeners)

    def listener_context(name: ListenerName) -> ssl.SSLContext:
        context: ssl.SSLContext = original(name)
        if name in changed:
            change(context)
        return context

    replace_seam(provider, "listener_context", listener_context)
    provider.refresh_listener_contexts()


__all__ = ["change_listener_contexts", "replace_seam", "seam"]
