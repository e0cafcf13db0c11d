"""Every command explains itself."""

from __future__ import annotations

import pytest

from conformance.cli import main

COMMANDS = [
    [],
    ["run"],
    ["verify"],
    ["diff"],
    ["requirements"],
    ["pki"],
    ["counterparts"],
    ["reference", "consumer"],
    ["reference", "provider"],
    ["faults"],
    ["variants"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "psc-conformance")
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: psc-conformance" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
