"""The pieces that let scenarios of one campaign run at the same time: scheduling, attribution, bounds."""

from __future__ import annotations

import threading
import time

import pytest

from conformance.campaign.concurrency import (
    Scheduler,
    Sharing,
    WorkerLink,
    _start_one_by_one,
    thread_time_bound,
)
from conformance.counterparts.observations import Observation
from conformance.evidence import EvidenceRecorder, Exchange
from conformance.evidence.model import TO_HARNESS, TO_SUT
from conformance.evidence.scenario import ScenarioRegistry
from conformance.roles.shared.scenario_scope import ScenarioScope


def _drain(scheduler: Scheduler, workers: int, work_s: float) -> list[tuple[str, float, float]]:
    """Run the scheduler's groups on `workers` threads; (first node id, start, end) of each group."""
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def work() -> None:
        while (group := scheduler.take()) is not None:
            start = time.monotonic()
            time.sleep(work_s)
            with lock:
                spans.append((group[0], start, time.monotonic()))
            scheduler.done(group)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return spans


def test_exclusive_groups_run_alone_and_the_others_together() -> None:
    groups = [(f"s{n}",) for n in range(6)]
    spans = _drain(Scheduler(groups, {"s1": Sharing.WHOLE, "s4": Sharing.WHOLE}), workers=4, work_s=0.05)
    assert sorted(s[0] for s in spans) == [f"s{n}" for n in range(6)]
    by_id = {name: (start, end) for name, start, end in spans}
    for alone in ("s1", "s4"):
        start, end = by_id[alone]
        overlapping = [n for n, (s, e) in by_id.items() if n != alone and s < end and e > start]
        assert overlapping == [], f"{alone} overlapped {overlapping}"
    shared = [by_id[n] for n in ("s0", "s2", "s3", "s5")]
    assert max(s for s, _ in shared) < min(e for _, e in shared), "the shared scenarios did not overlap"


def test_exclusive_groups_are_handed_out_first() -> None:
    scheduler = Scheduler([("a",), ("b",), ("c",)], {"c": Sharing.WHOLE})
    first = scheduler.take()
    assert first == ("c",)
    scheduler.done(first)
    assert scheduler.take() == ("a",)


def test_the_longest_declared_wait_starts_first_after_the_exclusive_groups() -> None:
    scheduler = Scheduler(
        [("short",), ("plain",), ("idle",), ("x",)], {"x": Sharing.SECTIONED}, waiting=["short", "idle"]
    )
    scheduler.prioritize({"idle": 5.0, "short": 2.0, "plain": 9.0})  # "plain" does not wait: no effect
    taken = []
    while (group := scheduler.take()) is not None:
        taken.append(group[0])
        scheduler.done(group)
    assert taken == ["x", "idle", "short", "plain"]


def test_sections_enter_in_the_order_their_groups_started() -> None:
    """A group that arranged longer (a login) reaches its door last but started first: it goes first."""
    scheduler = Scheduler([("slow",), ("quick",)], {"slow": Sharing.SECTIONED, "quick": Sharing.SECTIONED})
    order: list[str] = []

    def work(arranging_s: float) -> None:
        group = scheduler.take()
        assert group is not None
        time.sleep(arranging_s)
        with scheduler.alone(group):
            order.append(group[0])
        scheduler.done(group)

    threads = [threading.Thread(target=work, args=(0.2,))]
    threads[0].start()
    time.sleep(0.05)  # "slow" is taken first
    threads.append(threading.Thread(target=work, args=(0.0,)))
    threads[1].start()
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["slow", "quick"]


def test_nothing_starts_before_the_scheduler_is_opened() -> None:
    """The workers collect while the campaign brings its SUT up: no scenario starts before it is up."""
    scheduler = Scheduler([("a",)], opened=False)
    taken: list[tuple[str, ...] | None] = []
    worker = threading.Thread(target=lambda: taken.append(scheduler.take()))
    worker.start()
    worker.join(timeout=0.3)
    assert worker.is_alive() and taken == []
    scheduler.open()
    worker.join(timeout=5)
    assert taken == [("a",)]


def test_stop_returns_what_never_started() -> None:
    scheduler = Scheduler([("a", "a2"), ("b",)])
    assert scheduler.take() == ("a", "a2")
    assert scheduler.stop() == ["b"]
    assert scheduler.take() is None


def test_all_started_once_every_group_is_handed_out() -> None:
    """What the campaign waits for before redacting its evidence ahead: nothing left to start."""
    scheduler = Scheduler([("a",), ("b",)])
    assert not scheduler.all_started
    first = scheduler.take()
    assert first is not None and not scheduler.all_started
    assert scheduler.take() is not None and scheduler.all_started


def test_workers_start_one_by_one_as_each_has_collected() -> None:
    """Started together, worker sessions share one interpreter lock and are all ready late; each starts
    once the previous one has collected (or after a bound, if it never says so)."""
    link = WorkerLink(campaign=None, scheduler=Scheduler([("a",)]), coordinator=None)  # type: ignore[arg-type]
    started: list[int] = []
    threads = [threading.Thread(target=started.append, args=(n,)) for n in range(3)]
    starter = threading.Thread(target=_start_one_by_one, args=(threads, link))
    starter.start()
    time.sleep(0.3)
    assert started == [0]  # the second waits for the first's collection
    link.collected.release()
    time.sleep(0.3)
    assert started == [0, 1]
    link.collected.release()
    starter.join(timeout=5)
    assert started == [0, 1, 2] and not starter.is_alive()


class _Overran(Exception):
    pass


def test_a_worker_thread_scenario_is_interrupted_at_its_bound() -> None:
    caught: list[BaseException] = []

    def scenario() -> None:
        try:
            with thread_time_bound(0.2, _Overran, "s1 exceeded its 0.2 s bound"):
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    time.sleep(0.01)
        except _Overran as exc:
            caught.append(exc)

    thread = threading.Thread(target=scenario)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=5)
    assert caught and "exceeded its 0.2 s bound" in str(caught[0])
    assert time.monotonic() - started < 2


def test_a_bound_that_is_not_reached_raises_nothing() -> None:
    with thread_time_bound(0.2, _Overran, "never"):
        time.sleep(0.01)
    time.sleep(0.3)  # past the bound: the cancelled timer must not fire into this thread


def _served(recorder: EvidenceRecorder, subjects: list[str]) -> Exchange | None:
    class _Request:  # what a counterpart hands the observer: only what attribution reads
        pass

    request = _Request()
    request.subjects = subjects  # type: ignore[attr-defined]
    owner = recorder.scenarios.owner_of(subjects)
    exchange_id = recorder.record(
        Exchange(
            id="",
            counterpart="psc",
            direction=TO_HARNESS,
            method="POST",
            url="https://psc/x",
            started_at=time.time(),
            scenario=owner,
            shared=owner is None,
        )
    )
    return recorder.get(exchange_id)


def test_counterpart_traffic_belongs_to_the_scenario_that_claimed_its_subject() -> None:
    recorder = EvidenceRecorder()
    registry = recorder.scenarios
    results: dict[str, str | None] = {}

    def scenario(nodeid: str, national_id: str) -> None:
        recorder.set_scenario(nodeid)
        registry.claim(national_id, f"sub-{national_id}")
        results[nodeid] = registry.current()
        recorder.set_scenario(None)

    threads = [threading.Thread(target=scenario, args=(f"t::s{n}", f"8999{n:08d}")) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"t::s0": "t::s0", "t::s1": "t::s1"}
    mine = _served(recorder, ["sub-899900000001"])
    assert mine is not None and mine.scenario == "t::s1" and not mine.shared
    nobody = _served(recorder, [])
    assert nobody is not None and nobody.shared


def test_a_scenario_judges_its_own_traffic_its_group_and_what_concerns_nobody() -> None:
    recorder = EvidenceRecorder()
    recorder.scenarios.group(["m::a", "m::b"])

    def exchange(scenario: str | None, shared: bool = False) -> str:
        return recorder.record(
            Exchange(
                id="",
                counterpart="sut",
                direction=TO_SUT,
                method="GET",
                url="https://sut/",
                started_at=0.0,
                scenario=scenario,
                shared=shared,
            )
        )

    own, sibling, other, common = exchange("m::a"), exchange("m::b"), exchange("x::c"), exchange(None, True)
    scope = ScenarioScope(recorder, recorder.scenarios.scope_of("m::a"))
    kept = {e.id for e in scope.exchanges(recorder.exchanges())}
    assert kept == {own, sibling, common}
    observed = [
        Observation("psc", "ciba.received", None, "", exchange_id=other),
        Observation("psc", "ciba.received", None, "", exchange_id=own),
        Observation("psc", "metadata.jwks", None, ""),
    ]
    assert [o.exchange_id for o in scope.observations(observed)] == [own, None]


def test_a_subject_claimed_by_another_scenario_is_not_mine() -> None:
    recorder = EvidenceRecorder()
    recorder.scenarios.claim("899900000001", nodeid="x::other")
    recorder.scenarios.claim("899900000002", nodeid="m::a")
    scope = ScenarioScope(recorder, frozenset({"m::a"}))
    assert not scope.subject_is_mine("899900000001")
    assert scope.subject_is_mine("899900000002")
    assert scope.subject_is_mine("not-claimed")


def test_sole_running_scenario_owns_unattributed_traffic() -> None:
    registry = ScenarioRegistry()
    registry.enter("t::only")
    assert registry.sole_running() == "t::only"
    registry.leave()
    assert registry.sole_running() is None


@pytest.mark.parametrize("jobs", [1, 4])
def test_scheduler_runs_every_group_once(jobs: int) -> None:
    groups = [(f"g{n}", f"g{n}b") for n in range(10)]
    spans = _drain(Scheduler(groups, {"g3b": Sharing.WHOLE}), workers=jobs, work_s=0.001)
    assert sorted(s[0] for s in spans) == sorted(g[0] for g in groups)


@pytest.mark.parametrize("workers", [5, 2])
def test_sections_of_exclusive_scenarios_never_overlap_any_other_activity(workers: int) -> None:
    """SECTIONED groups arrange together; each one's section runs while every other running group waits
    at its own section's door (with fewer workers than groups, one starts only between sections); shared
    groups start only once the exclusive ones are done."""
    sharing = {f"x{n}": Sharing.SECTIONED for n in range(4)}
    scheduler = Scheduler([*[(f"x{n}",) for n in range(4)], ("shared",)], sharing)
    events: list[tuple[float, float, str]] = []  # (start, end, what)
    lock = threading.Lock()

    def activity(what: str, seconds: float) -> None:
        start = time.monotonic()
        time.sleep(seconds)
        with lock:
            events.append((start, time.monotonic(), what))

    def work() -> None:
        while (group := scheduler.take()) is not None:
            name = group[0]
            activity(f"{name} arranging", 0.05)
            if name.startswith("x"):
                with scheduler.alone(group):
                    activity(f"{name} section", 0.03)
            scheduler.done(group)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    sections = [e for e in events if e[2].endswith("section")]
    assert len(sections) == 4
    for start, end, what in sections:
        others = [w for s, e, w in events if w != what and s < end and e > start]
        assert others == [], f"{what} overlapped {others}"
    arranging = [e for e in events if e[2].startswith("x") and e[2].endswith("arranging")]
    if workers >= len(arranging):
        assert max(s for s, _, _ in arranging) < min(e for _, e, _ in arranging), "arranging did not overlap"
    shared_start = next(s for s, _, w in events if w == "shared arranging")
    assert shared_start >= max(e for _, e, w in events if w.startswith("x"))
