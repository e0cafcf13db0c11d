"""What the harness records of a certificate seen on the wire, read once per certificate.

Every exchange's evidence names the certificates of its TLS session (subject, issuer, RFC 8705
thumbprint), and every connection a counterpart accepts reads its client's. A campaign opens hundreds of
connections with a handful of certificates: parsing each DER once, not once per connection, saves a few
percent of a campaign's CPU.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from cryptography import x509

from conformance.pki.builder import common_name
from conformance.standards import rfc8705

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CertificateFacts:
    """The fields are None where cryptography cannot parse a DER that OpenSSL accepted; the thumbprint
    is always there."""

    x5t_s256: str
    subject: str | None = None
    issuer: str | None = None
    serial: int | None = None
    common_name: str | None = None


@functools.lru_cache(maxsize=256)
def certificate_facts(der: bytes) -> CertificateFacts:
    thumbprint = rfc8705.x5t_s256(der)
    try:
        cert = x509.load_der_x509_certificate(der)
        return CertificateFacts(
            thumbprint,
            cert.subject.rfc4514_string(),
            cert.issuer.rfc4514_string(),
            cert.serial_number,
            common_name(cert),
        )
    except ValueError:
        log.warning("a certificate could not be parsed by cryptography: its thumbprint only")
        return CertificateFacts(thumbprint)


__all__ = ["CertificateFacts", "certificate_facts"]
