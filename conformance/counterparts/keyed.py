"""Adversarial behaviour of a counterpart for one test identity only.

Scenarios of one campaign run at the same time against the same counterparts, each with a professional
it minted. A scenario that needs PSC to issue short-lived tokens, the authorization server to leave the
refresh token out or the API to stall must not impose that on the others, so it sets the behaviour for
*its* identity: the counterpart looks it up by whom each request concerns, and falls back on its global
default (which the embedded bring-up and the provider campaign still set) for every other request.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from conformance.counterparts.identities import TestIdentity

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A frozen dataclass whose fields all default to None: "this counterpart's global default".
Behaviour = TypeVar("Behaviour", bound="DataclassInstance")


def identity_keys(identity: TestIdentity | str) -> tuple[str, ...]:
    """The keys a request may name a professional by: the national id (SubjectNameID, the `sub` of API
    tokens) and PSC's technical `sub`; a bare string is taken as the only key."""
    if isinstance(identity, str):
        return (identity,)
    return (identity.national_id, identity.sub)


class KeyedBehaviour(Generic[Behaviour]):
    """Behaviour per professional, thread-safe; never cleared between scenarios (identities are minted
    for one scenario and never reused), only forgotten on request."""

    def __init__(self, empty: Behaviour) -> None:
        self._empty = empty
        self._lock = threading.Lock()
        self._by_key: dict[str, Behaviour] = {}

    def update(self, keys: Iterable[str], **changes: Any) -> Behaviour:
        """Merge `changes` into the behaviour of the professional named by `keys` (a None change leaves
        that field as it was); the same behaviour is then found by any of the keys."""
        keys = tuple(keys)
        given = {name: value for name, value in changes.items() if value is not None}
        with self._lock:
            current = next((self._by_key[k] for k in keys if k in self._by_key), self._empty)
            merged = dataclasses.replace(current, **given)
            for key in keys:
                self._by_key[key] = merged
        return merged

    def get(self, *keys: str | None) -> Behaviour:
        """The behaviour of the first key that has one, else the empty one (every field None)."""
        with self._lock:
            return next((self._by_key[k] for k in keys if k is not None and k in self._by_key), self._empty)

    def forget(self, keys: Iterable[str]) -> None:
        """Back to the global defaults for these keys."""
        with self._lock:
            for key in keys:
                self._by_key.pop(key, None)
