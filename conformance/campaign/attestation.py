"""The attestation file: declarations that turn `manual` requirements into `attested`.

TOML, one table per declaration::

    [[attestation]]
    requirement = "EXI PSC 01"
    by = "Jeanne Martin, RSSI, Éditeur Exemple"
    date = 2026-11-20
    evidence = "Extrait Kbis du 2026-10-02, pièce 3 du dossier de raccordement"
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

from conformance.campaign.verdicts import Attestation
from conformance.errors import UsageError
from conformance.requirements import requirement_index

_KEYS = {"requirement", "by", "date", "evidence"}


def load_attestations(path: Path) -> dict[str, Attestation]:
    """Read and check an attestation file; every problem names the entry and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"attestation file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    extra = set(data) - {"attestation"}
    if extra:
        raise UsageError(f"{path}: unknown top-level key(s) {sorted(extra)}; only [[attestation]] tables")
    entries = data.get("attestation", [])
    if not isinstance(entries, list):
        raise UsageError(f"{path}: 'attestation' must be an array of tables ([[attestation]])")
    known = requirement_index()
    result: dict[str, Attestation] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: attestation #{number}"
        unknown = set(entry) - _KEYS
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        missing = _KEYS - set(entry)
        if missing:
            raise UsageError(f"{where}: missing key(s) {sorted(missing)}")
        rid = entry["requirement"]
        if rid not in known:
            raise UsageError(f"{where}: unknown requirement id {rid!r} (see `psc-conformance requirements`)")
        if rid in result:
            raise UsageError(f"{where}: {rid} is attested twice")
        date = entry["date"]
        if isinstance(date, dt.datetime | dt.date):
            date = date.isoformat()
        else:
            try:
                date = dt.date.fromisoformat(str(date)).isoformat()
            except ValueError:
                raise UsageError(f"{where}: date {date!r} is not an ISO date (YYYY-MM-DD)") from None
        for key in ("by", "evidence"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise UsageError(f"{where}: '{key}' must be a non-empty string")
        result[rid] = Attestation(requirement=rid, by=entry["by"], date=date, evidence=entry["evidence"])
    return result
