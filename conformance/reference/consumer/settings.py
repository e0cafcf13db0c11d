"""The reference proxy's configuration: its own TOML file, pointing at `counterparts.json`.

Exactly what a vendor's proxy would be given: the PSC discovery URL, one PSC client per LPS
with its certificate, the proxy's own client, the APIs with their token endpoints, a CA bundle.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.errors import UsageError

PROXY_CONFIG_FILE = "reference-proxy.toml"


@dataclass(frozen=True)
class UpstreamClient:
    client_id: str
    role: str  # lps | proxy
    cert: Path  # leaf + intermediate
    key: Path
    subject: str = ""  # RFC 4514 DN of the certificate, for traces
    # For the PSC calls where the referential allows client_secret_basic; the trust space uses mTLS.
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class UpstreamApi:
    name: str
    base_url: str
    token_endpoint: str
    scope: str


@dataclass(frozen=True)
class ProxySettings:
    psc_discovery_url: str
    ca_bundle: Path
    clients: dict[str, UpstreamClient]
    apis: dict[str, UpstreamApi]
    server_cert: Path
    server_key: Path
    host: str = "127.0.0.1"
    port: int = 8443
    idle_timeout_s: float = 900.0  # EXI PSC 32: the proxy session ends after this much inactivity
    session_timeout_s: float = 14400.0
    refresh_margin_s: float = 30.0  # refresh the PSC access token this long before it expires
    http_timeout_s: float = 10.0
    ciba_max_wait_s: float = 150.0
    faults: tuple[str, ...] = field(default_factory=tuple)
    variants: tuple[str, ...] = field(default_factory=tuple)  # allowed behaviours other than the reference's

    @property
    def lps_clients(self) -> dict[str, UpstreamClient]:
        return {cid: c for cid, c in self.clients.items() if c.role == "lps"}

    @property
    def proxy_client(self) -> UpstreamClient:
        try:
            return next(c for c in self.clients.values() if c.role == "proxy")
        except StopIteration:
            raise UsageError("counterparts.json names no client with role 'proxy'") from None


_PROXY_KEYS = {
    "counterparts",
    "host",
    "port",
    "idle_timeout_s",
    "session_timeout_s",
    "refresh_margin_s",
    "http_timeout_s",
    "ciba_max_wait_s",
    "faults",
    "variants",
}


def load_settings(path: Path, *, overrides: dict[str, Any] | None = None) -> ProxySettings:
    """Read `reference-proxy.toml` and the `counterparts.json` it names; errors say what to fix."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"reference proxy configuration not found: {path} (write it with `psc-conformance pki --out DIR`)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("proxy")
    if not isinstance(table, dict) or set(data) - {"proxy"}:
        raise UsageError(f"{path}: expected a single [proxy] table")
    unknown = set(table) - _PROXY_KEYS
    if unknown:
        raise UsageError(
            f"{path}: [proxy]: unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_PROXY_KEYS))}"
        )
    table = {**table, **(overrides or {})}
    counterparts = (path.parent / str(table.get("counterparts", "counterparts.json"))).resolve()
    base = counterparts.parent
    try:
        doc = json.loads(counterparts.read_text(encoding="utf-8"))
        clients = {
            cid: UpstreamClient(
                cid, c["role"], base / c["cert"], base / c["key"], secret=str(c.get("secret", ""))
            )
            for cid, c in doc["clients"].items()
        }
        apis = {
            a["name"]: UpstreamApi(a["name"], a["base_url"].rstrip("/"), a["token_endpoint"], a["scope"])
            for a in doc["apis"]
        }
        settings = ProxySettings(
            psc_discovery_url=doc["psc"]["discovery_url"],
            ca_bundle=base / doc["ca_bundle"],
            clients=clients,
            apis=apis,
            server_cert=base / doc["sut_server"]["cert"],
            server_key=base / doc["sut_server"]["key"],
            host=str(table.get("host", "127.0.0.1")),
            port=int(table.get("port", 8443)),
            idle_timeout_s=float(table.get("idle_timeout_s", 900)),
            session_timeout_s=float(table.get("session_timeout_s", 14400)),
            refresh_margin_s=float(table.get("refresh_margin_s", 30)),
            http_timeout_s=float(table.get("http_timeout_s", 10)),
            ciba_max_wait_s=float(table.get("ciba_max_wait_s", 150)),
            faults=tuple(str(f) for f in table.get("faults", ())),
            variants=tuple(str(v) for v in table.get("variants", ())),
        )
    except FileNotFoundError:
        raise UsageError(f"{counterparts} not found (see [proxy] counterparts in {path})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"{counterparts}: not a counterparts file written by `psc-conformance pki` "
            f"({type(exc).__name__}: {exc})"
        ) from None
    return settings
