"""Both matrices' campaigns, run once in one pool (`PSC_MATRIX_PARALLEL`, default 6 at a time).

A campaign mostly waits on the short timers of the embedded reference SUT, so the detection matrix
(a campaign per fault, and the reference) and the variation matrix (a campaign per variant) share
one pool: the machine stays busy and the two finish together. Only the campaigns of the selected
tests run (`-k` narrows them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.campaign.matrix import Campaigns, Job, Kind, run_campaigns
from conformance.roles import Role

PARALLEL = int(os.environ.get("PSC_MATRIX_PARALLEL", "6"))


@pytest.fixture(scope="session")
def campaigns(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Campaigns:
    jobs: list[Job] = []
    here = Path(__file__).parent
    for item in request.session.items:
        if item.path.parent != here:
            continue  # another module's `fault` or `variant` parameter is no campaign of ours
        params = getattr(getattr(item, "callspec", None), "params", {})
        role = Role(getattr(item.module, "ROLE", Role.CONSUMER))
        if "fault" in params:
            jobs.append(Job(Kind.FAULT, params["fault"], role))
        elif "variant" in params:
            jobs.append(Job(Kind.VARIANT, params["variant"], role))
        elif item.name.startswith("test_reference_"):
            jobs.append(Job(Kind.FAULT, None, role))
    return run_campaigns(jobs, tmp_path_factory.mktemp("matrices"), parallel=PARALLEL)
