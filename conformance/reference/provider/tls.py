"""TLS of the reference provider: its listeners' contexts, its outgoing contexts, client certificates.

Both listeners ask for a client certificate and verify it in the handshake (chain to the test root,
the intermediate's CRL), but let a connection without one through (`CERT_OPTIONAL`), so that the
application can answer it in HTTP: 401 invalid_client at the AS, a Bearer challenge at the RS.
"""

from __future__ import annotations

import base64
import hashlib
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conformance.reference.provider.settings import ClientIdentity, ProviderSettings


def listener_context(settings: ProviderSettings) -> ssl.SSLContext:
    """TLS 1.2 at least (1.3 enabled), default ciphers; a client certificate is asked for and verified
    in the handshake (chain and CRL) but optional, so that its absence gets an HTTP answer."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.server_cert, settings.server_key)
    context.load_verify_locations(cafile=settings.ca_bundle)
    context.load_verify_locations(cafile=settings.crl)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context


def outgoing_context(settings: ProviderSettings, client: ClientIdentity | None) -> ssl.SSLContext:
    """For calls to PSC and to the harness's AS: the test root trusted, `client`'s certificate presented."""
    context = ssl.create_default_context(cafile=str(settings.ca_bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
        context.post_handshake_auth = True  # servers that ask for the certificate per location
    return context


def x5t_s256(der: bytes) -> str:
    """RFC 8705 §3.1 thumbprint: base64url, without padding, of the SHA-256 of the DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def x5t_s256_ans_hex(der: bytes) -> str:
    """The encoding of the ANS examples (base64 of the hex digest): NOT RFC 8705, never a match."""
    return base64.b64encode(hashlib.sha256(der).hexdigest().encode("ascii")).decode("ascii")


def load_certificate(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def certificate_subject(der: bytes) -> str | None:
    """The subject DN in RFC 4514 form, as counterparts.json writes each client's `subject`."""
    cert = load_certificate(der)
    return None if cert is None else cert.subject.rfc4514_string()


def common_name(der: bytes) -> str | None:
    cert = load_certificate(der)
    if cert is None:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) else None


def has_client_auth_usage(der: bytes) -> bool:
    """True when the certificate's extendedKeyUsage lists clientAuth (the AUTH_CLI profile).

    Checked here rather than left to OpenSSL, whose purpose check depends on how the context is set up.
    """
    cert = load_certificate(der)
    if cert is None:
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in usage


def pem_certificate_der(pem: bytes) -> bytes:
    """The DER of the first certificate of a PEM file (a leaf followed by its intermediates)."""
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


__all__ = [
    "certificate_subject",
    "common_name",
    "has_client_auth_usage",
    "listener_context",
    "load_certificate",
    "outgoing_context",
    "pem_certificate_der",
    "x5t_s256",
    "x5t_s256_ans_hex",
]
