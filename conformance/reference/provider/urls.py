"""Where the reference provider answers: paths in the Keycloak shape of the trust space's realms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

REALM_PATH: Final = "/realms/signsessiondata"
OIDC_PATH: Final = REALM_PATH + "/protocol/openid-connect"
TOKEN_PATH: Final = OIDC_PATH + "/token"
INTROSPECTION_PATH: Final = TOKEN_PATH + "/introspect"
JWKS_PATH: Final = OIDC_PATH + "/certs"
OIDC_METADATA_PATH: Final = REALM_PATH + "/.well-known/openid-configuration"
OAUTH_METADATA_PATH: Final = "/.well-known/oauth-authorization-server" + REALM_PATH  # RFC 8414 §3
API_BASE_PATH: Final = "/mockservice/apipsc"
SIGN_SESSION_DATA_PATH: Final = API_BASE_PATH + "/signsessiondata"


def origin(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"


@dataclass(frozen=True)
class ProviderUrls:
    """The absolute URLs of both listeners, once their ports are bound."""

    host: str
    as_port: int
    rs_port: int

    @property
    def issuer(self) -> str:
        return origin(self.host, self.as_port) + REALM_PATH

    @property
    def token_endpoint(self) -> str:
        return origin(self.host, self.as_port) + TOKEN_PATH

    @property
    def introspection_endpoint(self) -> str:
        return origin(self.host, self.as_port) + INTROSPECTION_PATH

    @property
    def jwks_uri(self) -> str:
        return origin(self.host, self.as_port) + JWKS_PATH

    @property
    def rs_base_url(self) -> str:
        return origin(self.host, self.rs_port) + API_BASE_PATH

    @property
    def sign_session_data_url(self) -> str:
        return origin(self.host, self.rs_port) + SIGN_SESSION_DATA_PATH


__all__ = [
    "API_BASE_PATH",
    "INTROSPECTION_PATH",
    "JWKS_PATH",
    "OAUTH_METADATA_PATH",
    "OIDC_METADATA_PATH",
    "REALM_PATH",
    "SIGN_SESSION_DATA_PATH",
    "TOKEN_PATH",
    "ProviderUrls",
    "origin",
]
