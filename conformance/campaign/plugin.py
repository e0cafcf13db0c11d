"""The pytest plugin that turns scenarios into a campaign (loaded through the `pytest11` entry point).

It stays inert in a pytest session that collects no scenario (no `verifies` marker), so the
harness's own test suite is untouched. In a campaign it:

- checks every `@pytest.mark.verifies(...)` id against the catalogues at collection time;
- gives each scenario a `checks` recorder, fails the scenario at its end if a check failed,
  and demotes a vacuous scenario to `not_run` (reported by pytest as skipped);
- bounds every scenario in time;
- tags junit and Allure results with requirement ids;
- appends each scenario record to `scenarios.jsonl` as it ends (so a killed run still has a
  report) and writes `results.json` and `report.html` at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from conformance import exitcodes
from conformance.campaign.attestation import load_attestations
from conformance.campaign.checks import CheckFailed, CheckRecorder, PrerequisiteNotMet
from conformance.campaign.concurrency import (
    EXCLUSIVE_MARKER,
    WAITS_MARKER,
    WAKE_S,
    Alone,
    Scheduler,
    WorkerLink,
    default_jobs,
    groups_of,
    is_exclusive,
    link_of,
    run_workers,
    sharing_of,
    thread_time_bound,
    worker_loop,
)
from conformance.campaign.journal import not_run_records, planned_scenarios, write_plan
from conformance.campaign.results import (
    CampaignStatus,
    SutInfo,
    build_results,
    record_to_json,
    write_results,
)
from conformance.campaign.sut import SutProcess, SutUnreachable, wait_until_answering
from conformance.campaign.verdicts import (
    Attestation,
    CheckResult,
    Outcome,
    ScenarioRecord,
    Severity,
    Status,
    scenario_outcome,
)
from conformance.campaign.waivers import Waiver, load_waivers
from conformance.config import Config, load_config, load_resolved
from conformance.errors import UsageError
from conformance.evidence import EvidenceRecorder
from conformance.evidence.breaker import BREAKER_RESOURCE, SutUnresponsive
from conformance.evidence.summary import summarize
from conformance.pki import TestPKI, build_pki, load_pki
from conformance.report import render_html
from conformance.requirements import load_catalogues, requirement_index
from conformance.roles import BringUpRequest, Role, SutEndpoints, bring_up

MARKER = "verifies"
NOT_RUN_PREFIX = "not_run: "
INCONCLUSIVE_PREFIX = "inconclusive: "
_RECORDER = pytest.StashKey[CheckRecorder]()
_STARTED = pytest.StashKey[float]()
_PHASES = pytest.StashKey[dict[str, pytest.TestReport]]()


class ScenarioTimeout(Exception):
    """A scenario overran its bound (`[timeouts] scenario_s`); the campaign goes on."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("psc-conformance", "psc-conformance campaign")
    group.addoption(
        "--psc-campaign",
        metavar="FILE",
        help="the campaign as `psc-conformance run` resolved it (campaign.json); replaces the options below",
    )
    group.addoption("--psc-config", metavar="FILE", help="campaign configuration (TOML)")
    group.addoption("--psc-role", choices=[r.value for r in Role], help="role of the system under test")
    group.addoption("--psc-output", metavar="DIR", help="where results.json and report.html are written")
    group.addoption("--psc-lang", choices=["fr", "en"], help="language of report.html (default fr)")
    group.addoption("--psc-attestations", metavar="FILE", help="attestation file (TOML)")
    group.addoption("--psc-waivers", metavar="FILE", help="waiver file (TOML): failures accepted for a time")
    group.addoption(
        "--psc-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="fault injected in the reference SUT (recorded in the report)",
    )
    group.addoption(
        "--psc-variant",
        action="append",
        default=[],
        metavar="NAME",
        help="allowed variant applied to the reference SUT (recorded in the report)",
    )
    group.addoption("--psc-sut-name", metavar="NAME", help="name of the system under test in the report")
    group.addoption("--psc-sut-url", metavar="URL", help="base URL of the system under test")
    group.addoption(
        "--psc-jobs",
        type=int,
        metavar="N",
        help="scenarios run at the same time (default: four per core, at most 16; 1: one after another)",
    )
    group.addoption("--psc-worker", metavar="TOKEN", help=argparse.SUPPRESS)
    group.addoption(
        "--psc-swagger",
        metavar="DIR",
        help="judge the API contracts by the upstream OpenAPI files in DIR, unchanged",
    )


@dataclass
class Campaign:
    """Campaign-wide state: settings, and the records of scenarios as they end."""

    config: Config
    role: Role
    output: Path
    lang: str
    attestations: dict[str, Attestation]
    sut: SutInfo
    started_at: str = field(default_factory=utc_now)
    records: list[ScenarioRecord] = field(default_factory=list)
    active: bool = False
    written: bool = False  # results already written (an early exit wrote them)
    sut_process: SutProcess | None = None
    evidence: EvidenceRecorder = field(default_factory=EvidenceRecorder)
    notes: list[str] = field(default_factory=list)  # shown in the report's header
    errors: list[str] = field(default_factory=list)  # what makes the run incomplete (exit status 3)
    swagger_dir: Path | None = None
    waivers: dict[str, Waiver] = field(default_factory=dict)  # dérogations, by requirement id
    resources: SharedResources = field(default_factory=lambda: SharedResources())
    # The embedded SUT, brought up ahead of its first use (`_bring_up_early`).
    early_sut: Future[SutEndpoints] | None = None
    journal_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def journal(self) -> Path:
        return self.output / "scenarios.jsonl"

    def add_record(self, record: ScenarioRecord) -> None:
        """Keep a scenario's record, and append it to the journal at once (a killed run keeps it)."""
        with self.journal_lock:
            self.records.append(record)
            with self.journal.open("a", encoding="utf-8") as journal:
                journal.write(json.dumps(record_to_json(record), ensure_ascii=False) + "\n")


T = TypeVar("T")


class SharedResources:
    """What the campaign brings up once and every scenario shares (PKI, counterparts, the SUT), whichever
    worker session asks first; closed, last opened first, when the campaign ends."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # an RLock: bringing up one resource asks for another
        self._values: dict[str, Any] = {}
        self._stack = ExitStack()

    def get(self, name: str, open_: Callable[[], AbstractContextManager[T]]) -> T:
        with self._lock:
            if name not in self._values:
                self._values[name] = self._stack.enter_context(open_())
            return cast(T, self._values[name])

    def peek(self, name: str) -> Any:
        """The resource if something brought it up, else None (nothing is brought up by asking)."""
        with self._lock:
            return self._values.get(name)

    def close(self) -> None:
        with self._lock:
            self._values.clear()
            self._stack.close()


_CAMPAIGN = pytest.StashKey[Campaign]()
_LINK = pytest.StashKey[WorkerLink]()  # set in a worker session: what it shares with the coordinator


def _is_worker(config: pytest.Config) -> bool:
    return _LINK in config.stash


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*requirement_ids, sut=True): the requirements this scenario verifies; "
        "sut=False for harness self-checks that exchange nothing with a system under test",
    )
    config.addinivalue_line(
        "markers",
        f"{EXCLUSIVE_MARKER}(reason): the scenario switches state every scenario shares (a listener's TLS "
        "mode): it runs alone, never alongside another, or only its `alone()` sections do",
    )
    config.addinivalue_line(
        "markers",
        f"{WAITS_MARKER}(reason): the scenario waits on the SUT's timers (idle timeout, token expiry, "
        "slow_down, a CIBA login before an `alone()` section): it starts before the others of its kind so "
        'that its wait overlaps theirs; with on="idle_timeout_s" (a [sut.declared] setting), the longest '
        "declared wait first",
    )
    worker = config.getoption("--psc-worker")
    if worker:
        link = link_of(worker)
        # No terminal plugin in a worker: pytest would format with its default style.
        config.option.tbstyle = traceback_style(link.coordinator)
        config.stash[_LINK] = link
        config.stash[_CAMPAIGN] = link.campaign
        config.pluginmanager.register(_ReportForwarder(link), f"psc-report-forwarder-{link.token}")
        return
    try:
        config.stash[_CAMPAIGN] = _make_campaign(config)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def traceback_style(config: pytest.Config) -> str:
    """How a scenario's error is shown: as asked (`--tb`), else Python's own ("native").

    pytest's default style parses the source file of every frame (`ast.parse`) to show whole statements.
    A scenario's error is mostly a network error deep inside httpx, a dozen files: a fraction of a second
    each, serialized across workers (`concurrency._serialize_ast_parse`). Against a SUT that times out
    everywhere, that formatting doubled the campaign (trickle: 21 -> 11 s without it)."""
    style = str(config.getoption("tbstyle", "auto"))
    return "native" if style == "auto" else style


def _make_campaign(config: pytest.Config) -> Campaign:
    option = config.getoption
    resolved = option("--psc-campaign")
    if resolved:
        return _resolved_campaign(Path(resolved), option("--psc-output"))
    path = option("--psc-config")
    cfg = load_config(Path(path)) if path else Config()
    role = Role(option("--psc-role") or cfg.sut.role.value)
    output = Path(
        option("--psc-output") or cfg.campaign.output / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    )
    attestation_file = option("--psc-attestations") or cfg.campaign.attestations
    attestations = load_attestations(Path(attestation_file)) if attestation_file else {}
    waiver_file = option("--psc-waivers") or cfg.campaign.waivers
    waivers = load_waivers(Path(waiver_file)) if waiver_file else {}
    sut = SutInfo(
        role=role,
        name=option("--psc-sut-name") or cfg.sut.name,
        base_url=option("--psc-sut-url") or cfg.sut.health_url,
        faults=tuple(option("--psc-fault")),
        variants=tuple(option("--psc-variant")),
    )
    campaign = Campaign(
        cfg, role, output, option("--psc-lang") or cfg.campaign.lang, attestations, sut, waivers=waivers
    )
    swagger = option("--psc-swagger")
    campaign.swagger_dir = Path(swagger).resolve() if swagger else cfg.campaign.swagger_dir
    return campaign


def _resolved_campaign(path: Path, output: str | None) -> Campaign:
    """The campaign the CLI resolved once: configuration, role, faults and variants, nothing re-read."""
    cfg = load_resolved(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    attestations = load_attestations(cfg.campaign.attestations) if cfg.campaign.attestations else {}
    waivers = load_waivers(cfg.campaign.waivers) if cfg.campaign.waivers else {}
    sut = SutInfo(
        role=cfg.sut.role,
        name=cfg.sut.name,
        base_url=cfg.sut.health_url,
        faults=tuple(document.get("faults", ())),
        variants=tuple(document.get("variants", ())),
    )
    campaign = Campaign(
        cfg, cfg.sut.role, Path(output or path.parent), cfg.campaign.lang, attestations, sut, waivers=waivers
    )
    campaign.swagger_dir = cfg.campaign.swagger_dir
    return campaign


def campaign_of(config: pytest.Config) -> Campaign:
    return config.stash[_CAMPAIGN]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = requirement_index()
    campaign = campaign_of(config)
    for item in items:
        marker = item.get_closest_marker(MARKER)
        if marker is None:
            continue
        campaign.active = True
        unknown = [rid for rid in marker.args if rid not in known]
        if not marker.args or unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.{MARKER} needs known requirement ids; "
                f"unknown: {unknown or 'none given'} (see `psc-conformance requirements`)"
            )
    if campaign.active:
        config.option.tbstyle = traceback_style(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A campaign the `run` command launched brings its embedded SUT up before collecting: the counterparts
    here (in-process: started in a thread, they would share the interpreter lock with the collection and
    the workers' start, and take seconds), the SUT process in a thread, booting on another core while
    this session and the workers collect."""
    config = session.config
    if _is_worker(config) or config.option.collectonly or not config.getoption("--psc-campaign"):
        return
    campaign = campaign_of(config)
    if not campaign.config.external and not _narrowed(config):
        _bring_up_early(campaign, counterparts_first=True)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under plain pytest, the first collected scenario that needs a SUT starts the embedded SUT's
    bring-up, in a thread."""
    config = item.config
    if _is_worker(config) or config.option.collectonly or _narrowed(config):
        return
    campaign = campaign_of(config)
    if campaign.early_sut is not None or campaign.config.external:
        return
    if needs_sut(item):
        _bring_up_early(campaign, counterparts_first=False)


def needs_sut(item: pytest.Item) -> bool:
    """Whether a scenario talks to the SUT (`@pytest.mark.psc(..., sut=False)`: the harness's own)."""
    marker = item.get_closest_marker(MARKER)
    return bool(marker and marker.kwargs.get("sut", True))


def _narrowed(config: pytest.Config) -> bool:
    """Whether the command line selects among the scenarios (`-k`, `-m`, `--deselect`, node ids): which
    of them run, and whether any needs the SUT, is then known only once they are collected."""
    option = config.option
    return bool(
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "deselect", None)
        or any("::" in str(arg) for arg in config.args)
    )


def _bring_up_early(campaign: Campaign, *, counterparts_first: bool) -> None:
    """Bring the embedded SUT up ahead of its first use; what goes wrong surfaces where the SUT is first
    needed (`_shared_sut`, which ends the run with 3), never here."""
    result: Future[SutEndpoints] = Future()
    campaign.early_sut = result

    def bring_up() -> None:
        try:
            result.set_result(_open_sut(campaign))
        except BaseException as exc:
            result.set_exception(exc)

    campaign.output.mkdir(parents=True, exist_ok=True)  # the SUT's log goes there
    if counterparts_first:
        try:
            _shared_counterparts(campaign)
        except Exception as exc:
            result.set_exception(exc)
            return
    threading.Thread(target=bring_up, name="psc-bring-up", daemon=True).start()


def pytest_collection_finish(session: pytest.Session) -> None:
    campaign = campaign_of(session.config)
    if not campaign.active or session.config.option.collectonly or _is_worker(session.config):
        return  # collecting only (e.g. to compute coverage) runs nothing and writes nothing
    for group in groups_of(i for i in session.items if i.get_closest_marker(MARKER) is not None):
        campaign.evidence.scenarios.group(group)
    campaign.output.mkdir(parents=True, exist_ok=True)
    (campaign.output / "evidence").mkdir(exist_ok=True)
    campaign.journal.write_text("", encoding="utf-8")
    write_plan(campaign.output, session.items, MARKER)  # what an interrupted run did not run
    if campaign.config.external:
        _bring_up_sut(session, campaign)
    elif campaign.early_sut is None and any(needs_sut(item) for item in session.items):
        _bring_up_early(campaign, counterparts_first=True)  # narrowed: the selection needs it


def _bring_up_sut(session: pytest.Session, campaign: Campaign) -> None:
    """Start the SUT if asked, and wait (bounded) until it answers; otherwise end the run with 3."""
    sut = campaign.config.sut
    url = sut.health_url or sut.token_endpoint
    assert url is not None
    try:
        if sut.start:
            campaign.sut_process = SutProcess(sut.start, campaign.output / "sut.log")
            campaign.sut_process.start(cwd=campaign.config.source.parent if campaign.config.source else None)
        wait_until_answering(
            url, timeout_s=sut.startup_timeout_s, ca_file=sut.ca_file, process=campaign.sut_process
        )
    except SutUnreachable as exc:
        abort_campaign(session.config, str(exc))
    else:  # `run` says so before the first scenario (its live progress follows the run's directory)
        from conformance.campaign.journal import write_sut_ready

        write_sut_ready(campaign.output, url)


def abort_campaign(config: pytest.Config, reason: str) -> None:
    """End the run now with exit status 3, after writing the report of what ran so far."""
    campaign = campaign_of(config)
    _stop_sut(campaign)
    write_campaign(campaign, CampaignStatus(complete=False, errors=(reason,)))
    campaign.written = True
    campaign.resources.close()
    pytest.exit(f"system under test unreachable: {reason}", returncode=exitcodes.HARNESS_OR_SUT)


def _stop_sut(campaign: Campaign) -> None:
    if campaign.sut_process is not None:
        campaign.sut_process.stop()
        campaign.sut_process = None


def pytest_unconfigure(config: pytest.Config) -> None:
    campaign = config.stash.get(_CAMPAIGN, None)
    if campaign is not None and not _is_worker(config):
        campaign.resources.close()
        _stop_sut(campaign)


@pytest.fixture
def checks(request: pytest.FixtureRequest) -> CheckRecorder:
    """The recorder a scenario records its checks into."""
    recorder = request.node.stash.get(_RECORDER, None)
    if recorder is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses `checks` but declares no @pytest.mark.{MARKER}(...) requirements"
        )
    return recorder


@pytest.fixture(scope="session")
def psc_config(request: pytest.FixtureRequest) -> Config:
    """The campaign configuration (defaults when no --psc-config was given)."""
    return campaign_of(request.config).config


@pytest.fixture(scope="session")
def evidence(request: pytest.FixtureRequest) -> EvidenceRecorder:
    """Every exchange of the campaign, tagged with the scenario it happened in."""
    return campaign_of(request.config).evidence


@pytest.fixture(scope="session")
def sut_role(request: pytest.FixtureRequest) -> Role:
    return campaign_of(request.config).role


def _bring_up_request(campaign: Campaign) -> BringUpRequest:
    return BringUpRequest(campaign.config, campaign.output, campaign.sut.faults, campaign.sut.variants)


def _shared_pki(campaign: Campaign) -> TestPKI:
    """The PKI a vendor configured their system with (`[campaign] pki_dir`, written by `psc-conformance
    pki`), or a fresh one when the campaign runs against embedded parts only."""
    pki_dir = campaign.config.campaign.pki_dir
    return campaign.resources.get(
        "pki", lambda: nullcontext(load_pki(pki_dir) if pki_dir is not None else build_pki())
    )


def _shared_counterparts(campaign: Campaign) -> Any:
    pki = _shared_pki(campaign)
    return campaign.resources.get(
        "counterparts",
        lambda: bring_up(campaign.role).counterparts(_bring_up_request(campaign), pki, campaign.evidence),
    )


def _shared_sut(campaign: Campaign) -> SutEndpoints:
    """The SUT, up and answering: brought up ahead (`_bring_up_early`), or now."""
    if campaign.early_sut is not None:
        return campaign.early_sut.result()  # bounded: the bring-up waits at most the startup timeout
    return _open_sut(campaign)


def _open_sut(campaign: Campaign) -> SutEndpoints:
    counterparts = _shared_counterparts(campaign)

    @contextmanager
    def started() -> Iterator[SutEndpoints]:
        with bring_up(campaign.role).sut(_bring_up_request(campaign), counterparts) as endpoints:
            if endpoints.embedded:
                campaign.sut = dataclasses.replace(
                    campaign.sut, name=endpoints.name, base_url=endpoints.base_url
                )
            yield endpoints

    return campaign.resources.get("sut", started)


@pytest.fixture(scope="session")
def pki(request: pytest.FixtureRequest) -> TestPKI:
    """The campaign's test PKI, shared by every scenario."""
    return _shared_pki(campaign_of(request.config))


@pytest.fixture(scope="session")
def counterparts(request: pytest.FixtureRequest) -> Any:
    """The counterparts the role's SUT talks to, started once for the whole campaign.

    Counterparts that cannot start (a port taken) are the harness's failure: the campaign ends with 3.
    """
    campaign = campaign_of(request.config)
    try:
        return _shared_counterparts(campaign)
    except Exception as exc:
        abort_campaign(request.config, f"the counterparts did not start: {exc}")
        raise


@pytest.fixture(scope="session")
def sut(request: pytest.FixtureRequest, counterparts: Any) -> SutEndpoints:
    """The system under test, up and answering: the vendor's, or the role's embedded reference SUT.

    An embedded SUT that does not start is the harness's failure: the campaign ends with status 3.
    """
    campaign = campaign_of(request.config)
    try:
        return _shared_sut(campaign)
    except Exception as exc:
        abort_campaign(request.config, f"the {campaign.role.value} under test did not start: {exc}")
        raise


@pytest.fixture(autouse=True)
def _listeners_back_to_normal(request: pytest.FixtureRequest) -> Iterator[None]:
    """After an exclusive scenario (it ran alone), every listener is in its normal mode again.

    Other adversarial behaviour is keyed to the test identity a scenario minted (`psc.behave(...)` and
    the like): it never reaches another scenario and needs no undoing.
    """
    yield
    if is_exclusive(request.node) and request.node.get_closest_marker(MARKER) is not None:
        _shared_counterparts(campaign_of(request.config)).listeners_back_to_normal()


@pytest.fixture
def alone(request: pytest.FixtureRequest) -> Alone:
    """`with alone(): ...`: a section in which no other scenario does anything, for an exclusive scenario
    that switches state every scenario shares (a listener's TLS mode), or that must see every request the
    SUT sends whoever it concerns; the listeners are normal again at its end. What the scenario does
    outside its sections (arranging a session) overlaps other exclusive scenarios."""
    if not is_exclusive(request.node):
        raise pytest.UsageError(f"{request.node.nodeid} uses `alone` but is not marked {EXCLUSIVE_MARKER}")
    link = request.config.stash.get(_LINK, None)
    campaign = campaign_of(request.config)
    counterparts = _shared_counterparts(campaign)
    group = link.scheduler.group_of(request.node.nodeid) if link is not None else ()

    @contextmanager
    def section() -> Iterator[None]:
        with link.scheduler.alone(group) if link is not None else nullcontext():
            campaign.evidence.scenarios.set_alone(True)  # what happens now is this scenario's doing
            try:
                yield
            finally:
                campaign.evidence.scenarios.set_alone(False)
                counterparts.listeners_back_to_normal()

    return section


def _allure_active(config: pytest.Config) -> bool:
    # allure-pytest only records results when --alluredir is given (its plugin name varies with -p).
    return bool(getattr(config.option, "allure_report_dir", None))


@pytest.fixture(autouse=True)
def _psc_allure_labels(request: pytest.FixtureRequest) -> None:
    """Label Allure results with requirement ids when allure-pytest is active."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None or not _allure_active(request.config):
        return
    import allure  # imported here: allure-pytest is optional

    index = requirement_index()
    for rid in marker.args:
        allure.dynamic.label("requirement", rid)
        url = index[rid].url
        if url:
            allure.dynamic.link(url, name=rid, link_type="requirement")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Allure: one step per condition the scenario recorded, and its exchanges attached, redacted.

    Done first thing in teardown: the judgements are complete, and the scenario's Allure result is still
    the one steps and attachments go to (fixture finalizers get Allure results of their own after this).
    """
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None or not _allure_active(item.config):
        return
    import allure
    from allure_commons import plugin_manager

    campaign = campaign_of(item.config)
    for result in recorder.results:
        step = str(uuid.uuid4())
        plugin_manager.hook.start_step(
            uuid=step, title=_allure_step_title(result, campaign.lang), params=_allure_step_params(result)
        )
        # Allure reads a step's status from the exception that ended it.
        ended_by: BaseException | None = None
        if result.status is Status.FAILED:
            ended_by = AssertionError(result.message)
        elif result.status is Status.INCONCLUSIVE:
            ended_by = pytest.skip.Exception(result.message)
        plugin_manager.hook.stop_step(
            uuid=step, exc_type=type(ended_by) if ended_by else None, exc_val=ended_by, exc_tb=None
        )
    cited = {ref for result in recorder.results for ref in result.evidence}
    exchanges = {
        e.id: summarize(e)  # redacted as in results.json
        for e in campaign.evidence.exchanges()
        if e.scenario == item.nodeid or e.id in cited
    }
    if exchanges:
        allure.attach(
            json.dumps(exchanges, indent=2, ensure_ascii=False),
            name="exchanges (redacted)",
            attachment_type=allure.attachment_type.JSON,
        )


def _allure_step_title(result: CheckResult, lang: str) -> str:
    title = result.title.get(lang) or result.title.get("fr") or ""
    kind = "prerequisite " if result.prerequisite else ""
    return f"{kind}{result.name} — {title}" if title else f"{kind}{result.name}"


def _allure_step_params(result: CheckResult) -> dict[str, str]:
    status = result.status.value if result.status else ""
    if result.status is Status.FAILED and result.severity is Severity.WARNING:
        status += " (warning)"
    params = {
        "status": status,
        "observed": result.message,
        "requirements": ", ".join(result.requirements),
        "strength": result.strength,
        "basis": result.basis,
        "evidence": ", ".join(result.evidence),
    }
    return {name: value for name, value in params.items() if value}


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return
    item.stash[_RECORDER] = CheckRecorder(declared=frozenset(marker.args))
    campaign_of(item.config).evidence.set_scenario(item.nodeid)
    item.stash[_STARTED] = time.monotonic()
    item.stash[_PHASES] = {}
    for rid in marker.args:
        item.user_properties.append(("requirement", rid))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None:
        return (yield)
    try:
        with _time_bound(campaign_of(item.config).config.timeouts.scenario_s, item.nodeid):
            result = yield
    except PrerequisiteNotMet as exc:
        blocker = exc.result
        recorder.unjudged(
            f"not judged: {blocker.name} did not hold ({blocker.message})",
            root_cause=blocker.root_cause or f"{blocker.name}: {blocker.message}",
            blocked_by=blocker.name,
        )
        pytest.skip(INCONCLUSIVE_PREFIX + str(exc))
    except CheckFailed:
        stopper = recorder.stopped_by
        if stopper is not None:
            recorder.unjudged(
                f"not judged: the scenario stopped when {stopper.name} failed",
                root_cause=f"{stopper.name}: {stopper.message}",
                blocked_by=stopper.name,
            )
        raise
    except BaseException as exc:
        if not isinstance(exc, pytest.skip.Exception | AssertionError):
            recorder.unjudged(
                f"not judged: the scenario ended in error ({type(exc).__name__}: {str(exc)[:300]})",
                root_cause=f"{type(exc).__name__}: {str(exc)[:300]}",
            )
        raise
    if recorder.failures:
        names = ", ".join(sorted({f.name for f in recorder.failures}))
        raise CheckFailed(f"failed check(s): {names}")
    outcome, why = scenario_outcome(
        pytest_outcome="passed",
        checks=recorder.results,
        sut_exchanges=recorder.sut_exchanges + campaign_of(item.config).evidence.count(scenario=item.nodeid),
        needs_sut=needs_sut(item),
    )
    if outcome is Outcome.NOT_RUN:
        pytest.skip(NOT_RUN_PREFIX + why)
    if outcome is Outcome.INCONCLUSIVE:
        pytest.skip(INCONCLUSIVE_PREFIX + why)
    return result


@contextmanager
def _time_bound(seconds: float, nodeid: str) -> Iterator[None]:
    """Interrupt a scenario that overruns, so a silent SUT cannot hang the campaign."""
    if threading.current_thread() is not threading.main_thread():
        message = f"{nodeid} exceeded its {seconds:g} s bound ([timeouts] scenario_s)"
        with thread_time_bound(seconds, ScenarioTimeout, message):
            yield
        return

    def expire(signum: int, frame: object) -> None:
        raise ScenarioTimeout(f"{nodeid} exceeded its {seconds:g} s bound ([timeouts] scenario_s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    phases = item.stash.get(_PHASES, None)
    if phases is None:
        return report
    phases[report.when] = report
    if report.when == "teardown":
        record = _scenario_record(item, phases)
        campaign = campaign_of(item.config)
        campaign.evidence.set_scenario(None)
        campaign.add_record(record)
    elif call.excinfo is not None:
        # Keep why a scenario did not finish, for the report.
        item.stash[_EXCEPTION] = call.excinfo
    return report


_EXCEPTION = pytest.StashKey[pytest.ExceptionInfo[BaseException]]()


def _scenario_record(item: pytest.Item, phases: dict[str, pytest.TestReport]) -> ScenarioRecord:
    recorder = item.stash[_RECORDER]
    marker = item.get_closest_marker(MARKER)
    assert marker is not None
    setup, call, teardown = (phases.get(w) for w in ("setup", "call", "teardown"))
    detail = ""
    excinfo = item.stash.get(_EXCEPTION, None)
    if (setup is not None and setup.failed) or (teardown is not None and teardown.failed):
        pytest_outcome, detail = "error", _longrepr(setup if setup and setup.failed else teardown)
    elif (setup is not None and setup.skipped) or (call is not None and call.skipped):
        pytest_outcome = "skipped"
        detail = _skip_reason(call if call is not None and call.skipped else setup)
    elif call is not None and call.failed:
        # A failed check or assertion is the SUT's failure; anything else is an error of the run.
        judged = excinfo is not None and excinfo.errisinstance(AssertionError)
        pytest_outcome = "failed" if judged else "error"
        if excinfo is not None and excinfo.errisinstance(CheckFailed):
            detail = str(excinfo.value)  # the failed checks; the traceback would only show the plugin
        else:
            detail = _longrepr(call)
    else:
        pytest_outcome = "passed"
    if pytest_outcome == "error" and excinfo is not None and excinfo.errisinstance(SutUnresponsive):
        detail = f"{SutUnresponsive.__name__}: {excinfo.value}"  # why no call went out; no traceback
    # Exchanges with the SUT: those the scenario declared, and every recorded exchange (calls to
    # the SUT and the SUT's calls to the counterparts) that happened while it ran.
    sut_exchanges = recorder.sut_exchanges + campaign_of(item.config).evidence.count(scenario=item.nodeid)
    if pytest_outcome == "skipped" and detail.startswith(NOT_RUN_PREFIX):
        outcome, detail = Outcome.NOT_RUN, detail[len(NOT_RUN_PREFIX) :]
    elif pytest_outcome == "skipped" and detail.startswith(INCONCLUSIVE_PREFIX):
        outcome, detail = Outcome.INCONCLUSIVE, detail[len(INCONCLUSIVE_PREFIX) :]
    else:
        outcome, why = scenario_outcome(
            pytest_outcome=pytest_outcome,
            checks=recorder.results,
            sut_exchanges=sut_exchanges,
            needs_sut=needs_sut(item),
        )
        detail = detail or why
    doc = getattr(item, "obj", None).__doc__ if hasattr(item, "obj") else None
    return ScenarioRecord(
        nodeid=item.nodeid,
        requirements=tuple(marker.args),
        outcome=outcome,
        checks=list(recorder.results),
        duration_s=time.monotonic() - item.stash[_STARTED],
        title=(doc or "").strip().splitlines()[0] if doc and doc.strip() else "",
        sut_exchanges=sut_exchanges,
        needs_sut=needs_sut(item),
        detail=detail,
    )


def _longrepr(report: pytest.TestReport | None) -> str:
    if report is None:
        return ""
    text = report.longreprtext or ""
    # The last lines say what went wrong; the full traceback stays in pytest's own output.
    return "\n".join(text.strip().splitlines()[-12:])


def _skip_reason(report: pytest.TestReport | None) -> str:
    if report is None:
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr or "")


# -- scenarios at the same time (conformance.campaign.concurrency) ----------------------------------------


def jobs_of(config: pytest.Config) -> int:
    """How many scenarios run at once: `--psc-jobs`, else several per core; one under Allure, whose
    listener is process-wide and follows one test at a time."""
    if _allure_active(config):
        return 1
    jobs = config.getoption("--psc-jobs")
    if jobs is None:
        return default_jobs(real_timers=campaign_of(config).config.external)
    return max(1, int(jobs))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    config = session.config
    if _is_worker(config):
        worker_loop(session, config.stash[_LINK])
        return True
    campaign = campaign_of(config)
    scenarios = [item for item in session.items if item.get_closest_marker(MARKER) is not None]
    jobs = min(jobs_of(config), len(scenarios))
    if not campaign.active or config.option.collectonly or jobs <= 1 or len(scenarios) < len(session.items):
        return None  # pytest's own loop: one scenario after another
    if session.testsfailed and session.config.option.continue_on_collection_errors is False:
        raise session.Interrupted(f"{session.testsfailed} error(s) during collection")

    try:  # before the workers start: their collection would share this process's one interpreter lock
        if campaign.early_sut is None:  # otherwise started since collection, with the SUT
            _shared_counterparts(campaign)
    except Exception as exc:
        abort_campaign(config, f"the counterparts did not start: {exc}")

    def bring_up() -> None:
        """In the main thread, while the workers collect (the SUT process starts on another core): a SUT
        that does not start ends the run cleanly. Its declared timers then tell which waiting scenarios
        wait longest: they start first."""
        if not any(needs_sut(item) for item in scenarios):
            return  # the harness's own scenarios only
        try:
            endpoints = _shared_sut(campaign)
        except Exception as exc:
            abort_campaign(config, f"the {campaign.role.value} under test did not start: {exc}")
        scheduler.prioritize({i.nodeid: _declared_wait_s(i, endpoints.declared) for i in scenarios})

    scheduler = Scheduler(
        groups_of(scenarios),
        {i.nodeid: sharing_of(i) for i in scenarios},
        waiting=[i.nodeid for i in scenarios if i.get_closest_marker(WAITS_MARKER) is not None],
        opened=False,
    )
    link = WorkerLink(campaign, scheduler, config)
    # The workers load this plugin as the coordinator did: by `-p` (what `run` does), or through its
    # entry point (a pytest session that autoloads plugins), never both (pytest refuses a second name).
    this_plugin = sys.modules[__name__]
    by_option = config.pluginmanager.get_name(this_plugin) == __name__
    worker_args = [
        *[str(arg) for arg in config.args],
        *(["-p", __name__] if by_option else []),
        "--rootdir",
        str(config.rootpath),
    ]
    ending = threading.Event()
    redactor = threading.Thread(
        target=_redact_in_the_tail, args=(campaign, scheduler, ending), name="psc-redact-ahead", daemon=True
    )
    redactor.start()
    try:
        run_workers(session, link, jobs, worker_args, bring_up)
    finally:
        ending.set()
        redactor.join()
    campaign.notes.extend(link.errors)  # e.g. a worker that could not start: the others ran its share
    scheduler.stop()
    _record_unreported(campaign, scenarios, link.errors)
    return True


def _redact_in_the_tail(campaign: Campaign, scheduler: Scheduler, ending: threading.Event) -> None:
    """Once every scenario has started, those still running mostly wait on the SUT's timers (an idle
    timeout, a stalled upstream): the exchanges recorded so far are redacted meanwhile, which the evidence
    files and results.json would otherwise do after the last scenario."""
    while not ending.wait(WAKE_S):
        if scheduler.all_started:
            campaign.evidence.redact_ahead(keep_going=lambda: not ending.is_set())


def _record_unreported(
    campaign: Campaign, scenarios: Sequence[pytest.Item], worker_errors: Sequence[str]
) -> None:
    """A scenario no worker reported (its worker session ended in an internal error mid-scenario, or
    the workers stopped before taking it) is `not_run`, said why, and the campaign is incomplete: never
    silently absent, its requirements judged as if it had not been selected."""
    reported = {record.nodeid for record in campaign.records}
    unreported = [item for item in scenarios if item.nodeid not in reported]
    if not unreported:
        return
    why = "; ".join(worker_errors) or "no worker session took it"
    for record in not_run_records(planned_scenarios(unreported, MARKER), (), f"not run to its end: {why}"):
        campaign.add_record(record)
    campaign.errors.append(f"{len(unreported)} scenario(s) not run to their end: {why}")


def _declared_wait_s(item: pytest.Item, declared: Mapping[str, float]) -> float:
    """How long a `waits(..., on="idle_timeout_s")` scenario waits: the SUT's declared setting it names."""
    marker = item.get_closest_marker(WAITS_MARKER)
    setting = marker.kwargs.get("on") if marker is not None else None
    return float(declared.get(setting) or 0.0) if isinstance(setting, str) else 0.0


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, None, None]:
    """Worker sessions collect one at a time: pytest imports each directory's `conftest` under one module
    name, removing the previous one from `sys.modules`, which two collections at once would race on."""
    link = session.config.stash.get(_LINK, None)
    if link is None:
        return (yield)
    try:
        with link.collection_lock:
            return (yield)
    finally:
        link.collected.release()  # the next worker may start (`run_workers`)


class _ReportForwarder:
    """Registered in a worker session: its reports go to the coordinating session's hooks."""

    def __init__(self, link: WorkerLink) -> None:
        self.link = link

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.link.forward("pytest_runtest_logreport", report=report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session.config):
        return
    campaign = campaign_of(session.config)
    if campaign.early_sut is not None:
        wait_futures([campaign.early_sut])  # a run interrupted meanwhile: the SUT is up, then stopped
    _stop_sut(campaign)
    if not campaign.active or campaign.written or session.config.option.collectonly:
        campaign.resources.close()
        return
    # A SUT that stopped answering mid-campaign (the breaker opened): the run is incomplete (exit 3).
    breaker = campaign.resources.peek(BREAKER_RESOURCE)
    incident = breaker.incident() if breaker is not None else None
    errors: tuple[str, ...] = () if exitstatus in (0, 1) else (f"pytest ended with status {int(exitstatus)}",)
    errors += tuple(campaign.errors) + ((f"the SUT stopped answering: {incident}",) if incident else ())
    status = CampaignStatus(
        complete=exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not errors,
        errors=errors,
        selection=session.config.getoption("keyword") or None,
        notes=tuple(campaign.notes),
    )
    # Every scenario has ended, so nothing more can reach the counterparts' evidence: the SUT and the
    # counterparts stop (mostly waiting on a process and on listener threads) while the files are written.
    bring_down = threading.Thread(target=_close_resources, args=(campaign,), name="psc-bring-down")
    bring_down.start()
    try:
        write_campaign(campaign, status)
    finally:
        bring_down.join()
    if not status.complete and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = exitcodes.HARNESS_OR_SUT  # an incomplete run is not a verdict, as `run` says


def _close_resources(campaign: Campaign) -> None:
    try:
        campaign.resources.close()
    except Exception as exc:  # in a thread: said, not lost (the run's files are written either way)
        print(f"psc-conformance: stopping the SUT and the counterparts failed: {exc}", file=sys.stderr)


def write_campaign(campaign: Campaign, status: CampaignStatus) -> dict[str, Any]:
    """Write results.json and report.html from the records gathered so far.

    Only the exchanges a check cites are summarized (redacted) into results.json; `campaign.rerun` is the
    command that replays this campaign against the same SUT, so the report can print, for each failure,
    the one command that replays just that scenario.
    """
    rerun = ["psc-conformance", "run", "--role", campaign.role.value]
    if campaign.config.source is not None:
        rerun += ["--config", str(Path(campaign.config.source).resolve())]
    if campaign.swagger_dir is not None:
        rerun += ["--swagger", str(Path(campaign.swagger_dir).resolve())]
    for option, names in (("--fault", campaign.sut.faults), ("--variant", campaign.sut.variants)):
        rerun += [arg for name in names for arg in (option, name)]
    cited = {ref for record in campaign.records for check in record.checks for ref in check.evidence}
    evidence = campaign.evidence
    doc = build_results(
        sut=campaign.sut,
        catalogues=load_catalogues(),
        scenarios=campaign.records,
        attestations=campaign.attestations,
        started_at=campaign.started_at,
        finished_at=utc_now(),
        status=status,
        exchanges={e.id: summarize(e, evidence.redacted(e)) for e in evidence.exchanges() if e.id in cited},
        rerun=shlex.join(rerun),
        waivers=campaign.waivers,
    )
    resolved = campaign.output / "campaign.json"
    if resolved.is_file():
        doc["campaign"]["config_sha256"] = hashlib.sha256(resolved.read_bytes()).hexdigest()
    campaign.output.mkdir(parents=True, exist_ok=True)
    campaign.evidence.write(campaign.output / "evidence")
    write_results(doc, campaign.output / "results.json")
    (campaign.output / "report.html").write_text(render_html(doc, campaign.lang), encoding="utf-8")
    return doc
