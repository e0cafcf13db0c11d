"""Files of declarations keyed by requirement (attestations, waivers): one reader, precise errors.

Each file is TOML with one kind of table (`[[attestation]]`, `[[waiver]]`); every entry names a known
requirement once, has exactly the allowed keys, and non-empty text where text is due. The person
reading an error is rarely the person who wrote the file: each message names the entry and the key.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.requirements import requirement_index


def entries(
    path: Path, table: str, keys: Collection[str], text_keys: Collection[str], twice: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, entry) for each checked `[[table]]` of `path`; `twice` words a repeated requirement
    ("attested twice")."""
    known = requirement_index()
    seen: set[str] = set()
    for number, entry in enumerate(_tables(path, table), start=1):
        where = f"{path}: {table} #{number}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: must be a table ([[{table}]])")
        unknown, missing = set(entry) - set(keys), set(keys) - set(entry)
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(keys)}")
        if missing:
            raise UsageError(f"{where}: missing key(s) {sorted(missing)}")
        for key in text_keys:
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise UsageError(f"{where}: '{key}' must be a non-empty string")
        rid = entry["requirement"]
        if rid not in known:
            raise UsageError(f"{where}: unknown requirement id {rid!r} (see `psc-conformance requirements`)")
        if rid in seen:
            raise UsageError(f"{where}: {rid} is {twice}")
        seen.add(rid)
        yield where, entry


def iso_date(value: object, where: str, key: str) -> dt.date:
    """A day (TOML date or "YYYY-MM-DD"); a date and time is refused: these are days, not hours."""
    if isinstance(value, dt.datetime):
        raise UsageError(f"{where}: '{key}' must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{where}: '{key}' {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _tables(path: Path, table: str) -> list[Any]:
    kind = f"{table} file"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{kind} not found: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {kind} {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    extra = set(data) - {table}
    if extra:
        raise UsageError(f"{path}: unknown top-level key(s) {sorted(extra)}; only [[{table}]] tables")
    found = data.get(table, [])
    if not isinstance(found, list):
        raise UsageError(f"{path}: '{table}' must be an array of tables ([[{table}]])")
    return found
