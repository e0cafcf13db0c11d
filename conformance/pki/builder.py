"""Mint the test PKI in memory: look-alike IGC-Santé CAs, AUTH_CLI / SSL_SERV leaves, negatives and a CRL.

Everything is generated at run time (never ship private keys). EC P-256 keys make a full PKI in a few
milliseconds; RSA 2048 is available for peers that cannot use EC, at roughly a second per PKI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from conformance.pki import profiles
from conformance.pki.profiles import ClientProfile, KeyType
from conformance.standards import rfc8705

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

DEFAULT_LEAF_VALIDITY: Final = timedelta(days=7)
# Leaves start one day in the past so that a peer whose clock runs behind still accepts them.
CLOCK_SKEW_MARGIN: Final = timedelta(days=1)
_ROOT_VALIDITY: Final = timedelta(days=365 * 10)
_INTERMEDIATE_VALIDITY: Final = timedelta(days=365 * 8)
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class PkiError(ValueError):
    """Bad PKI parameters or an unreadable PKI directory."""


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key and the intermediates to present with it (never the root)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> str:
        """The certificate alone, PEM; a `str` because `load_verify_locations(cadata=bytes)` means DER."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def chain_pem(self) -> str:
        """Leaf followed by its intermediates, what a TLS peer presents."""
        return self.cert_pem + "".join(
            c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in self.chain
        )

    @property
    def key_pem(self) -> str:
        """Unencrypted PKCS#8 private key (the format Java, Node and OpenSSL all read)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")

    @property
    def x5t_s256(self) -> str:
        """RFC 8705 thumbprint (base64url of SHA-256 of the DER)."""
        return rfc8705.x5t_s256(self.der)

    @property
    def x5t_s256_ans_hex(self) -> str:
        """Thumbprint in the encoding of the ANS examples (base64 of the hex digest)."""
        return rfc8705.x5t_s256_ans_hex(self.der)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        return self.cert.issuer.rfc4514_string()

    @property
    def common_name(self) -> str | None:
        return common_name(self.cert)

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.cert.serial_number)

    @property
    def not_before(self) -> datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.cert.not_valid_after_utc


def serial_hex(serial: int) -> str:
    """Upper-case hex with an even number of digits, as OpenSSL prints serials."""
    text = format(serial, "X")
    return text.zfill(len(text) + len(text) % 2)


def common_name(cert: x509.Certificate) -> str | None:
    """First CN of the subject, or None."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else None
    return value if isinstance(value, str) else None


@dataclass
class TestPKI:
    """The whole test PKI: CAs, leaves by purpose, and the intermediate's CRL."""

    __test__ = False  # not a pytest test class despite the name

    key_type: KeyType
    root: Issued
    intermediate: Issued
    rogue_root: Issued
    clients: dict[str, Issued]  # by PSC client id
    client_profiles: dict[str, ClientProfile]  # by PSC client id, same keys as `clients`
    servers: dict[str, Issued]  # by counterpart name (psc, api, sut)
    negatives: dict[str, Issued]  # by variant name (profiles.NEGATIVE_VARIANTS)
    negatives_for: str  # the client id the negative certificates are presented for
    crl: x509.CertificateRevocationList
    server_sans: tuple[str, ...] = field(default=profiles.DEFAULT_SERVER_SANS)
    # Server certificates a client must refuse (profiles.NEGATIVE_SERVER_VARIANTS), presented by the
    # harness's listeners in adversarial modes. Not looked up by `leaf()`: "expired" is also a client variant.
    negative_servers: dict[str, Issued] = field(default_factory=dict)

    @property
    def lps_client_ids(self) -> tuple[str, ...]:
        return tuple(cid for cid, p in self.client_profiles.items() if p.role == "lps")

    @property
    def proxy_client_id(self) -> str:
        return next(cid for cid, p in self.client_profiles.items() if p.role == "proxy")

    @property
    def provider_client_id(self) -> str:
        """The data provider's PSC client (its authorization server introspects PSC tokens with it)."""
        for cid, profile in self.client_profiles.items():
            if profile.role == "provider":
                return cid
        raise PkiError(
            "this PKI has no provider client (written by an older version): "
            "regenerate it with `psc-conformance pki`"
        )

    @property
    def ca_bundle_pem(self) -> str:
        """The trust anchor to give to peers (the root only: intermediates come with each leaf)."""
        return self.root.cert_pem

    @property
    def crl_pem(self) -> str:
        return self.crl.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def revoked_serials(self) -> tuple[int, ...]:
        return tuple(r.serial_number for r in self.crl)

    def leaf(self, name: str) -> Issued:
        """Look a leaf up by client id, server name or negative variant, in that order."""
        for table in (self.clients, self.servers, self.negatives):
            if name in table:
                return table[name]
        raise KeyError(f"no client, server or negative certificate named {name!r}")


def generate_key(key_type: KeyType) -> PrivateKey:
    """EC P-256 or RSA 2048 private key."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise PkiError(f"unknown key type {key_type!r} (expected 'ec' or 'rsa')")


def _utc(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)


def _certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: Issued | None,
    signing_key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """Sign one certificate; `issuer=None` means self-signed with `signing_key`."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _ca(
    name: x509.Name, key_type: KeyType, now: datetime, *, parent: Issued | None, path_length: int
) -> Issued:
    key = generate_key(key_type)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (profiles.key_usage(ca=True), True),
    ]
    if parent is not None:
        extensions.append((profiles.crl_distribution_points(profiles.ROOT_CRL_URL), False))
    validity = _ROOT_VALIDITY if parent is None else _INTERMEDIATE_VALIDITY
    cert = _certificate(
        subject=name,
        public_key=key.public_key(),
        issuer=parent,
        signing_key=parent.key if parent else key,
        not_before=now - CLOCK_SKEW_MARGIN,
        not_after=now + validity,
        extensions=extensions,
    )
    return Issued(cert, key)


def _leaf(
    issuer: Issued,
    subject: x509.Name,
    key_type: KeyType,
    *,
    not_before: datetime,
    not_after: datetime,
    key_usage: x509.KeyUsage,
    eku: x509.ExtendedKeyUsage,
    san: x509.SubjectAlternativeName,
    chain: tuple[x509.Certificate, ...],
) -> Issued:
    key = generate_key(key_type)
    cert = _certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer=issuer,
        signing_key=issuer.key,
        not_before=not_before,
        not_after=not_after,
        extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage, True),
            (eku, False),
            (san, False),
            (profiles.crl_distribution_points(profiles.CRL_URL), False),
        ],
    )
    return Issued(cert, key, chain)


def _server_leaf(
    issuer: Issued,
    subject: x509.Name,
    key_type: KeyType,
    sans: Sequence[str],
    *,
    not_before: datetime,
    not_after: datetime,
    chain: tuple[x509.Certificate, ...],
) -> Issued:
    """An SSL_SERV leaf (EKU serverAuth) for the DNS names / IP addresses in `sans`."""
    return _leaf(
        issuer,
        subject,
        key_type,
        not_before=not_before,
        not_after=not_after,
        # keyEncipherment only means something for RSA key transport; EC SSL_SERV keys only sign.
        key_usage=profiles.key_usage(digital_signature=True, key_encipherment=key_type == "rsa"),
        eku=profiles.SERVER_AUTH_EKU,
        san=profiles.server_san(sans),
        chain=chain,
    )


def build_negative_servers(
    intermediate: Issued,
    rogue_root: Issued,
    key_type: KeyType,
    sans: Sequence[str] = profiles.DEFAULT_SERVER_SANS,
    *,
    leaf_validity: timedelta = DEFAULT_LEAF_VALIDITY,
    now: datetime | None = None,
) -> dict[str, Issued]:
    """The server certificates a client must refuse, one per `profiles.NEGATIVE_SERVER_VARIANTS`.

    Each differs from a good server certificate in one respect only, so that a refusal can be pinned
    on it: `untrusted` (same names, rogue root), `expired` (same names and chain, validity over),
    `wrong-host` (same chain, issued for `profiles.WRONG_HOST_NAME` only).
    """
    now = _utc(now)
    validity = {"not_before": now - CLOCK_SKEW_MARGIN, "not_after": now + leaf_validity}
    chain = (intermediate.cert,)

    def subject(variant: str) -> x509.Name:
        return profiles.negative_server_subject(variant)

    return {
        "untrusted": _server_leaf(rogue_root, subject("untrusted"), key_type, sans, chain=(), **validity),
        "expired": _server_leaf(
            intermediate,
            subject("expired"),
            key_type,
            sans,
            not_before=now - timedelta(days=30),
            not_after=now - 2 * CLOCK_SKEW_MARGIN,
            chain=chain,
        ),
        "wrong-host": _server_leaf(
            intermediate,
            subject("wrong-host"),
            key_type,
            (profiles.WRONG_HOST_NAME,),
            chain=chain,
            **validity,
        ),
    }


def _client_profiles(
    lps_client_ids: Sequence[str],
    proxy_client_id: str,
    provider_client_id: str,
    structure_ids: Mapping[str, str] | None,
    organizations: Mapping[str, str] | None,
) -> dict[str, ClientProfile]:
    roles: list[tuple[str, profiles.ClientRole]] = [(cid, "lps") for cid in lps_client_ids]
    roles.append((proxy_client_id, "proxy"))
    roles.append((provider_client_id, "provider"))
    ids = [cid for cid, _ in roles]
    if not lps_client_ids:
        raise PkiError("at least one LPS client id is needed (the negative certificates are minted for it)")
    if len(set(ids)) != len(ids):
        raise PkiError(f"client ids must be distinct: {ids}")
    if profiles.INTRUDER_CLIENT_ID in ids:
        raise PkiError(
            f"{profiles.INTRUDER_CLIENT_ID!r} is reserved for the cn-mismatch negative certificate"
        )
    for cid in ids:
        check_name(cid, "client id")
    result: dict[str, ClientProfile] = {}
    lps_index = 0
    for index, (cid, role) in enumerate(roles, start=1):
        if role == "lps":
            lps_index += 1
        structure_id = (structure_ids or {}).get(cid) or profiles.DEFAULT_STRUCTURE_IDS.get(cid)
        structure_id = structure_id or profiles.default_structure_id(index)
        organization = (organizations or {}).get(cid) or profiles.default_organization(role, lps_index)
        result[cid] = ClientProfile(cid, structure_id, organization, role)
    structures = [p.structure_id for p in result.values()]
    if len(set(structures)) != len(structures):
        raise PkiError(f"structure ids must be distinct per client: {structures}")
    return result


def check_name(name: str, what: str) -> str:
    """Client ids and server names become file names: keep them to a safe character set."""
    if not _NAME_RE.match(name):
        raise PkiError(f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (max 128)")
    return name


def build_pki(
    key_type: KeyType = "ec",
    *,
    lps_client_ids: Sequence[str] = profiles.DEFAULT_LPS_CLIENT_IDS,
    proxy_client_id: str = profiles.PROXY_CLIENT_ID,
    provider_client_id: str = profiles.PROVIDER_CLIENT_ID,
    structure_ids: Mapping[str, str] | None = None,
    organizations: Mapping[str, str] | None = None,
    server_names: Sequence[str] = profiles.SERVER_NAMES,
    extra_server_sans: Sequence[str] = (),
    leaf_validity: timedelta = DEFAULT_LEAF_VALIDITY,
    now: datetime | None = None,
) -> TestPKI:
    """Mint a complete test PKI.

    `structure_ids` / `organizations` map client ids to OU / O values (defaults: our own test values).
    `extra_server_sans` adds DNS names or IP addresses to every server certificate, for a SUT that
    reaches the harness by another name than localhost. The negative certificates are minted for the
    first LPS client id.
    """
    if isinstance(lps_client_ids, str):
        raise PkiError("lps_client_ids must be a sequence of client ids, not a single string")
    if leaf_validity <= timedelta(0):
        raise PkiError("leaf_validity must be positive")
    now = _utc(now)
    client_profiles = _client_profiles(
        lps_client_ids, proxy_client_id, provider_client_id, structure_ids, organizations
    )
    for name in server_names:
        check_name(name, "server name")

    root = _ca(profiles.ROOT_NAME, key_type, now, parent=None, path_length=1)
    intermediate = _ca(profiles.INTERMEDIATE_NAME, key_type, now, parent=root, path_length=0)
    rogue_root = _ca(profiles.ROGUE_ROOT_NAME, key_type, now, parent=None, path_length=1)
    chain = (intermediate.cert,)
    not_before, not_after = now - CLOCK_SKEW_MARGIN, now + leaf_validity

    def client_leaf(
        profile: ClientProfile,
        *,
        issuer: Issued = intermediate,
        cn: str | None = None,
        eku: x509.ExtendedKeyUsage = profiles.CLIENT_AUTH_EKU,
        validity: tuple[datetime, datetime] = (not_before, not_after),
    ) -> Issued:
        return _leaf(
            issuer,
            profile.subject(cn),
            key_type,
            not_before=validity[0],
            not_after=validity[1],
            key_usage=profiles.key_usage(digital_signature=True),
            eku=eku,
            san=profiles.client_san(cn or profile.client_id),
            chain=chain if issuer is intermediate else (),
        )

    clients = {cid: client_leaf(p) for cid, p in client_profiles.items()}

    sans = (*profiles.DEFAULT_SERVER_SANS, *extra_server_sans)
    servers = {
        name: _server_leaf(
            intermediate,
            profiles.server_subject(name),
            key_type,
            sans,
            not_before=not_before,
            not_after=not_after,
            chain=chain,
        )
        for name in server_names
    }
    negative_servers = build_negative_servers(
        intermediate, rogue_root, key_type, sans, leaf_validity=leaf_validity, now=now
    )

    target = client_profiles[lps_client_ids[0]]
    negatives = {
        "expired": client_leaf(target, validity=(now - timedelta(days=30), now - 2 * CLOCK_SKEW_MARGIN)),
        "not-yet-valid": client_leaf(
            target, validity=(now + 2 * CLOCK_SKEW_MARGIN, now + timedelta(days=30))
        ),
        "wrong-eku": client_leaf(target, eku=profiles.SERVER_AUTH_EKU),
        "rogue": client_leaf(target, issuer=rogue_root),
        "cn-mismatch": client_leaf(target, cn=profiles.INTRUDER_CLIENT_ID),
        "revoked": client_leaf(target),
    }
    crl = build_crl(intermediate, [negatives["revoked"].cert.serial_number], now=now, next_update=not_after)
    return TestPKI(
        key_type=key_type,
        root=root,
        intermediate=intermediate,
        rogue_root=rogue_root,
        clients=clients,
        client_profiles=client_profiles,
        servers=servers,
        negatives=negatives,
        negatives_for=target.client_id,
        crl=crl,
        server_sans=tuple(dict.fromkeys(sans)),
        negative_servers=negative_servers,
    )


def build_crl(
    issuer: Issued,
    revoked_serials: Iterable[int],
    *,
    now: datetime | None = None,
    next_update: datetime | None = None,
) -> x509.CertificateRevocationList:
    """A CRL signed by `issuer`; valid from one skew margin ago until `next_update` (default: 7 days)."""
    now = _utc(now)
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now - CLOCK_SKEW_MARGIN)
        .next_update(next_update or now + DEFAULT_LEAF_VALIDITY)
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - CLOCK_SKEW_MARGIN)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256())
