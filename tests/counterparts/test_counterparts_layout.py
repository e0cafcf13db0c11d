"""counterparts.json: the one file a vendor maps onto their proxy's configuration (BRIEF §7)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.config import load_config
from conformance.counterparts.layout import read_client_secrets
from conformance.errors import UsageError
from conformance.pki import LPS1_CLIENT_ID, load_pki


def test_pki_writes_counterparts_json_with_the_contract_keys(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert main(["pki", "--out", str(out)]) == 0
    doc = json.loads((out / "counterparts.json").read_text(encoding="utf-8"))
    assert doc["psc"]["issuer"] == "https://127.0.0.1:9443/auth/realms/esante-wallet"
    assert doc["psc"]["discovery_url"] == doc["psc"]["issuer"] + "/.well-known/wallet-openid-configuration"
    [api] = doc["apis"]
    assert api["name"] == "apipsc" and api["scope"] == "signsessiondata"
    assert api["base_url"].startswith("https://127.0.0.1:9445/") and api["token_endpoint"].startswith(
        "https://127.0.0.1:9444/"
    )
    assert (out / doc["ca_bundle"]).is_file()
    pki = load_pki(out)
    assert set(doc["clients"]) == set(pki.clients)
    for cid, entry in doc["clients"].items():
        assert entry["role"] in ("lps", "proxy", "provider") and entry["secret"]
        assert entry["subject"] == pki.clients[cid].subject  # what a provider's AS maps to a client
        for key in ("cert", "key", "p12"):
            assert (out / entry[key]).is_file(), (cid, key)
        assert entry["x5t#S256"] == pki.clients[cid].x5t_s256
        # `cert` holds the leaf followed by its intermediate
        assert (out / entry["cert"]).read_text().count("BEGIN CERTIFICATE") == 2
    assert doc["clients"][LPS1_CLIENT_ID]["role"] == "lps"
    assert doc["clients"][pki.proxy_client_id]["role"] == "proxy"
    assert doc["clients"][pki.provider_client_id]["role"] == "provider"
    assert (out / doc["crl"]).is_file()
    harness_as = doc["api_as"]
    assert harness_as["issuer"] == "https://127.0.0.1:9444/realms/signsessiondata"
    assert harness_as["jwks_uri"].startswith(harness_as["issuer"] + "/")
    assert harness_as["introspection_endpoint"] == api["token_endpoint"] + "/introspect"
    assert (out / doc["sut_server"]["cert"]).is_file() and (out / doc["sut_server"]["key"]).is_file()
    assert stat.S_IMODE((out / "counterparts.json").stat().st_mode) == 0o600  # it carries client secrets
    assert read_client_secrets(out)[LPS1_CLIENT_ID] == doc["clients"][LPS1_CLIENT_ID]["secret"]


def test_ports_come_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        "[counterparts]\npsc_port = 18443\napi_as_port = 18444\napi_port = 18445\n"
        "api_name = 'dmp'\n[counterparts.timings]\nciba_interval_s = 2\n",
        encoding="utf-8",
    )
    out = tmp_path / "pki"
    assert main(["pki", "--out", str(out), "--config", str(config)]) == 0
    doc = json.loads((out / "counterparts.json").read_text(encoding="utf-8"))
    assert doc["psc"]["issuer"].startswith("https://127.0.0.1:18443/")
    assert doc["apis"][0]["name"] == "dmp" and ":18445/" in doc["apis"][0]["base_url"]
    assert load_config(config).counterparts.psc_timings.ciba_interval_s == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[counterparts]\npsc_port = 70000\n", "psc_port: 70000 is not a TCP port"),
        ("[counterparts]\npsc_port = 9444\n", "must differ"),
        ("[counterparts]\nport = 1\n", r"unknown key\(s\) port"),
        (
            "[counterparts.timings]\nciba_interval = 1\n",
            r"\[counterparts.timings\]: unknown key\(s\) ciba_interval",
        ),
        ("[counterparts.timings]\nciba_interval_s = 0\n", "must be a positive number"),
    ],
)
def test_counterparts_table_errors(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_config(config)


def test_pki_with_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[counterparts]\npsc_port = -1\n", encoding="utf-8")
    assert main(["pki", "--out", str(tmp_path / "pki"), "--config", str(config)]) == 2
    assert "not a TCP port" in capsys.readouterr().err


def test_missing_counterparts_file_says_how_to_write_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="psc-conformance pki --out"):
        read_client_secrets(tmp_path)
