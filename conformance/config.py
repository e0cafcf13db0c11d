"""The campaign configuration file (TOML), checked key by key.

A vendor writes this file once to point the harness at their system (BRIEF §7). Every
mistake is reported with the table, the key and what would be accepted, because the person
reading the error is usually not the person who wrote the harness.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.counterparts.layout import CounterpartSettings
from conformance.counterparts.psc import PscTimings
from conformance.errors import UsageError
from conformance.roles import Role

LANGS = ("fr", "en")


@dataclass(frozen=True)
class Timeouts:
    """Bounds on every wait; a hostile or dead SUT must never hang a campaign."""

    connect_s: float = 5.0
    read_s: float = 10.0
    scenario_s: float = 120.0
    campaign_s: float = 1800.0


@dataclass(frozen=True)
class SutConfig:
    role: Role = Role.CONSUMER
    name: str = ""
    base_url: str | None = None
    start: tuple[str, ...] = ()
    ca_file: Path | None = None
    startup_timeout_s: float = 30.0
    declared: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignConfig:
    output: Path = Path("reports")
    lang: str = "fr"
    attestations: Path | None = None
    pki_dir: Path | None = None
    swagger_dir: Path | None = None  # upstream OpenAPI documents to judge by, unchanged (default: swagger/)


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
        return self.sut.base_url is not None


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
    table.check_keys({"role", "name", "base_url", "start", "ca_file", "startup_timeout_s", "declared"})
    role_text = table.get("role", str, Role.CONSUMER.value)
    try:
        role = Role(role_text)
    except ValueError:
        raise table.error("role", f"{role_text!r} is not one of consumer, provider") from None
    base_url = table.get("base_url", str)
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise table.error("base_url", f"{base_url!r} must be an https:// URL with a host")
    start = table.get("start", (str, list), ())
    if isinstance(start, str):
        start = shlex.split(start)
    if not all(isinstance(a, str) for a in start):
        raise table.error("start", "must be a command line string or a list of strings")
    if start and base_url is None:
        raise table.error("start", "needs base_url, so the harness knows when the SUT is up")
    declared = _Table(table.data.get("declared", {}), f"{table.name}.declared", None)
    declared.where = table.where
    declared.check_keys(set(DECLARED_KEYS))
    return SutConfig(
        role=role,
        name=table.get("name", str, ""),
        base_url=base_url.rstrip("/") if base_url else None,
        start=tuple(start),
        ca_file=table.path("ca_file", base),
        startup_timeout_s=table.seconds("startup_timeout_s", SutConfig.startup_timeout_s),
        declared={key: declared.seconds(key, 0) for key in declared.data},
    )


def _parse_campaign(table: _Table, base: Path) -> CampaignConfig:
    table.check_keys({"output", "lang", "attestations", "pki_dir", "swagger_dir"})
    lang = table.get("lang", str, "fr")
    if lang not in LANGS:
        raise table.error("lang", f"{lang!r} is not one of {', '.join(LANGS)}")
    return CampaignConfig(
        output=table.path("output", base) or CampaignConfig.output,
        lang=lang,
        attestations=table.path("attestations", base),
        pki_dir=table.path("pki_dir", base),
        swagger_dir=table.path("swagger_dir", base),
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
