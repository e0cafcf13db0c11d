"""The reference provider's configuration: its own TOML file, pointing at `counterparts.json`.

Exactly what a vendor's data provider would be given: PSC's introspection endpoint and the provider's
PSC client certificate, the clients (LPS, proxy) its authorization server registers by certificate
subject, the harness's authorization server its resource server also trusts, the test trust anchor
and CRL, and the server certificate of its two listeners.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from conformance.errors import UsageError

PROVIDER_CONFIG_FILE: Final = "reference-provider.toml"
COUNTERPARTS_FILE: Final = "counterparts.json"

# The client roles the authorization server registers (the provider's own identity is for PSC only).
REGISTERED_ROLES: Final = ("lps", "proxy")


@dataclass(frozen=True)
class ClientIdentity:
    """One client of counterparts.json: its certificate, and the subject DN the AS maps to its id."""

    client_id: str
    role: str  # lps | proxy | provider
    subject: str  # RFC 4514, as cryptography's rfc4514_string() writes it
    cert: Path  # leaf + intermediate, PEM
    key: Path
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class HarnessAuthorizationServer:
    """The harness's own AS (`api_as` in counterparts.json), whose tokens the resource server also takes."""

    issuer: str
    jwks_uri: str
    introspection_endpoint: str
    audience: str
    scope: str


@dataclass(frozen=True)
class ProviderSettings:
    ca_bundle: Path
    crl: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, ClientIdentity]
    psc_issuer: str
    psc_introspection_endpoint: str
    harness_as: HarnessAuthorizationServer | None
    host: str = "127.0.0.1"
    as_port: int = 9446
    rs_port: int = 9447
    audience: str = "apipsc"  # aud of the issued tokens, what the RS requires, and the RS's realm
    scope: str = "signsessiondata"  # the API scope
    token_ttl_s: int = 14400  # IG standards: API tokens live 1 to 4 h
    introspection_cache_s: float = 60.0  # never past the subject token's exp
    http_timeout_s: float = 5.0  # bound on every call to PSC and to the harness's AS
    trust_harness_as: bool = True

    @property
    def registered_clients(self) -> dict[str, ClientIdentity]:
        """The clients allowed to exchange tokens: every LPS and the proxy."""
        return {cid: c for cid, c in self.clients.items() if c.role in REGISTERED_ROLES}

    @property
    def provider_client(self) -> ClientIdentity:
        """The provider's own PSC client: introspects subject tokens, and calls the harness's AS."""
        for client in self.clients.values():
            if client.role == "provider":
                return client
        raise UsageError(
            "counterparts.json names no client with role 'provider': regenerate it with `psc-conformance pki`"
        )


# The [provider] keys, with their defaults and types; `counterparts` is a path relative to the TOML file.
DEFAULTS: Final[Mapping[str, str | int | float | bool]] = {
    "counterparts": COUNTERPARTS_FILE,
    "host": "127.0.0.1",
    "as_port": 9446,
    "rs_port": 9447,
    "audience": "apipsc",
    "scope": "signsessiondata",
    "token_ttl_s": 14400,
    "introspection_cache_s": 60.0,
    "http_timeout_s": 5.0,
    "trust_harness_as": True,
}


def _checked(path: Path, table: Mapping[str, Any]) -> dict[str, Any]:
    """The [provider] values with defaults filled in; a wrong key or type is a UsageError naming it."""
    unknown = sorted(set(table) - set(DEFAULTS))
    if unknown:
        raise UsageError(
            f"{path}: [provider]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(DEFAULTS))}"
        )
    values = {**DEFAULTS, **table}
    for key, default in DEFAULTS.items():
        value = values[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise UsageError(f"{path}: [provider] {key} must be true or false, not {value!r}")
        elif isinstance(default, str):
            if not isinstance(value, str) or not value:
                raise UsageError(f"{path}: [provider] {key} must be a non-empty string, not {value!r}")
        elif isinstance(default, int):
            if key.endswith("_port"):
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                    raise UsageError(f"{path}: [provider] {key} must be a TCP port (0-65535), not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UsageError(f"{path}: [provider] {key} must be a positive integer, not {value!r}")
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise UsageError(f"{path}: [provider] {key} must be a positive number of seconds, not {value!r}")
    return values


def load_settings(path: Path, *, overrides: Mapping[str, Any] | None = None) -> ProviderSettings:
    """Read `reference-provider.toml` and the `counterparts.json` it names; errors say what to fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"reference provider configuration not found: {path} "
            "(write it with `psc-conformance pki --out DIR`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("provider")
    if not isinstance(table, dict) or set(data) - {"provider"}:
        raise UsageError(f"{path}: expected a single [provider] table")
    values = _checked(path, {**table, **(overrides or {})})
    counterparts = (path.parent / values["counterparts"]).resolve()
    document = _read_counterparts(counterparts, path)
    base = counterparts.parent
    try:
        clients = {
            str(cid): ClientIdentity(
                str(cid),
                str(c["role"]),
                str(c["subject"]),
                base / c["cert"],
                base / c["key"],
                secret=str(c.get("secret") or ""),
            )
            for cid, c in document["clients"].items()
        }
        api_as = document.get("api_as")
        harness_as = (
            HarnessAuthorizationServer(
                str(api_as["issuer"]),
                str(api_as["jwks_uri"]),
                str(api_as["introspection_endpoint"]),
                str(api_as["audience"]),
                str(api_as["scope"]),
            )
            if isinstance(api_as, dict)
            else None
        )
        settings = ProviderSettings(
            ca_bundle=base / document["ca_bundle"],
            crl=base / document["crl"],
            server_cert=base / document["sut_server"]["cert"],
            server_key=base / document["sut_server"]["key"],
            clients=clients,
            psc_issuer=str(document["psc"]["issuer"]),
            psc_introspection_endpoint=str(document["psc"]["introspection_endpoint"]),
            harness_as=harness_as,
            host=values["host"],
            as_port=values["as_port"],
            rs_port=values["rs_port"],
            audience=values["audience"],
            scope=values["scope"],
            token_ttl_s=values["token_ttl_s"],
            introspection_cache_s=float(values["introspection_cache_s"]),
            http_timeout_s=float(values["http_timeout_s"]),
            trust_harness_as=values["trust_harness_as"],
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{counterparts}: not a counterparts file written by `psc-conformance pki` "
            f"(missing or wrong {type(exc).__name__}: {exc})"
        ) from None
    if settings.trust_harness_as and settings.harness_as is None:
        raise UsageError(
            f"{counterparts} has no api_as entry, but {path} sets trust_harness_as = true: "
            "regenerate counterparts.json with `psc-conformance pki`, or set trust_harness_as = false"
        )
    provider = settings.provider_client  # fails now, with its message, rather than at the first exchange
    needed = (
        settings.ca_bundle,
        settings.crl,
        settings.server_cert,
        settings.server_key,
        provider.cert,
        provider.key,
    )
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise UsageError(f"{counterparts} names file(s) that do not exist: {', '.join(map(str, missing))}")
    return settings


def _read_counterparts(counterparts: Path, config: Path) -> dict[str, Any]:
    try:
        document = json.loads(counterparts.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{counterparts} not found (see [provider] counterparts in {config})") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{counterparts}: not readable JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UsageError(f"{counterparts}: not a counterparts file written by `psc-conformance pki`")
    return document


def _toml_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return repr(value)


def write_config(
    directory: Path, *, as_port: int, rs_port: int, counterparts: str = COUNTERPARTS_FILE, **overrides: Any
) -> Path:
    """Write `directory/reference-provider.toml`, every key spelled out; an unknown key is a UsageError."""
    values = {**DEFAULTS, "counterparts": counterparts, "as_port": as_port, "rs_port": rs_port, **overrides}
    for key, value in values.items():  # settings given as floats (a variant's 3600.0) for integer keys
        default = DEFAULTS.get(key)
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            values[key] = int(value) if value.is_integer() else value
    path = Path(directory) / PROVIDER_CONFIG_FILE
    _checked(path, values)
    lines = ["[provider]", *(f"{key} = {_toml_value(value)}" for key, value in values.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


__all__ = [
    "COUNTERPARTS_FILE",
    "DEFAULTS",
    "PROVIDER_CONFIG_FILE",
    "ClientIdentity",
    "HarnessAuthorizationServer",
    "ProviderSettings",
    "load_settings",
    "write_config",
]
