"""A certificate seen on the wire is read once: its facts are those of the certificate, cached by DER."""

from __future__ import annotations

from conformance.pki import TestPKI
from conformance.pki.facts import CertificateFacts, certificate_facts
from conformance.pki.profiles import LPS1_CLIENT_ID
from conformance.standards import rfc8705


def test_facts_are_the_certificate_s_and_read_once(pki: TestPKI) -> None:
    issued = pki.leaf(LPS1_CLIENT_ID)
    der = issued.der
    facts = certificate_facts(der)
    assert facts == CertificateFacts(
        x5t_s256=rfc8705.x5t_s256(der),
        subject=issued.cert.subject.rfc4514_string(),
        issuer=pki.intermediate.cert.subject.rfc4514_string(),
        serial=issued.cert.serial_number,
        common_name=LPS1_CLIENT_ID,
    )
    assert certificate_facts(bytes(der)) is facts  # an equal DER from another connection: cached


def test_a_der_cryptography_cannot_read_keeps_its_thumbprint() -> None:
    der = b"0\x03\x02\x01\x01"  # a DER SEQUENCE, not a certificate
    assert certificate_facts(der) == CertificateFacts(x5t_s256=rfc8705.x5t_s256(der))
