"""Writing the PKI to disk and loading it back."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from conformance.pki import (
    DEFAULT_P12_PASSWORD,
    LPS1_CLIENT_ID,
    MANIFEST_NAME,
    PkiError,
    PkiFiles,
    TestPKI,
    load_pki,
    load_pki_files,
    write_pki,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_layout_and_permissions(pki: TestPKI, pki_files: PkiFiles) -> None:
    directory = pki_files.directory
    for name in ("root.pem", "intermediate.pem", "ca-bundle.pem", "crl.pem", MANIFEST_NAME):
        assert (directory / name).is_file()
    assert pki_files.clients[LPS1_CLIENT_ID].pem.name == f"client-{LPS1_CLIENT_ID}.pem"
    assert set(pki_files.clients) == set(pki.clients)
    assert set(pki_files.servers) == set(pki.servers)
    assert set(pki_files.negatives) == set(pki.negatives)
    on_disk = {p.name for p in directory.iterdir()}
    assert on_disk == {p.name for p in pki_files.all_paths()}
    for path in pki_files.all_paths():
        if path.suffix in (".key", ".p12"):
            assert mode(path) == 0o600, path
        else:
            assert mode(path) & 0o022 == 0 and mode(path) & 0o444 == 0o444, path


def test_pem_holds_leaf_then_intermediate(pki: TestPKI, pki_files: PkiFiles) -> None:
    certs = x509.load_pem_x509_certificates(pki_files.clients[LPS1_CLIENT_ID].pem.read_bytes())
    assert certs == [pki.clients[LPS1_CLIENT_ID].cert, pki.intermediate.cert]
    assert x509.load_pem_x509_certificates(pki_files.ca_bundle.read_bytes()) == [pki.root.cert]


@pytest.mark.parametrize("name", [LPS1_CLIENT_ID, "psc", "revoked", "rogue"])
def test_pkcs12_loads_with_password(pki: TestPKI, pki_files: PkiFiles, name: str) -> None:
    path = pki_files.leaf(name).p12
    assert path is not None
    key, cert, cas = pkcs12.load_key_and_certificates(path.read_bytes(), DEFAULT_P12_PASSWORD.encode())
    leaf = pki.leaf(name)
    assert cert == leaf.cert
    assert key is not None
    assert key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode() == leaf.key_pem
    expected_cas = [pki.rogue_root.cert] if name == "rogue" else [pki.intermediate.cert, pki.root.cert]
    assert cas == expected_cas
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(path.read_bytes(), b"wrong password")


def test_custom_and_empty_p12_password(pki: TestPKI, tmp_path: Path) -> None:
    files = write_pki(pki, tmp_path / "a", p12_password="s3cret")
    p12 = files.clients[LPS1_CLIENT_ID].p12
    assert p12 is not None
    assert (
        pkcs12.load_key_and_certificates(p12.read_bytes(), b"s3cret")[1] == pki.clients[LPS1_CLIENT_ID].cert
    )
    files = write_pki(pki, tmp_path / "b", p12_password="")
    p12 = files.clients[LPS1_CLIENT_ID].p12
    assert p12 is not None
    assert pkcs12.load_key_and_certificates(p12.read_bytes(), None)[1] == pki.clients[LPS1_CLIENT_ID].cert


def test_manifest_indexes_files_and_identities_without_keys(pki: TestPKI, pki_files: PkiFiles) -> None:
    text = pki_files.manifest.read_text()
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    manifest = json.loads(text)
    assert manifest["key_type"] == "ec"
    assert manifest["p12_password"] == DEFAULT_P12_PASSWORD
    assert sorted(manifest["files"]) == sorted(
        p.name for p in pki_files.all_paths() if p != pki_files.manifest
    )
    assert all("/" not in name for name in manifest["files"])  # relative names
    lps1 = manifest["clients"][LPS1_CLIENT_ID]
    profile = pki.client_profiles[LPS1_CLIENT_ID]
    assert lps1["role"] == "lps" and lps1["structure_id"] == profile.structure_id
    assert lps1["files"] == {
        "pem": f"client-{LPS1_CLIENT_ID}.pem",
        "key": f"client-{LPS1_CLIENT_ID}.key",
        "p12": f"client-{LPS1_CLIENT_ID}.p12",
    }
    leaf = pki.clients[LPS1_CLIENT_ID]
    assert lps1["x5t#S256"] == leaf.x5t_s256 and lps1["x5t#S256_ans_hex"] == leaf.x5t_s256_ans_hex
    assert lps1["not_after"] == leaf.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert manifest["clients"][pki.proxy_client_id]["role"] == "proxy"
    assert manifest["negatives"]["cn-mismatch"]["presented_for"] == LPS1_CLIENT_ID
    assert manifest["crl"]["revoked_serials"] == [pki.negatives["revoked"].serial_hex]
    assert manifest["trust_anchor"] == "ca-bundle.pem"


def test_load_round_trip(pki: TestPKI, pki_files: PkiFiles) -> None:
    loaded = load_pki(pki_files.directory)
    assert loaded.key_type == pki.key_type
    assert loaded.client_profiles == pki.client_profiles
    assert loaded.lps_client_ids == pki.lps_client_ids and loaded.proxy_client_id == pki.proxy_client_id
    assert loaded.negatives_for == pki.negatives_for
    for table, original in (
        (loaded.clients, pki.clients),
        (loaded.servers, pki.servers),
        (loaded.negatives, pki.negatives),
    ):
        assert table.keys() == original.keys()
        for name, leaf in table.items():
            assert leaf.cert == original[name].cert and leaf.chain == original[name].chain
            assert leaf.key_pem == original[name].key_pem
    assert loaded.root.cert == pki.root.cert and loaded.root.key_pem == pki.root.key_pem
    assert loaded.crl == pki.crl
    assert load_pki_files(pki_files.directory) == pki_files


def test_load_refuses_bad_directories(pki: TestPKI, tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=r"pki\.json not found"):
        load_pki(tmp_path)
    files = write_pki(pki, tmp_path / "pki")
    # A key that does not belong to its certificate.
    files.clients[LPS1_CLIENT_ID].key.write_text(pki.clients["ans-odc-lps2-edc-bas"].key_pem)
    with pytest.raises(PkiError, match="does not match"):
        load_pki(files.directory)
    # A manifest pointing outside the directory.
    manifest = json.loads(files.manifest.read_text())
    manifest["trust_anchor"] = "../elsewhere.pem"
    files.manifest.write_text(json.dumps(manifest))
    with pytest.raises(PkiError, match="invalid file name"):
        load_pki_files(files.directory)
    files.manifest.write_text("{}")
    with pytest.raises(PkiError, match="not a psc-conformance PKI manifest"):
        load_pki(files.directory)


def test_rewrite_resets_key_permissions(pki: TestPKI, tmp_path: Path) -> None:
    files = write_pki(pki, tmp_path)
    key = files.clients[LPS1_CLIENT_ID].key
    key.chmod(0o644)
    write_pki(pki, tmp_path)
    assert mode(key) == 0o600
