"""Fidelity of the simulated PSC against an independent implementation.

A widely used relying-party library that was not written here, panva's `openid-client` v6 for Node
(OpenID Certified), completes discovery, CIBA in poll mode, the token, userinfo, introspection,
refresh and end-session against `SimulatedPSC`, over mTLS, with the test CA trusted (no
verification turned off). Where the library disagrees with the simulation, the simulation is
wrong until shown otherwise: this test is not to be bent to make it pass.

The library is installed by `npm ci` from `package-lock.json` (exact versions) when `node_modules`
is missing or was installed from another lock file. Node.js and npm must be on PATH: without them
the test fails rather than skips, as CI must prove fidelity.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.counterparts.observations import RECORDS, Observation
from conformance.counterparts.psc import SimulatedPSC
from conformance.counterparts.settings import PscTimings
from conformance.pki import LPS1_CLIENT_ID, TestPKI, write_pki

HERE = Path(__file__).resolve().parent
RP = HERE / "rp.mjs"
LOCK = HERE / "package-lock.json"
MODULES = HERE / "node_modules"
STAMP = MODULES / ".psc-fidelity-lock.sha256"  # sha256 of the lock file node_modules was installed from
INSTALL_LOCK = HERE / ".npm-ci.lock"
MIN_NODE = (20, 18, 1)  # undici 7's engines field
NPM_CI_TIMEOUT_S = 300
RP_TIMEOUT_S = 60

PS1 = "899900000019"  # test identity: CAMILLE MEDECIN-TEST, RPPS 899900000019
BINDING_MESSAGE = "42"
CHANNEL = "MOBILE"
PINNED = {"openid-client": "6.8.9", "oauth4webapi": "3.8.8", "jose": "6.2.17", "undici": "7.30.2"}
# What a conforming client's full flow makes the simulated PSC record; any other kind is a deviation.
EXPECTED_KINDS = RECORDS | {
    "client_auth",
    "ciba.request",
    "ciba.poll",
    "token.issued",
    "token.refresh",
    "userinfo",
    "introspection",
    "logout",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name!r} is not on PATH: the fidelity test needs Node.js >= {'.'.join(map(str, MIN_NODE))} "
            "and npm (apt-get install nodejs npm; .ci/run installs them). It fails rather than skips: "
            "CI must prove the simulated PSC against an independent OpenID client."
        )
    return path


def _lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def _installed() -> bool:
    return (
        STAMP.is_file()
        and STAMP.read_text().strip() == _lock_digest()
        and all((MODULES / name / "package.json").is_file() for name in PINNED)
    )


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Serialise `npm ci` between test processes sharing this tree."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js, with the pinned openid-client installed in tests/fidelity/node_modules."""
    node = _tool("node")
    npm = _tool("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    if found < MIN_NODE:
        pytest.fail(f"Node.js {version} is too old: >= {'.'.join(map(str, MIN_NODE))} is needed")
    with _exclusive(INSTALL_LOCK):
        if not _installed():
            env = {
                **os.environ,
                "npm_config_update_notifier": "false",
                "npm_config_fund": "false",
                "npm_config_audit": "false",
            }
            try:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=HERE,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=NPM_CI_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"npm ci in {HERE} did not finish in {NPM_CI_TIMEOUT_S} s")
            if done.returncode != 0:
                pytest.fail(
                    f"npm ci in {HERE} failed (exit {done.returncode}):\n{done.stdout[-3000:]}"
                    f"\n{done.stderr[-3000:]}"
                )
            STAMP.write_text(_lock_digest() + "\n")
    return node


@dataclass(frozen=True)
class Run:
    """One run of the independent relying party against a fresh simulated PSC."""

    result: dict[str, Any]
    observations: list[Observation]
    psc: SimulatedPSC
    pki: TestPKI
    stderr: str
    seconds: float

    def step(self, name: str) -> dict[str, Any]:
        """The named step's output, or a failure quoting the library's own error."""
        if name not in self.result:
            failed = self.result.get("step", "?")
            error = json.dumps(self.result.get("error"), indent=2)
            requests = json.dumps(self.result.get("requests"), indent=2)
            pytest.fail(
                f"openid-client did not complete {name!r}: it stopped at step {failed!r} with\n{error}"
                f"\nrequests made:\n{requests}\nstderr:\n{self.stderr[-3000:]}"
            )
        value: dict[str, Any] = self.result[name]
        return value

    def kinds(self, client_id: str | None = None) -> list[str]:
        return [o.kind for o in self.observations if client_id is None or o.client_id == client_id]


@pytest.fixture(scope="module")
def run(node: str, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    files = write_pki(pki, tmp_path_factory.mktemp("fidelity-pki"))
    lps = files.clients[LPS1_CLIENT_ID]
    proxy = files.clients[pki.proxy_client_id]
    with SimulatedPSC(pki, timings=PscTimings(ciba_interval_s=1)) as psc:
        args = {
            "issuer": psc.issuer,
            "ca": files.ca_bundle,
            "client-id": LPS1_CLIENT_ID,
            "cert": lps.pem,
            "key": lps.key,
            "proxy-client-id": pki.proxy_client_id,
            "proxy-cert": proxy.pem,
            "proxy-key": proxy.key,
            "login-hint": PS1,
            "binding-message": BINDING_MESSAGE,
            "channel": CHANNEL,
        }
        command = [node, str(RP)] + [item for k, v in args.items() for item in (f"--{k}", str(v))]
        started = time.monotonic()
        try:
            done = subprocess.run(
                command, cwd=HERE, capture_output=True, text=True, timeout=RP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as expired:
            pytest.fail(f"rp.mjs did not finish in {RP_TIMEOUT_S} s; stderr: {expired.stderr!r}")
        seconds = time.monotonic() - started
        try:
            result = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(
                f"rp.mjs exited {done.returncode} without a JSON result\nstdout:\n{done.stdout[-3000:]}"
                f"\nstderr:\n{done.stderr[-3000:]}"
            )
        if (done.returncode == 0) != (result.get("ok") is True):
            pytest.fail(f"rp.mjs exited {done.returncode} with ok={result.get('ok')!r}")
        yield Run(result, list(psc.observations), psc, pki, done.stderr, seconds)


def test_the_pinned_library_ran(run: Run) -> None:
    assert {k: run.result["versions"][k] for k in PINNED} == PINNED
    run.step("end_session")  # the last step: fails with the library's error if any step did not pass
    assert run.result["ok"] is True
    assert run.seconds < 15, f"the relying party took {run.seconds:.1f} s"


def test_discovery(run: Run) -> None:
    discovery = run.step("discovery")
    assert discovery["issuer"] == run.psc.issuer
    assert discovery["wallet_document_equal"] is True  # wallet-openid-configuration == openid-configuration
    assert discovery["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert "tls_client_auth" in discovery["token_endpoint_auth_methods_supported"]
    assert "urn:openid:params:grant-type:ciba" in discovery["grant_types_supported"]
    assert discovery["client"] == {"lps": LPS1_CLIENT_ID, "proxy": run.pki.proxy_client_id}
    paths = [r["path"] for r in run.result["requests"] if r["method"] == "GET" and "well-known" in r["path"]]
    assert paths.count("/auth/realms/esante-wallet/.well-known/openid-configuration") == 2  # LPS, proxy


def test_ciba_poll_mode(run: Run) -> None:
    ciba = run.step("ciba")
    assert isinstance(ciba["auth_req_id"], str) and ciba["auth_req_id"]
    assert ciba["interval"] == 1 and ciba["expires_in"] > 0
    request = run.psc.observations.find("ciba.request", client_id=LPS1_CLIENT_ID)
    assert [o.data["auth_req_id"] for o in request] == [ciba["auth_req_id"]]
    assert request[0].data["scope"] == ("openid", "scope_all")
    assert request[0].data["acr_values"] == "eidas1"
    assert (request[0].data["binding_message"], request[0].data["channel"]) == (BINDING_MESSAGE, CHANNEL)
    polls = [o.data["result"] for o in run.observations if o.kind == "ciba.poll"]
    assert polls == ["authorization_pending", "approved"]  # the library honoured `interval`
    assert run.step("token")["polls"] == 2


def test_tokens_and_id_token_claims(run: Run) -> None:
    token = run.step("token")
    assert token["token_type"] == "bearer"  # the library lower-cases it
    assert {"access_token", "refresh_token", "id_token"} <= set(token["fields"])
    claims = token["id_token_claims"]
    assert claims["iss"] == run.psc.issuer
    assert claims["aud"] == LPS1_CLIENT_ID
    assert claims["acr"] == "eidas1"
    assert claims["SubjectNameID"] == PS1
    assert claims["sub"] and claims["sub"] != claims["SubjectNameID"]
    issued = run.psc.observations.find("token.issued", client_id=LPS1_CLIENT_ID)
    assert issued and issued[0].data["method"] == "tls_client_auth"
    assert issued[0].data["certificate_x5t"] == run.pki.clients[LPS1_CLIENT_ID].x5t_s256


def test_userinfo(run: Run) -> None:
    claims = run.step("userinfo")["claims"]
    assert claims["sub"] == run.step("token")["id_token_claims"]["sub"]  # the library checked it too
    assert claims["SubjectNameID"] == PS1


def test_introspection_by_the_proxy(run: Run) -> None:
    answer = run.step("introspection")["response"]
    assert answer["active"] is True
    assert answer["SubjectNameID"] == PS1
    assert answer["client_id"] == LPS1_CLIENT_ID
    assert answer["cnf"] == {"x5t#S256": run.pki.clients[LPS1_CLIENT_ID].x5t_s256}
    seen = run.psc.observations.find("introspection")
    assert seen and seen[0].client_id == run.pki.proxy_client_id
    assert seen[0].data["role"] == "proxy" and seen[0].data["active"] is True


def test_refresh(run: Run) -> None:
    token, refresh = run.step("token"), run.step("refresh")
    assert refresh["new_access_token"] is True
    assert refresh["access_token_sha256"] != token["access_token_sha256"]
    assert refresh["new_refresh_token"] is True  # rotated, as Keycloak does
    assert refresh["id_token_claims"]["sub"] == token["id_token_claims"]["sub"]
    assert refresh["id_token_claims"]["acr"] == "eidas1"
    assert refresh["userinfo_subject"] == token["id_token_claims"]["sub"]
    assert len(run.psc.observations.find("token.refresh", client_id=LPS1_CLIENT_ID)) == 1


def test_end_session(run: Run) -> None:
    end = run.step("end_session")
    assert end["endpoint"] == run.psc.endpoint("end_session")
    assert end["parameters"] == ["client_id", "id_token_hint"]
    assert end["status"] == 200
    assert end["introspection_after_logout"] == {"active": False}


def test_mtls_client_auth_and_no_deviation(run: Run) -> None:
    run.step("end_session")
    auth = run.psc.observations.find("client_auth")
    assert {o.data["method"] for o in auth} == {"tls_client_auth"}
    assert {o.data["endpoint"] for o in auth if o.client_id == LPS1_CLIENT_ID} == {"backchannel", "token"}
    assert {o.data["role"] for o in auth if o.client_id == run.pki.proxy_client_id} == {"proxy"}
    deviations = [(o.kind, o.client_id, o.detail) for o in run.observations if o.kind not in EXPECTED_KINDS]
    assert deviations == [], f"the simulated PSC recorded deviations of a certified client: {deviations}"
    refused = [
        (r["method"], r["path"], r.get("status")) for r in run.result["requests"] if r.get("status") != 200
    ]
    pending_poll = ("POST", "/auth/realms/esante-wallet/protocol/openid-connect/token", 400)
    assert refused == [pending_poll], run.result["requests"]  # only the authorization_pending answer
