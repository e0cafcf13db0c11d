"""Load the requirement catalogues shipped as TOML under `conformance/requirements/data/`.

The catalogues are data so that auditors can read and review them without reading code. Because a
wrong entry silently weakens every report, loading is strict: each file is validated against
`conformance/schemas/catalogue.schema.json`, then against rules a schema cannot express (per-catalogue
id patterns, unique ids across all catalogues, EXI/RECO levels). Every problem raises a
`CatalogueError` that names the file, the requirement id and the offending key. The schema step, the
costly one, is remembered per exact bytes of a packaged file and of the schema (see `SCHEMA_MEMO_VARIABLE`).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from conformance.requirements.model import Catalogue, Level, Method, Requirement, RoleReading
from conformance.roles import Role

if TYPE_CHECKING:  # jsonschema is imported when a catalogue is checked, not by everything that reads one
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

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


# The schema step is most of the cost of loading the packaged catalogues (0.1 to 0.25 s in every process
# that reads them: each campaign, each sub-command). Its outcome depends only on the bytes of the file and
# of the schema: once a packaged file has passed it, an empty marker named by the digest of both is kept in
# the user's cache directory, and a file with that digest skips the step. Editing a catalogue or the schema
# changes the digest, so the file is checked again; the rules a schema cannot express run on every load;
# files outside the package are always checked. The variable names another directory; "off" disables it.
SCHEMA_MEMO_VARIABLE = "PSC_CONFORMANCE_CACHE"
_SCHEMA_MEMO_FOLDER = "catalogues-schema-passed"


@functools.cache
def _schema_bytes() -> bytes:
    return resources.files("conformance").joinpath("schemas/catalogue.schema.json").read_bytes()


@functools.cache
def _validator() -> Draft202012Validator:
    """The catalogue schema, read once from the package."""
    from jsonschema import Draft202012Validator

    schema = json.loads(_schema_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _schema_memo_dir() -> Path | None:
    """Where the markers of files that passed the schema are kept; None: nowhere (always check)."""
    configured = os.environ.get(SCHEMA_MEMO_VARIABLE)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off") else Path(configured) / _SCHEMA_MEMO_FOLDER
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "psc-conformance" / _SCHEMA_MEMO_FOLDER


def _schema_digest(raw: bytes) -> str:
    """Names the pair (schema, catalogue bytes): the marker of a file that passed this schema."""
    return hashlib.sha256(hashlib.sha256(_schema_bytes()).digest() + raw).hexdigest()


def _schema_passed_before(directory: Path | None, digest: str) -> bool:
    return directory is not None and (directory / digest).is_file()


def _remember_schema_passed(directory: Path | None, digest: str) -> None:
    """Best effort (an unwritable cache only costs the check next time); atomic, so that two processes
    loading at once never see a half-written marker."""
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".marker-")
        os.close(handle)
        os.replace(temporary, directory / digest)
    except OSError:
        return


def _data_dir() -> Traversable:
    return resources.files("conformance.requirements").joinpath("data")


def load_catalogue_file(path: str | os.PathLike[str] | Traversable) -> Catalogue:
    """Load and validate one catalogue file; raises `CatalogueError` on any problem.

    Public so that tests (and catalogue authors) can check a file outside the package.
    """
    return _load_catalogue_file(path, memo=None)


def _load_catalogue_file(path: str | os.PathLike[str] | Traversable, *, memo: Path | None) -> Catalogue:
    """`load_catalogue_file`, skipping the schema step for bytes that passed it before (`memo`)."""
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
    digest = _schema_digest(raw) if memo is not None else ""
    passed_before = _schema_passed_before(memo, digest)
    catalogue = _build(name, data, schema_passed=passed_before)
    if memo is not None and not passed_before:
        _remember_schema_passed(memo, digest)
    return catalogue


def _build(name: str, data: dict[str, Any], *, schema_passed: bool = False) -> Catalogue:
    """Turn parsed TOML into model objects, after schema (unless these bytes passed it before) and
    cross-field checks."""
    if not schema_passed:
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
    memo = _schema_memo_dir()
    for file_name in CATALOGUE_FILES:
        display = f"conformance/requirements/data/{file_name}"
        if file_name not in present:
            raise CatalogueError(display, "packaged catalogue file is missing")
        catalogue = _load_catalogue_file(data_dir.joinpath(file_name), memo=memo)
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
