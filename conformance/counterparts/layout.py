"""Where the counterparts listen and what a SUT must be told about them (BRIEF §7).

A vendor configures their proxy once, before any campaign, from `counterparts.json`: so the
counterparts' addresses are fixed by configuration (not ephemeral ports), and the client
secrets the simulated PSC accepts are minted with the PKI and written beside it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The settings and the paths they build moved to `counterparts.settings` (nothing heavy to import them);
# still importable from here.
from conformance.counterparts.settings import API_BASE_PATH as API_BASE_PATH
from conformance.counterparts.settings import (
    API_INTROSPECTION_PATH,
    API_JWKS_PATH,
    API_METADATA_PATH,
    OIDC,
    PATHS,
    CounterpartSettings,
)
from conformance.counterparts.settings import API_REALM_PATH as API_REALM_PATH
from conformance.counterparts.settings import API_TOKEN_PATH as API_TOKEN_PATH
from conformance.counterparts.settings import REALM_PATH as REALM_PATH
from conformance.counterparts.settings import PscTimings as PscTimings
from conformance.errors import UsageError
from conformance.pki import PkiFiles, TestPKI

COUNTERPARTS_FILE = "counterparts.json"


def mint_client_secrets(pki: TestPKI) -> dict[str, str]:
    """Test secrets for the few PSC calls where client_secret_basic is allowed (the trust space uses mTLS)."""
    return {cid: secrets.token_urlsafe(18) for cid in pki.clients}


def counterparts_document(
    settings: CounterpartSettings,
    pki: TestPKI,
    files: PkiFiles,
    client_secrets: Mapping[str, str],
    p12_password: str,
) -> dict[str, Any]:
    """The contents of `counterparts.json`; file names relative to its directory."""

    def rel(path: Path | None) -> str | None:
        return None if path is None else path.relative_to(files.directory).as_posix()

    clients = {}
    for cid in pki.clients:
        cert = files.clients[cid]
        clients[cid] = {
            "cert": rel(cert.pem),
            "key": rel(cert.key),
            "p12": rel(cert.p12),
            "p12_password": p12_password,
            "role": pki.client_profiles[cid].role,
            "structure_id": pki.client_profiles[cid].structure_id,
            "subject": pki.clients[cid].subject,
            "x5t#S256": pki.clients[cid].x5t_s256,
            "secret": client_secrets[cid],
        }
    sut = files.servers["sut"]
    return {
        "psc": {
            "issuer": settings.psc_issuer,
            "discovery_url": settings.psc_discovery_url,
            "discovery_url_standard": settings.psc_issuer + PATHS["discovery_standard"],
            "backchannel_authentication_endpoint": settings.psc_issuer + PATHS["backchannel"],
            "token_endpoint": settings.psc_issuer + PATHS["token"],
            "introspection_endpoint": settings.psc_issuer + PATHS["introspection"],
            "end_session_endpoint": settings.psc_issuer + OIDC + "/logout",
        },
        "apis": [
            {
                "name": settings.api_name,
                "base_url": settings.api_base_url,
                "token_endpoint": settings.api_token_endpoint,
                "scope": settings.api_scope,
            },
        ],
        # The harness's own authorization server: what a provider's resource server trusts besides its
        # own AS (to judge it with tokens the harness signs), and the AS of the resource-server-only mode.
        "api_as": {
            "issuer": settings.api_issuer,
            "token_endpoint": settings.api_token_endpoint,
            "introspection_endpoint": settings.url(settings.api_as_port) + API_INTROSPECTION_PATH,
            "jwks_uri": settings.url(settings.api_as_port) + API_JWKS_PATH,
            "metadata_url": settings.url(settings.api_as_port) + API_METADATA_PATH,
            "audience": settings.api_name,
            "scope": settings.api_scope,
        },
        "ca_bundle": rel(files.ca_bundle),
        "crl": rel(files.crl),
        "clients": clients,
        "sut_server": {"cert": rel(sut.pem), "key": rel(sut.key), "p12": rel(sut.p12)},
    }


def write_counterparts(
    directory: Path,
    settings: CounterpartSettings,
    pki: TestPKI,
    files: PkiFiles,
    p12_password: str,
    client_secrets: Mapping[str, str] | None = None,
) -> Path:
    secrets_ = client_secrets if client_secrets is not None else mint_client_secrets(pki)
    document = counterparts_document(settings, pki, files, secrets_, p12_password)
    path = directory / COUNTERPARTS_FILE
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    path.chmod(0o600)  # it carries the test client secrets
    return path


def read_client_secrets(directory: Path) -> dict[str, str]:
    """The client secrets a vendor configured their SUT with, so the simulated PSC accepts them."""
    path = directory / COUNTERPARTS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {cid: str(c["secret"]) for cid, c in document["clients"].items()}
    except FileNotFoundError:
        raise UsageError(f"{path} not found: write it with `psc-conformance pki --out {directory}`") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{path}: not a counterparts file written by `psc-conformance pki` ({exc})"
        ) from None
