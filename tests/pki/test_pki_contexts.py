"""The stdlib SSLContext helpers: settings, and no key material left on disk."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import pytest

from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context, server_context


def test_server_context_settings(pki: TestPKI) -> None:
    ctx = server_context(pki, "api")
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert not ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    (anchor,) = ctx.get_ca_certs()  # only the test root is trusted
    subject = {attr for rdn in anchor["subject"] for attr in rdn}
    assert ("commonName", "TEST AC RACINE IGC-SANTE ELEMENTAIRE (PSC-CONFORMANCE)") in subject
    optional = server_context(pki, "sut", require_client_cert=False, check_crl=True)
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    assert optional.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    with pytest.raises(KeyError):
        server_context(pki, "unknown")


def test_client_context_settings(pki: TestPKI) -> None:
    anonymous = client_context(pki)
    assert anonymous.verify_mode == ssl.CERT_REQUIRED and anonymous.check_hostname
    assert not anonymous.post_handshake_auth
    with_cert = client_context(pki, LPS1_CLIENT_ID)
    assert with_cert.post_handshake_auth  # for servers that ask for the certificate after the handshake
    assert client_context(pki, negative="expired").post_handshake_auth
    with pytest.raises(ValueError):
        client_context(pki, LPS1_CLIENT_ID, negative="expired")


def test_legacy_range_lowers_security_level(pki: TestPKI) -> None:
    ctx = server_context(pki, min_version=ssl.TLSVersion.TLSv1_1)
    legacy_ciphers = {c["name"] for c in ctx.get_ciphers()}
    default_ciphers = {c["name"] for c in server_context(pki).get_ciphers()}
    assert "ECDHE-ECDSA-AES256-SHA" in legacy_ciphers
    assert legacy_ciphers >= default_ciphers


def test_temporary_key_files_are_removed(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server_context(pki, check_crl=True)
    client_context(pki, LPS1_CLIENT_ID)
    assert list(tmp_path.iterdir()) == []
