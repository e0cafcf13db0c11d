"""Load the requirement catalogues shipped as TOML under `conformance/requirements/data/`.

The catalogues are data so that auditors can read and review them without reading code. Because a
wrong entry silently weakens every report, loading is strict: each file is validated against
`conformance/schemas/catalogue.schema.json`, then against rules a schema cannot express (per-catalogue
id patterns, unique ids across all catalogues, EXI/RECO levels). Every problem raises a
`CatalogueError` that names the file, the requirement id and the offending key.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from conformance.requirements.model import Catalogue, Level, Method, Requirement, RoleReading
from conformance.roles import Role

# Packaged catalogue files, in the order every listing and report uses.
CATALOGUE_FILES: tuple[str, ...] = (
    "referentiel-psc.toml",
    "ig-securisation-transport.toml",
    "edc-proxy.toml",
    "harness.toml",
)

# Requirement ids each known catalogue may hold; a typo in an id would orphan its checks.
ID_PATTERNS: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {
        "referentiel-psc": re.compile(r"^(EXI|RECO) PSC \d{2}$"),
        "ig-securisation-transport": re.compile(r"^IG-SEC-\d{2}$"),
        "edc-proxy": re.compile(r"^EDC-\d{2}$"),
        "harness": re.compile(r"^HARNESS-\d{2}$"),
    }
)

# In the referential the id prefix states the level: EXI = requirement, RECO = recommendation.
_PREFIX_LEVELS: Mapping[str, Level] = MappingProxyType({"EXI ": Level.MANDATORY, "RECO ": Level.RECOMMENDED})


class CatalogueError(ValueError):
    """A catalogue file is unreadable or breaks the catalogue rules.

    `file`, `requirement_id` and `key` locate the problem so the message can point straight at it.
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        requirement_id: str | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.requirement_id = requirement_id
        self.key = key
        self.reason = message
        where = [file]
        if requirement_id is not None:
            where.append(f"requirement {requirement_id!r}")
        if key is not None:
            where.append(f"key {key!r}")
        super().__init__(f"{': '.join(where)}: {message}")


class UnknownRequirementError(KeyError):
    """No catalogue holds the requested id; the message suggests close ids."""

    def __str__(self) -> str:  # KeyError would repr() the message and show it quoted
        return str(self.args[0]) if self.args else "unknown requirement"


@functools.cache
def _validator() -> Draft202012Validator:
    """The catalogue schema, read once from the package."""
    text = resources.files("conformance").joinpath("schemas/catalogue.schema.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _data_dir() -> Traversable:
    return resources.files("conformance.requirements").joinpath("data")


def load_catalogue_file(path: str | os.PathLike[str] | Traversable) -> Catalogue:
    """Load and validate one catalogue file; raises `CatalogueError` on any problem.

    Public so that tests (and catalogue authors) can check a file outside the package.
    """
    name = str(path)
    try:
        raw = path.read_bytes() if isinstance(path, Traversable) else Path(path).read_bytes()
    except OSError as exc:
        raise CatalogueError(name, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogueError(name, f"not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(name, f"invalid TOML: {exc}") from exc
    return _build(name, data)


def _build(name: str, data: dict[str, Any]) -> Catalogue:
    """Turn parsed TOML into model objects, after schema and cross-field checks."""
    _check_schema(name, data)
    head = data["catalogue"]
    catalogue_id: str = head["id"]
    pattern = ID_PATTERNS.get(catalogue_id)
    if pattern is None:
        known = ", ".join(ID_PATTERNS)
        raise CatalogueError(
            name, f"unknown catalogue id {catalogue_id!r} (known: {known})", key="catalogue.id"
        )

    requirements: list[Requirement] = []
    seen: set[str] = set()
    for entry in data["requirement"]:
        rid: str = entry["id"]
        if not pattern.match(rid):
            raise CatalogueError(
                name,
                f"id does not match the pattern of catalogue {catalogue_id!r} ({pattern.pattern})",
                requirement_id=rid,
                key="id",
            )
        if rid in seen:
            raise CatalogueError(name, "duplicate requirement id in this file", requirement_id=rid, key="id")
        seen.add(rid)
        level = Level(entry["level"])
        for prefix, expected in _PREFIX_LEVELS.items():
            if catalogue_id == "referentiel-psc" and rid.startswith(prefix) and level is not expected:
                raise CatalogueError(
                    name,
                    f"{prefix.strip()} entries must have level {expected.value!r}, not {level.value!r}",
                    requirement_id=rid,
                    key="level",
                )
        requirements.append(
            Requirement(
                id=rid,
                catalogue=catalogue_id,
                title=dict(entry["title"]),
                level=level,
                method=Method(entry["method"]),
                applies_to=frozenset(Role(role) for role in entry["applies_to"]),
                source=entry["source"],
                url=entry.get("url"),
                notes=dict(entry.get("notes", {})),
                by_role={
                    Role(role): RoleReading(Method(reading["method"]), dict(reading.get("notes", {})))
                    for role, reading in entry.get("by_role", {}).items()
                },
            )
        )
    return Catalogue(
        id=catalogue_id,
        title=dict(head["title"]),
        version=head["version"],
        source=head["source"],
        url=head.get("url"),
        requirements=tuple(requirements),
    )


def _check_schema(name: str, data: dict[str, Any]) -> None:
    """Raise the first schema violation, located by requirement id and key."""
    errors = sorted(_validator().iter_errors(data), key=_error_order)
    if not errors:
        return
    error = errors[0]
    path = list(error.absolute_path)
    requirement_id: str | None = None
    if len(path) >= 2 and path[0] == "requirement" and isinstance(path[1], int):
        entry = data["requirement"][path[1]]
        rid = entry.get("id") if isinstance(entry, dict) else None
        requirement_id = rid if isinstance(rid, str) else f"#{path[1] + 1} (no valid id)"
        key_path = path[2:]
    else:
        key_path = path
    key = _offending_key(error, key_path)
    raise CatalogueError(name, error.message, requirement_id=requirement_id, key=key)


def _error_order(error: ValidationError) -> tuple[tuple[int, int | str], ...]:
    """Report errors in file order (requirement #2 before #10), whatever order the validator used."""
    return tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path)


def _offending_key(error: ValidationError, key_path: list[str | int]) -> str | None:
    """Dotted key of the violation; for an unknown key, the unknown key itself."""
    parts = [str(p) for p in key_path if not isinstance(p, int)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            parts.append(extra[0])
    elif error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            parts.append(missing[0])
    return ".".join(parts) or None


def _check_catalogue_set(catalogues: Iterable[tuple[str, Catalogue]]) -> None:
    """Ids must be unique across catalogues: results and reports are keyed by the bare id."""
    owners: dict[str, str] = {}
    catalogue_ids: dict[str, str] = {}
    for name, catalogue in catalogues:
        if catalogue.id in catalogue_ids:
            raise CatalogueError(
                name, f"catalogue id also used by {catalogue_ids[catalogue.id]}", key="catalogue.id"
            )
        catalogue_ids[catalogue.id] = name
        for requirement in catalogue.requirements:
            if requirement.id in owners:
                raise CatalogueError(
                    name,
                    f"duplicate requirement id, already defined in {owners[requirement.id]}",
                    requirement_id=requirement.id,
                    key="id",
                )
            owners[requirement.id] = name


@functools.cache
def load_catalogues() -> tuple[Catalogue, ...]:
    """Every packaged catalogue, validated, in report order (cached: the files never change at run time)."""
    data_dir = _data_dir()
    present = {item.name for item in data_dir.iterdir() if item.name.endswith(".toml")}
    stray = sorted(present - set(CATALOGUE_FILES))
    if stray:
        raise CatalogueError(
            f"conformance/requirements/data/{stray[0]}",
            "catalogue file not registered in loader.CATALOGUE_FILES",
        )
    loaded: list[tuple[str, Catalogue]] = []
    for file_name in CATALOGUE_FILES:
        display = f"conformance/requirements/data/{file_name}"
        if file_name not in present:
            raise CatalogueError(display, "packaged catalogue file is missing")
        catalogue = load_catalogue_file(data_dir.joinpath(file_name))
        if catalogue.id != file_name.removesuffix(".toml"):
            raise CatalogueError(
                display, f"catalogue id {catalogue.id!r} does not match the file name", key="catalogue.id"
            )
        loaded.append((display, catalogue))
    _check_catalogue_set(loaded)
    return tuple(catalogue for _, catalogue in loaded)


@functools.cache
def _index() -> Mapping[str, Requirement]:
    return MappingProxyType({r.id: r for c in load_catalogues() for r in c.requirements})


def requirement_index() -> dict[str, Requirement]:
    """All requirements by id, in catalogue order (a fresh dict: callers may mutate it)."""
    return dict(_index())


def _canonical(requirement_id: str) -> str:
    """Spelling-insensitive form of an id: 'exi-psc-7' and 'EXI PSC 07' both give 'EXIPSC07'."""
    folded = re.sub(r"[\s_-]+", "", requirement_id.upper())
    return re.sub(r"(\d+)$", lambda m: m.group(1).zfill(2), folded)


def get_requirement(requirement_id: str) -> Requirement:
    """The requirement with this exact id; the error lists close ids to catch typos such as 'EXI PSC 7'."""
    index = _index()
    try:
        return index[requirement_id]
    except KeyError:
        pass
    wanted = _canonical(requirement_id)
    close = [rid for rid in index if _canonical(rid) == wanted]
    by_folded = {rid.casefold(): rid for rid in index}
    for match in difflib.get_close_matches(requirement_id.casefold(), list(by_folded), n=5, cutoff=0.6):
        if by_folded[match] not in close:
            close.append(by_folded[match])
    hint = f"; close ids: {', '.join(repr(rid) for rid in close[:5])}" if close else ""
    raise UnknownRequirementError(
        f"unknown requirement id {requirement_id!r}{hint} (ids are exact, e.g. 'EXI PSC 07', 'IG-SEC-01')"
    )
