"""`psc-conformance verify` on a real campaign directory: every change is named, exit status says it all."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conformance.cli import main, verify_cmd
from conformance.report.bundle import MANIFEST, PUBLIC_KEY, SIGNATURE, seal


def verify_cli(*argv: str | Path) -> int:
    """`psc-conformance verify ARGV…` through the command's own `register`, as the CLI wires it."""
    parser = argparse.ArgumentParser(prog="psc-conformance")
    verify_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify", *map(str, argv)])
    code: int = args.handler(args)
    return code


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real provider campaign (about 10 s), its outputs left as `run` wrote them."""
    out = tmp_path_factory.mktemp("campaign") / "run"
    assert main(["run", "--role", "provider", "--output", str(out)]) == 0
    return out


@pytest.fixture
def bundle(campaign: Path, tmp_path: Path) -> Path:
    """A sealed copy of the campaign that a test may damage."""
    copy = tmp_path / "bundle"
    shutil.copytree(campaign, copy, symlinks=True)
    seal(copy)
    return copy


def evidence_files(directory: Path) -> list[str]:
    bundle_files = {MANIFEST, SIGNATURE, PUBLIC_KEY}
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name not in bundle_files
    )


def differences(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.split(" ", 1)[0] in ("altered", "added", "removed")]


def test_a_sealed_campaign_verifies(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = evidence_files(bundle)
    assert {"results.json", "report.html", "junit.xml", "evidence/evidence.har"} <= set(files)
    assert verify_cli(bundle) == 0
    out = capsys.readouterr().out
    assert "signature: valid (ES256, key thumbprint " in out
    assert "not pinned" in out and "--key PUBLIC.pem" in out
    assert f"verified, {len(files)} files match manifest.json" in out and differences(out) == []


def test_one_byte_changed_in_any_campaign_file_is_named(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for relative in evidence_files(bundle):
        path = bundle / relative
        original = path.read_bytes()
        changed = bytearray(original) or bytearray(b"\0")  # an empty file changes by gaining a byte
        changed[len(changed) // 2] ^= 0x20
        path.write_bytes(bytes(changed))
        assert verify_cli(bundle) == 1, relative
        out = capsys.readouterr().out
        assert differences(out) == [f"altered  {relative}"], out
        assert "NOT verified (1 files differ)" in out
        path.write_bytes(original)
    assert verify_cli(bundle) == 0


def test_added_and_removed_files_are_named(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / "evidence" / "late.har").write_text("{}")
    (bundle / "junit.xml").unlink()
    assert verify_cli(bundle) == 1
    assert differences(capsys.readouterr().out) == ["added    evidence/late.har", "removed  junit.xml"]


def test_json_output(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / "sut.log").write_text("nothing happened")
    assert verify_cli(bundle, "--json") == 1
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and document["altered"] == ["sut.log"]
    assert document["added"] == [] and document["removed"] == []
    assert document["signature_valid"] is True and document["key_pinned"] is False
    assert document["directory"] == str(bundle)


def test_a_tampered_manifest_fails_on_the_signature(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = bundle / MANIFEST
    manifest.write_text(manifest.read_text().replace('"SHA-256"', '"SHA-256 "'))
    assert verify_cli(bundle) == 1
    out = capsys.readouterr().out
    assert "signature: NOT valid" in out and "does not match the bytes of manifest.json" in out
    assert differences(out) == []


def test_a_resealed_forgery_is_caught_only_by_the_pinned_key(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = tmp_path / "genuine-public.pem"
    genuine.write_bytes((bundle / PUBLIC_KEY).read_bytes())
    assert verify_cli(bundle, "--key", genuine) == 0
    assert "key: manifest-key.pem is the key given with --key" in capsys.readouterr().out

    results = bundle / "results.json"
    genuine_results = results.read_bytes()
    results.write_bytes(genuine_results.replace(b'"pass"', b'"fail"', 1))
    assert results.read_bytes() != genuine_results
    seal(bundle)  # the forger signs the altered files with a key of their own
    assert verify_cli(bundle) == 0
    assert "not pinned" in capsys.readouterr().out
    assert verify_cli(bundle, "--key", genuine) == 1
    out = capsys.readouterr().out
    assert "NOT the key given with --key" in out and "signature: NOT valid" in out


def test_a_user_signing_key_is_pinned_by_its_public_half(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = tmp_path / "vendor.key"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = tmp_path / "vendor-public.pem"
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    seal(bundle, signing_key=key)
    assert verify_cli(bundle, "--key", public) == 0
    assert "key: manifest-key.pem is the key given with --key" in capsys.readouterr().out


def assert_usage_error(code: int, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    captured = capsys.readouterr()
    assert code == 2 and message in captured.err and captured.out == ""


def test_no_manifest_is_a_usage_error(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / MANIFEST).unlink()
    assert_usage_error(verify_cli(bundle), "no manifest.json, so not a sealed evidence bundle", capsys)


def test_an_unreadable_key_is_a_usage_error(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(verify_cli(bundle, "--key", bundle / "absent.pem"), "cannot read key", capsys)
    assert_usage_error(verify_cli(bundle, "--key", bundle / "junit.xml"), "is not a PEM public key", capsys)


def test_missing_directory_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        verify_cli()
    assert exit_info.value.code == 2 and "DIR" in capsys.readouterr().err
