"""The written PKI as the OpenSSL CLI sees it: chains verify, negatives fail for the expected reason."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable

import pytest

from conformance.pki import NEGATIVE_VARIANTS, PkiFiles, TestPKI
from conformance.standards import rfc8705

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]  # the `openssl` fixture of conftest.py


def verify(openssl: OpenSSL, files: PkiFiles, name: str, *extra: str) -> tuple[int, str]:
    proc = openssl(
        "verify",
        *extra,
        "-CAfile",
        files.root.pem,
        "-untrusted",
        files.intermediate.pem,
        files.leaf(name).pem,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode()


def good_leaves(pki: TestPKI) -> list[str]:
    return [*pki.clients, *pki.servers]


def test_every_good_leaf_verifies(openssl: OpenSSL, pki: TestPKI, pki_files: PkiFiles) -> None:
    for name in good_leaves(pki):
        code, out = verify(openssl, pki_files, name)
        assert code == 0 and out.strip().endswith(": OK"), (name, out)


def test_good_leaves_verify_with_crl_and_purpose(openssl: OpenSSL, pki: TestPKI, pki_files: PkiFiles) -> None:
    for name in pki.clients:
        code, out = verify(
            openssl, pki_files, name, "-crl_check", "-CRLfile", str(pki_files.crl), "-purpose", "sslclient"
        )
        assert code == 0, (name, out)
    for name in pki.servers:
        code, out = verify(openssl, pki_files, name, "-purpose", "sslserver", "-verify_hostname", "localhost")
        assert code == 0, (name, out)
        code, out = verify(openssl, pki_files, name, "-verify_ip", "127.0.0.1")
        assert code == 0, (name, out)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("expired", "certificate has expired"),
        ("not-yet-valid", "certificate is not yet valid"),
        ("rogue", "unable to get local issuer certificate"),
    ],
)
def test_negative_rejected_by_plain_verify(
    openssl: OpenSSL, pki_files: PkiFiles, variant: str, message: str
) -> None:
    code, out = verify(openssl, pki_files, variant)
    assert code != 0
    assert message in out


def test_revoked_rejected_only_with_crl_check(openssl: OpenSSL, pki_files: PkiFiles) -> None:
    assert verify(openssl, pki_files, "revoked")[0] == 0  # the chain itself is fine
    code, out = verify(openssl, pki_files, "revoked", "-crl_check", "-CRLfile", str(pki_files.crl))
    assert code != 0 and "certificate revoked" in out


def test_wrong_eku_rejected_for_client_purpose(openssl: OpenSSL, pki_files: PkiFiles) -> None:
    code, out = verify(openssl, pki_files, "wrong-eku", "-purpose", "sslclient")
    assert code != 0 and "unsuitable certificate purpose" in out


def test_cn_mismatch_is_a_valid_certificate(openssl: OpenSSL, pki_files: PkiFiles) -> None:
    code, out = verify(
        openssl,
        pki_files,
        "cn-mismatch",
        "-crl_check",
        "-CRLfile",
        str(pki_files.crl),
        "-purpose",
        "sslclient",
    )
    assert code == 0, out


def test_rogue_verifies_against_its_own_root(openssl: OpenSSL, pki_files: PkiFiles) -> None:
    """So the rogue test fails for the right reason: the trust anchor, not a broken certificate."""
    proc = openssl(
        "verify", "-CAfile", pki_files.rogue_root.pem, "-purpose", "sslclient", pki_files.leaf("rogue").pem
    )
    assert proc.returncode == 0, proc.stderr


def test_crl_signature_and_content(openssl: OpenSSL, pki: TestPKI, pki_files: PkiFiles) -> None:
    proc = openssl("crl", "-in", pki_files.crl, "-CAfile", pki_files.intermediate.pem, "-noout", "-text")
    out = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and "verify OK" in out
    assert f"Serial Number: {pki.negatives['revoked'].serial_hex}" in out


def openssl_thumbprints(openssl: OpenSSL, pem_path: object) -> tuple[str, str]:
    """Both encodings computed with the CLI only: DER export, SHA-256, then base64(url)."""
    der = openssl("x509", "-in", str(pem_path), "-outform", "DER").stdout
    digest = openssl("dgst", "-sha256", "-binary", input=der).stdout
    hex_digest = openssl("dgst", "-sha256", "-r", input=der).stdout.split()[0]
    ans = openssl("base64", "-A", input=hex_digest).stdout.decode().strip()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), ans


@pytest.mark.parametrize("name", ["ans-odc-lps1-edc-bas", "proxy-esante-edc-test", "psc", *NEGATIVE_VARIANTS])
def test_thumbprints_match_openssl(openssl: OpenSSL, pki: TestPKI, pki_files: PkiFiles, name: str) -> None:
    expected_rfc, expected_ans = openssl_thumbprints(openssl, pki_files.leaf(name).pem)
    leaf = pki.leaf(name)
    assert leaf.x5t_s256 == expected_rfc == rfc8705.x5t_s256(leaf.der)
    assert leaf.x5t_s256_ans_hex == expected_ans
    assert len(expected_rfc) == 43 and "=" not in expected_rfc
    assert rfc8705.classify_thumbprint(expected_rfc, leaf.der) == "rfc8705"
    assert rfc8705.classify_thumbprint(expected_ans, leaf.der) == "ans-hex"
