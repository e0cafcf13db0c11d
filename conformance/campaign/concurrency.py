"""Scenarios of one campaign at the same time, against one SUT and one set of counterparts.

A campaign's time goes to timers (CIBA intervals, token expiries, idle timeouts, stalled upstreams), not
to work: run one after another, scenarios add their waits up. Here each *worker* is a pytest session of
its own, in a thread of the campaign process, so that fixtures, their caches and their teardown stay
per scenario as pytest means them to (one session cannot run two items at once). The workers share what
the campaign brought up once (PKI, counterparts, the SUT, the evidence, the records) through the
`Campaign` object, and take scenarios from one `Scheduler`:

- a scenario marked `exclusive` (it switches a counterpart's shared state, e.g. a listener's TLS mode)
  runs alone: it starts when nothing else runs, and nothing starts while it runs;
- every other scenario runs alongside the others; its traffic is told apart by the test identities it
  claimed (`conformance.evidence.scenario`).

The coordinating session (the one `psc-conformance run` started) runs no scenario itself: it receives the
workers' reports, so junit.xml, the exit status and pytest's summary cover the whole campaign.
"""

from __future__ import annotations

import ast
import ctypes
import enum
import os
import shlex
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from conformance.campaign.pytest_options import UNUSED_PLUGIN_OPTIONS

EXCLUSIVE_MARKER = "exclusive"
WAITS_MARKER = "waits"  # the scenario waits on the SUT's timers: started first, its wait overlaps others
ALONE_FIXTURE = "alone"  # an exclusive scenario that asks for it switches shared state in sections only
MAX_DEFAULT_JOBS = 16
INTERRUPT_GRACE_S = 3.0  # how long interrupted workers get to end their scenarios
# A waiting worker wakes this often: a scenario's time bound (an asynchronous exception) only lands in a
# thread that runs Python, never in one blocked on a lock, so no wait here may be unbounded.
WAKE_S = 0.5
# The next worker session starts when the previous one has collected, or after this long at most.
WORKER_START_PACE_S = 2.0


def default_jobs(*, real_timers: bool = False) -> int:
    """Scenarios mostly wait on timers. Against an embedded SUT (timers of a tenth of a second) the
    campaign is CPU-bound: four per core (each worker session costs some CPU to start). Against an
    external SUT (PSC's interval, the SUT's own timeouts: seconds) it is wait-bound: eight per core. At
    least 2, at most 16 so a SUT is not flooded."""
    per_core = 8 if real_timers else 4
    return max(2, min(MAX_DEFAULT_JOBS, per_core * (os.cpu_count() or 1)))


def is_exclusive(item: pytest.Item) -> bool:
    return item.get_closest_marker(EXCLUSIVE_MARKER) is not None


class Sharing(enum.Enum):
    """How a group of scenarios may overlap others."""

    SHARED = "shared"  # alongside any shared group
    SECTIONED = "sectioned"  # exclusive, switching shared state only inside `alone()` sections
    WHOLE = "whole"  # exclusive from start to end


def sharing_of(item: pytest.Item) -> Sharing:
    if not is_exclusive(item):
        return Sharing.SHARED
    return Sharing.SECTIONED if ALONE_FIXTURE in getattr(item, "fixturenames", ()) else Sharing.WHOLE


Group = tuple[str, ...]  # node ids that run in one worker, in order
Alone = Callable[[], AbstractContextManager[None]]  # what the `alone` fixture gives a scenario


def groups_of(items: Iterable[pytest.Item]) -> list[Group]:
    """Scenarios that share a fixture wider than one scenario (a module's journey, say) run together, in
    order, in one worker, so that fixture is built once as pytest means it; every other is its own group."""
    groups: dict[str, list[str]] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        shared = any(d.scope in ("module", "class", "package") for defs in definitions for d in defs)
        key = item.nodeid.split("::", 1)[0] if shared else item.nodeid
        groups.setdefault(key, []).append(item.nodeid)
    return [tuple(nodeids) for nodeids in groups.values()]


class Scheduler:
    """Hands groups of scenarios to workers, in order, and keeps exclusive ones from sharing state.

    A WHOLE group runs with nothing else. SECTIONED groups run alongside one another (their arranging
    overlaps; one starts only between sections) but no shared group runs meanwhile, and each one's
    `alone()` sections run while every other running group waits at the door of its own section. Shared
    groups run together. Exclusive groups go first: their sections are short, and a transport failure
    shows early. Within each kind, the groups that wait on the SUT's timers (`waits` marker) go first.
    """

    def __init__(
        self,
        groups: Iterable[Group],
        sharing: dict[str, Sharing] | None = None,
        waiting: Iterable[str] = (),
        *,
        opened: bool = True,
    ) -> None:
        # Groups that wait on timers go first within their kind: the campaign then lasts about as long
        # as its longest wait instead of that wait plus whatever was queued before it.
        self._waits = frozenset(waiting)
        marks = sharing or {}
        self._sharing = {g: _group_sharing(g, marks) for g in groups}
        self._pending = deque(sorted(self._sharing, key=self._rank))
        self._running: set[Group] = set()
        self._parked: set[Group] = set()  # waiting to enter an `alone()` section
        self._started: dict[Group, int] = {}  # in the order groups started: their sections' order
        self._holder: Group | None = None  # in an `alone()` section
        self._open = opened  # when not: nothing starts before the campaign's bring-up is done (`open`)
        self._stopped = False
        self._condition = threading.Condition()
        self._group_of = {nodeid: g for g in self._sharing for nodeid in g}

    def _rank(self, group: Group, weights: Mapping[str, float] | None = None) -> tuple[bool, bool, float]:
        """Exclusive groups first, then those that wait, the longest wait first (stable otherwise)."""
        weight = max((weights or {}).get(nodeid, 0.0) for nodeid in group)
        return self._sharing[group] is Sharing.SHARED, not self._waits.intersection(group), -weight

    def prioritize(self, weights: Mapping[str, float]) -> None:
        """Order the groups still pending by how long they wait (seconds, by node id; e.g. the SUT's
        declared idle timeout for the scenario that waits it out), once the SUT's settings are known."""
        with self._condition:
            self._pending = deque(sorted(self._pending, key=lambda g: self._rank(g, weights)))

    def group_of(self, nodeid: str) -> Group:
        return self._group_of.get(nodeid, (nodeid,))

    def _may_start(self, group: Group) -> bool:
        running = {self._sharing[g] for g in self._running}
        match self._sharing[group]:
            case Sharing.WHOLE:
                return not running
            case Sharing.SECTIONED:
                # Not while a section is under way: what the group arranges before its own section (a
                # session opened) must not meet the shared state that section switched.
                return running <= {Sharing.SECTIONED} and self._holder is None
            case Sharing.SHARED:
                return running <= {Sharing.SHARED}

    def open(self) -> None:
        """Let scenarios start: the shared resources are up (the workers collected meanwhile)."""
        with self._condition:
            self._open = True
            self._condition.notify_all()

    def take(self) -> Group | None:
        """The next group this worker may start (waiting until it may), or None when none is left."""
        with self._condition:
            while True:
                if self._stopped or not self._pending:
                    return None
                head = self._pending[0]
                if self._open and self._may_start(head):
                    self._pending.popleft()
                    self._running.add(head)
                    self._started[head] = len(self._started)
                    return head
                self._condition.wait(WAKE_S)

    def done(self, group: Group) -> None:
        with self._condition:
            self._running.discard(group)
            self._parked.discard(group)
            if self._holder == group:
                self._holder = None
            self._condition.notify_all()

    @contextmanager
    def alone(self, group: Group) -> Iterator[None]:
        """A section of `group` during which no other scenario does anything: each other running group is
        finished, or waiting to enter a section of its own. Waiting sections enter in the order their
        groups started: those that arranged something perishable before (a session that could idle out)
        started first (`waits`), so they are not held behind the sections that arranged nothing."""
        with self._condition:
            self._parked.add(group)
            self._condition.notify_all()
            while not (
                self._holder is None
                and self._running - self._parked <= set()
                and group == min(self._parked, key=lambda g: self._started.get(g, 0))
            ):
                self._condition.wait(WAKE_S)
            self._parked.discard(group)
            self._holder = group
        try:
            yield
        finally:
            with self._condition:
                self._holder = None
                self._condition.notify_all()

    @property
    def all_started(self) -> bool:
        """Every group has been handed out (or the scheduler stopped)."""
        with self._condition:
            return not self._pending

    @property
    def stopped(self) -> bool:
        with self._condition:
            return self._stopped

    def stop(self) -> list[str]:
        """Start nothing more (the campaign is ending early); returns the scenarios never started."""
        with self._condition:
            self._stopped = True
            left = [nodeid for group in self._pending for nodeid in group]
            self._pending.clear()
            self._condition.notify_all()
            return left


def _group_sharing(group: Group, marks: dict[str, Sharing]) -> Sharing:
    found = {marks.get(nodeid, Sharing.SHARED) for nodeid in group}
    for strongest in (Sharing.WHOLE, Sharing.SECTIONED):
        if strongest in found:
            return strongest
    return Sharing.SHARED


@dataclass
class WorkerLink:
    """What a worker session shares with the coordinator: the campaign, the scheduler, the report sink."""

    campaign: Any  # conformance.campaign.plugin.Campaign (not imported: that module imports this one)
    scheduler: Scheduler
    coordinator: pytest.Config
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    report_lock: threading.Lock = field(default_factory=threading.Lock)
    collection_lock: threading.Lock = field(default_factory=threading.Lock)
    collected: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))  # one per worker
    errors: list[str] = field(default_factory=list)

    def forward(self, hook: str, **kwargs: Any) -> None:
        """Hand a worker's report to the coordinator's hooks (junit.xml, exit status, terminal)."""
        with self.report_lock:
            getattr(self.coordinator.hook, hook)(**kwargs)


ADDOPTS_VARIABLE = "PYTEST_ADDOPTS"
_LINKS: dict[str, WorkerLink] = {}
_LINKS_LOCK = threading.Lock()


def link_of(token: str) -> WorkerLink:
    with _LINKS_LOCK:
        return _LINKS[token]


# pytest plugins that keep process-wide state (warning filters, log handlers, fault handler, output
# capture): a worker session in a thread must not install and remove them under another's feet.
_WORKER_OPTIONS = (
    *UNUSED_PLUGIN_OPTIONS,
    "-p", "no:cacheprovider",
    "-p", "no:warnings",
    "-p", "no:logging",
    "-p", "no:faulthandler",
    "-p", "no:terminal",
    "-p", "no:junitxml",
    "-p", "no:stepwise",
    # Each of these runs full garbage collections as its session ends: one per worker adds up (seconds
    # under load), while other workers are still running scenarios.
    "-p", "no:unraisableexception",
    "-p", "no:threadexception",
    "--capture=no",
    "-o", "addopts=",
    # Modules named after their path, imported once and shared by every worker: with pytest's default
    # import mode, each directory's `conftest` takes the one name `conftest` in turn, which a collection
    # racing anything that imports cannot survive.
    "--import-mode=importlib",
)  # fmt: skip


def _tolerate_shared_test_variable() -> None:
    """pytest names the running test in the environment (PYTEST_CURRENT_TEST) and removes it after; with
    several sessions in one process, one removes what another already removed. Make that removal
    tolerant (the variable is informative only)."""
    from _pytest import runner

    original = runner._update_current_test_var
    if getattr(original, "psc_tolerant", False):
        return

    def update(item: pytest.Item, when: Literal["setup", "call", "teardown"] | None) -> None:
        with suppress(KeyError):
            original(item, when)

    update.psc_tolerant = True  # type: ignore[attr-defined]
    runner._update_current_test_var = update


_AST_LOCK = threading.RLock()


def _serialize_ast_parse() -> None:
    """CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state: two threads
    parsing at once (pytest parses source to show a failure, and to rewrite asserts on import) can
    corrupt it, and the loser gets "SystemError: AST constructor recursion depth mismatch", which ends
    its worker session with an internal error (cpython gh-106905). Parse one thread at a time."""
    original = ast.parse
    if getattr(original, "psc_serialized", False):
        return

    def parse(*args: Any, **kwargs: Any) -> Any:
        with _AST_LOCK:
            return original(*args, **kwargs)

    parse.psc_serialized = True  # type: ignore[attr-defined]
    ast.parse = parse


def run_workers(
    session: pytest.Session,
    link: WorkerLink,
    jobs: int,
    worker_args: list[str],
    bring_up: Callable[[], object] = lambda: None,
) -> None:
    """Run `jobs` worker sessions until the scheduler has nothing left; bounded by the campaign's bound
    (the `run` command kills the process past it), each scenario by its own.

    `bring_up` (the shared SUT and counterparts) runs in this thread while the workers start and collect:
    a SUT process starting on another core and the workers' collection overlap. Scenarios start once it
    returns; if it raises, none does.
    """
    _tolerate_shared_test_variable()
    _serialize_ast_parse()
    with _LINKS_LOCK:
        _LINKS[link.token] = link
    threads = [
        threading.Thread(target=_worker, args=(link, worker_args), name=f"psc-worker-{n}", daemon=True)
        for n in range(jobs)
    ]
    starter = threading.Thread(
        target=_start_one_by_one, args=(threads, link), name="psc-worker-starter", daemon=True
    )
    with _without_environment_options():
        try:
            starter.start()
            bring_up()
            link.scheduler.open()
            starter.join()
            for thread in threads:
                thread.join()
        except BaseException:
            # Interrupted (Ctrl-C, or the `run` command's stop): start nothing more, interrupt what runs,
            # and give the workers a bounded moment to record how their scenarios ended.
            link.scheduler.stop()
            for thread in threads:
                if thread.is_alive() and thread.ident is not None:
                    _raise_in_thread(thread.ident, KeyboardInterrupt)
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            raise
        finally:
            with _LINKS_LOCK:
                _LINKS.pop(link.token, None)


@contextmanager
def _without_environment_options() -> Iterator[None]:
    """Keep only the plugins PYTEST_ADDOPTS names (`-p NAME`) for the worker sessions: the coordinator
    applied the rest already, and a worker, without the terminal plugin, would refuse those options
    (`--tb`, `-r`...) as unknown and run nothing; a plugin the user loaded must watch the scenarios too."""
    options = os.environ.pop(ADDOPTS_VARIABLE, None)
    plugins = plugin_options(options or "")
    if plugins:
        os.environ[ADDOPTS_VARIABLE] = shlex.join(plugins)
    try:
        yield
    finally:
        os.environ.pop(ADDOPTS_VARIABLE, None)
        if options is not None:
            os.environ[ADDOPTS_VARIABLE] = options


def plugin_options(options: str) -> list[str]:
    """The `-p NAME` / `-pNAME` options of a pytest command line, in order (`-p no:X` included)."""
    try:
        words = shlex.split(options)
    except ValueError:
        return []
    kept: list[str] = []
    remaining = iter(words)
    for word in remaining:
        if word == "-p":
            name = next(remaining, None)
            kept += ["-p", name] if name is not None else []
        elif word.startswith("-p") and len(word) > 2:
            kept += ["-p", word[2:]]
    return kept


def _start_one_by_one(threads: list[threading.Thread], link: WorkerLink) -> None:
    """Each worker starts once the previous one has collected: started together, eight sessions share
    the one interpreter lock and the first is ready to run a scenario only when nearly all are; one by
    one, the first is ready at once and scenarios start while the others collect."""
    for thread in threads:
        if link.scheduler.stopped:
            return
        thread.start()
        link.collected.acquire(timeout=WORKER_START_PACE_S)


def _worker(link: WorkerLink, worker_args: list[str]) -> None:
    try:
        code = pytest.main([*worker_args, *_WORKER_OPTIONS, f"--psc-worker={link.token}"])
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            link.errors.append(f"a worker session ended with status {int(code)}")
    except BaseException as exc:  # a worker must never take the campaign down silently
        link.errors.append(f"a worker session failed: {type(exc).__name__}: {exc}")
        link.scheduler.stop()


def worker_loop(session: pytest.Session, link: WorkerLink) -> None:
    """A worker session's run loop: take a scenario, run pytest's protocol for it, report it, repeat."""
    items = {item.nodeid: item for item in session.items}
    while (group := link.scheduler.take()) is not None:
        try:
            missing = [nodeid for nodeid in group if nodeid not in items]
            if missing:
                link.errors.append(f"{', '.join(missing)}: not collected by a worker session")
                continue
            members = [items[nodeid] for nodeid in group]
            # After the group's last scenario (nextitem None), its fixtures down to the session's are torn
            # down; the session's are views on what the campaign shares, so that costs nothing.
            for item, nextitem in zip(members, [*members[1:], None], strict=True):
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        finally:
            link.scheduler.done(group)
        if session.shouldstop or session.shouldfail:
            link.scheduler.stop()


# -- a bound on one scenario, in any thread -------------------------------------------------------------


@contextmanager
def thread_time_bound(seconds: float, error: type[Exception], message: str) -> Iterator[None]:
    """Raise `error(message)` in the calling thread once `seconds` have passed.

    Signals only reach the main thread; a worker thread gets the exception asynchronously, delivered at
    its next Python instruction. Every network wait of a scenario is bounded, so it gets there soon.
    (An asynchronous exception is raised from its class: a subclass carries the message.)
    """
    carrying = type(error.__name__, (error,), {"__init__": lambda self: error.__init__(self, message)})
    target = threading.get_ident()
    guard = threading.Lock()
    finished = False

    def expire() -> None:
        with guard:
            if finished:
                return
            _raise_in_thread(target, carrying)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with guard:
            finished = True
        timer.cancel()


def _raise_in_thread(thread_id: int, error: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(error))
