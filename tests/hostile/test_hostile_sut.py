"""A hostile SUT cannot hang or corrupt a campaign (issue 11, items 2 and 3).

For every misbehaviour of `hostile_proxy.py`, the real CLI runs a consumer campaign against it, the
proxy started by `[sut] start` like a vendor's. Each campaign must end within twice the time of the
campaign against the reference proxy (measured here, under the same load), write a valid `results.json`
and a report, pass no scenario that needs the SUT and judge no requirement conformant on the hostile
proxy's answers, keep its memory bounded, and exit 1 or 3 (BRIEF §4).

The campaigns run a few at a time in the background, from when the matrices' campaigns start
(tests/conftest.py), while the rest of the suite runs; each test waits for its own.
`-s` shows the figures of each campaign (wall time, exit status, outcomes, peak memory).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hostile_proxy import MODES

from conformance.campaign.results import validate_results
from conformance.reference.listening import free_ports
from conformance.roles.consumer.bringup import (
    EMBEDDED_CIBA_INTERVAL_S,
    EMBEDDED_IDLE_TIMEOUT_S,
    EMBEDDED_LPS_READ_TIMEOUT_S,
    EMBEDDED_UPSTREAM_TIMEOUT_S,
)

# With the matrices' campaigns, in the background (tests/conftest.py): the rest of the suite runs meanwhile.
pytestmark = pytest.mark.with_matrices

SERVER = Path(__file__).with_name("hostile_proxy.py")
# Issue 11: "a campaign against any SUT of the hostile corpus ends within 2x the time of the campaign
# against the reference". The reference is measured in this run, in the same pool as the hostile ones.
TIME_FACTOR = 2.0
PEAK_RSS_BOUND_MIB = 600  # the harness once reached 19 GB against a 200 MB answer (issue 11)
# Campaigns at once: 3 fit the suite in a few minutes on 2 cores (PSC_HOSTILE_JOBS to change it).
JOBS = int(os.environ.get("PSC_HOSTILE_JOBS", "3"))
# The campaigns run beside the matrices' (tests/detection/conftest.py), at their priority: neither starves
# the other's timers (the yardstick runs among them).
NICENESS = int(os.environ.get("PSC_MATRIX_NICENESS", "5"))
# The harness's own bound on a campaign, and ours on the CLI around it: a hang fails, it never blocks CI.
CAMPAIGN_S = 600
HARD_LIMIT_S = CAMPAIGN_S + 120
REFERENCE = "reference"
# The reference again, last in the pool: the machine's load moves while the pool runs (in CI, beside the
# matrices), so the yardstick is the slower of the two (2x a reference run at a quieter moment would
# judge the load, not the harness).
REFERENCE_LATE = "reference-late"
REFERENCES = (REFERENCE, REFERENCE_LATE)
# Judged on TLS handshakes alone (IG-SEC-01..03): the hostile proxy's TLS is sound (TLS 1.2 and 1.3 only,
# the test PKI's certificate), so these pass rightly, except where the handshake itself never completes.
HANDSHAKE_ONLY = frozenset(
    {
        "scenarios/consumer/test_transport.py::test_endpoint_refuses_tls_1_0_and_1_1",
        "scenarios/consumer/test_transport.py::test_endpoint_negotiates_tls_1_2_or_higher",
    }
)

# Runs a command (argv[3:]) at a lower priority (argv[2]) and writes its exit status, wall time and the
# peak RSS of its biggest process (the campaign's pytest process, the CLI or the SUT: every descendant is
# waited for) into argv[1].
_MEASURED = textwrap.dedent(
    """
    import json, os, resource, subprocess, sys, time
    os.nice(int(sys.argv[2]))
    started = time.monotonic()
    code = subprocess.call(sys.argv[3:], stdin=subprocess.DEVNULL)
    wall = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(sys.argv[1], "w") as out:
        json.dump({"exit_code": code, "wall_s": wall, "peak_rss_kib": peak}, out)
    """
)


@dataclass(frozen=True)
class Run:
    """One campaign as the CLI ran it."""

    name: str
    exit_code: int
    wall_s: float
    peak_rss_mib: float
    output: Path

    @property
    def results(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.output / "results.json").read_text(encoding="utf-8"))
        return doc

    def outcomes(self) -> Counter[str]:
        return Counter(s["outcome"] for s in self.results["scenarios"])

    def summary(self, bound_s: float) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes().items()))
        return (
            f"{self.name}: wall {self.wall_s:.1f} s (bound {bound_s:.1f} s), exit {self.exit_code}, "
            f"peak RSS {self.peak_rss_mib:.0f} MiB; scenarios: {counts}"
        )


def cli() -> list[str]:
    script = Path(sys.executable).with_name("psc-conformance")
    return [str(script)] if script.exists() else [sys.executable, "-m", "conformance"]


def hostile_campaign(mode: str, pki: Path) -> str:
    """A consumer campaign against the hostile proxy in `mode`, with the reference campaign's timers
    (the embedded proxy's short upstream timeout, idle timeout, CIBA interval and LPS read bound)."""
    sut_port, psc_port, api_as_port, api_port = free_ports(4)
    start = [sys.executable, str(SERVER), "--mode", mode, "--port", str(sut_port)]
    start += ["--cert", str(pki / "server-sut.pem"), "--key", str(pki / "server-sut.key")]
    start += ["--ca", str(pki / "ca-bundle.pem"), "--lifetime-s", str(HARD_LIMIT_S + 60)]
    return (
        "[sut]\n"
        'role = "consumer"\n'
        f'name = "hostile proxy ({mode})"\n'
        f'base_url = "https://127.0.0.1:{sut_port}"\n'
        f"start = {json.dumps(start)}\n"
        f"ca_file = {json.dumps(str(pki / 'ca-bundle.pem'))}\n"
        "startup_timeout_s = 20\n"
        "[sut.declared]\n"
        f"idle_timeout_s = {EMBEDDED_IDLE_TIMEOUT_S}\n"
        f"upstream_timeout_s = {EMBEDDED_UPSTREAM_TIMEOUT_S}\n"
        "[campaign]\n"
        f"pki_dir = {json.dumps(str(pki))}\n"
        "[timeouts]\n"
        f"read_s = {EMBEDDED_LPS_READ_TIMEOUT_S}\n"
        f"campaign_s = {CAMPAIGN_S}\n"
        "[counterparts]\n"
        f"psc_port = {psc_port}\napi_as_port = {api_as_port}\napi_port = {api_port}\n"
        "[counterparts.timings]\n"
        f"ciba_interval_s = {EMBEDDED_CIBA_INTERVAL_S}\n"
        f"slow_down_increment_s = {EMBEDDED_CIBA_INTERVAL_S}\n"
    )


def run_campaign(name: str, root: Path, pki: Path) -> Run:
    """`psc-conformance run` in a measuring process; killed (its process group) past `HARD_LIMIT_S`."""
    where = root / name
    where.mkdir()
    args = [*cli(), "run", "--output", str(where / "run")]
    if name not in REFERENCES:
        config = where / "campaign.toml"
        config.write_text(hostile_campaign(name, pki), encoding="utf-8")
        args += ["--config", str(config)]
    figures = where / "figures.json"
    with (where / "cli.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURED, str(figures), str(NICENESS), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=HARD_LIMIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"{name}: the campaign was still running after {HARD_LIMIT_S} s") from None
    measured = json.loads(figures.read_text(encoding="utf-8"))
    return Run(
        name, measured["exit_code"], measured["wall_s"], measured["peak_rss_kib"] / 1024, where / "run"
    )


def selected_modes(items: list[pytest.Item]) -> list[str]:
    """The modes whose test this session runs (`-k trickle` runs two campaigns, not twelve)."""
    chosen = {item.callspec.params["mode"] for item in items if hasattr(item, "callspec")}
    return [mode for mode in MODES if mode in chosen]


def start_with_matrices(root: Path, items: list[pytest.Item]) -> dict[str, Future[Run]]:
    """Every campaign, `JOBS` at a time: the reference first, so its time is known early, and last."""
    pki = root / "pki"
    subprocess.run([*cli(), "pki", "--out", str(pki)], check=True, capture_output=True, timeout=120)
    pool = ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="hostile")
    names = (REFERENCE, *selected_modes(items), REFERENCE_LATE)
    futures = {name: pool.submit(run_campaign, name, root, pki) for name in names}
    pool.shutdown(wait=False)
    return futures


@pytest.fixture(scope="module")
def campaigns(background: dict[str, Future[Run]]) -> dict[str, Future[Run]]:
    return background


@pytest.fixture(scope="module")
def reference(campaigns: dict[str, Future[Run]]) -> Run:
    """The slower of the two reference runs (first and last in the pool)."""
    runs = [campaigns[name].result() for name in REFERENCES]
    for run in runs:
        print(f"\n{run.summary(run.wall_s)}")
        assert run.exit_code == 0, f"the reference campaign must pass to be a yardstick (see {run.output})"
    return max(runs, key=lambda run: run.wall_s)


def counted(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks of a scenario that speak for a requirement (not its prerequisites)."""
    return [c for c in scenario["checks"] if not c.get("prerequisite")]


def judged_pass(scenario: dict[str, Any]) -> Iterator[bool]:
    """For each judgement (passed or failed) the scenario made on a requirement: did it pass?"""
    return (c["status"] == "passed" for c in counted(scenario) if c["status"] != "inconclusive")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1


@pytest.mark.parametrize("mode", MODES)
def test_hostile_sut_ends_in_time_and_passes_nothing(
    mode: str, campaigns: dict[str, Future[Run]], reference: Run
) -> None:
    run = campaigns[mode].result()
    bound_s = TIME_FACTOR * reference.wall_s
    print(f"\n{run.summary(bound_s)}")

    assert (run.output / "results.json").is_file(), f"no results.json ({run.output})"
    doc = run.results
    validate_results(doc)
    report = _Tags()
    report.feed((run.output / "report.html").read_text(encoding="utf-8"))
    assert report.tags["html"] == 1 and report.tags["table"] > 0, "report.html is not the campaign's report"

    affected = [s for s in doc["scenarios"] if s["needs_sut"]]
    if mode != "no_tls":
        affected = [s for s in affected if s["nodeid"] not in HANDSHAKE_ONLY]
    assert len(affected) > len(HANDSHAKE_ONLY), "the scenarios of the SUT did not run"
    passed = [s["nodeid"] for s in affected if s["outcome"] == "passed" and any(judged_pass(s))]
    assert not passed, f"{mode}: scenarios passed against a hostile proxy: {passed}"
    on_warnings = [s["nodeid"] for s in affected if s["outcome"] == "passed" and not any(judged_pass(s))]
    if (
        on_warnings
    ):  # `scenario_outcome` calls "passed" a scenario whose checks only warned: shown, not hidden
        print(f"{mode}: 'passed' with no check passed (warnings and inconclusive only): {on_warnings}")
    verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
    vouched = {c["requirement"] for s in affected for c in counted(s) if c["status"] == "passed"}
    conformant = sorted(rid for rid in vouched if verdicts.get(rid) == "pass")
    assert not conformant, (
        f"{mode}: requirements judged conformant on a hostile proxy's answers: {conformant}"
    )
    assert run.exit_code in (1, 3), f"{mode}: exit status {run.exit_code}, BRIEF §4 wants 1 or 3"
    assert run.wall_s <= bound_s, f"{mode}: {run.wall_s:.1f} s, more than {TIME_FACTOR:g}x the reference"
    assert run.peak_rss_mib < PEAK_RSS_BOUND_MIB, f"{mode}: peak RSS {run.peak_rss_mib:.0f} MiB"
