"""Live progress of `psc-conformance run` on stderr, read from the files the campaign writes as it goes.

The campaign runs in a pytest process whose output goes to `pytest.log`: the parent follows the plan
(`scenarios.planned.json`, written once collection ends) and the journal (`scenarios.jsonl`, a line per
scenario as it ends) instead, so that pytest's output stays untouched and the display cannot disturb the
campaign. On a terminal one line is rewritten in place (as pytest users expect of a progress bar); in CI
(stderr not a terminal) a line per finished theme, so that a job's log stays short and readable. No colour
and no escape sequence is ever written: `NO_COLOR` and dumb terminals are honoured by construction.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

from conformance.campaign.journal import JOURNAL, PLAN, read_sut_ready

FAILED_OUTCOMES: Final = frozenset({"failed", "error"})
POLL_S: Final = 0.25  # how often the files are read: fast enough to look live, cheap for the campaign
_COUNTERPART_NAMES: Final = {"psc_port": "PSC", "api_as_port": "API authorization server", "api_port": "API"}


def theme_of(nodeid: str) -> str:
    """The theme of a scenario: its module's name without `test_` (`…/test_connexion.py::x` → connexion)."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removesuffix(".py").removeprefix("test_")


@dataclass
class Tally:
    """What the campaign has done so far, as its plan and journal tell."""

    planned: Counter[str] = field(default_factory=Counter)  # scenarios by theme; empty until the plan
    ended: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    theme: str = ""  # the theme of the last scenario that ended
    has_plan: bool = False

    @property
    def total(self) -> int | None:
        return sum(self.planned.values()) if self.has_plan else None

    @property
    def done(self) -> int:
        return sum(self.ended.values())

    def plan(self, nodeids: Iterable[str]) -> None:
        self.planned = Counter(theme_of(n) for n in nodeids)
        self.has_plan = True

    def end(self, nodeid: str, outcome: str) -> str:
        """Count one ended scenario; returns its theme."""
        theme = theme_of(nodeid)
        self.ended[theme] += 1
        self.failures += outcome in FAILED_OUTCOMES
        self.theme = theme
        return theme

    def theme_complete(self, theme: str) -> bool:
        return self.planned[theme] > 0 and self.ended[theme] >= self.planned[theme]


def format_elapsed(seconds: float) -> str:
    """`m:ss` (or `h:mm:ss`), as a campaign of two minutes or two hours reads at a glance."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _counts(tally: Tally) -> str:
    total = tally.total
    return f"{tally.done}/{total if total is not None else '?'} scenarios"


def _failures(tally: Tally) -> str:
    return f"{tally.failures} failed" if tally.failures else "no failure"


def status_line(tally: Tally, elapsed_s: float) -> str:
    """The terminal's single line: done/total, current theme, failures so far, elapsed time."""
    if not tally.has_plan and not tally.done:
        return f"collecting scenarios... {format_elapsed(elapsed_s)}"
    parts = [_counts(tally), tally.theme or "starting", _failures(tally), format_elapsed(elapsed_s)]
    return " | ".join(parts)


def theme_line(theme: str, tally: Tally, elapsed_s: float) -> str:
    """CI's line for a finished theme, with where the whole campaign stands."""
    return (
        f"{theme}: {tally.ended[theme]} scenarios done | {_counts(tally)} | {_failures(tally)} | "
        f"{format_elapsed(elapsed_s)}"
    )


def final_line(tally: Tally, elapsed_s: float) -> str:
    return f"done: {_counts(tally)} | {_failures(tally)} | {format_elapsed(elapsed_s)}"


def fit(line: str, width: int) -> str:
    """`line` cut to leave the terminal's last column free (writing there wraps on some terminals)."""
    return line if len(line) < width else line[: max(width - 4, 1)] + "..."


def rewrite(line: str, previous_length: int, width: int) -> str:
    """Overwrite the terminal's current line with `line` (cut to `width`): a carriage return, the line,
    and spaces over what remains of a longer previous one (no escape sequence, so TERM=dumb works)."""
    fitted = fit(line, width)
    return "\r" + fitted + " " * max(previous_length - len(fitted), 0)


def counterpart_lines(host_url: Callable[[int], str], ports: Iterable[tuple[str, int]]) -> list[str]:
    """Where each counterpart of an external campaign listens (`ports`: [counterparts] key and port)."""
    lines = []
    for key, port in ports:
        where = host_url(port) if port else "an ephemeral port (the SUT cannot be configured with it)"
        name = _COUNTERPART_NAMES.get(key, key)
        lines.append(f"counterpart {name} listens on {where} ([counterparts] {key})")
    return lines


class JournalReader:
    """The plan once written, and the journal's new whole lines at each read (a torn last line waits)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self._offset = 0
        self._tail = b""

    def plan(self) -> list[str] | None:
        try:
            document = json.loads((self.output / PLAN).read_text(encoding="utf-8"))
            return [entry["nodeid"] for entry in document["scenarios"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def new_records(self) -> list[tuple[str, str]]:
        """(nodeid, outcome) of the scenarios ended since the last read."""
        try:
            with (self.output / JOURNAL).open("rb") as journal:
                if os.fstat(journal.fileno()).st_size < self._offset:  # emptied as collection ended
                    self._offset, self._tail = 0, b""
                journal.seek(self._offset)
                chunk = journal.read()
        except OSError:
            return []
        self._offset += len(chunk)
        *lines, self._tail = (self._tail + chunk).split(b"\n")
        records = []
        for line in lines:
            try:
                data = json.loads(line)
                records.append((str(data["nodeid"]), str(data["outcome"])))
            except (ValueError, KeyError, TypeError):
                continue
        return records


class ProgressDisplay:
    """Follows a campaign's run directory and writes its progress to `stream`; `tick()` from a wait loop."""

    def __init__(
        self,
        output: Path,
        stream: TextIO,
        *,
        tty: bool,
        width: int = 80,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = tty
        self.width = width
        self.clock = clock
        self.tally = Tally()
        self._reader = JournalReader(output)
        self._started = clock()
        self._last_poll: float | None = None
        self._shown = ""  # the terminal line as last drawn
        self._announced: set[str] = set()  # CI: themes already given their line
        self._sut_ready = False
        self._broken = False  # stderr could not be written: nothing more is tried

    def say(self, line: str) -> None:
        """A line of its own (above the terminal's progress line, which is drawn again next tick)."""
        if self.tty and self._shown:
            self.stream.write(rewrite("", len(self._shown), self.width) + "\r")
            self._shown = ""
        self.stream.write(line + "\n")
        self.stream.flush()

    def tick(self) -> None:
        """Read what the campaign wrote since the last poll and show it. Never raises: a closed or full
        stderr (a pipe to `head`) silences the display, and must not stop the campaign it watches."""
        if self._broken:
            return
        try:
            self._tick()
        except (OSError, ValueError):  # ValueError: a closed stream
            self._broken = True

    def _tick(self) -> None:
        now = self.clock()
        if self._last_poll is not None and now - self._last_poll < POLL_S:
            return
        self._last_poll = now
        self._read()
        elapsed = now - self._started
        if self.tty:
            self._draw(status_line(self.tally, elapsed))
            return
        for theme in sorted(t for t in self.tally.ended if t not in self._announced):
            if self.tally.theme_complete(theme):
                self._announced.add(theme)
                self.say(theme_line(theme, self.tally, elapsed))

    def finish(self) -> None:
        """The last read and the final line (a newline ends the terminal's updating line)."""
        if self._broken:
            return
        self._last_poll = None
        self.tick()
        try:
            self._finish()
        except (OSError, ValueError):
            self._broken = True

    def _finish(self) -> None:
        line = final_line(self.tally, self.clock() - self._started)
        if self.tty:
            self._draw(line)
            self.stream.write("\n")
            self.stream.flush()
            self._shown = ""
        else:
            self.say(line)

    def _read(self) -> None:
        if not self.tally.has_plan and (nodeids := self._reader.plan()) is not None:
            self.tally.plan(nodeids)
        if not self._sut_ready and (ready := read_sut_ready(self._reader.output)) is not None:
            self._sut_ready = True
            self.say(f"the SUT answered its health check ({ready.get('health_url', '?')})")
        for nodeid, outcome in self._reader.new_records():
            self.tally.end(nodeid, outcome)

    def _draw(self, line: str) -> None:
        if line == self._shown:
            return
        self.stream.write(rewrite(line, len(self._shown), self.width))
        self.stream.flush()
        self._shown = fit(line, self.width)


__all__ = [
    "JournalReader",
    "ProgressDisplay",
    "Tally",
    "counterpart_lines",
    "final_line",
    "fit",
    "format_elapsed",
    "rewrite",
    "status_line",
    "theme_line",
    "theme_of",
]
