"""The campaign configuration file (TOML), checked key by key.

A vendor writes this file once to point the harness at their system (BRIEF §7). Every
mistake is reported with the table, the key and what would be accepted, because the person
reading the error is usually not the person who wrote the harness.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import tomllib
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from conformance.counterparts.layout import CounterpartSettings
from conformance.counterparts.psc import PscTimings
from conformance.errors import UsageError
from conformance.roles import Role

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
    """Build a `Config` from already-parsed TOML; relative paths are relative to the file."""
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
