"""The reference provider as the harness runs it: a process started by the launcher, its CLI, its TOML."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import httpx
import pytest
from provider_testbed import ACCESS_TOKEN_TYPE, SESSION_DATA, TOKEN_EXCHANGE, Environment

from conformance.errors import UsageError
from conformance.pki import LPS1_CLIENT_ID
from conformance.reference.provider.__main__ import main
from conformance.reference.provider.launcher import launch_reference_provider
from conformance.reference.provider.settings import PROVIDER_CONFIG_FILE, load_settings, write_config


def test_the_launched_provider_exchanges_and_serves(env: Environment, tmp_path: Path) -> None:
    log_path = tmp_path / "provider.log"
    provider = launch_reference_provider(
        env.directory, log_path, variants=["token_lifetime_1h"], settings={"introspection_cache_s": 30.0}
    )
    try:
        assert provider.settings["token_ttl_s"] == 3600 and provider.settings["introspection_cache_s"] == 30.0
        assert provider.token_endpoint.startswith(provider.as_issuer)
        assert provider.rs_base_url.endswith("/mockservice/apipsc")
        with httpx.Client(verify=env.context(LPS1_CLIENT_ID), timeout=5) as lps:
            exchange = lps.post(
                provider.token_endpoint,
                data={
                    "grant_type": TOKEN_EXCHANGE,
                    "subject_token": env.psc.mint(),
                    "subject_token_type": ACCESS_TOKEN_TYPE,
                    "scope": "signsessiondata",
                },
            )
            assert exchange.status_code == 200, exchange.text
            assert exchange.json()["expires_in"] == 3600
            token = exchange.json()["access_token"]
            call = lps.post(
                provider.rs_base_url + "/signsessiondata",
                json=SESSION_DATA,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert call.status_code == 200, call.text
    finally:
        provider.stop()
    assert provider.process.returncode == 0
    log = log_path.read_text(encoding="utf-8")
    assert f"AS {provider.as_issuer}, RS {provider.rs_base_url}" in log
    assert "POST /mockservice/apipsc/signsessiondata -> 200" in log
    assert token not in log and token.split(".")[1] not in log  # no token in the log


def test_the_launcher_refuses_an_unknown_fault_before_starting(env: Environment, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="rs_skips_scope_check"):
        launch_reference_provider(env.directory, tmp_path / "log", faults=["rs_skip_scope_check"])


@pytest.mark.parametrize(
    "options",
    [["--fault", "no_such_fault"], ["--variant", "no_such_variant"]],
)
def test_the_cli_refuses_unknown_names(
    env: Environment, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(env.directory, as_port=0, rs_port=0)
    assert main(["--config", str(config), *options]) == 2
    assert "unknown provider" in capsys.readouterr().err


def test_the_cli_refuses_a_bad_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    config = tmp_path / PROVIDER_CONFIG_FILE
    config.write_text('[provider]\nas_port = "x"\n', encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    assert "as_port must be a TCP port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[proxy]\n", "a single [provider] table"),
        ("[provider]\nport = 1\n", "unknown key(s) port"),
        ("[provider]\ntoken_ttl_s = -1\n", "token_ttl_s must be a positive integer"),
        ("[provider]\nhttp_timeout_s = 0\n", "http_timeout_s must be a positive number"),
        ("[provider]\ntrust_harness_as = 1\n", "trust_harness_as must be true or false"),
        ('[provider]\ncounterparts = "elsewhere.json"\n', "elsewhere.json not found"),
        ("[provider\n", "not valid TOML"),
    ],
)
def test_settings_errors_say_what_to_fix(env: Environment, table: str, message: str) -> None:
    config = env.directory / "bad-provider.toml"
    config.write_text(table, encoding="utf-8")
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_settings(config)


def test_write_config_spells_every_setting_out(env: Environment) -> None:
    config = write_config(
        env.directory, as_port=9446, rs_port=9447, token_ttl_s=3600.0, trust_harness_as=False
    )
    table = tomllib.loads(config.read_text(encoding="utf-8"))["provider"]
    assert table["token_ttl_s"] == 3600 and table["trust_harness_as"] is False
    assert table["counterparts"] == "counterparts.json" and table["audience"] == "apipsc"
    settings = load_settings(config)
    assert (settings.as_port, settings.rs_port, settings.token_ttl_s) == (9446, 9447, 3600)
    assert set(settings.registered_clients) == set(env.pki.lps_client_ids) | {env.pki.proxy_client_id}
    with pytest.raises(UsageError, match="unknown key"):
        write_config(env.directory, as_port=1, rs_port=2, nonsense=1)


def test_the_cli_says_when_a_port_is_busy(env: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = write_config(env.directory, as_port=0, rs_port=busy.getsockname()[1])
        assert main(["--config", str(config)]) == 3
    assert "cannot listen" in capsys.readouterr().err
