"""Names and certificate profiles of the IGC-Santé look-alike test PKI.

The distinguished names mimic the IGC-Santé *test* chain (gamme Élémentaire, domaine Organisations) so
that a system under test sees familiar subjects, but every CA name carries a ``(PSC-CONFORMANCE)``
suffix: nobody can mistake these certificates for ones issued by the real IGC-Santé.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa"]
ClientRole = Literal["lps", "proxy", "provider"]

# PSC client ids used by the Espace de Confiance conformance scenarios (CN of the AUTH_CLI certificates).
LPS1_CLIENT_ID: Final = "ans-odc-lps1-edc-bas"
LPS2_CLIENT_ID: Final = "ans-odc-lps2-edc-bas"
PROXY_CLIENT_ID: Final = "proxy-esante-edc-test"
# The data provider's authorization server, as a PSC client: it introspects PSC access tokens with it.
PROVIDER_CLIENT_ID: Final = "fd-apipsc-edc-test"
DEFAULT_LPS_CLIENT_IDS: Final = (LPS1_CLIENT_ID, LPS2_CLIENT_ID)
# CN of the `cn-mismatch` negative: a well-formed client id that is never the one being authenticated.
INTRUDER_CLIENT_ID: Final = "ans-odc-intrus-edc-bas"

# Our own structure ids: prefix 3 (SIRET-based) + 14 digits, in a range no real SIRET uses (999 99...).
STRUCTURE_ID_PREFIX: Final = "3"
DEFAULT_STRUCTURE_IDS: Final = {
    LPS1_CLIENT_ID: "399999000000011",
    LPS2_CLIENT_ID: "399999000000029",
    PROXY_CLIENT_ID: "399999000000037",
    PROVIDER_CLIENT_ID: "399999000000045",
}

SERVER_NAMES: Final = ("psc", "api", "sut")
SERVER_ROLES: Final = {
    "psc": "simulated Pro Santé Connect (OpenID provider)",
    "api": "simulated API PSC (resource server and its authorization server)",
    "sut": "API Conformité endpoint exposed by the system under test",
}
DEFAULT_SERVER_SANS: Final = ("localhost", "127.0.0.1", "::1")

NEGATIVE_VARIANTS: Final = ("expired", "not-yet-valid", "wrong-eku", "rogue", "cn-mismatch", "revoked")
NEGATIVE_DESCRIPTIONS: Final = {
    "expired": "validity ended in the past",
    "not-yet-valid": "validity starts in the future",
    "wrong-eku": "extendedKeyUsage serverAuth only (no clientAuth)",
    "rogue": "issued by a look-alike root that is not the test trust anchor",
    "cn-mismatch": f"valid chain but CN = {INTRUDER_CLIENT_ID}, not the client id it is presented for",
    "revoked": "valid chain, serial listed in the intermediate's CRL",
}

# Server certificates a client must refuse, for the harness's own listeners in adversarial modes
# (conformance.tls.modes). The SUT is never configured with them.
WRONG_HOST_NAME: Final = "wrong-host.invalid"  # RFC 2606 reserves .invalid: it never resolves
NEGATIVE_SERVER_VARIANTS: Final = ("untrusted", "expired", "wrong-host")
NEGATIVE_SERVER_DESCRIPTIONS: Final = {
    "untrusted": "server certificate for the right host names, issued by the look-alike rogue root",
    "expired": "server certificate for the right host names whose validity ended in the past",
    "wrong-host": f"valid chain but issued for {WRONG_HOST_NAME} only (SAN and CN), not localhost",
}

# A test password, published in pki.json on purpose; "" writes unencrypted PKCS#12 files.
DEFAULT_P12_PASSWORD: Final = "psc-conformance"

CLIENT_SAN_URN_PREFIX: Final = "urn:psc-conformance:client:"
# Placeholder: nothing serves it yet, relying parties of this PKI are given the CRL file explicitly.
CRL_URL: Final = "http://127.0.0.1/psc-conformance/crl/intermediate.crl"
ROOT_CRL_URL: Final = "http://127.0.0.1/psc-conformance/crl/root.crl"

_ASIP_OU: Final = "0002 187512751"  # ICD 0002 + SIREN of ASIP-Santé/ANS, as in the real IGC-Santé DNs
_TEST_OU: Final = "IGC-SANTE TEST"
_MARKER: Final = "(PSC-CONFORMANCE)"


def _ca_name(common_name: str) -> x509.Name:
    # x509.Name lists RDNs from the most significant one (C) to the least (CN).
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ASIP-SANTE"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _ASIP_OU),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _TEST_OU),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


ROOT_NAME: Final = _ca_name(f"TEST AC RACINE IGC-SANTE ELEMENTAIRE {_MARKER}")
INTERMEDIATE_NAME: Final = _ca_name(f"TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS {_MARKER}")
ROGUE_ROOT_NAME: Final = _ca_name(f"TEST AC RACINE IGC-SANTE ELEMENTAIRE ROGUE {_MARKER}")


@dataclass(frozen=True)
class ClientProfile:
    """Who an AUTH_CLI certificate stands for: the PSC client id (CN) and the structure (O, OU)."""

    client_id: str
    structure_id: str
    organization: str
    role: ClientRole
    state: str = "Paris (75)"

    def subject(self, common_name: str | None = None) -> x509.Name:
        """Subject DN `C=FR, ST=…, O=<org>, OU=<structure id>, CN=<client id>` (IGC-Santé ORG pattern)."""
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.state),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.structure_id),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name or self.client_id),
            ]
        )


def default_structure_id(index: int) -> str:
    """Structure id for the index-th client when the caller gives none (distinct, prefix 3 + 14 digits)."""
    return f"{STRUCTURE_ID_PREFIX}99999{index:09d}"


def default_organization(role: ClientRole, index: int) -> str:
    """Organisation name (O) of a test client."""
    if role == "proxy":
        return "PSC CONFORMANCE PROXY E-SANTE"
    if role == "provider":
        return "PSC CONFORMANCE FOURNISSEUR DE DONNEES"
    return f"PSC CONFORMANCE LPS {index}"


def server_subject(name: str, *, common_name: str | None = None) -> x509.Name:
    """Subject of an SSL_SERV certificate of one of the harness counterparts (CN derived from `name`)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PSC CONFORMANCE"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SSL_SERV"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{name}.psc-conformance.localhost"),
        ]
    )


def negative_server_subject(variant: str) -> x509.Name:
    """Subject of a negative server certificate; the wrong-host one names the other host in its CN too."""
    if variant == "wrong-host":
        return server_subject(variant, common_name=WRONG_HOST_NAME)
    return server_subject(f"negative-{variant}")


def client_san(client_id: str) -> x509.SubjectAlternativeName:
    """A URI SAN: cryptography's client verifier refuses leaves without any SAN."""
    return x509.SubjectAlternativeName([x509.UniformResourceIdentifier(CLIENT_SAN_URN_PREFIX + client_id)])


def server_san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    """DNS and IP entries; each name that parses as an IP address becomes an iPAddress entry."""
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # de-duplicate, keep order
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, ca: bool = False
) -> x509.KeyUsage:
    """KeyUsage with only the named bits; `ca` sets keyCertSign + cRLSign."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


CLIENT_AUTH_EKU: Final = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
SERVER_AUTH_EKU: Final = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])


def crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    """A single full-name HTTP distribution point."""
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )
