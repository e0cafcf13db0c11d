"""Requirements as data: what a catalogue entry is, independent of how it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from conformance.roles import Role


class Level(StrEnum):
    """How binding a requirement is. A failed `recommended` one yields a warning, never a fail."""

    MANDATORY = "mandatory"  # EXI, MUST
    RECOMMENDED = "recommended"  # RECO, SHOULD/MAY


class Method(StrEnum):
    """How the harness can establish a requirement."""

    AUTOMATIC = "automatic"  # fully judged from what crosses the wire
    PARTIAL = "partial"  # the wire gives evidence, a declaration completes it
    DECLARATIVE = "declarative"  # only a declaration or a document review can establish it


@dataclass(frozen=True)
class RoleReading:
    """How the harness establishes a requirement for one role, where it differs from the default: a
    data provider logs nobody in, so the referential's login rules are declared, not observed."""

    method: Method
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Requirement:
    id: str
    catalogue: str
    title: dict[str, str]  # language code -> short title, in our own words
    level: Level
    method: Method
    applies_to: frozenset[Role]
    source: str  # where it comes from: section of the referential, page of the IG…
    url: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # language code -> how the harness reads it
    by_role: dict[Role, RoleReading] = field(default_factory=dict)

    def applies(self, role: Role) -> bool:
        return role in self.applies_to

    def method_for(self, role: Role) -> Method:
        """How the requirement is established in a campaign of `role`."""
        reading = self.by_role.get(role)
        return reading.method if reading else self.method

    def notes_for(self, role: Role) -> dict[str, str]:
        reading = self.by_role.get(role)
        return reading.notes if reading and reading.notes else self.notes

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title["fr"]


@dataclass(frozen=True)
class Catalogue:
    id: str
    title: dict[str, str]
    version: str
    source: str  # the document the catalogue is drawn from
    url: str | None
    requirements: tuple[Requirement, ...]

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title["fr"]
