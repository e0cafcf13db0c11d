"""The attestation file that turns `manual` into `attested`."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.campaign.attestation import load_attestations
from conformance.errors import UsageError

GOOD = """
[[attestation]]
requirement = "EXI PSC 01"
by = "Jeanne Martin, RSSI"
date = 2026-11-20
evidence = "Extrait Kbis, pièce 3"
"""


def test_loads_entries_by_requirement(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(GOOD, encoding="utf-8")
    attestation = load_attestations(path)["EXI PSC 01"]
    assert (attestation.by, attestation.date) == ("Jeanne Martin, RSSI", "2026-11-20")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("EXI PSC 01", "EXI PSC 99"), "unknown requirement id 'EXI PSC 99'"),
        (GOOD.replace('by = "Jeanne Martin, RSSI"\n', ""), r"missing key\(s\) \['by'\]"),
        (GOOD + 'signed = "yes"\n', r"unknown key\(s\) \['signed'\]"),
        (GOOD + GOOD, "EXI PSC 01 is attested twice"),
        (GOOD.replace("2026-11-20", '"20/11/2026"'), "not an ISO date"),
        (GOOD.replace('"Extrait Kbis, pièce 3"', '"  "'), "'evidence' must be a non-empty string"),
    ],
)
def test_errors_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "a.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_attestations(path)
