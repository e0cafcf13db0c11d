"""The campaign configuration file (TOML), checked key by key.

A vendor writes this file once to point the harness at their system (BRIEF §7). Every
mistake is reported with the table, the key and what would be accepted, because the person
reading the error is usually not the person who wrote the harness.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import shlex
import tomllib
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from conformance.counterparts.settings import CounterpartSettings, PscTimings
from conformance.errors import UsageError
from conformance.roles import Role

if TYPE_CHECKING:  # jsonschema is imported when a file is checked, not by everything that reads a Config
    from jsonschema import Validator
    from jsonschema.exceptions import ValidationError

LANGS = ("fr", "en")
T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    """Bounds on every wait; a hostile or dead SUT must never hang a campaign."""

    connect_s: float = 5.0
    read_s: float = 10.0
    scenario_s: float = 120.0
    campaign_s: float = 1800.0


@dataclass(frozen=True)
class SutConfig:
    """The system under test: its role and where it answers.

    A consumer (Proxy e-Santé) answers at `base_url`. A provider answers at `api_base_url` (its API PSC)
    and, unless it is judged as a resource server alone, at `token_endpoint` (its authorization server).
    """

    role: Role = Role.CONSUMER
    name: str = ""
    base_url: str | None = None
    start: tuple[str, ...] = ()
    ca_file: Path | None = None
    startup_timeout_s: float = 30.0
    declared: Mapping[str, float] = field(default_factory=dict)
    token_endpoint: str | None = None  # provider: the authorization server's token endpoint
    api_base_url: str | None = None  # provider: the base URL of its API PSC (…/signsessiondata below it)

    @property
    def health_url(self) -> str | None:
        """What the harness polls to know the SUT is up (any HTTP answer will do)."""
        return self.base_url if self.role is Role.CONSUMER else self.api_base_url

    @property
    def resource_server_only(self) -> bool:
        """A provider judged as a resource server alone: the harness plays its authorization server."""
        return self.role is Role.PROVIDER and self.api_base_url is not None and self.token_endpoint is None


@dataclass(frozen=True)
class CampaignConfig:
    output: Path = Path("reports")
    lang: str = "fr"
    attestations: Path | None = None
    waivers: Path | None = None  # dérogations: failures accepted until a date (conformance.campaign.waivers)
    pki_dir: Path | None = None
    swagger_dir: Path | None = None  # upstream OpenAPI documents to judge by, unchanged (default: swagger/)
    signing_key: Path | None = None  # PEM private key signing the run's manifest (default: one per run)


@dataclass(frozen=True)
class Config:
    sut: SutConfig = field(default_factory=SutConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    timeouts: Timeouts = field(default_factory=Timeouts)
    counterparts: CounterpartSettings = field(default_factory=CounterpartSettings)
    source: Path | None = None

    @property
    def external(self) -> bool:
        """True when the campaign judges a vendor's system rather than an embedded reference SUT."""
        return any(
            url is not None for url in (self.sut.base_url, self.sut.api_base_url, self.sut.token_endpoint)
        )


# What a vendor may declare about settings the wire cannot show (seconds).
DECLARED_KEYS = {
    "idle_timeout_s": "idle time after which the SUT ends a proxy session (EXI PSC 32)",
    "session_timeout_s": "maximum lifetime of a proxy session",
    "upstream_timeout_s": "the SUT's own read timeout toward PSC, the authorization server and the APIs "
    "(EDC-07: a stalled API is held longer than this, and the LPS waits for it plus a margin)",
}

# Assumed when a vendor declares no `upstream_timeout_s`: it covers the read timeouts that common
# HTTP clients and gateways ship with (10 s, 30 s), so no condition races the SUT's own timer.
DEFAULT_UPSTREAM_TIMEOUT_S = 30.0


class _Table:
    """Reads one TOML table, remembering which keys were consumed to reject the rest."""

    def __init__(self, data: Any, name: str, source: Path | None) -> None:
        where = f"{source}: " if source else ""
        if not isinstance(data, dict):
            raise UsageError(f"{where}[{name}] must be a table")
        self.data, self.name, self.where = data, name, where

    def error(self, key: str, message: str) -> UsageError:
        return UsageError(f"{self.where}[{self.name}] {key}: {message}")

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise UsageError(
                f"{self.where}[{self.name}]: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(key, f"expected {names}, got {value!r}")
        return value

    def seconds(self, key: str, default: float) -> float:
        value = float(self.get(key, (int, float), default))
        if value <= 0:
            raise self.error(key, f"must be a positive number of seconds, got {value}")
        return value

    def path(self, key: str, base: Path) -> Path | None:
        value = self.get(key, str)
        return None if value is None else (base / value).resolve()


def _parse_sut(table: _Table, base: Path) -> SutConfig:
    table.check_keys(
        {
            "role",
            "name",
            "base_url",
            "token_endpoint",
            "api_base_url",
            "start",
            "ca_file",
            "startup_timeout_s",
            "declared",
        }
    )
    role_text = table.get("role", str, Role.CONSUMER.value)
    try:
        role = Role(role_text)
    except ValueError:
        raise table.error("role", f"{role_text!r} is not one of consumer, provider") from None
    base_url, token_endpoint, api_base_url = (
        _https_url(table, key) for key in ("base_url", "token_endpoint", "api_base_url")
    )
    if role is Role.CONSUMER and (token_endpoint or api_base_url):
        raise table.error(
            "token_endpoint" if token_endpoint else "api_base_url",
            'only for role = "provider"; a consumer (Proxy e-Santé) is reached at base_url',
        )
    if role is Role.PROVIDER and base_url:
        raise table.error(
            "base_url",
            "a provider is reached at api_base_url (its API PSC) and token_endpoint (its "
            "authorization server; leave it out to judge the resource server alone)",
        )
    if role is Role.PROVIDER and token_endpoint and not api_base_url:
        raise table.error("token_endpoint", "needs api_base_url: the harness judges the API the tokens serve")
    start = table.get("start", (str, list), ())
    if isinstance(start, str):
        start = shlex.split(start)
    if not all(isinstance(a, str) for a in start):
        raise table.error("start", "must be a command line string or a list of strings")
    if start and (base_url or api_base_url) is None:
        url_key = "base_url" if role is Role.CONSUMER else "api_base_url"
        raise table.error("start", f"needs {url_key}, so the harness knows when the SUT is up")
    declared = _Table(table.data.get("declared", {}), f"{table.name}.declared", None)
    declared.where = table.where
    declared.check_keys(set(DECLARED_KEYS))
    return SutConfig(
        role=role,
        name=table.get("name", str, ""),
        base_url=base_url.rstrip("/") if base_url else None,
        token_endpoint=token_endpoint,
        api_base_url=api_base_url.rstrip("/") if api_base_url else None,
        start=tuple(start),
        ca_file=table.path("ca_file", base),
        startup_timeout_s=table.seconds("startup_timeout_s", SutConfig.startup_timeout_s),
        declared={key: declared.seconds(key, 0) for key in declared.data},
    )


def _https_url(table: _Table, key: str) -> str | None:
    value: str | None = table.get(key, str)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise table.error(key, f"{value!r} must be an https:// URL with a host")
    return value


def _parse_campaign(table: _Table, base: Path) -> CampaignConfig:
    table.check_keys({"output", "lang", "attestations", "waivers", "pki_dir", "swagger_dir", "signing_key"})
    lang = table.get("lang", str, "fr")
    if lang not in LANGS:
        raise table.error("lang", f"{lang!r} is not one of {', '.join(LANGS)}")
    return CampaignConfig(
        output=table.path("output", base) or CampaignConfig.output,
        lang=lang,
        attestations=table.path("attestations", base),
        waivers=table.path("waivers", base),
        pki_dir=table.path("pki_dir", base),
        swagger_dir=table.path("swagger_dir", base),
        signing_key=table.path("signing_key", base),
    )


def _parse_timeouts(table: _Table, _base: Path) -> Timeouts:
    defaults = Timeouts()
    table.check_keys(set(defaults.__dataclass_fields__))
    return Timeouts(**{k: table.seconds(k, getattr(defaults, k)) for k in defaults.__dataclass_fields__})


def _parse_counterparts(table: _Table, _base: Path) -> CounterpartSettings:
    defaults = CounterpartSettings()
    table.check_keys(
        {"host", "psc_port", "api_as_port", "api_port", "api_name", "api_scope", "api_token_ttl_s", "timings"}
    )
    ports = {
        key: table.get(key, int, getattr(defaults, key)) for key in ("psc_port", "api_as_port", "api_port")
    }
    for key, port in ports.items():
        if not 0 <= port <= 65535:
            raise table.error(key, f"{port} is not a TCP port")
    fixed = [p for p in ports.values() if p]
    if len(fixed) != len(set(fixed)):
        raise UsageError(f"{table.where}[counterparts]: psc_port, api_as_port and api_port must differ")
    timing_defaults = PscTimings()
    timings = _Table(table.data.get("timings", {}), "counterparts.timings", None)
    timings.where = table.where
    timings.check_keys(set(timing_defaults.__dataclass_fields__))
    psc_timings = PscTimings(
        **{
            key: type(getattr(timing_defaults, key))(timings.seconds(key, getattr(timing_defaults, key)))
            for key in timings.data
        }
    )
    return CounterpartSettings(
        host=table.get("host", str, defaults.host),
        **ports,
        api_name=table.get("api_name", str, defaults.api_name),
        api_scope=table.get("api_scope", str, defaults.api_scope),
        psc_timings=psc_timings,
        api_token_ttl_s=int(table.seconds("api_token_ttl_s", defaults.api_token_ttl_s)),
    )


_SECTIONS: dict[str, Callable[[_Table, Path], Any]] = {
    "sut": _parse_sut,
    "campaign": _parse_campaign,
    "timeouts": _parse_timeouts,
    "counterparts": _parse_counterparts,
}


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """Build a `Config` from already-parsed TOML; relative paths are relative to the file.

    The shipped JSON Schema judges the document first, so the loader and a vendor's editor refuse the
    same files; the checks below then name the rules between keys in their own words.
    """
    where = f"{source}: " if source else ""
    between_keys = check_against_schema(data, source)
    config = _build_config(data, source)
    if between_keys:  # the schema refused what the checks below let through: say what the schema says
        first, path = between_keys[0], list(between_keys[0].absolute_path)
        place = _table_path(path) if isinstance(first.instance, dict) else _key_path(path)
        raise UsageError(f"{where}{place}: {first.message}")
    return config


def _build_config(data: Mapping[str, Any], source: Path | None) -> Config:
    """The loader's own checks, table by table (what `parse_config` runs once the schema has passed)."""
    where = f"{source}: " if source else ""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise UsageError(
            f"{where}unknown table(s) {', '.join(f'[{u}]' for u in unknown)}; "
            f"allowed: {', '.join(f'[{s}]' for s in _SECTIONS)}"
        )
    base = source.parent.resolve() if source else Path.cwd()
    parsed = {
        name: parser(_Table(data.get(name, {}), name, source), base) for name, parser in _SECTIONS.items()
    }
    return Config(**parsed, source=source)


def load_config(path: Path) -> Config:
    """Read a TOML configuration file; raises `UsageError` with a fixable message."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"configuration file not found: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path)


# -- the JSON Schema step: the shipped schema judges the file before the checks above ------------------

CONFIG_SCHEMA_FILE = "config_schema.json"
MAX_REPORTED_ERRORS = 10  # past a few, the rest is usually one mistake seen again

# The keywords whose failure concerns one key alone, phrased here; a failure of any other keyword
# (a rule between keys: `start` needs a URL, the URLs a role may use) is left to the checks above.
_ONE_KEY_KEYWORDS = (
    "additionalProperties",
    "type",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
)
_TOML_TYPES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "array": "an array",
    "object": "a table",
    "boolean": "a boolean",
}
_PATTERN_MEANINGS = {
    "start": "is not a command line: a quote is left open, or it ends with a backslash",
}
_HTTPS_URL_MEANING = "must be an https:// URL with a host"


@functools.cache
def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, as shipped in the package (the file editors are given)."""
    document: dict[str, Any] = json.loads(
        resources.files("conformance").joinpath(CONFIG_SCHEMA_FILE).read_text(encoding="utf-8")
    )
    return document


@functools.cache
def _schema_validator() -> Validator:
    from jsonschema import Draft202012Validator, validators

    # TOML tells integers from floats, as the checks above do: 9443.0 is not a port
    toml_types = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    validator: Validator = validators.extend(Draft202012Validator, type_checker=toml_types)(config_schema())
    return validator


def check_against_schema(data: Mapping[str, Any], source: Path | None = None) -> list[ValidationError]:
    """Raise `UsageError` for the keys the schema refuses, in file order; return the refused rules between
    keys, which the loader's own checks phrase better."""
    errors = sorted(_schema_validator().iter_errors(data), key=lambda error: _file_order(data, error))
    messages: list[str] = []
    reported: set[tuple[str | int, ...]] = set()
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator in _ONE_KEY_KEYWORDS and path not in reported:
            reported.add(path)  # one message a key: a role = 3 is not also "not one of consumer, provider"
            messages.append(_describe(error))
    if messages:
        where = f"{source}: " if source else ""
        if len(messages) > MAX_REPORTED_ERRORS:
            rest = len(messages) - MAX_REPORTED_ERRORS + 1
            messages[MAX_REPORTED_ERRORS - 1 :] = [f"… and {rest} more"]
        raise UsageError("\n".join(where + message for message in messages))
    return [error for error in errors if error.validator not in _ONE_KEY_KEYWORDS]


def _file_order(data: Mapping[str, Any], error: ValidationError) -> list[int]:
    """Where the error is in the file: tomllib keeps the keys of each table in the order they were written."""
    order: list[int] = []
    node: Any = data
    steps: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        steps.append(next(key for key in error.instance if key not in error.schema.get("properties", {})))
    for step in steps:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        order.append(keys.index(step))
        node = node[step]
    return order


def _describe(error: ValidationError) -> str:
    """One refused key, in the words of the checks above: the table, the key, what would be accepted."""
    path: list[str | int] = list(error.absolute_path)
    value, expected = error.instance, error.validator_value
    if error.validator == "additionalProperties":
        return _unknown_keys(path, value, error.schema)
    if error.validator == "type" and expected == "object":
        return f"{_table_path(path)} must be a table, got {value!r}"
    where = _key_path(path)
    if error.validator == "type":
        kinds = [expected] if isinstance(expected, str) else expected
        names = [_TOML_TYPES.get(kind, kind) for kind in kinds]
        return f"{where}: expected {' or '.join(names)}, got {value!r}"
    if error.validator == "enum":
        return f"{where}: {value!r} is not one of {', '.join(expected)}"
    if error.validator == "pattern":
        return f"{where}: {value!r} {_PATTERN_MEANINGS.get(str(path[-1]), _HTTPS_URL_MEANING)}"
    if error.validator == "exclusiveMinimum":
        return f"{where}: must be a positive number of seconds, got {value}"
    return f"{where}: {value} is not a TCP port (0 to 65535)"  # minimum, maximum: only ports have them


def _table_path(path: list[str | int]) -> str:
    return f"[{'.'.join(str(step) for step in path)}]" if path else "the file"


def _key_path(path: list[str | int]) -> str:
    """`[sut] startup_timeout_s`, `[sut.declared] idle_timeout_s`, `[sut] start[1]`: what a reader finds."""
    if not path:
        return "the file"
    last_key = max(i for i, step in enumerate(path) if isinstance(step, str))
    table, key, indexes = path[:last_key], path[last_key], path[last_key + 1 :]
    position = "".join(f"[{index}]" for index in indexes)
    return f"{_table_path(table)} {key}{position}" if table else f"{key}{position}"


def _unknown_keys(path: list[str | int], table: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """The unknown keys of one table, what it allows, and what each misspelled key probably meant."""
    allowed = list(schema.get("properties", {}))
    unknown = [key for key in table if key not in allowed]
    hints = {key: hint for key in unknown if (hint := _closest_key(key, allowed, top=not path))}
    if path:
        message = (
            f"{_table_path(path)}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    else:
        message = (
            f"unknown table(s) {', '.join(_top_level_name(key, table[key]) for key in unknown)}; "
            f"allowed: {', '.join(f'[{key}]' for key in allowed)}"
        )
    if len(hints) == 1 and len(unknown) == 1:
        return f"{message}; did you mean {next(iter(hints.values()))}?"
    if hints:
        return f"{message}; did you mean {', '.join(f'{hint} for {key}' for key, hint in hints.items())}?"
    return message


def _top_level_name(key: str, value: Any) -> str:
    """`[suut]` for a table; a key written above every table is named as such (it belongs in one)."""
    return f"[{key}]" if isinstance(value, dict) else f"{key} (a key outside any table)"


def _closest_key(key: str, allowed: list[str], top: bool) -> str | None:
    """A close spelling among the keys the table allows; else the table where this very key belongs."""
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"[{close[0]}]" if top else close[0]
    homes = _tables_by_key().get(key, [])
    return f"[{homes[0]}] {key}" if homes else None


@functools.cache
def _tables_by_key() -> dict[str, list[str]]:
    """Every key of the schema and the tables that define it (`lang`: campaign), for keys put in the wrong
    table."""
    found: dict[str, list[str]] = {}

    def visit(schema: Mapping[str, Any], table: str) -> None:
        for key, child in schema.get("properties", {}).items():
            if table:
                found.setdefault(key, []).append(table)
            if isinstance(child, dict) and child.get("type") == "object":
                visit(child, f"{table}.{key}" if table else key)

    visit(config_schema(), "")
    return found


# -- the resolved campaign, handed from the CLI to the pytest process -----------------------------------


def to_document(value: Any) -> Any:
    """A configuration (or any part of it) as JSON-ready data: what `run` hands to the campaign process."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_document(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_document(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_document(v) for v in value]
    return value


def from_document(kind: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of `to_document` for a configuration dataclass, field by field from its type hints."""
    hints = typing.get_type_hints(kind)
    fields = dataclasses.fields(kind)  # type: ignore[arg-type]
    values = {f.name: _decode(hints[f.name], data[f.name]) for f in fields if f.name in data}
    return kind(**values)


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return _decode(next(a for a in args if a is not type(None)), value)
    if dataclasses.is_dataclass(hint):
        return from_document(hint, value)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, Enum | Path):
        return hint(value)
    if origin is tuple:
        return tuple(value)
    if origin in (Mapping, dict, abc.Mapping):
        return dict(value)
    return value


def load_resolved(path: Path) -> Config:
    """The configuration `psc-conformance run` resolved (`campaign.json`), exactly as it resolved it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return from_document(Config, document["config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a campaign resolved by `psc-conformance run` ({exc})") from None
