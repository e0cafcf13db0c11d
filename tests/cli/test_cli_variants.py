"""`--variant` on the command line: refused before anything starts when it cannot apply."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import conformance
from conformance.cli import main


def test_run_with_an_unknown_variant_exits_2_with_the_closest_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--output", str(tmp_path / "o"), "--variant", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown consumer variant 'bogus'" in err and "`psc-conformance variants` lists them" in err
    assert main(["run", "--output", str(tmp_path / "o"), "--variant", "api_5xx_relayd"]) == 2
    assert "Did you mean 'api_5xx_relayed'?" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before the campaign started


def test_run_variant_only_applies_to_the_embedded_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[sut]\nbase_url = "https://127.0.0.1:1"\n', encoding="utf-8")
    assert main(["run", "--config", str(config), "--variant", "api_5xx_relayed"]) == 2
    assert "--variant changes the embedded reference SUT" in capsys.readouterr().err


def test_reference_consumer_with_an_unknown_variant_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pki", "--out", str(tmp_path / "pki")]) == 0
    capsys.readouterr()
    config = str(tmp_path / "pki" / "reference-proxy.toml")
    assert main(["reference", "consumer", "--config", config, "--variant", "trace_extra_field"]) == 2
    err = capsys.readouterr().err
    assert "unknown consumer variant 'trace_extra_field'. Did you mean 'trace_extra_fields'?" in err


@pytest.mark.parametrize("command", [["variants"], ["run"], ["reference", "consumer"]])
def test_help_names_the_variants(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "variant" in out


def test_reference_consumer_serves_with_variants_and_says_so(tmp_path: Path) -> None:
    """The banner names each variant; a variant's settings (its upstream timeout) win over the file's."""
    assert main(["pki", "--out", str(tmp_path / "pki")]) == 0
    config = tmp_path / "pki" / "reference-proxy.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + 'variants = ["trace_extra_fields"]\n', encoding="utf-8"
    )
    command = [sys.executable, "-m", "conformance", "reference", "consumer", "--config", str(config)]
    command += ["--port", "0", "--variant", "upstream_timeout_30s"]
    source = str(Path(conformance.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": source, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                lines.append(line)
                if not line or line.startswith("Ctrl-C"):
                    break
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    banner = "".join(lines)
    assert "upstream 30 s" in banner, banner
    assert "Variant         trace_extra_fields: " in banner
    assert "Variant         upstream_timeout_30s: " in banner
