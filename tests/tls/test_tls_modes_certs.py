"""The negative server certificates behind the certificate modes: profiles, files, and OpenSSL's verdict.

Each one must differ from a good server certificate in exactly one respect, or a test that sees it
refused cannot say why.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from conformance.pki import DEFAULT_P12_PASSWORD, TestPKI, build_pki, load_pki, load_pki_files, write_pki
from conformance.pki.profiles import NEGATIVE_SERVER_VARIANTS, WRONG_HOST_NAME

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]  # the `openssl` fixture of conftest.py


def sans(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName) + san.get_values_for_type(x509.IPAddress)}


def test_negative_server_profiles(pki: TestPKI) -> None:
    assert tuple(pki.negative_servers) == NEGATIVE_SERVER_VARIANTS
    good = pki.servers["psc"]
    now = datetime.now(UTC)
    for leaf in pki.negative_servers.values():
        eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]

    untrusted = pki.negative_servers["untrusted"]
    assert untrusted.cert.issuer == pki.rogue_root.cert.subject and untrusted.chain == ()
    assert sans(untrusted.cert) == sans(good.cert)
    assert untrusted.not_after > now

    expired = pki.negative_servers["expired"]
    assert expired.cert.issuer == pki.intermediate.cert.subject and expired.chain == (pki.intermediate.cert,)
    assert sans(expired.cert) == sans(good.cert)
    assert expired.not_after < now - timedelta(hours=12)

    wrong_host = pki.negative_servers["wrong-host"]
    assert wrong_host.cert.issuer == pki.intermediate.cert.subject
    assert wrong_host.chain == (pki.intermediate.cert,)
    assert sans(wrong_host.cert) == {WRONG_HOST_NAME} and wrong_host.common_name == WRONG_HOST_NAME
    assert wrong_host.not_before < now < wrong_host.not_after


def test_extra_server_sans_apply_to_the_negatives_but_wrong_host() -> None:
    pki = build_pki(extra_server_sans=("proxy.test",))
    assert "proxy.test" in sans(pki.negative_servers["untrusted"].cert)
    assert "proxy.test" in sans(pki.negative_servers["expired"].cert)
    assert sans(pki.negative_servers["wrong-host"].cert) == {WRONG_HOST_NAME}


def test_written_and_reloaded(pki: TestPKI, tmp_path: Path) -> None:
    files = write_pki(pki, tmp_path)
    for variant in NEGATIVE_SERVER_VARIANTS:
        entry = files.negative_servers[variant]
        assert entry.pem.name == f"negative-server-{variant}.pem"
        assert entry.key.name == f"negative-server-{variant}.key"
        assert entry.p12 is not None and entry.p12.name == f"negative-server-{variant}.p12"
        assert {entry.pem, entry.key, entry.p12} <= set(files.all_paths())
    # Existing names are unchanged: the client negatives keep `negative-<variant>`.
    assert files.negatives["expired"].pem.name == "negative-expired.pem"
    manifest = json.loads(files.manifest.read_text())
    assert set(manifest["negative_servers"]) == set(NEGATIVE_SERVER_VARIANTS)
    wrong_host = manifest["negative_servers"]["wrong-host"]
    assert wrong_host["common_name"] == WRONG_HOST_NAME and wrong_host["description"]
    assert "negative-server-expired.p12" in manifest["files"]
    assert load_pki_files(tmp_path) == files

    loaded = load_pki(tmp_path)
    for variant, leaf in pki.negative_servers.items():
        assert loaded.negative_servers[variant].cert == leaf.cert
        assert loaded.negative_servers[variant].chain == leaf.chain
        assert loaded.negative_servers[variant].key_pem == leaf.key_pem
    # PKCS#12 with the published test password; the untrusted one carries the rogue root as its chain.
    p12 = files.negative_servers["untrusted"].p12
    assert p12 is not None
    _, cert, cas = pkcs12.load_key_and_certificates(p12.read_bytes(), DEFAULT_P12_PASSWORD.encode())
    assert cert == pki.negative_servers["untrusted"].cert and cas == [pki.rogue_root.cert]


def test_older_pki_directory_gets_negative_servers_minted(pki: TestPKI, tmp_path: Path) -> None:
    """A PKI written before these certificates existed still loads, and the certificate modes work."""
    files = write_pki(dataclasses.replace(pki, negative_servers={}), tmp_path)
    manifest = json.loads(files.manifest.read_text())
    del manifest["negative_servers"]
    files.manifest.write_text(json.dumps(manifest))
    assert not list(tmp_path.glob("negative-server-*"))
    loaded = load_pki(tmp_path)
    assert tuple(loaded.negative_servers) == NEGATIVE_SERVER_VARIANTS
    assert loaded.negative_servers["expired"].cert.issuer == loaded.intermediate.cert.subject
    assert loaded.negative_servers["untrusted"].cert.issuer == loaded.rogue_root.cert.subject
    assert sans(loaded.negative_servers["expired"].cert) == set(loaded.server_sans)


@pytest.mark.parametrize(
    ("variant", "extra", "expected"),
    [
        ("untrusted", (), "unable to get local issuer certificate"),
        ("expired", (), "certificate has expired"),
        ("wrong-host", ("-verify_hostname", "localhost"), "hostname mismatch"),
        ("wrong-host", ("-verify_ip", "127.0.0.1"), "IP address mismatch"),
    ],
)
def test_openssl_refuses_each_for_its_reason(
    pki: TestPKI, openssl: OpenSSL, tmp_path: Path, variant: str, extra: tuple[str, ...], expected: str
) -> None:
    """The OpenSSL CLI, independent of our code, gives the same verdicts as the TLS clients do."""
    files = write_pki(pki, tmp_path)
    leaf = files.negative_servers[variant].pem
    chain = tmp_path / "untrusted-chain.pem"
    chain.write_text(pki.intermediate.cert_pem)
    args = ("verify", "-CAfile", files.ca_bundle, "-untrusted", chain, "-purpose", "sslserver")
    result = openssl(*args, *extra, leaf)
    output = (result.stdout + result.stderr).decode()
    assert result.returncode != 0 and expected in output, output
    if variant == "wrong-host":  # the chain itself is good: only the name is wrong
        assert openssl(*args, leaf).returncode == 0
