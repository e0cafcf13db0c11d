"""The evidence bundle: seal a run directory, then prove that any change to it is named by verify."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conformance import __version__
from conformance.pki import TestPKI, write_pki
from conformance.report.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    BundleError,
    Verification,
    load_public_key,
    seal,
    thumbprint,
    verify,
)
from conformance.standards.jose import b64url, b64url_decode

OpenSSL = Callable[..., subprocess.CompletedProcess[bytes]]  # the `openssl` fixture of conftest.py

STARTED, FINISHED = "2026-11-20T10:00:00Z", "2026-11-20T10:03:12Z"
RUN_FILES: dict[str, bytes] = {
    "results.json": json.dumps({"started_at": STARTED, "finished_at": FINISHED, "requirements": []}).encode(),
    "report.html": b"<!doctype html><title>rapport</title><p>conforme</p>",
    "junit.xml": b'<?xml version="1.0"?><testsuites><testsuite name="c"/></testsuites>',
    "sut.log": b"started\nlistening on 127.0.0.1\n",
    "evidence/evidence.har": b'{"log": {"entries": []}}',
    "evidence/evidence.json": b'{"exchanges": {}}',
    "evidence/raw/capture.bin": bytes(range(256)),
}


def make_run(directory: Path) -> Path:
    """A small run directory with the outputs' shapes, including nested subdirectories."""
    for relative, content in RUN_FILES.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return directory


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


@pytest.fixture
def sealed(run_dir: Path) -> Path:
    seal(run_dir)
    return run_dir


def manifest_of(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / MANIFEST).read_bytes())
    return document


def write_pem_private(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def only(result: Verification, **expected: list[str]) -> None:
    """The differences are exactly `expected` (altered/added/removed), with a valid signature."""
    assert result.signature_valid and result.problems == []
    assert {"altered": result.altered, "added": result.added, "removed": result.removed} == {
        "altered": expected.get("altered", []),
        "added": expected.get("added", []),
        "removed": expected.get("removed", []),
    }
    assert not result.ok


# -- seal ----------------------------------------------------------------------------------------------


def test_manifest_lists_every_file_with_hash_size_version_and_run_times(sealed: Path) -> None:
    document = manifest_of(sealed)
    assert [f["path"] for f in document["files"]] == sorted(RUN_FILES)
    for entry in document["files"]:
        content = RUN_FILES[entry["path"]]
        assert entry["sha256"] == hashlib.sha256(content).hexdigest() and entry["size"] == len(content)
    assert document["harness"] == {"name": "psc-conformance", "version": __version__}
    assert (document["started_at"], document["finished_at"]) == (STARTED, FINISHED)
    assert document["errors"] == [] and document["excluded"] == []


def test_signature_is_a_detached_es256_jws_keyed_by_the_bundle_key_thumbprint(sealed: Path) -> None:
    header_b64, payload, signature = (sealed / SIGNATURE).read_text().strip().split(".")
    assert payload == "" and signature
    header = json.loads(b64url_decode(header_b64))
    public = load_public_key(sealed / PUBLIC_KEY)
    assert header["alg"] == "ES256" and header["kid"] == thumbprint(public)
    # the payload is the exact bytes of manifest.json, base64url-encoded as in any compact JWS
    rebuilt = f"{header_b64}.{b64url((sealed / MANIFEST).read_bytes())}.{signature}"
    assert jwt.api_jws.decode(rebuilt, public, algorithms=["ES256"]) == (sealed / MANIFEST).read_bytes()


def test_signature_verifies_with_openssl(sealed: Path, tmp_path: Path, openssl: OpenSSL) -> None:
    """An implementation independent of PyJWT agrees: RFC 7515 signing input, ES256 r||s signature."""
    header_b64, _, signature = (sealed / SIGNATURE).read_text().strip().split(".")
    raw = b64url_decode(signature)
    signing_input = tmp_path / "input"
    signing_input.write_bytes(f"{header_b64}.{b64url((sealed / MANIFEST).read_bytes())}".encode())
    der = tmp_path / "sig.der"
    der.write_bytes(encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:])))
    done = openssl("dgst", "-sha256", "-verify", sealed / PUBLIC_KEY, "-signature", der, signing_input)
    assert done.returncode == 0, done.stderr
    signing_input.write_bytes(signing_input.read_bytes() + b"x")
    assert openssl(
        "dgst", "-sha256", "-verify", sealed / PUBLIC_KEY, "-signature", der, signing_input
    ).returncode


def test_generated_key_is_never_written_only_its_public_half(sealed: Path) -> None:
    on_disk = {p.name: p.read_bytes() for p in sealed.rglob("*") if p.is_file()}
    assert not any(b"PRIVATE KEY" in content for content in on_disk.values())
    assert on_disk[PUBLIC_KEY].startswith(b"-----BEGIN PUBLIC KEY-----")
    assert sorted(on_disk) == sorted([Path(p).name for p in RUN_FILES] + [MANIFEST, SIGNATURE, PUBLIC_KEY])


def test_each_seal_generates_a_new_key_and_resealing_ignores_the_previous_bundle_files(sealed: Path) -> None:
    first = (sealed / PUBLIC_KEY).read_bytes()
    seal(sealed)
    assert (sealed / PUBLIC_KEY).read_bytes() != first
    assert [f["path"] for f in manifest_of(sealed)["files"]] == sorted(RUN_FILES)
    assert verify(sealed).ok


def test_a_bundle_file_name_deeper_down_is_ordinary_evidence(run_dir: Path) -> None:
    (run_dir / "evidence" / MANIFEST).write_text("{}")
    seal(run_dir)
    assert "evidence/manifest.json" in {f["path"] for f in manifest_of(run_dir)["files"]}
    (run_dir / "evidence" / MANIFEST).write_text("{ }")
    only(verify(run_dir), altered=["evidence/manifest.json"])


def test_results_without_times_seal_without_them(run_dir: Path) -> None:
    (run_dir / "results.json").write_text("not json")
    seal(run_dir)
    assert "started_at" not in manifest_of(run_dir) and verify(run_dir).ok


# -- verify: what a reader of the bundle learns -----------------------------------------------------------


def test_an_untouched_bundle_verifies(sealed: Path) -> None:
    result = verify(sealed)
    assert result.ok and result.signature_valid and not result.key_pinned
    assert result.files_checked == len(RUN_FILES) and result.algorithm == "ES256"
    assert result.key_thumbprint == thumbprint(load_public_key(sealed / PUBLIC_KEY))


@pytest.mark.parametrize("relative", sorted(RUN_FILES))
@pytest.mark.parametrize("where", [0, -1])
def test_one_byte_changed_in_any_file_names_that_file(sealed: Path, relative: str, where: int) -> None:
    path = sealed / relative
    content = bytearray(path.read_bytes())
    content[where] ^= 0x01
    path.write_bytes(bytes(content))
    only(verify(sealed), altered=[relative])


def test_same_size_same_time_change_is_caught_by_the_hash(sealed: Path) -> None:
    path = sealed / "junit.xml"
    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(b'name="c"', b'name="d"'))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    only(verify(sealed), altered=["junit.xml"])


@pytest.mark.parametrize("relative", ["extra.txt", "evidence/extra.har", "new/dir/file", ".hidden"])
def test_an_added_file_is_named_added(sealed: Path, relative: str) -> None:
    path = sealed / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    only(verify(sealed), added=[relative])


@pytest.mark.parametrize("relative", sorted(RUN_FILES))
def test_a_removed_file_is_named_removed(sealed: Path, relative: str) -> None:
    (sealed / relative).unlink()
    only(verify(sealed), removed=[relative])


def test_a_removed_directory_names_every_file_in_it(sealed: Path) -> None:
    for path in sorted((sealed / "evidence").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (sealed / "evidence").rmdir()
    only(verify(sealed), removed=sorted(p for p in RUN_FILES if p.startswith("evidence/")))


def test_altered_added_and_removed_together(sealed: Path) -> None:
    (sealed / "sut.log").write_bytes(b"rewritten")
    (sealed / "evidence" / "evidence.json").unlink()
    (sealed / "notes.md").write_text("hello")
    only(verify(sealed), altered=["sut.log"], added=["notes.md"], removed=["evidence/evidence.json"])


def test_a_tampered_manifest_breaks_the_signature(sealed: Path) -> None:
    """The forger edits a file and its hash in manifest.json: the files then match, the signature not."""
    (sealed / "report.html").write_bytes(b"<p>conforme, promis</p>")
    text = (sealed / MANIFEST).read_text()
    old = hashlib.sha256(RUN_FILES["report.html"]).hexdigest()
    text = text.replace(old, hashlib.sha256(b"<p>conforme, promis</p>").hexdigest())
    text = text.replace(f'"size": {len(RUN_FILES["report.html"])}', '"size": 23')
    (sealed / MANIFEST).write_text(text)
    result = verify(sealed)
    assert result.altered == [] and not result.signature_valid and not result.ok
    assert any("does not match the bytes of manifest.json" in p for p in result.problems)


def test_a_single_whitespace_in_the_manifest_breaks_the_signature(sealed: Path) -> None:
    (sealed / MANIFEST).write_bytes((sealed / MANIFEST).read_bytes() + b" ")
    result = verify(sealed)
    assert not result.signature_valid and not result.ok and result.altered == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "manifest.jws cannot be read"),
        ("garbage", "is not a detached JWS"),
        ("a.b.c", "is not a detached JWS"),
    ],
)
def test_a_missing_or_malformed_signature_fails(sealed: Path, content: str | None, message: str) -> None:
    if content is None:
        (sealed / SIGNATURE).unlink()
    else:
        (sealed / SIGNATURE).write_text(content)
    result = verify(sealed)
    assert not result.signature_valid and not result.ok
    assert any(message in p for p in result.problems), result.problems


def test_a_missing_bundle_key_fails(sealed: Path) -> None:
    (sealed / PUBLIC_KEY).unlink()
    result = verify(sealed)
    assert not result.signature_valid and result.key_thumbprint is None
    assert any(p.startswith(PUBLIC_KEY) for p in result.problems)


def test_swapping_only_the_bundle_key_fails(sealed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    seal(make_run(other))
    (sealed / PUBLIC_KEY).write_bytes((other / PUBLIC_KEY).read_bytes())
    assert not verify(sealed).signature_valid


def test_a_manifest_that_is_not_json_is_a_named_problem(sealed: Path) -> None:
    (sealed / MANIFEST).write_text("[1, 2")
    result = verify(sealed)
    assert not result.ok and any("manifest.json is not a manifest" in p for p in result.problems)


# -- the forger who re-seals, and the pinned key ------------------------------------------------------------


def test_a_resealed_forgery_passes_unpinned_and_fails_pinned(sealed: Path, tmp_path: Path) -> None:
    genuine_key = tmp_path / "genuine.pem"
    genuine_key.write_bytes((sealed / PUBLIC_KEY).read_bytes())
    assert verify(sealed, public_key=genuine_key).key_pinned
    (sealed / "results.json").write_text('{"verdict": "conforme"}')
    seal(sealed)  # the forger's own, freshly generated key and signature

    unpinned = verify(sealed)
    assert unpinned.ok and not unpinned.key_pinned
    pinned = verify(sealed, public_key=genuine_key)
    assert not pinned.ok and not pinned.key_pinned and not pinned.signature_valid
    assert any("is not the key given to verify with" in p for p in pinned.problems)


def test_user_ec_key_signs_and_pins(run_dir: Path, tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    seal(run_dir, signing_key=write_pem_private(private, tmp_path / "sign.pem"))
    public = tmp_path / "public.pem"
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert (run_dir / PUBLIC_KEY).read_bytes() == public.read_bytes()
    result = verify(run_dir, public_key=public)
    assert result.ok and result.key_pinned and result.algorithm == "ES256"
    # the private key itself pins too (its public half is what counts)
    assert verify(run_dir, public_key=tmp_path / "sign.pem").key_pinned


def test_user_rsa_key_signs_rs256(run_dir: Path, tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = write_pem_private(private, tmp_path / "rsa.pem")
    seal(run_dir, signing_key=key_path)
    header = json.loads(b64url_decode((run_dir / SIGNATURE).read_text().split(".")[0]))
    assert header["alg"] == "RS256"
    result = verify(run_dir, public_key=key_path)
    assert result.ok and result.key_pinned and result.algorithm == "RS256"


def test_certificate_pins_the_key(run_dir: Path, tmp_path: Path, pki: TestPKI) -> None:
    """An auditor may hold the sealer's certificate rather than a bare public key."""
    client = next(iter(write_pki(pki, tmp_path / "pki").clients.values()))
    seal(run_dir, signing_key=client.key)
    result = verify(run_dir, public_key=client.pem)
    assert result.ok and result.key_pinned


def test_a_signing_key_inside_the_directory_is_excluded_not_hashed(run_dir: Path) -> None:
    (run_dir / "keys").mkdir()
    key_path = write_pem_private(ec.generate_private_key(ec.SECP256R1()), run_dir / "keys" / "sign.pem")
    seal(run_dir, signing_key=key_path)
    document = manifest_of(run_dir)
    assert "keys/sign.pem" not in {f["path"] for f in document["files"]}
    assert [e["path"] for e in document["excluded"]] == ["keys/sign.pem"]
    assert verify(run_dir, public_key=key_path).ok


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: None, "cannot read signing key"),
        (lambda p: p.write_text("hello"), "is not a PEM private key"),
        (
            lambda p: p.write_bytes(
                ec.generate_private_key(ec.SECP256R1()).private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"secret"),
                )
            ),
            "is encrypted",
        ),
        (
            lambda p: p.write_bytes(
                ed25519.Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
            "is not supported",
        ),
        (
            lambda p: write_pem_private(rsa.generate_private_key(public_exponent=65537, key_size=1024), p),
            "too weak",
        ),
    ],
)
def test_an_unusable_signing_key_is_a_usage_error(
    run_dir: Path, tmp_path: Path, write: Any, message: str
) -> None:
    key_path = tmp_path / "key.pem"
    write(key_path)
    with pytest.raises(BundleError, match=message):
        seal(run_dir, signing_key=key_path)
    assert not (run_dir / MANIFEST).exists()


def test_nothing_to_verify_or_an_unreadable_pin_is_a_usage_error(sealed: Path, run_dir: Path) -> None:
    with pytest.raises(BundleError, match="cannot read key"):
        verify(sealed, public_key=sealed / "absent.pem")
    with pytest.raises(BundleError, match="is not a PEM public key"):
        verify(sealed, public_key=sealed / "sut.log")
    (sealed / MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        verify(run_dir)
    with pytest.raises(BundleError, match="not a directory"):
        verify(sealed / "absent")


# -- symbolic links are never followed ------------------------------------------------------------------


def test_a_symlink_is_recorded_as_an_error_and_never_verifies(run_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside the bundle")
    (run_dir / "link.txt").symlink_to(outside)
    (run_dir / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    seal(run_dir)
    document = manifest_of(run_dir)
    assert {e["path"] for e in document["errors"]} == {"link.txt", "linked-dir"}
    assert "link.txt" not in {f["path"] for f in document["files"]}
    result = verify(run_dir)
    assert not result.ok and result.added == [] and result.signature_valid
    assert any(p.startswith("link.txt: could not be sealed (symbolic link") for p in result.problems)


def test_a_file_replaced_by_a_symlink_is_altered(sealed: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.log"
    copy.write_bytes(RUN_FILES["sut.log"])  # same bytes: only the link itself differs
    (sealed / "sut.log").unlink()
    (sealed / "sut.log").symlink_to(copy)
    result = verify(sealed)
    assert result.altered == ["sut.log"] and not result.ok
    assert any("sut.log: symbolic link" in p for p in result.problems)


def test_a_symlink_added_after_sealing_is_added(sealed: Path, tmp_path: Path) -> None:
    (sealed / "evidence" / "more").symlink_to(tmp_path)
    result = verify(sealed)
    assert result.added == ["evidence/more"] and not result.ok
