"""The harness judges itself first: its test PKI and its TLS listeners (HARNESS-01 … 04).

A campaign whose own certificates or listeners were wrong would judge every SUT wrongly, so these
run before any SUT scenario and show in the report like any other requirement.
"""

from __future__ import annotations

import datetime as dt

import httpx
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from conformance.campaign.conditions import Judgement, Strength, condition, failed, judged, passed
from conformance.pki import TestPKI
from conformance.tls import HandshakeFailure, ProbeResult


def _path_error(pki: TestPKI, leaf: x509.Certificate, *, client: bool, when: dt.datetime) -> str | None:
    """RFC 5280 path validation with `cryptography`'s verifier, independent of OpenSSL; None if valid."""
    builder = PolicyBuilder().store(Store([pki.root.cert])).time(when)
    intermediates = [pki.intermediate.cert]
    try:
        if client:
            builder.build_client_verifier().verify(leaf, intermediates)
        else:
            builder.build_server_verifier(x509.DNSName("localhost")).verify(leaf, intermediates)
    except VerificationError as exc:
        return str(exc)
    return None


@condition(
    "pki_good_leaf_chains_to_test_root",
    ("HARNESS-01",),
    basis="RFC 5280 §6 (path validation); the IGC-Santé chain root → ELEMENTAIRE ORGANISATIONS → leaf",
    strength=Strength.MUST,
    fr="Le certificat se rattache à la racine de test par l'autorité ORGANISATIONS",
    en="The certificate chains to the test root through the ORGANISATIONS CA",
)
def pki_good_leaf_chains_to_test_root(
    pki: TestPKI, name: str, leaf: x509.Certificate, *, client: bool
) -> Judgement:
    error = _path_error(pki, leaf, client=client, when=dt.datetime.now(dt.UTC))
    return judged(error is None, f"{'client' if client else 'server'} {name}: {error or 'valid chain'}")


@condition(
    "pki_negative_leaf_fails_path_validation",
    ("HARNESS-01",),
    basis="RFC 5280 §6 (path validation): an unknown issuer, an expired or not-yet-valid certificate and a "
    "wrong extended key usage are refused",
    strength=Strength.MUST,
    fr="Le certificat négatif échoue à la validation de chemin",
    en="The negative certificate fails path validation",
)
def pki_negative_leaf_fails_path_validation(pki: TestPKI, variant: str) -> Judgement:
    error = _path_error(pki, pki.negatives[variant].cert, client=True, when=dt.datetime.now(dt.UTC))
    return judged(error is not None, f"{variant}: {error or 'accepted!'}")


@condition(
    "pki_revoked_leaf_listed_in_crl",
    ("HARNESS-01",),
    basis="RFC 5280 §5 (CRL): the CA's signed list names the revoked certificate, and no valid one",
    strength=Strength.MUST,
    fr="La LCR de l'autorité liste le certificat révoqué, et lui seul",
    en="The CA's CRL lists the revoked certificate, and only it",
)
def pki_revoked_leaf_listed_in_crl(pki: TestPKI) -> Judgement:
    crl = x509.load_pem_x509_crl(pki.crl_pem.encode())
    revoked = pki.negatives["revoked"].cert.serial_number
    problems = []
    if crl.get_revoked_certificate_by_serial_number(revoked) is None:
        problems.append(f"serial {revoked:x} not listed")
    if not crl.is_signature_valid(pki.intermediate.cert.public_key()):  # type: ignore[arg-type]
        problems.append("CRL not signed by the ORGANISATIONS CA")
    listed = [
        cid
        for cid, issued in pki.clients.items()
        if crl.get_revoked_certificate_by_serial_number(issued.cert.serial_number) is not None
    ]
    problems += [f"valid client {cid} listed" for cid in listed]
    if problems:
        return failed("; ".join(problems))
    return passed(f"serial {revoked:x} listed, signed by the ORGANISATIONS CA, no valid client listed")


def _only(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


@condition(
    "pki_auth_cli_profile",
    ("HARNESS-02",),
    basis="IGC-Santé ORG AUTH_CLI profile (ANS certificate templates); ANS slides 29/09/2025: "
    "CN = client id, OU = structure id",
    strength=Strength.MUST,
    fr="Le certificat client a le profil AUTH_CLI ORG (EKU clientAuth, CN = client id, OU = structure)",
    en="The client certificate has the ORG AUTH_CLI profile (EKU clientAuth, CN = client id, OU = structure)",
)
def pki_auth_cli_profile(pki: TestPKI, client_id: str) -> Judgement:
    cert = pki.clients[client_id].cert
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
    return judged(
        not wrong, f"{client_id}: " + (f"wrong: {', '.join(wrong)}" if wrong else "; ".join(findings))
    )


@condition(
    "tls_listener_refuses_legacy_protocol",
    ("HARNESS-03",),
    basis="IG Sécurisation transport 1.2.0 (TLS 1.0/1.1 forbidden); RFC 8996",
    strength=Strength.MUST,
    fr="L'écouteur refuse TLS 1.0/1.1 par une alerte de version de protocole",
    en="The listener refuses TLS 1.0/1.1 with a protocol-version alert",
)
def tls_listener_refuses_legacy_protocol(version: str, result: ProbeResult) -> Judgement:
    # Only the peer's own alert proves a refusal: a local OpenSSL failure sends nothing on the wire.
    detail = f"{version}: {result.outcome} {result.alert_reason or result.error or ''}".strip()
    return judged(result.protocol_version_alert, detail)


@condition(
    "tls_listener_negotiates_tls12_or_higher",
    ("HARNESS-03",),
    basis="IG Sécurisation transport 1.2.0 (TLS 1.2 accepted, TLS 1.3 recommended)",
    strength=Strength.MUST,
    fr="L'écouteur négocie TLS 1.2 et TLS 1.3",
    en="The listener negotiates TLS 1.2 and TLS 1.3",
)
def tls_listener_negotiates_tls12_or_higher(version: str, result: ProbeResult) -> Judgement:
    expected = version.replace("_", ".")  # TLSv1_2 -> TLSv1.2, as ssl reports it
    return judged(
        result.completed and result.negotiated == expected,
        f"{version}: {result.outcome}, negotiated {result.negotiated}",
    )


@condition(
    "mtls_listener_accepts_valid_client_certificate",
    ("HARNESS-04",),
    basis="RFC 8705 §2.1 (tls_client_auth: the client id matches the certificate's subject)",
    strength=Strength.MUST,
    fr="L'écouteur mTLS accepte le certificat AUTH_CLI valide du LPS",
    en="The mTLS listener accepts the LPS's valid AUTH_CLI certificate",
)
def mtls_listener_accepts_valid_client_certificate(
    client_id: str, answer: httpx.Response | Exception
) -> Judgement:
    if isinstance(answer, httpx.Response) and answer.status_code == 200:
        return passed(f"{client_id}: {answer.text[:200]}")
    shown = f"HTTP {answer.status_code}" if isinstance(answer, httpx.Response) else repr(answer)
    return failed(f"{client_id}: {shown}")


@condition(
    "mtls_listener_refuses_negative_client_certificate",
    ("HARNESS-04",),
    basis="RFC 5280 §6 and RFC 8705 §2.1: a client certificate that does not validate, or whose subject is "
    "not the client's, is refused",
    strength=Strength.MUST,
    fr="L'écouteur mTLS refuse le certificat client négatif",
    en="The mTLS listener refuses the negative client certificate",
)
def mtls_listener_refuses_negative_client_certificate(
    variant: str, answer: httpx.Response | Exception, handshake_failures: list[HandshakeFailure]
) -> Judgement:
    if isinstance(answer, httpx.Response):
        # Once the handshake went through, only an application-level refusal will do.
        try:
            error = answer.json().get("error")
        except ValueError:
            error = None
        return judged(
            answer.status_code == 401 and error == "invalid_client",
            f"{variant}: HTTP {answer.status_code} {answer.text[:200]}",
        )
    # A client-side error alone could be anything (a dead listener too): the listener must say it refused.
    if handshake_failures:
        first = handshake_failures[0]
        return passed(f"{variant}: refused at the handshake ({first.verify_message or first.reason})")
    return failed(f"{variant}: client error {type(answer).__name__} but no refusal recorded by the listener")
