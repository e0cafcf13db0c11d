"""The attestation file: declarations that turn `manual` requirements into `attested`.

TOML, one table per declaration::

    [[attestation]]
    requirement = "EXI PSC 01"
    by = "Jeanne Martin, RSSI, Éditeur Exemple"
    date = 2026-11-20
    evidence = "Extrait Kbis du 2026-10-02, pièce 3 du dossier de raccordement"
"""

from __future__ import annotations

from pathlib import Path

from conformance.campaign.declarations import entries, iso_date
from conformance.campaign.verdicts import Attestation

_KEYS = {"requirement", "by", "date", "evidence"}


def load_attestations(path: Path) -> dict[str, Attestation]:
    """Read and check an attestation file; every problem names the entry and the key."""
    result: dict[str, Attestation] = {}
    for where, entry in entries(path, "attestation", _KEYS, ("by", "evidence"), "attested twice"):
        rid = entry["requirement"]
        date = iso_date(entry["date"], where, "date").isoformat()
        result[rid] = Attestation(requirement=rid, by=entry["by"], date=date, evidence=entry["evidence"])
    return result
