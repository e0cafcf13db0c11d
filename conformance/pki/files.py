"""Write a test PKI to a directory (PEM, keys, PKCS#12, `pki.json`) and load it back.

A vendor configures their proxy once with a written PKI; later campaigns reload the same directory
instead of minting new certificates. `pki.json` is the index: it names every file (relative names),
the client ids, structure ids and roles, both thumbprint encodings and validity dates. It never holds
key material; the PKCS#12 password is listed because it is a published test password.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from conformance import __version__
from conformance.pki import profiles
from conformance.pki.builder import (
    Issued,
    PkiError,
    PrivateKey,
    TestPKI,
    build_negative_servers,
    check_name,
    serial_hex,
)
from conformance.pki.profiles import ClientProfile

MANIFEST_NAME: Final = "pki.json"
MANIFEST_FORMAT: Final = "psc-conformance-pki"
MANIFEST_VERSION: Final = 1
PRIVATE_MODE: Final = 0o600
PUBLIC_MODE: Final = 0o644
_P12_KDF_ROUNDS: Final = 2048  # OpenSSL's default; these are test keys under a published password


@dataclass(frozen=True)
class CertFiles:
    """Files of one certificate: `pem` holds the leaf then its intermediates; `p12` only for leaves."""

    pem: Path
    key: Path
    p12: Path | None = None

    def paths(self) -> Iterator[Path]:
        yield self.pem
        yield self.key
        if self.p12 is not None:
            yield self.p12


@dataclass(frozen=True)
class PkiFiles:
    """Where a written PKI lives. Leaf tables use the same keys as `TestPKI`."""

    directory: Path
    manifest: Path
    root: CertFiles
    intermediate: CertFiles
    rogue_root: CertFiles
    ca_bundle: Path
    crl: Path
    clients: dict[str, CertFiles]
    servers: dict[str, CertFiles]
    negatives: dict[str, CertFiles]
    p12_password: str
    negative_servers: dict[str, CertFiles] = field(default_factory=dict)  # not looked up by `leaf()`

    def leaf(self, name: str) -> CertFiles:
        """Look a leaf up by client id, server name or negative variant, in that order."""
        for table in (self.clients, self.servers, self.negatives):
            if name in table:
                return table[name]
        raise KeyError(f"no client, server or negative certificate named {name!r}")

    def all_paths(self) -> list[Path]:
        """Every file written, the manifest last."""
        paths: list[Path] = []
        for entry in (self.root, self.intermediate, self.rogue_root):
            paths.extend(entry.paths())
        paths += [self.ca_bundle, self.crl]
        for table in (self.clients, self.servers, self.negatives, self.negative_servers):
            for entry in table.values():
                paths.extend(entry.paths())
        paths.append(self.manifest)
        return paths


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create or replace `path` with `mode`; fchmod too, as O_CREAT ignores the mode of an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, mode)
        fh.write(data)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issuer_path(leaf: Issued, pki: TestPKI) -> list[x509.Certificate]:
    """The presented chain plus the root it ends at (the rogue root for the `rogue` leaf)."""
    certs = [leaf.cert, *leaf.chain]
    last = certs[-1]
    for ca in (pki.root, pki.rogue_root):
        if last.issuer == ca.cert.subject and last.subject != ca.cert.subject:
            return [*leaf.chain, ca.cert]
    return list(leaf.chain)


def _p12_encryption(password: str) -> serialization.KeySerializationEncryption:
    if not password:
        return serialization.NoEncryption()
    # Pinned rather than BestAvailableEncryption so the output does not change under our feet;
    # PBES2/AES-256 + SHA-256 MAC is read by OpenSSL 1.1+/3, Java 8u301+, Node and .NET.
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_P12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode("utf-8"))
    )


def _cert_entry(issued: Issued, files: CertFiles, directory: Path) -> dict[str, Any]:
    return {
        "files": {kind: path.relative_to(directory).as_posix() for kind, path in _file_kinds(files)},
        "subject": issued.subject,
        "issuer": issued.issuer,
        "serial": issued.serial_hex,
        "not_before": _iso(issued.not_before),
        "not_after": _iso(issued.not_after),
        "x5t#S256": issued.x5t_s256,
        "x5t#S256_ans_hex": issued.x5t_s256_ans_hex,
    }


def _file_kinds(files: CertFiles) -> Iterator[tuple[str, Path]]:
    yield "pem", files.pem
    yield "key", files.key
    if files.p12 is not None:
        yield "p12", files.p12


def write_pki(
    pki: TestPKI, directory: str | Path, *, p12_password: str = profiles.DEFAULT_P12_PASSWORD
) -> PkiFiles:
    """Write `pki` into `directory` (created if needed; existing files of the same names are replaced).

    Private keys and PKCS#12 files get mode 0600, certificates and CRL 0644. The manifest is written
    last and atomically, so a directory without `pki.json` is an incomplete one.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    def write_cert(stem: str, issued: Issued, *, with_p12: bool) -> CertFiles:
        files = CertFiles(out / f"{stem}.pem", out / f"{stem}.key", out / f"{stem}.p12" if with_p12 else None)
        _write(files.key, issued.key_pem.encode("ascii"), PRIVATE_MODE)
        _write(files.pem, issued.chain_pem.encode("ascii"), PUBLIC_MODE)
        if files.p12 is not None:
            blob = pkcs12.serialize_key_and_certificates(
                stem.encode("utf-8"),
                issued.key,
                issued.cert,
                _issuer_path(issued, pki),
                _p12_encryption(p12_password),
            )
            _write(files.p12, blob, PRIVATE_MODE)
        return files

    result = PkiFiles(
        directory=out,
        manifest=out / MANIFEST_NAME,
        root=write_cert("root", pki.root, with_p12=False),
        intermediate=write_cert("intermediate", pki.intermediate, with_p12=False),
        rogue_root=write_cert("rogue-root", pki.rogue_root, with_p12=False),
        ca_bundle=out / "ca-bundle.pem",
        crl=out / "crl.pem",
        clients={cid: write_cert(f"client-{cid}", leaf, with_p12=True) for cid, leaf in pki.clients.items()},
        servers={
            name: write_cert(f"server-{name}", leaf, with_p12=True) for name, leaf in pki.servers.items()
        },
        negatives={v: write_cert(f"negative-{v}", leaf, with_p12=True) for v, leaf in pki.negatives.items()},
        p12_password=p12_password,
        negative_servers={
            v: write_cert(f"negative-server-{v}", leaf, with_p12=True)
            for v, leaf in pki.negative_servers.items()
        },
    )
    _write(result.ca_bundle, pki.ca_bundle_pem.encode("ascii"), PUBLIC_MODE)
    _write(result.crl, pki.crl_pem.encode("ascii"), PUBLIC_MODE)
    manifest = build_manifest(pki, result)
    fd, tmp = tempfile.mkstemp(prefix=".pki.", suffix=".json", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, PUBLIC_MODE)
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, result.manifest)
    return result


def build_manifest(pki: TestPKI, files: PkiFiles) -> dict[str, Any]:
    """The `pki.json` document: an index of the files and of the identities they carry, no keys."""
    out = files.directory

    def rel(path: Path) -> str:
        return path.relative_to(out).as_posix()

    clients = {}
    for cid, leaf in pki.clients.items():
        profile = pki.client_profiles[cid]
        clients[cid] = {
            "client_id": cid,
            "role": profile.role,
            "structure_id": profile.structure_id,
            "organization": profile.organization,
            "state": profile.state,
            **_cert_entry(leaf, files.clients[cid], out),
        }
    servers = {
        name: {
            "name": name,
            "role": profiles.SERVER_ROLES.get(name, "counterpart"),
            **_cert_entry(leaf, files.servers[name], out),
        }
        for name, leaf in pki.servers.items()
    }
    negatives = {
        variant: {
            "variant": variant,
            "presented_for": pki.negatives_for,
            "common_name": leaf.common_name,
            "description": profiles.NEGATIVE_DESCRIPTIONS.get(variant, ""),
            **_cert_entry(leaf, files.negatives[variant], out),
        }
        for variant, leaf in pki.negatives.items()
    }
    negative_servers = {
        variant: {
            "variant": variant,
            "common_name": leaf.common_name,
            "description": profiles.NEGATIVE_SERVER_DESCRIPTIONS.get(variant, ""),
            **_cert_entry(leaf, files.negative_servers[variant], out),
        }
        for variant, leaf in pki.negative_servers.items()
    }
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "generator": f"psc-conformance {__version__}",
        "written_at": _iso(datetime.now(UTC)),
        "key_type": pki.key_type,
        "p12_password": files.p12_password,
        "trust_anchor": rel(files.ca_bundle),
        "server_sans": list(pki.server_sans),
        "negatives_for": pki.negatives_for,
        "crl": {
            "file": rel(files.crl),
            "issuer": pki.crl.issuer.rfc4514_string(),
            "last_update": _iso(pki.crl.last_update_utc),
            "next_update": _iso(pki.crl.next_update_utc) if pki.crl.next_update_utc else None,
            "revoked_serials": [serial_hex(s) for s in pki.revoked_serials],
            "distribution_point": profiles.CRL_URL,
        },
        "cas": {
            "root": _cert_entry(pki.root, files.root, out),
            "intermediate": _cert_entry(pki.intermediate, files.intermediate, out),
            "rogue_root": _cert_entry(pki.rogue_root, files.rogue_root, out),
        },
        "clients": clients,
        "servers": servers,
        "negatives": negatives,
        "negative_servers": negative_servers,
        "files": [rel(p) for p in files.all_paths() if p != files.manifest],
    }


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PkiError(f"{path} not found: not a PKI directory written by `psc-conformance pki`") from None
    except (OSError, ValueError) as exc:
        raise PkiError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise PkiError(f"{path} is not a psc-conformance PKI manifest")
    if data.get("format_version") != MANIFEST_VERSION:
        raise PkiError(f"{path}: unsupported manifest version {data.get('format_version')!r}")
    return data


def _resolve(directory: Path, name: Any) -> Path:
    """A manifest file name, refused if it would leave the PKI directory."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise PkiError(f"{directory / MANIFEST_NAME}: invalid file name {name!r}")
    return directory / name


def _cert_files(directory: Path, entry: Mapping[str, Any]) -> CertFiles:
    names = entry.get("files") or {}
    p12 = names.get("p12")
    return CertFiles(
        _resolve(directory, names.get("pem")),
        _resolve(directory, names.get("key")),
        _resolve(directory, p12) if p12 else None,
    )


def load_pki_files(directory: str | Path) -> PkiFiles:
    """The file index of a written PKI, from its `pki.json` (files are not read)."""
    out = Path(directory)
    data = _read_manifest(out)
    try:
        cas = data["cas"]
        return PkiFiles(
            directory=out,
            manifest=out / MANIFEST_NAME,
            root=_cert_files(out, cas["root"]),
            intermediate=_cert_files(out, cas["intermediate"]),
            rogue_root=_cert_files(out, cas["rogue_root"]),
            ca_bundle=_resolve(out, data["trust_anchor"]),
            crl=_resolve(out, data["crl"]["file"]),
            clients={cid: _cert_files(out, e) for cid, e in data["clients"].items()},
            servers={name: _cert_files(out, e) for name, e in data["servers"].items()},
            negatives={v: _cert_files(out, e) for v, e in data["negatives"].items()},
            p12_password=str(data.get("p12_password") or ""),
            # Absent from PKIs written before the adversarial listener modes existed.
            negative_servers={
                v: _cert_files(out, e) for v, e in (data.get("negative_servers") or {}).items()
            },
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PkiError(f"{out / MANIFEST_NAME}: missing or malformed entry ({exc})") from exc


def _load_issued(files: CertFiles) -> Issued:
    try:
        certs = x509.load_pem_x509_certificates(files.pem.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"cannot load {files.pem.name} / {files.key.name}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(f"{files.key}: unsupported key type {type(key).__name__}")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certs[0].public_key().public_bytes(*spki):
        raise PkiError(f"{files.key.name} does not match the certificate in {files.pem.name}")
    private: PrivateKey = key
    return Issued(certs[0], private, tuple(certs[1:]))


def load_pki(directory: str | Path) -> TestPKI:
    """Reload a PKI written by `write_pki` or `psc-conformance pki`; every key must match its cert."""
    out = Path(directory)
    data = _read_manifest(out)
    files = load_pki_files(out)
    try:
        profiles_by_id = {
            cid: ClientProfile(
                client_id=check_name(cid, "client id"),
                structure_id=str(e["structure_id"]),
                organization=str(e["organization"]),
                role=e["role"],
                state=str(e.get("state") or "Paris (75)"),
            )
            for cid, e in data["clients"].items()
        }
        key_type = data["key_type"]
        negatives_for = str(data["negatives_for"])
        server_sans = tuple(str(s) for s in data.get("server_sans") or profiles.DEFAULT_SERVER_SANS)
    except (KeyError, TypeError, AttributeError) as exc:
        raise PkiError(f"{files.manifest}: missing or malformed entry ({exc})") from exc
    if key_type not in ("ec", "rsa"):
        raise PkiError(f"{files.manifest}: unknown key_type {key_type!r}")
    roles = [p.role for p in profiles_by_id.values()]
    # A provider client is absent from PKI directories written before the provider role: accepted,
    # the provider campaign then asks for a new PKI (TestPKI.provider_client_id).
    if (
        roles.count("proxy") != 1
        or roles.count("provider") > 1
        or "lps" not in roles
        or set(roles) - {"lps", "proxy", "provider"}
    ):
        raise PkiError(
            f"{files.manifest}: expected one proxy client, at most one provider client "
            "and at least one LPS client"
        )
    try:
        crl = x509.load_pem_x509_crl(files.crl.read_bytes())
    except (OSError, ValueError) as exc:
        raise PkiError(f"cannot load {files.crl}: {exc}") from exc
    intermediate, rogue_root = _load_issued(files.intermediate), _load_issued(files.rogue_root)
    negative_servers = {v: _load_issued(f) for v, f in files.negative_servers.items()}
    if not set(profiles.NEGATIVE_SERVER_VARIANTS) <= negative_servers.keys():
        # An older PKI directory: these certificates only serve the harness's own adversarial listeners
        # (the SUT is never configured with them), so minting the missing ones changes nothing it relies on.
        minted = build_negative_servers(intermediate, rogue_root, key_type, server_sans)
        negative_servers = minted | negative_servers
    return TestPKI(
        key_type=key_type,
        root=_load_issued(files.root),
        intermediate=intermediate,
        rogue_root=rogue_root,
        clients={cid: _load_issued(f) for cid, f in files.clients.items()},
        client_profiles=profiles_by_id,
        servers={name: _load_issued(f) for name, f in files.servers.items()},
        negatives={v: _load_issued(f) for v, f in files.negatives.items()},
        negatives_for=negatives_for,
        crl=crl,
        server_sans=server_sans,
        negative_servers=negative_servers,
    )
