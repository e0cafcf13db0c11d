"""Contrôles préalables : la PKI de test du banc (chaîne IGC-Santé de test, profil AUTH_CLI).

These scenarios judge the harness, not a SUT: a campaign whose own certificates were wrong
would judge every SUT wrongly, so they run first and show in the report as HARNESS-NN.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from conformance.checks import Check
from conformance.pki import TestPKI

GOOD_LEAF_CHAINS = Check(
    "pki_good_leaf_chains_to_test_root",
    ("HARNESS-01",),
    fr="Le certificat se rattache à la racine de test par l'autorité ORGANISATIONS",
    en="The certificate chains to the test root through the ORGANISATIONS CA",
)
NEGATIVE_LEAF_DOES_NOT_CHAIN = Check(
    "pki_negative_leaf_fails_path_validation",
    ("HARNESS-01",),
    fr="Le certificat négatif échoue à la validation de chemin",
    en="The negative certificate fails path validation",
)
REVOKED_LEAF_IN_CRL = Check(
    "pki_revoked_leaf_listed_in_crl",
    ("HARNESS-01",),
    fr="La LCR de l'autorité liste le certificat révoqué, et lui seul",
    en="The CA's CRL lists the revoked certificate, and only it",
)
AUTH_CLI_PROFILE = Check(
    "pki_auth_cli_profile",
    ("HARNESS-02",),
    fr="Le certificat client a le profil AUTH_CLI ORG (EKU clientAuth, CN = client id, OU = structure)",
    en="The client certificate has the ORG AUTH_CLI profile (EKU clientAuth, CN = client id, OU = structure)",
)


def _verify(pki: TestPKI, leaf: x509.Certificate, *, client: bool, when: dt.datetime) -> str | None:
    """Path validation with `cryptography`'s verifier, independent of OpenSSL; None when valid."""
    builder = PolicyBuilder().store(Store([pki.root.cert])).time(when)
    intermediates = [pki.intermediate.cert]
    try:
        if client:
            builder.build_client_verifier().verify(leaf, intermediates)
        else:
            server = x509.DNSName("localhost")
            builder.build_server_verifier(server).verify(leaf, intermediates)
    except VerificationError as exc:
        return str(exc)
    return None


@pytest.mark.verifies("HARNESS-01", sut=False)
def test_good_leaves_chain_to_the_test_root(checks, pki: TestPKI) -> None:
    """Les certificats valides de la PKI de test se rattachent à sa racine"""
    now = dt.datetime.now(dt.UTC)
    for client_id, issued in pki.clients.items():
        error = _verify(pki, issued.cert, client=True, when=now)
        checks.record(GOOD_LEAF_CHAINS, error is None, f"client {client_id}: {error or 'valid chain'}")
    for name, issued in pki.servers.items():
        error = _verify(pki, issued.cert, client=False, when=now)
        checks.record(GOOD_LEAF_CHAINS, error is None, f"server {name}: {error or 'valid chain'}")


@pytest.mark.verifies("HARNESS-01", sut=False)
@pytest.mark.parametrize("variant", ["rogue", "expired", "not-yet-valid", "wrong-eku"])
def test_negative_leaves_fail_path_validation(checks, pki: TestPKI, variant: str) -> None:
    """Les certificats négatifs échouent à la validation de chemin"""
    error = _verify(pki, pki.negatives[variant].cert, client=True, when=dt.datetime.now(dt.UTC))
    checks.record(NEGATIVE_LEAF_DOES_NOT_CHAIN, error is not None, f"{variant}: {error or 'accepted!'}")


@pytest.mark.verifies("HARNESS-01", sut=False)
def test_crl_lists_exactly_the_revoked_leaf(checks, pki: TestPKI) -> None:
    """La liste de révocation ne contient que le certificat révoqué"""
    crl = x509.load_pem_x509_crl(pki.crl_pem.encode())
    revoked = pki.negatives["revoked"].cert.serial_number
    checks.record(
        REVOKED_LEAF_IN_CRL,
        crl.get_revoked_certificate_by_serial_number(revoked) is not None,
        f"serial {revoked:x} listed",
    )
    checks.record(
        REVOKED_LEAF_IN_CRL,
        crl.is_signature_valid(pki.intermediate.cert.public_key()),
        "CRL signed by the ORGANISATIONS CA",
    )
    for client_id, issued in pki.clients.items():
        listed = crl.get_revoked_certificate_by_serial_number(issued.cert.serial_number) is not None
        checks.record(REVOKED_LEAF_IN_CRL, not listed, f"{client_id} not listed")


def _only(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


@pytest.mark.verifies("HARNESS-02", sut=False)
def test_client_certificates_have_the_auth_cli_profile(checks, pki: TestPKI) -> None:
    """Les certificats des LPS et du proxy ont le profil AUTH_CLI de l'offre ORG"""
    for client_id, issued in pki.clients.items():
        cert = issued.cert
        profile = pki.client_profiles[client_id]
        eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        findings = {
            "EKU clientAuth only": eku == [ExtendedKeyUsageOID.CLIENT_AUTH],
            "keyUsage digitalSignature (critical)": usage.critical and usage.value.digital_signature,
            "CN = client id": _only(cert, NameOID.COMMON_NAME) == [client_id],
            "OU = structure id": _only(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == [profile.structure_id],
            "issued by the ORGANISATIONS CA": cert.issuer == pki.intermediate.cert.subject,
        }
        wrong = [name for name, ok in findings.items() if not ok]
        checks.record(
            AUTH_CLI_PROFILE,
            not wrong,
            f"{client_id}: " + (f"wrong: {', '.join(wrong)}" if wrong else "; ".join(findings)),
        )
