"""Profiles of the minted certificates: names, extensions, validity, negatives, CRL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from conformance.pki import (
    DEFAULT_STRUCTURE_IDS,
    INTRUDER_CLIENT_ID,
    LPS1_CLIENT_ID,
    LPS2_CLIENT_ID,
    NEGATIVE_VARIANTS,
    PROXY_CLIENT_ID,
    SERVER_NAMES,
    Issued,
    PkiError,
    TestPKI,
    build_pki,
)

E = TypeVar("E", bound=x509.ExtensionType)


def ext(cert: x509.Certificate, cls: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(cls)


def names(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def test_ca_chain_looks_like_igc_sante_test_chain(pki: TestPKI) -> None:
    root, inter = pki.root.cert, pki.intermediate.cert
    assert root.subject.rfc4514_string() == (
        "CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE (PSC-CONFORMANCE),OU=IGC-SANTE TEST,"
        "OU=0002 187512751,O=ASIP-SANTE,C=FR"
    )
    assert root.issuer == root.subject
    assert names(inter, NameOID.COMMON_NAME) == [
        "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS (PSC-CONFORMANCE)"
    ]
    assert inter.issuer == root.subject
    for cert, pathlen in ((root, 1), (inter, 0)):
        bc = ext(cert, x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen
        ku = ext(cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
        assert not ku.value.digital_signature
        assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=365 * 5)
    inter_aki = ext(inter, x509.AuthorityKeyIdentifier).value.key_identifier
    assert inter_aki == ext(root, x509.SubjectKeyIdentifier).value.digest
    dp = ext(inter, x509.CRLDistributionPoints).value[0].full_name[0].value
    assert dp.startswith("http://127.0.0.1/")


@pytest.mark.parametrize(
    ("client_id", "role"), [(LPS1_CLIENT_ID, "lps"), (LPS2_CLIENT_ID, "lps"), (PROXY_CLIENT_ID, "proxy")]
)
def test_auth_cli_profile(pki: TestPKI, client_id: str, role: str) -> None:
    leaf = pki.clients[client_id]
    profile = pki.client_profiles[client_id]
    assert profile.role == role
    assert profile.structure_id == DEFAULT_STRUCTURE_IDS[client_id]
    assert profile.structure_id.startswith("3") and len(profile.structure_id) == 15
    assert profile.structure_id.isdigit()
    cert = leaf.cert
    assert names(cert, NameOID.COMMON_NAME) == [client_id]
    assert names(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == [profile.structure_id]
    assert names(cert, NameOID.ORGANIZATION_NAME) == [profile.organization]
    assert names(cert, NameOID.STATE_OR_PROVINCE_NAME) == ["Paris (75)"]
    assert names(cert, NameOID.COUNTRY_NAME) == ["FR"]
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"urn:psc-conformance:client:{client_id}"
    ]
    assert cert.issuer == pki.intermediate.cert.subject
    assert leaf.chain == (pki.intermediate.cert,)
    assert isinstance(leaf.key, ec.EllipticCurvePrivateKey) and leaf.key.curve.name == "secp256r1"


def test_structure_ids_are_distinct(pki: TestPKI) -> None:
    ids = [p.structure_id for p in pki.client_profiles.values()]
    assert len(set(ids)) == len(ids) == 4


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_ssl_serv_profile(pki: TestPKI, name: str) -> None:
    cert = pki.servers[name].cert
    ku = ext(cert, x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_encipherment  # EC: signing only
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_leaf_validity_is_a_few_days_around_now(pki: TestPKI) -> None:
    now = datetime.now(UTC)
    for leaf in [*pki.clients.values(), *pki.servers.values()]:
        assert now - timedelta(days=2) < leaf.not_before < now - timedelta(hours=12)
        assert now + timedelta(days=3) < leaf.not_after < now + timedelta(days=15)


def test_negatives(pki: TestPKI) -> None:
    assert set(pki.negatives) == set(NEGATIVE_VARIANTS)
    assert pki.negatives_for == LPS1_CLIENT_ID
    now = datetime.now(UTC)
    neg = pki.negatives
    assert neg["expired"].not_after < now - timedelta(hours=12)
    assert neg["not-yet-valid"].not_before > now + timedelta(hours=12)
    assert list(ext(neg["wrong-eku"].cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    rogue = neg["rogue"].cert
    assert rogue.issuer == pki.rogue_root.cert.subject != pki.root.cert.subject
    assert "ROGUE" in pki.rogue_root.cert.subject.rfc4514_string()
    assert neg["rogue"].chain == ()
    assert neg["cn-mismatch"].common_name == INTRUDER_CLIENT_ID
    for variant in ("expired", "not-yet-valid", "wrong-eku", "rogue", "revoked"):
        assert neg[variant].common_name == LPS1_CLIENT_ID
    assert neg["revoked"].cert.serial_number in pki.revoked_serials


def test_crl_signed_by_intermediate_lists_only_revoked(pki: TestPKI) -> None:
    crl = pki.crl
    assert crl.issuer == pki.intermediate.cert.subject
    assert crl.is_signature_valid(pki.intermediate.key.public_key())
    assert pki.revoked_serials == (pki.negatives["revoked"].cert.serial_number,)
    now = datetime.now(UTC)
    assert crl.next_update_utc is not None
    assert crl.last_update_utc < now < crl.next_update_utc
    assert pki.crl_pem.startswith("-----BEGIN X509 CRL-----")


def verify_client(pki: TestPKI, leaf: Issued) -> None:
    store = Store([pki.root.cert])
    verifier = PolicyBuilder().store(store).build_client_verifier()
    verifier.verify(leaf.cert, list(leaf.chain))


def test_cryptography_client_verifier_accepts_good_clients(pki: TestPKI) -> None:
    for leaf in pki.clients.values():
        verify_client(pki, leaf)  # needs the SAN: the verifier rejects client leaves without one
    verify_client(pki, pki.negatives["cn-mismatch"])


@pytest.mark.parametrize("variant", ["expired", "not-yet-valid", "wrong-eku", "rogue"])
def test_cryptography_client_verifier_rejects_negatives(pki: TestPKI, variant: str) -> None:
    with pytest.raises(VerificationError):
        verify_client(pki, pki.negatives[variant])


def test_parameters_client_ids_structure_ids_and_sans() -> None:
    pki = build_pki(
        lps_client_ids=("lps-a",),
        proxy_client_id="my-proxy",
        provider_client_id="my-provider",
        structure_ids={"my-proxy": "312345678900019"},
        organizations={"lps-a": "CLINIQUE A"},
        extra_server_sans=("proxy.test", "10.0.0.7"),
        leaf_validity=timedelta(days=30),
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert list(pki.clients) == ["lps-a", "my-proxy", "my-provider"]
    assert pki.lps_client_ids == ("lps-a",) and pki.proxy_client_id == "my-proxy"
    assert pki.provider_client_id == "my-provider"
    assert pki.client_profiles["my-proxy"].structure_id == "312345678900019"
    assert pki.client_profiles["lps-a"].organization == "CLINIQUE A"
    assert pki.negatives_for == "lps-a"
    lps_ou = pki.client_profiles["lps-a"].structure_id
    assert lps_ou.startswith("3") and len(lps_ou) == 15 and lps_ou != "312345678900019"
    assert pki.clients["lps-a"].not_after == datetime(2030, 1, 31, tzinfo=UTC)
    san = ext(pki.servers["psc"].cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "proxy.test"]
    assert "10.0.0.7" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lps_client_ids": ()},
        {"lps_client_ids": "ans-odc-lps1-edc-bas"},
        {"lps_client_ids": ("a", "a")},
        {"proxy_client_id": LPS1_CLIENT_ID},
        {"proxy_client_id": INTRUDER_CLIENT_ID},
        {"proxy_client_id": "../etc/passwd"},
        {"structure_ids": {LPS1_CLIENT_ID: "399999000000029"}},
        {"leaf_validity": timedelta(0)},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(PkiError):
        build_pki(**kwargs)


def test_issued_helpers(pki: TestPKI) -> None:
    leaf = pki.clients[LPS1_CLIENT_ID]
    assert leaf.chain_pem.count("BEGIN CERTIFICATE") == 2
    assert leaf.chain_pem.startswith(leaf.cert_pem)
    assert leaf.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert x509.load_der_x509_certificate(leaf.der) == leaf.cert
    assert int(leaf.serial_hex, 16) == leaf.cert.serial_number
    assert pki.leaf(LPS1_CLIENT_ID) is leaf
    assert pki.leaf("psc") is pki.servers["psc"]
    assert pki.leaf("rogue") is pki.negatives["rogue"]
    with pytest.raises(KeyError):
        pki.leaf("nope")


@pytest.mark.parametrize(
    ("serial", "text"), [(0xABC, "0ABC"), (0x0ABC, "0ABC"), (0x1ABC, "1ABC"), (0x5, "05")]
)
def test_serial_hex_has_an_even_number_of_digits_like_openssl(serial: int, text: str) -> None:
    from conformance.pki.builder import serial_hex

    assert serial_hex(serial) == text
