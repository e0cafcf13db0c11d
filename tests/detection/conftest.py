"""Both matrices' campaigns, for both roles, run once in one pool (`PSC_MATRIX_PARALLEL`, default 6).

A campaign mostly waits on the short timers of the embedded reference SUT, so the detection matrix
(a campaign per fault, and the reference) and the variation matrix (a campaign per variant) of each
role share one pool: the machine stays busy and they finish together. The pool starts in the
background once the work of the modules marked `before_matrices` has ended (it starts with the session:
tests/conftest.py), while the rest of the test suite runs (it puts the matrices' tests last); their
`campaigns` fixture then waits for it. Only the campaigns of the selected tests run (`-k` narrows them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance.campaign.matrix import Campaigns, Job, Kind, run_campaigns
from conformance.roles import Role

PARALLEL = int(os.environ.get("PSC_MATRIX_PARALLEL", "6"))
# Each campaign's --jobs: the pool keeps both cores busy on its own, and four workers a campaign cost
# about a tenth less CPU than the default eight there (less contention for the interpreter lock), for the
# same verdicts (tests/cli/test_concurrent_campaign.py).
CAMPAIGN_JOBS = int(os.environ.get("PSC_MATRIX_CAMPAIGN_JOBS", "4"))
# The pool runs behind the rest of the suite, which runs one test at a time: at a lower priority, the
# test running in front gets the CPU it needs and the pool takes the rest, instead of six campaigns
# outweighing it six to one.
# At 10 both end together, but a loaded CI machine then starved four campaigns past the reference proxy's
# timers (requirements left unjudged); at 5 the tests in front end after the pool (docs/performance.md).
NICENESS = int(os.environ.get("PSC_MATRIX_NICENESS", "5"))
_POOL = pytest.StashKey[Future[Campaigns]]()
_DIRECTORY = pytest.StashKey[Path]()


def matrix_jobs(items: list[pytest.Item]) -> list[Job]:
    """The campaigns the selected matrix tests need, from their parameters and their module's ROLE."""
    here = Path(__file__).parent
    jobs: list[Job] = []
    for item in items:
        if item.path.parent != here:
            continue  # another module's `fault` or `variant` parameter is no campaign of ours
        params = getattr(getattr(item, "callspec", None), "params", {})
        role = Role(getattr(getattr(item, "module", None), "ROLE", Role.CONSUMER))
        if "fault" in params:
            jobs.append(Job(Kind.FAULT, params["fault"], role))
        elif "variant" in params:
            jobs.append(Job(Kind.VARIANT, params["variant"], role))
        elif item.name.startswith("test_reference_"):
            jobs.append(Job(Kind.FAULT, None, role))
    return jobs


def pytest_collection_finish(session: pytest.Session) -> None:
    jobs = matrix_jobs(session.items)
    if not jobs or session.config.option.collectonly:
        return
    directory = Path(tempfile.mkdtemp(prefix="psc-matrices-"))
    gate = session.config.pluginmanager.get_plugin("psc-background")  # tests/conftest.py

    def after_the_first_tests() -> Campaigns:
        if gate is not None:
            gate.matrices_may_start.wait()
            if gate.session_ended:
                raise RuntimeError("the session ended before the matrices' campaigns started")
        return run_campaigns(
            jobs, directory, parallel=PARALLEL, campaign_jobs=CAMPAIGN_JOBS, niceness=NICENESS
        )

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="psc-matrices")
    session.config.stash[_POOL] = executor.submit(after_the_first_tests)
    session.config.stash[_DIRECTORY] = directory
    executor.shutdown(wait=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    pool = session.config.stash.get(_POOL, None)
    if pool is not None:
        pool.cancel()
        if not pool.cancelled():
            pool.exception()  # wait: never leave campaign processes behind the session
    directory = session.config.stash.get(_DIRECTORY, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def campaigns(request: pytest.FixtureRequest) -> Campaigns:
    pool = request.config.stash.get(_POOL, None)
    if pool is None:
        pytest.fail("the matrices' campaigns were not started (see tests/detection/conftest.py)")
    return pool.result()
