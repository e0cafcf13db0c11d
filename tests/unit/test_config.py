"""The campaign configuration: defaults, paths, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.config import Config, load_config
from conformance.errors import UsageError
from conformance.roles import Role


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_no_file() -> None:
    config = Config()
    assert config.sut.role is Role.CONSUMER and not config.external
    assert config.timeouts.scenario_s > 0 and config.campaign.lang == "fr"


def test_full_file_with_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[sut]
role = "consumer"
name = "Proxy Exemple"
base_url = "https://127.0.0.1:8443/"
start = "./proxy --port 8443"
ca_file = "pki/ca-bundle.pem"
[sut.declared]
idle_timeout_s = 4
[campaign]
lang = "en"
attestations = "attestations.toml"
[timeouts]
read_s = 2.5
""",
    )
    config = load_config(path)
    assert config.external and config.sut.base_url == "https://127.0.0.1:8443"
    assert config.sut.start == ("./proxy", "--port", "8443")
    assert config.sut.ca_file == (tmp_path / "pki/ca-bundle.pem").resolve()
    assert config.sut.declared == {"idle_timeout_s": 4.0}
    assert config.campaign.attestations == (tmp_path / "attestations.toml").resolve()
    assert config.timeouts.read_s == 2.5 and config.campaign.lang == "en"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sut]\nbase_ur = 'https://x'\n", r"\[sut\]: unknown key\(s\) base_ur; allowed: .*base_url"),
        ("[suut]\n", r"unknown table\(s\) \[suut\]"),
        ("[sut]\nrole = 'proxy'\n", r"\[sut\] role: 'proxy' is not one of consumer, provider"),
        ("[sut]\nbase_url = 'http://127.0.0.1:80'\n", r"base_url: .*must be an https:// URL"),
        ("[sut]\nstart = './proxy'\n", r"start: needs base_url"),
        ("[timeouts]\nread_s = -1\n", r"\[timeouts\] read_s: must be a positive number"),
        ("[timeouts]\nread_s = 'ten'\n", r"\[timeouts\] read_s: expected a number, got 'ten'"),
        ("[campaign]\nlang = 'de'\n", r"lang: 'de' is not one of fr, en"),
        ("[sut.declared]\nidle = 3\n", r"\[sut.declared\]: unknown key\(s\) idle"),
        ("[sut\n", r"not valid TOML"),
    ],
)
def test_errors_name_the_table_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")
