"""The HARNESS-NN checks catch a broken harness: one breakage each, failing exactly its id.

The harness scenarios are copied into a pytester tree one level below a conftest that swaps a
fixture for a broken one; the rest of the campaign must stay green, so a breakage never
shows up under an unrelated requirement.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conformance.paths import scenarios_root

BREAKAGES = {
    "HARNESS-01": """
import dataclasses, pytest
from conformance.pki import build_pki

@pytest.fixture(scope="session")
def pki():
    good = build_pki()
    # a counterpart presenting an expired server certificate
    return dataclasses.replace(good, servers={**good.servers, "api": good.negatives["expired"]})
""",
    "HARNESS-02": """
import dataclasses, pytest
from conformance.pki import LPS1_CLIENT_ID, build_pki

@pytest.fixture(scope="session")
def pki():
    good = build_pki()
    # the LPS 1 certificate names another structure than the one it was issued for
    profile = dataclasses.replace(good.client_profiles[LPS1_CLIENT_ID], structure_id="399999000000999")
    return dataclasses.replace(good, client_profiles={**good.client_profiles, LPS1_CLIENT_ID: profile})
""",
    "HARNESS-03": """
import ssl, pytest
from conformance.pki import server_context

@pytest.fixture(scope="module")
def mtls_listener_context(pki):
    # a listener that still speaks TLS 1.0
    return server_context(pki, "psc", check_crl=True, min_version=ssl.TLSVersion.TLSv1)
""",
    "HARNESS-04": """
import pytest
from conformance.pki import server_context

@pytest.fixture(scope="module")
def mtls_listener_context(pki):
    # a listener that trusts a second root and never looks at the CRL
    context = server_context(pki, "psc", check_crl=False)
    context.load_verify_locations(cadata=pki.rogue_root.cert_pem)
    return context
""",
}


def run_broken_campaign(pytester: pytest.Pytester, broken_conftest: str) -> dict[str, str]:
    source = scenarios_root()
    target = pytester.path / "scenarios"
    (target / "harness" / "broken").mkdir(parents=True)
    shutil.copy(source / "conftest.py", target / "conftest.py")
    shutil.copy(source / "harness" / "conftest.py", target / "harness" / "conftest.py")
    for module in (source / "harness").glob("test_*.py"):
        shutil.copy(module, target / "harness" / "broken" / module.name)
    (target / "harness" / "broken" / "conftest.py").write_text(broken_conftest, encoding="utf-8")
    out = pytester.path / "out"
    pytester.runpytest_subprocess(str(target), f"--psc-output={out}", "-p", "no:cacheprovider")
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {r["id"]: r["verdict"] for r in doc["requirements"] if r["id"].startswith("HARNESS-")}


def test_intact_harness_passes_every_self_check(pytester: pytest.Pytester) -> None:
    verdicts = run_broken_campaign(pytester, "")
    assert set(verdicts.values()) == {"pass"}, verdicts


@pytest.mark.parametrize("requirement", sorted(BREAKAGES))
def test_each_breakage_fails_exactly_its_requirement(pytester: pytest.Pytester, requirement: str) -> None:
    verdicts = run_broken_campaign(pytester, BREAKAGES[requirement])
    assert verdicts[requirement] == "fail", verdicts
    others = {rid: v for rid, v in verdicts.items() if rid != requirement}
    assert set(others.values()) == {"pass"}, others


def test_scenarios_root_is_the_source_tree() -> None:
    assert (scenarios_root() / "harness").is_dir()
    assert scenarios_root().parent == Path(__file__).resolve().parents[2]
