"""The `[counterparts]` settings and the paths the counterparts serve: plain values, nothing to serve them.

Every process of a campaign reads its configuration (`conformance.config`), and most never run a
counterpart (the `run` command, the reference SUTs): so the settings live apart from the servers, and
importing them costs no TLS server, HTTP client or JWT library (0.2-0.4 s of CPU per process).
`conformance.counterparts.psc` and `conformance.counterparts.layout` re-export these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The simulated PSC's realm and the endpoints below it, as a SUT is configured with them.
REALM_PATH = "/auth/realms/esante-wallet"
OIDC = "/protocol/openid-connect"
PATHS = {
    "discovery": "/.well-known/wallet-openid-configuration",
    "discovery_standard": "/.well-known/openid-configuration",
    "jwks": f"{OIDC}/certs",
    "authorization": f"{OIDC}/auth",
    "backchannel": f"{OIDC}/ext/ciba/auth",
    "token": f"{OIDC}/token",
    "userinfo": f"{OIDC}/userinfo",
    "introspection": f"{OIDC}/token/introspect",
    "end_session": f"{OIDC}/logout",
}

# The API PSC's authorization server and resource server.
API_TOKEN_PATH = "/realms/signsessiondata/protocol/openid-connect/token"
API_BASE_PATH = "/mockservice/apipsc"
API_REALM_PATH = API_TOKEN_PATH.removesuffix("/protocol/openid-connect/token")
API_INTROSPECTION_PATH = API_TOKEN_PATH + "/introspect"
API_JWKS_PATH = API_REALM_PATH + "/protocol/openid-connect/certs"
API_METADATA_PATH = "/.well-known/oauth-authorization-server" + API_REALM_PATH  # RFC 8414 §3


@dataclass(frozen=True)
class PscTimings:
    """Every duration of the simulated PSC, short by default so a campaign takes seconds."""

    ciba_interval_s: float = 1.0
    ciba_expires_in_s: int = 120
    access_token_ttl_s: int = 120
    id_token_ttl_s: int = 120
    refresh_token_ttl_s: int = 1800
    slow_down_increment_s: float = 5.0
    poll_tolerance_s: float = 0.2


@dataclass(frozen=True)
class CounterpartSettings:
    """The `[counterparts]` table: addresses, the API's name and scope, and every duration."""

    host: str = "127.0.0.1"
    psc_port: int = 9443
    api_as_port: int = 9444
    api_port: int = 9445
    api_name: str = "apipsc"
    api_scope: str = "signsessiondata"
    psc_timings: PscTimings = field(default_factory=PscTimings)
    api_token_ttl_s: int = 14400

    def url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{port}"

    @property
    def psc_issuer(self) -> str:
        return self.url(self.psc_port) + REALM_PATH

    @property
    def psc_discovery_url(self) -> str:
        return self.psc_issuer + PATHS["discovery"]

    @property
    def api_token_endpoint(self) -> str:
        return self.url(self.api_as_port) + API_TOKEN_PATH

    @property
    def api_base_url(self) -> str:
        return self.url(self.api_port) + API_BASE_PATH

    @property
    def api_issuer(self) -> str:
        return self.url(self.api_as_port) + API_REALM_PATH
