"""The live progress of `psc-conformance run`: its lines, and how it follows a run directory being written."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conformance.campaign.journal import JOURNAL, PLAN, read_sut_ready, write_sut_ready
from conformance.cli.progress import (
    JournalReader,
    ProgressDisplay,
    Tally,
    counterpart_lines,
    final_line,
    fit,
    format_elapsed,
    rewrite,
    status_line,
    theme_line,
    theme_of,
)
from conformance.counterparts.settings import CounterpartSettings

CONNEXION = "scenarios/consumer/test_connexion.py::test_{}"
SESSION = "scenarios/consumer/test_session.py::test_{}[x]"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tally(planned: list[str], ended: list[tuple[str, str]]) -> Tally:
    tally = Tally()
    tally.plan(planned)
    for nodeid, outcome in ended:
        tally.end(nodeid, outcome)
    return tally


def test_theme_is_the_module_without_its_test_prefix() -> None:
    assert theme_of("scenarios/consumer/test_connexion.py::test_login[a-b]") == "connexion"
    assert theme_of("scenarios/harness/test_test_pki.py::test_chain") == "test_pki"
    assert theme_of("test_jeton.py") == "jeton"


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0:00"), (9.9, "0:09"), (125, "2:05"), (3725, "1:02:05")])
def test_elapsed_reads_as_minutes_and_seconds(seconds: float, shown: str) -> None:
    assert format_elapsed(seconds) == shown


def test_status_line_counts_done_of_total_the_current_theme_and_failures() -> None:
    tally = _tally(
        [CONNEXION.format(1), CONNEXION.format(2), SESSION.format(1)],
        [(CONNEXION.format(1), "failed"), (SESSION.format(1), "passed")],
    )
    assert status_line(tally, 65) == "2/3 scenarios | session | 1 failed | 1:05"
    tally.end(CONNEXION.format(2), "error")
    assert status_line(tally, 66) == "3/3 scenarios | connexion | 2 failed | 1:06"


def test_skipped_inconclusive_and_not_run_are_not_failures() -> None:
    planned = [CONNEXION.format(i) for i in range(3)]
    tally = _tally(planned, list(zip(planned, ["skipped", "inconclusive", "not_run"], strict=True)))
    assert tally.failures == 0
    assert final_line(tally, 3) == "done: 3/3 scenarios | no failure | 0:03"


def test_before_the_plan_the_total_is_unknown() -> None:
    assert status_line(Tally(), 1) == "collecting scenarios... 0:01"
    tally = Tally()
    tally.end(CONNEXION.format(1), "passed")
    assert status_line(tally, 2).startswith("1/? scenarios | connexion")


def test_a_theme_is_complete_once_its_planned_scenarios_have_ended() -> None:
    tally = _tally(
        [CONNEXION.format(1), CONNEXION.format(2), SESSION.format(1)], [(CONNEXION.format(1), "passed")]
    )
    assert not tally.theme_complete("connexion")
    tally.end(CONNEXION.format(2), "passed")
    assert tally.theme_complete("connexion")
    assert not tally.theme_complete("session")
    assert not tally.theme_complete("unplanned")
    assert (
        theme_line("connexion", tally, 5) == "connexion: 2 scenarios done | 2/3 scenarios | no failure | 0:05"
    )


def test_rewrite_returns_to_the_line_start_and_blanks_what_a_longer_line_left() -> None:
    assert rewrite("abc", 5, 80) == "\rabc  "
    assert rewrite("abcdef", 3, 80) == "\rabcdef"
    assert fit("x" * 100, 20) == "x" * 16 + "..."
    assert len(rewrite("x" * 100, 0, 20)) < 21  # never the terminal's last column: no wrap


def test_counterpart_lines_name_each_listener_and_its_setting() -> None:
    settings = CounterpartSettings(host="127.0.0.1", psc_port=9443, api_as_port=0)
    lines = counterpart_lines(settings.url, [("psc_port", 9443), ("api_as_port", 0)])
    assert lines[0] == "counterpart PSC listens on https://127.0.0.1:9443 ([counterparts] psc_port)"
    assert "ephemeral port" in lines[1] and "api_as_port" in lines[1]


def test_sut_ready_marker_round_trips(tmp_path: Path) -> None:
    assert read_sut_ready(tmp_path) is None
    write_sut_ready(tmp_path, "https://sut.example:8443/health")
    assert read_sut_ready(tmp_path) == {"health_url": "https://sut.example:8443/health"}
    assert [p.name for p in tmp_path.iterdir()] == ["sut-ready.json"]  # no scratch file left


def _write_plan(output: Path, nodeids: list[str]) -> None:
    (output / PLAN).write_text(json.dumps({"scenarios": [{"nodeid": n} for n in nodeids]}), encoding="utf-8")


def _append(output: Path, text: str) -> None:
    with (output / JOURNAL).open("a", encoding="utf-8") as journal:
        journal.write(text)


def _record(nodeid: str, outcome: str = "passed") -> str:
    return json.dumps({"nodeid": nodeid, "outcome": outcome}) + "\n"


def test_journal_reader_waits_for_a_torn_line_and_follows_a_truncation(tmp_path: Path) -> None:
    reader = JournalReader(tmp_path)
    assert reader.plan() is None and reader.new_records() == []
    _append(tmp_path, _record("a") + _record("b", "failed")[:10])
    assert reader.new_records() == [("a", "passed")]
    _append(tmp_path, _record("b", "failed")[10:])
    assert reader.new_records() == [("b", "failed")]
    (tmp_path / JOURNAL).write_text(_record("c"), encoding="utf-8")  # shorter: rewritten from the start
    assert reader.new_records() == [("c", "passed")]


def _display(tmp_path: Path, *, tty: bool) -> tuple[ProgressDisplay, io.StringIO, FakeClock]:
    stream, clock = io.StringIO(), FakeClock()
    return ProgressDisplay(tmp_path, stream, tty=tty, width=60, clock=clock), stream, clock


def test_on_a_terminal_one_line_is_rewritten_then_ended_by_a_newline(tmp_path: Path) -> None:
    display, stream, clock = _display(tmp_path, tty=True)
    _write_plan(tmp_path, [CONNEXION.format(1), SESSION.format(1)])
    display.tick()
    _append(tmp_path, _record(CONNEXION.format(1), "failed"))
    display.tick()  # within the poll interval: nothing read yet
    clock.now += 1
    display.tick()
    write_sut_ready(tmp_path, "https://sut/health")  # a line of its own, the progress line drawn again
    _append(tmp_path, _record(SESSION.format(1)))
    clock.now += 1
    display.finish()
    out = stream.getvalue()
    assert out.count("\n") == 2 and out.endswith("\n")
    assert out[:-1].rsplit("\r", 1)[-1].rstrip() == "done: 2/2 scenarios | 1 failed | 0:02"
    assert "\r0/2 scenarios | starting | no failure | 0:00" in out
    assert "\r1/2 scenarios | connexion | 1 failed | 0:01" in out
    assert "the SUT answered its health check (https://sut/health)\n" in out
    assert "scenarios done" not in out  # no per-theme lines on a terminal


def test_in_ci_a_line_per_finished_theme_and_a_final_line(tmp_path: Path) -> None:
    display, stream, clock = _display(tmp_path, tty=False)
    _write_plan(tmp_path, [CONNEXION.format(1), CONNEXION.format(2), SESSION.format(1)])
    for nodeid in (CONNEXION.format(1), SESSION.format(1), CONNEXION.format(2)):
        _append(tmp_path, _record(nodeid))
        clock.now += 1
        display.tick()
        display.tick()
    display.finish()
    assert stream.getvalue().splitlines() == [
        "session: 1 scenarios done | 2/3 scenarios | no failure | 0:02",
        "connexion: 2 scenarios done | 3/3 scenarios | no failure | 0:03",
        "done: 3/3 scenarios | no failure | 0:03",
    ]


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_stream_that_cannot_be_written_silences_the_display_without_raising(tmp_path: Path) -> None:
    stream = ClosedPipe()
    display = ProgressDisplay(tmp_path, stream, tty=True, clock=FakeClock())
    _write_plan(tmp_path, [CONNEXION.format(1)])
    display.tick()  # would stop the campaign's supervision if it raised
    _append(tmp_path, _record(CONNEXION.format(1)))
    display.finish()
    assert display.tally.done == 0  # nothing more was even read once the stream failed
