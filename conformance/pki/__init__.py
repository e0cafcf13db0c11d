"""Test PKI for the harness: an IGC-Santé look-alike chain, AUTH_CLI / SSL_SERV leaves, negatives, CRL.

Typical use::

    pki = build_pki()                        # EC P-256; build_pki("rsa") for RSA 2048
    files = write_pki(pki, out_dir)          # PEM, keys (0600), PKCS#12, pki.json
    pki = load_pki(out_dir)                  # reuse the PKI a vendor configured their proxy with
    srv_ctx = server_context(pki, "psc", check_crl=True)
    cli_ctx = client_context(pki, LPS1_CLIENT_ID)
"""

from conformance.pki.builder import (
    DEFAULT_LEAF_VALIDITY,
    Issued,
    PkiError,
    PrivateKey,
    TestPKI,
    build_crl,
    build_pki,
    common_name,
    generate_key,
)
from conformance.pki.contexts import client_context, load_crl, load_identity, server_context
from conformance.pki.files import MANIFEST_NAME, CertFiles, PkiFiles, load_pki, load_pki_files, write_pki
from conformance.pki.profiles import (
    DEFAULT_LPS_CLIENT_IDS,
    DEFAULT_P12_PASSWORD,
    DEFAULT_STRUCTURE_IDS,
    INTRUDER_CLIENT_ID,
    LPS1_CLIENT_ID,
    LPS2_CLIENT_ID,
    NEGATIVE_VARIANTS,
    PROXY_CLIENT_ID,
    SERVER_NAMES,
    ClientProfile,
    ClientRole,
    KeyType,
)

__all__ = [
    "DEFAULT_LEAF_VALIDITY",
    "DEFAULT_LPS_CLIENT_IDS",
    "DEFAULT_P12_PASSWORD",
    "DEFAULT_STRUCTURE_IDS",
    "INTRUDER_CLIENT_ID",
    "LPS1_CLIENT_ID",
    "LPS2_CLIENT_ID",
    "MANIFEST_NAME",
    "NEGATIVE_VARIANTS",
    "PROXY_CLIENT_ID",
    "SERVER_NAMES",
    "CertFiles",
    "ClientProfile",
    "ClientRole",
    "Issued",
    "KeyType",
    "PkiError",
    "PkiFiles",
    "PrivateKey",
    "TestPKI",
    "build_crl",
    "build_pki",
    "client_context",
    "common_name",
    "generate_key",
    "load_crl",
    "load_identity",
    "load_pki",
    "load_pki_files",
    "server_context",
    "write_pki",
]
