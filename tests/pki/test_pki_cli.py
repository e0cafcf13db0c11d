"""`psc-conformance pki` through the CLI entry point."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.pki import load_pki


def test_writes_the_pki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pki"
    assert main(["pki", "--out", str(out), "--proxy-client-id", "vendor-proxy", "--p12-password", "pw"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "pki.json").read_text())
    for name in manifest["files"]:
        assert (out / name).is_file()
        assert name in printed
    assert "client-vendor-proxy.p12" in manifest["files"]
    assert "vendor-proxy" in printed and "ca-bundle.pem" in printed
    assert manifest["p12_password"] == "pw"
    assert stat.S_IMODE((out / "client-vendor-proxy.key").stat().st_mode) == 0o600
    pki = load_pki(out)
    assert pki.proxy_client_id == "vendor-proxy" and pki.key_type == "ec"


def test_refuses_non_empty_directory_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "unrelated.txt").write_text("keep me")
    assert main(["pki", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
    assert not (tmp_path / "pki.json").exists()
    assert main(["pki", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "pki.json").is_file() and (tmp_path / "unrelated.txt").read_text() == "keep me"


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "file"
    file.write_text("")
    assert main(["pki", "--out", str(file)]) == 2
    assert main(["pki", "--out", str(tmp_path / "x"), "--proxy-client-id", "bad id/.."]) == 2
    assert "invalid client id" in capsys.readouterr().err
    assert main(["pki", "--out", str(tmp_path / "y"), "--valid-days", "0"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["pki", "--out", str(tmp_path / "z"), "--key-type", "dsa"])
    assert exc.value.code == 2


def test_server_san_and_validity_options(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert main(["pki", "--out", str(out), "--server-san", "harness.test", "--valid-days", "30"]) == 0
    pki = load_pki(out)
    assert "harness.test" in pki.server_sans
    leaf = pki.clients[pki.proxy_client_id]
    assert (leaf.not_after - leaf.not_before).days == 31  # 30 days ahead + 1 day of clock-skew margin
