"""The waiver file (dérogations): failures a vendor accepts for a time, each justified, owned and dated.

TOML, one table per waiver::

    [[waiver]]
    requirement = "IG-SEC-19"
    justification = "Durée de vie de 30 min imposée par notre RSSI ; revue au T2"
    owner = "Jeanne Martin, RSSI"
    expires = 2027-06-30

A waiver never changes a verdict: a waived `fail` stays `fail`, visible to the auditor. It only
decides whether that failure makes `psc-conformance run` exit 1, and it is judged in turn, so that
a stale one cannot hide anything: `expired` past its date (it then waives nothing), `unused` when
its requirement did not fail (it should be withdrawn).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from conformance.campaign.declarations import entries, iso_date
from conformance.campaign.verdicts import Verdict

TABLE = "waiver"
_TEXT_KEYS = ("requirement", "justification", "owner")
_KEYS = frozenset({*_TEXT_KEYS, "expires"})
# What a waiver can waive: a failure, of a requirement (`fail`) or of a recommendation (`warning`).
WAIVABLE = frozenset({Verdict.FAIL.value, Verdict.WARNING.value})


class WaiverState(StrEnum):
    ACTIVE = "active"  # in force, and its requirement failed: the failure does not fail the run
    EXPIRED = "expired"  # past its date: it waives nothing, the failure counts
    UNUSED = "unused"  # its requirement did not fail: the waiver should be withdrawn


@dataclass(frozen=True)
class Waiver:
    requirement: str
    justification: str
    owner: str
    expires: dt.date

    def state(self, verdict: str, run_date: dt.date) -> WaiverState:
        """Expiry first: a waiver past its date is flagged as such whatever the verdict."""
        if self.expires < run_date:
            return WaiverState.EXPIRED
        return WaiverState.ACTIVE if verdict in WAIVABLE else WaiverState.UNUSED

    def entry(self, verdict: str, run_date: dt.date) -> dict[str, str]:
        """The requirement entry's `waiver` in results.json."""
        return {
            "justification": self.justification,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "state": self.state(verdict, run_date).value,
        }


def load_waivers(path: Path) -> dict[str, Waiver]:
    """Read and check a waiver file; every problem names the entry and the key."""
    waivers: dict[str, Waiver] = {}
    for where, entry in entries(path, TABLE, _KEYS, _TEXT_KEYS, "waived twice"):
        rid = entry["requirement"]
        waivers[rid] = Waiver(
            requirement=rid,
            justification=entry["justification"].strip(),
            owner=entry["owner"].strip(),
            expires=iso_date(entry["expires"], where, "expires"),
        )
    return waivers


def run_date(started_at: str) -> dt.date:
    """The day (UTC) a campaign started: what a waiver's expiry is compared with."""
    moment = dt.datetime.fromisoformat(started_at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


def apply_waivers(
    requirements: Iterable[MutableMapping[str, Any]], waivers: Mapping[str, Waiver], on: dt.date
) -> int:
    """Add its `waiver` to each waived requirement entry; return how many failures are actively waived.

    A waiver for a requirement absent from the entries (a catalogue left out) has nothing to attach to.
    """
    waived = 0
    for requirement in requirements:
        waiver = waivers.get(requirement["id"])
        if waiver is not None:
            requirement["waiver"] = waiver.entry(requirement["verdict"], on)
            waived += requirement["waiver"]["state"] == WaiverState.ACTIVE
    return waived


def is_actively_waived(requirement: Mapping[str, Any]) -> bool:
    waiver = requirement.get("waiver")
    return isinstance(waiver, Mapping) and waiver.get("state") == WaiverState.ACTIVE.value


def unwaived_failures(requirements: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the requirements that fail with no active waiver: what makes a run exit 1."""
    return [r["id"] for r in requirements if r["verdict"] == Verdict.FAIL.value and not is_actively_waived(r)]


__all__ = [
    "WAIVABLE",
    "Waiver",
    "WaiverState",
    "apply_waivers",
    "is_actively_waived",
    "load_waivers",
    "run_date",
    "unwaived_failures",
]
