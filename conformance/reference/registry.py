"""One registry of the reference SUTs' faults and allowed variants, for every role.

A *fault* is a defect a real implementation could have: a campaign against the reference SUT with it
injected must fail exactly the requirement ids it lists (a `recommended` id or a project reading
gives a warning instead). A *variant* is a behaviour the sources allow that the reference does not
choose: a campaign with it applied must fail nothing. Each reference SUT declares its own entries
(`reference/<role>/faults.py`, `reference/<role>/variants.py`) as `Catalogue`s; this module finds
them by role, so the CLI, the plugin and the matrices validate names in one place.

The entries apply themselves to one instance of a reference SUT (`apply(sut)`); what that instance
is belongs to each reference, so this module knows nothing of proxies or providers.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from conformance.errors import UsageError
from conformance.roles import Role

Apply = Callable[[Any], None]


class Injectable(Protocol):
    """What both catalogues hold: a named change of a reference SUT, for one role."""

    @property
    def name(self) -> str: ...

    @property
    def description_en(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def apply(self) -> Apply: ...


@dataclass(frozen=True)
class Fault:
    """One injectable defect: its name, the requirement ids it must make fail, and how to inject it."""

    name: str
    requirements: tuple[str, ...]
    description_en: str
    apply: Apply = field(repr=False, compare=False)
    role: Role = Role.CONSUMER


@dataclass(frozen=True)
class Variant:
    """One allowed behaviour: its name, what allows it, and how to apply it."""

    name: str
    basis: str  # the source and clause that allow it
    description_en: str
    apply: Apply = field(repr=False, compare=False)
    settings: Mapping[str, float] = field(default_factory=dict, compare=False)  # SUT settings it needs
    role: Role = Role.CONSUMER


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

    def check_names(self, names: Iterable[str], role: Role | str) -> list[str]:
        """The names, without repeats; an unknown one is a UsageError naming the closest known one."""
        known = [entry.name for entry in self.for_role(role)]
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UsageError(
                    f"unknown {Role(role).value} {self.kind} {name!r}.{hint} "
                    f"Known {self.kind}s: {', '.join(known) or 'none'}"
                )
        return wanted

    def apply(self, sut: Any, names: Sequence[str], role: Role | str) -> None:
        """Apply the named entries to `sut`; all names are checked first."""
        for name in self.check_names(names, role):
            self.entries[name].apply(sut)


# Where each role's reference declares its catalogues (imported only when asked: a reference is heavy).
_MODULES: Mapping[Role, str] = {
    Role.CONSUMER: "conformance.reference.consumer",
    Role.PROVIDER: "conformance.reference.provider",
}


def fault_catalogue(role: Role | str) -> Catalogue[Fault]:
    """The faults of the reference SUT of `role`."""
    catalogue: Catalogue[Fault] = importlib.import_module(_MODULES[Role(role)] + ".faults").FAULT_CATALOGUE
    return catalogue


def variant_catalogue(role: Role | str) -> Catalogue[Variant]:
    """The allowed variants of the reference SUT of `role`."""
    catalogue: Catalogue[Variant] = importlib.import_module(
        _MODULES[Role(role)] + ".variants"
    ).VARIANT_CATALOGUE
    return catalogue


def faults(role: Role | str) -> list[Fault]:
    return fault_catalogue(role).for_role(role)


def variants(role: Role | str) -> list[Variant]:
    return variant_catalogue(role).for_role(role)


def fault(role: Role | str, name: str) -> Fault:
    return fault_catalogue(role).entries[name]


def variant(role: Role | str, name: str) -> Variant:
    return variant_catalogue(role).entries[name]


def check_faults(names: Iterable[str], role: Role | str) -> list[str]:
    """Fault names of `role`, without repeats; a UsageError names an unknown one and the closest."""
    return fault_catalogue(role).check_names(names, role)


def check_variants(names: Iterable[str], role: Role | str) -> list[str]:
    return variant_catalogue(role).check_names(names, role)


__all__ = [
    "Apply",
    "Catalogue",
    "Fault",
    "Injectable",
    "Variant",
    "check_faults",
    "check_variants",
    "fault",
    "fault_catalogue",
    "faults",
    "variant",
    "variant_catalogue",
    "variants",
]
