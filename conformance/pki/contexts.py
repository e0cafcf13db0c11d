"""stdlib `ssl.SSLContext`s built from the in-memory test PKI.

The `ssl` module only loads certificate chains, keys and CRLs from files, so the material goes through a
private temporary directory (mode 0700) that is removed as soon as the context has read it.
"""

from __future__ import annotations

import ssl
import tempfile
import warnings
from pathlib import Path
from typing import Final

from conformance.pki.builder import Issued, TestPKI

# OpenSSL 3 refuses TLS < 1.2 at the default security level (SHA-1 signatures, legacy suites):
# both sides of a TLS 1.0/1.1 handshake need security level 0.
LEGACY_CIPHERS: Final = "DEFAULT:@SECLEVEL=0"
_LEGACY_VERSIONS: Final = (ssl.TLSVersion.SSLv3, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)


def load_identity(context: ssl.SSLContext, issued: Issued) -> None:
    """Load a certificate chain and its private key into `context`."""
    with tempfile.TemporaryDirectory(prefix="psc-conformance-") as tmp:
        chain, key = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        key.touch(mode=0o600)
        key.write_text(issued.key_pem, encoding="ascii")
        chain.write_text(issued.chain_pem, encoding="ascii")
        context.load_cert_chain(chain, key)


def load_crl(context: ssl.SSLContext, crl_pem: str) -> None:
    """Add a CRL to the trust store and check the leaf against it (`cadata` only takes certificates)."""
    with tempfile.TemporaryDirectory(prefix="psc-conformance-") as tmp:
        path = Path(tmp) / "crl.pem"
        path.write_text(crl_pem, encoding="ascii")
        context.load_verify_locations(cafile=path)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def set_versions(
    context: ssl.SSLContext, min_version: ssl.TLSVersion | None, max_version: ssl.TLSVersion | None
) -> None:
    """Apply a protocol range, lowering the security level when a legacy version is allowed."""
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0/1.1; probing for them on purpose is the point here.
        warnings.filterwarnings("ignore", r"ssl\.TLSVersion\.", DeprecationWarning)
        if min_version is not None:
            context.minimum_version = min_version
        if max_version is not None:
            context.maximum_version = max_version
    if context.minimum_version in _LEGACY_VERSIONS:
        context.set_ciphers(LEGACY_CIPHERS)


def server_context(
    pki: TestPKI,
    name: str = "psc",
    *,
    require_client_cert: bool = True,
    check_crl: bool = False,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """Server side of a harness counterpart, presenting `pki.servers[name]` and trusting the test root.

    `require_client_cert=False` still asks for a client certificate (and verifies it when one is sent)
    but lets clients without one in. `check_crl` checks client leaves against the intermediate's CRL.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    set_versions(context, min_version, max_version)
    load_identity(context, pki.servers[name])
    context.load_verify_locations(cadata=pki.ca_bundle_pem)
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    if check_crl:
        load_crl(context, pki.crl_pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


def client_context(
    pki: TestPKI,
    client_id: str | None = None,
    *,
    negative: str | None = None,
    min_version: ssl.TLSVersion | None = None,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """Client side trusting the test root; with `client_id` or `negative`, it presents that certificate.

    Contexts carrying a certificate enable TLS 1.3 post-handshake authentication, as servers that ask
    for the certificate per location (Apache httpd) need it.
    """
    if client_id is not None and negative is not None:
        raise ValueError("give either client_id or negative, not both")
    context = ssl.create_default_context(cadata=pki.ca_bundle_pem)
    set_versions(context, min_version, max_version)
    identity = pki.clients[client_id] if client_id is not None else None
    if negative is not None:
        identity = pki.negatives[negative]
    if identity is not None:
        load_identity(context, identity)
        context.post_handshake_auth = True
    return context
