"""The evidence bundle: a signed manifest of every file of a run directory, and its verification.

An auditor receives a run directory from a vendor and must know that nothing in it was altered, added
or removed since the harness wrote it. `seal` lists every file with its SHA-256 in `manifest.json` and
signs the exact bytes of that file with a detached JWS (RFC 7515 Appendix F) in `manifest.jws`; the
public key travels in the bundle as `manifest-key.pem`. `verify` recomputes everything and names each
difference. A bundle's own key only proves the files match what *someone* sealed: a forger can re-seal
with a key of their own, so an auditor pins the expected key (`public_key`) to prove *who* sealed it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conformance import __version__
from conformance.errors import UsageError
from conformance.report.bundle_files import BUNDLE_FILES, MANIFEST, PUBLIC_KEY, SIGNATURE
from conformance.standards.jose import b64url

RESULTS = "results.json"
MANIFEST_VERSION = 1
JWS_TYP = "JOSE"  # RFC 7515 §9.2.1: a JWS in compact serialization
MIN_RSA_BITS = 2048
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_CHUNK = 1 << 20

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class BundleError(UsageError):
    """The bundle cannot be sealed or checked as asked (no manifest, unreadable key): exit status 2."""


# -- keys ------------------------------------------------------------------------------------------------


def algorithm_for(key: PublicKey | Any) -> str:
    """The JWS `alg` for a key, decided by the key and never by a header (no algorithm confusion)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = _EC_ALGORITHMS.get(key.curve.name)
        if alg is None:
            raise BundleError(f"EC curve {key.curve.name} is not supported: use P-256 (or P-384, P-521)")
        return alg
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise BundleError(f"RSA key of {key.key_size} bits is too weak: at least {MIN_RSA_BITS} needed")
        return "RS256"
    raise BundleError(f"{type(key).__name__} is not supported: use an EC P-256 key (or RSA)")


def thumbprint(key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid`, and what an auditor compares out of band."""
    jwk: dict[str, Any] = jwt.get_algorithm_by_name(algorithm_for(key)).to_jwk(key, as_dict=True)
    required = {name: jwk[name] for name in sorted(jwk) if name in ("crv", "e", "kty", "n", "x", "y")}
    return b64url(hashlib.sha256(json.dumps(required, separators=(",", ":")).encode()).digest())


def _read_pem(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def load_signing_key(path: Path) -> PrivateKey:
    """The user's PEM private key (EC P-256, or RSA ≥ 2048 bits), checked before a campaign relies on it."""
    data = _read_pem(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise BundleError(
            f"signing key {path} is encrypted: give an unencrypted PEM key (openssl pkey -in KEY -out PLAIN)"
        ) from None
    except ValueError:
        raise BundleError(f"signing key {path} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise BundleError(f"signing key {path}: {type(key).__name__} is not supported: use EC P-256 or RSA")
    algorithm_for(key.public_key())
    return key


def load_public_key(path: Path) -> PublicKey:
    """The key an auditor pins: a PEM public key, a certificate, or (for convenience) a private key."""
    data = _read_pem(path, "key")
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        elif b"PRIVATE KEY-----" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise BundleError(f"{path} is not a PEM public key, certificate or unencrypted private key") from None
    try:
        algorithm_for(key)
    except BundleError as exc:
        raise BundleError(f"key {path}: {exc}") from None
    checked: PublicKey = key
    return checked


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- the inventory of a directory, shared by seal and verify -----------------------------------------------


@dataclass(frozen=True)
class FileDigest:
    path: str  # POSIX, relative to the bundle's directory
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass
class Inventory:
    """What a directory holds: hashed regular files, and what could not be hashed (and why)."""

    files: dict[str, FileDigest] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _digest(path: Path, relative: str) -> FileDigest:
    """Hash without following a symbolic link, even one swapped in after the directory was listed."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    sha256, size = hashlib.sha256(), 0
    with os.fdopen(descriptor, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            sha256.update(chunk)
            size += len(chunk)
    return FileDigest(relative, sha256.hexdigest(), size)


def inventory(directory: Path, *, skip: frozenset[str] = frozenset()) -> Inventory:
    """Every file under `directory`, recursively; `skip` (relative POSIX paths) and bundle files excepted.

    Symbolic links are never followed: their target could change without the bundle changing.
    """
    found = Inventory()

    def walk(folder: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            found.errors[prefix.rstrip("/") or "."] = f"directory cannot be listed: {exc.strerror or exc}"
            return
        for entry in entries:
            relative = prefix + entry.name
            if relative in skip or (not prefix and entry.name in BUNDLE_FILES):
                continue
            if entry.is_symlink():
                found.errors[relative] = f"symbolic link (to {os.readlink(entry.path)}), not followed"
            elif entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), relative + "/")
            elif entry.is_file(follow_symlinks=False):
                try:
                    found.files[relative] = _digest(Path(entry.path), relative)
                except OSError as exc:
                    found.errors[relative] = f"cannot be read: {exc.strerror or exc}"
            else:
                found.errors[relative] = "not a regular file (device, FIFO or socket)"

    walk(directory, "")
    found.files = dict(sorted(found.files.items()))
    found.errors = dict(sorted(found.errors.items()))
    return found


# -- seal ---------------------------------------------------------------------------------------------------


def run_times(results: Mapping[str, Any]) -> dict[str, str]:
    """`started_at` / `finished_at` of a results document, those it has: what a manifest dates the run by."""
    return {k: results[k] for k in ("started_at", "finished_at") if isinstance(results.get(k), str)}


def _run_times(directory: Path) -> dict[str, str]:
    """`run_times` of the run's results.json, when it has one that reads as JSON."""
    results = _results_document(directory)
    return run_times(results) if isinstance(results, dict) else {}


def _results_document(directory: Path) -> Any:
    """The run's results.json as JSON, or None when it has none that reads as JSON."""
    try:
        return json.loads((directory / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _inside(path: Path, directory: Path) -> str | None:
    """`path` relative to `directory` in POSIX form, or None when it lies outside."""
    try:
        return path.resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return None


def manifest_document(
    directory: Path, *, excluded: dict[str, str] | None = None, times: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The manifest of `directory` as it is now; `excluded`: relative path -> why it is not hashed;
    `times`: the run's `run_times`, when the caller has them (else read from its results.json)."""
    excluded = excluded or {}
    found = inventory(directory, skip=frozenset(excluded))
    return {
        "manifest_version": MANIFEST_VERSION,
        "harness": {"name": "psc-conformance", "version": __version__},
        "sealed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        **(_run_times(directory) if times is None else times),
        "hash": "SHA-256",
        "files": [digest.to_json() for digest in found.files.values()],
        "excluded": [{"path": path, "reason": reason} for path, reason in sorted(excluded.items())],
        "errors": [{"path": path, "error": error} for path, error in found.errors.items()],
    }


def sign_detached(payload: bytes, key: PrivateKey) -> str:
    """RFC 7515 Appendix F: a compact JWS over `payload` with the payload segment left empty."""
    public = key.public_key()
    compact = jwt.api_jws.encode(
        payload, key, algorithm=algorithm_for(public), headers={"kid": thumbprint(public), "typ": JWS_TYP}
    )
    header, _, signature = compact.split(".")
    return f"{header}..{signature}"


def seal(
    directory: Path, *, signing_key: Path | None = None, results: Mapping[str, Any] | None = None
) -> Path:
    """Write manifest.json, manifest.jws and manifest-key.pem into `directory`; returns the manifest's path.

    Without `signing_key` an EC P-256 key is generated for this bundle and never written anywhere: the
    bundle then proves it is unchanged, not who sealed it. Files that cannot be hashed (symbolic links,
    unreadable files) are listed under `errors` in the manifest, and make verification fail.
    `results`: the results.json document the caller wrote, so that its times are not read back from it.
    """
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a directory")
    excluded: dict[str, str] = {}
    if signing_key is not None:
        key = load_signing_key(signing_key)
        inside = _inside(signing_key, directory)
        if inside is not None:
            excluded[inside] = "the private signing key: never hashed; remove it before sharing the bundle"
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    times = None if results is None else run_times(results)
    document = manifest_document(directory, excluded=excluded, times=times)
    manifest = json.dumps(document, indent=2, ensure_ascii=True)
    payload = (manifest + "\n").encode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (directory / PUBLIC_KEY).write_bytes(public_pem)
    (directory / MANIFEST).write_bytes(payload)
    (directory / SIGNATURE).write_text(sign_detached(payload, key) + "\n", encoding="ascii")
    return directory / MANIFEST


# -- verify -------------------------------------------------------------------------------------------------


@dataclass
class Verification:
    """The outcome of `verify`: every difference by name, and the state of the signature."""

    altered: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    signature_valid: bool = False
    key_pinned: bool = False  # a key was given to verify with, and the bundle's manifest-key.pem is it
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    algorithm: str | None = None
    key_thumbprint: str | None = None  # of manifest-key.pem: to compare with one published out of band

    @property
    def ok(self) -> bool:
        return self.signature_valid and not (self.altered or self.added or self.removed or self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "altered": self.altered,
            "added": self.added,
            "removed": self.removed,
            "signature_valid": self.signature_valid,
            "key_pinned": self.key_pinned,
            "problems": self.problems,
            "files_checked": self.files_checked,
            "algorithm": self.algorithm,
            "key_thumbprint": self.key_thumbprint,
        }


def verify_detached(jws: str, payload: bytes, key: PublicKey) -> str | None:
    """None when `jws` is a valid detached signature of `payload` by `key`, else what is wrong."""
    parts = jws.strip().split(".")
    if len(parts) != 3 or not parts[0] or parts[1] or not parts[2]:
        return f"{SIGNATURE} is not a detached JWS (header..signature)"
    header, _, signature = parts
    try:
        alg = algorithm_for(key)
        decoded = jwt.api_jws.decode_complete(
            f"{header}.{b64url(payload)}.{signature}", key, algorithms=[alg]
        )
    except BundleError as exc:
        return f"the signing key is not acceptable: {exc}"
    except jwt.InvalidSignatureError:
        return f"{SIGNATURE} does not match the bytes of {MANIFEST}"
    except jwt.PyJWTError as exc:
        return f"{SIGNATURE} cannot be verified: {exc}"
    if decoded["header"].get("kid") != thumbprint(key):
        return f"{SIGNATURE}: its kid is not the thumbprint of the key it verifies with"
    return None


def _bundle_key(directory: Path, result: Verification) -> PublicKey | None:
    try:
        key = load_public_key(directory / PUBLIC_KEY)
    except BundleError as exc:
        result.problems.append(f"{PUBLIC_KEY}: {exc}")
        return None
    result.key_thumbprint = thumbprint(key)
    return key


def _check_signature(
    directory: Path, manifest: bytes, pinned: PublicKey | None, result: Verification
) -> None:
    """The signature is checked with the pinned key when there is one, else with the bundle's own."""
    bundle_key = _bundle_key(directory, result)
    if pinned is not None:
        result.key_pinned = bundle_key is not None and _spki(bundle_key) == _spki(pinned)
        if not result.key_pinned:
            result.problems.append(
                f"{PUBLIC_KEY} is not the key given to verify with: the bundle was not sealed with that key "
                "(anyone can re-seal altered files with a key of their own)"
            )
    key = pinned or bundle_key
    if key is None:
        return
    try:
        jws = (directory / SIGNATURE).read_text(encoding="ascii")
    except (OSError, ValueError) as exc:
        result.problems.append(f"{SIGNATURE} cannot be read: {getattr(exc, 'strerror', None) or exc}")
        return
    problem = verify_detached(jws, manifest, key)
    result.algorithm = None if problem else algorithm_for(key)
    result.signature_valid = problem is None
    if problem:
        result.problems.append(problem)


def _sealed_entries(manifest: bytes) -> tuple[dict[str, FileDigest], dict[str, str], frozenset[str]]:
    """Files, sealing errors and exclusions of a manifest; ValueError when it is not one."""
    document = json.loads(manifest)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    format_ = (document.get("manifest_version"), document.get("hash"))
    if format_ != (MANIFEST_VERSION, "SHA-256"):
        raise ValueError(
            f"manifest_version {format_[0]!r} with hash {format_[1]!r} is not known to this harness"
        )
    try:
        files = {f["path"]: FileDigest(f["path"], f["sha256"], f["size"]) for f in document["files"]}
        errors = {e["path"]: e["error"] for e in document.get("errors", [])}
        excluded = frozenset(e["path"] for e in document.get("excluded", []))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or malformed field {exc}") from None
    if not all(isinstance(path, str) for path in [*files, *errors, *excluded]):
        raise ValueError("a path is not a string")
    return files, errors, excluded


def _compare(directory: Path, manifest: bytes, result: Verification) -> None:
    try:
        sealed, sealing_errors, excluded = _sealed_entries(manifest)
    except ValueError as exc:
        result.problems.append(f"{MANIFEST} is not a manifest: {exc}")
        return
    for path, error in sealing_errors.items():
        result.problems.append(f"{path}: could not be sealed ({error}), so it cannot be verified")
    found = inventory(directory, skip=excluded)
    result.files_checked = len(found.files)
    for path, error in found.errors.items():
        if path in sealed:
            result.altered.append(path)
        elif path in sealing_errors:
            continue
        else:
            result.added.append(path)
        result.problems.append(f"{path}: {error}")
    for path, digest in found.files.items():
        if path not in sealed:
            result.added.append(path)
        elif sealed[path] != digest:
            result.altered.append(path)
    result.removed = sorted(p for p in sealed if p not in found.files and p not in found.errors)
    result.altered.sort()
    result.added.sort()


def verify(directory: Path, *, public_key: Path | None = None) -> Verification:
    """Check `directory` against its manifest and signature, and its results.json against the results
    schema; `public_key` pins who must have sealed it.

    Raises BundleError when there is nothing to verify (no manifest) or the pinned key cannot be read.
    """
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a directory")
    try:
        manifest = (directory / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{directory}: no {MANIFEST}, so not a sealed evidence bundle") from None
    except OSError as exc:
        raise BundleError(f"cannot read {directory / MANIFEST}: {exc.strerror or exc}") from None
    pinned = load_public_key(public_key) if public_key is not None else None
    result = Verification()
    _check_signature(directory, manifest, pinned, result)
    _compare(directory, manifest, result)
    _check_results(directory, result)
    return result


def _check_results(directory: Path, result: Verification) -> None:
    """A results.json sealed as it is, in this harness's schema version, must meet that schema.

    The campaign writes it without validating it (the tests validate what the code builds): here an
    auditor learns of a document the harness got wrong. An altered or added one is named already; one
    that is not JSON, or says no schema version or another, is not a document this harness can judge.
    """
    if RESULTS in result.altered or RESULTS in result.added:
        return
    document = _results_document(directory)
    if not isinstance(document, dict):
        return
    import jsonschema  # the campaign's modules, and the validator, only for a bundle that has results

    from conformance.campaign.results import SCHEMA_VERSION, validate_results

    if document.get("schema_version") != SCHEMA_VERSION:
        return
    try:
        validate_results(document)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "the document"
        result.problems.append(
            f"{RESULTS} does not meet the results schema (version {SCHEMA_VERSION}) at {where}: "
            f"{exc.message[:300]}"
        )
