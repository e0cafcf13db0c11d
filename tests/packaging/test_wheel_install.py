"""The distribution is a complete harness (issue 12): the sdist builds a wheel that carries the scenarios,
the OpenAPI documents and the fixtures; installed into a fresh virtual environment, away from the
source tree, that wheel runs a campaign from an unrelated directory.

The wheel is built from the sdist, not from the tree, so that one build proves both: what the sdist
leaves out, the wheel lacks. Dependencies come from the package index (pip's cache makes it quick).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SOURCE_TREE = Path(__file__).resolve().parents[2]
DATA_DIRECTORIES = ("scenarios", "swagger", "fixtures")
EMBEDDED = "conformance/_data"  # where the wheel carries them (setup.py, conformance/paths.py)
# What a clean clone lacks: copying the tree without them is building "from a clean clone".
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", ".ci", ".tox", "reports", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)
BUILD_TIMEOUT_S = 180.0
INSTALL_TIMEOUT_S = 300.0  # resolving the dependencies against the index, downloads on a cold cache
COMMAND_TIMEOUT_S = 60.0
CAMPAIGN_TIMEOUT_S = 240.0  # about 10 s alone; CI runs other campaigns at the same time
BIN = "Scripts" if os.name == "nt" else "bin"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    elsewhere: Path  # a working directory with nothing of the source tree in it

    def command(self, name: str) -> str:
        return str(self.venv / BIN / name)


def _environment(venv: Path | None = None) -> dict[str, str]:
    """This process's environment without what would put the source tree, or this session, in reach."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("PYTEST_")}
    if venv is not None:
        env["PATH"] = os.pathsep.join([str(venv / BIN), env.get("PATH", "")])
    return env


def _run(
    command: list[str], *, cwd: Path, timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run to completion within `timeout_s`; a non-zero exit fails the test with the command's output."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=dict(env) if env is not None else _environment(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


def _pip(*arguments: str, cwd: Path, timeout_s: float) -> None:
    """This interpreter's pip (`--python` installs into another environment, which needs no pip)."""
    _run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *arguments],
        cwd=cwd,
        timeout_s=timeout_s,
    )


def _new_venv(path: Path) -> Path:
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)], cwd=path.parent, timeout_s=60.0)
    return path


def _python(venv: Path) -> str:
    return str(venv / BIN / "python")


def _build_wheel_from_sdist(source: Path, dist: Path, work: Path) -> Path:
    """The sdist, then the wheel from it, by the build backend pyproject.toml declares, installed once in
    an environment of its own (pip's build isolation would install it a second time)."""
    pyproject = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    builder = _python(_new_venv(work / "build-venv"))
    _pip(
        "--python",
        builder,
        "install",
        "-q",
        *pyproject["build-system"]["requires"],
        cwd=work,
        timeout_s=INSTALL_TIMEOUT_S,
    )
    hook = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    name = _run([builder, "-c", hook, str(dist)], cwd=source, timeout_s=BUILD_TIMEOUT_S)
    sdist = dist / name.stdout.strip().splitlines()[-1]
    _pip(
        "--python",
        builder,
        "wheel",
        "--no-build-isolation",
        "--no-deps",
        "-q",
        "-w",
        str(dist),
        str(sdist),
        cwd=work,
        timeout_s=BUILD_TIMEOUT_S,
    )
    (wheel,) = dist.glob("psc_conformance-*.whl")
    return wheel


def _data_files(root: Path) -> set[str]:
    """The files of the data directories, relative to `root`, as a clean clone has them."""
    return {
        path.relative_to(root).as_posix()
        for name in DATA_DIRECTORIES
        for path in (root / name).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """sdist from a clean copy of the tree, wheel from the sdist, wheel into a fresh virtual environment."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "psc-conformance"
    shutil.copytree(SOURCE_TREE, source, ignore=NOT_IN_A_CLONE)
    wheel = _build_wheel_from_sdist(source, work / "dist", work)
    shutil.rmtree(source)  # nothing of the tree left to find by accident
    venv = _new_venv(work / "venv")
    # --no-compile: byte-compiling every module of every dependency is half the install's time; Python
    # compiles what the commands import anyway.
    _pip(
        "--python",
        _python(venv),
        "install",
        "-q",
        "--no-compile",
        str(wheel),
        cwd=work,
        timeout_s=INSTALL_TIMEOUT_S,
    )
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    return Installed(wheel=wheel, venv=venv, elsewhere=elsewhere)


def test_wheel_carries_every_scenario_openapi_document_and_fixture(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        carried = {
            name.removeprefix(f"{EMBEDDED}/") for name in wheel.namelist() if name.startswith(EMBEDDED)
        }
    expected = _data_files(SOURCE_TREE)
    assert {"scenarios/conftest.py", "swagger/api-psc.json", "fixtures/identities.toml"} <= expected
    assert expected - carried == set()
    assert "pyproject.toml" in carried  # the campaign's pytest reads the same settings in both layouts


def test_provider_campaign_from_an_unrelated_directory(installed: Installed) -> None:
    _run(
        [installed.command("psc-conformance"), "run", "--role", "provider"],
        cwd=installed.elsewhere,
        env=_environment(installed.venv),
        timeout_s=CAMPAIGN_TIMEOUT_S,
    )
    latest = installed.elsewhere / "reports" / "latest"
    assert (latest / "report.html").is_file()
    doc: dict[str, Any] = json.loads((latest / "results.json").read_text(encoding="utf-8"))
    nodeids = [scenario["nodeid"] for scenario in doc["scenarios"]]
    assert nodeids, "the campaign ran no scenario"
    # the same node ids as from the source tree: rootdir is the directory that holds scenarios/
    assert all(n.startswith(("scenarios/harness/", "scenarios/provider/")) for n in nodeids), nodeids[:5]


def test_python_m_conformance_lists_requirements_with_their_scenarios(installed: Installed) -> None:
    listing = _run(
        [installed.command("python"), "-m", "conformance", "requirements", "--json"],
        cwd=installed.elsewhere,
        env=_environment(installed.venv),
        timeout_s=COMMAND_TIMEOUT_S,
    )
    assert "unavailable" not in listing.stderr  # the scenarios were found and collected
    document = json.loads(listing.stdout)
    scenarios = [s for c in document["catalogues"] for r in c["requirements"] for s in r["scenarios"]]
    assert any(s.startswith("scenarios/provider/") for s in scenarios)
    assert any(s.startswith("scenarios/consumer/") for s in scenarios)


def test_other_commands_work_from_an_unrelated_directory(installed: Installed) -> None:
    tool = installed.command("psc-conformance")
    env = _environment(installed.venv)
    for arguments in (["faults"], ["variants"], ["pki", "--out", "pki"]):
        _run([tool, *arguments], cwd=installed.elsewhere, env=env, timeout_s=COMMAND_TIMEOUT_S)
    assert (installed.elsewhere / "pki" / "counterparts.json").is_file()


def test_plain_pytest_runs_the_installed_scenarios(installed: Installed) -> None:
    """The `pytest scenarios` equivalent: pytest on the installed scenarios, the campaign plugin loaded
    through its entry point, from an unrelated directory."""
    python = installed.command("python")
    env = _environment(installed.venv)
    where = _run(
        [python, "-c", "from conformance.paths import scenarios_root; print(scenarios_root())"],
        cwd=installed.elsewhere,
        env=env,
        timeout_s=COMMAND_TIMEOUT_S,
    )
    scenarios = Path(where.stdout.strip())
    assert installed.venv in scenarios.parents  # the installed copy, not a source tree
    output = installed.elsewhere / "plain-pytest"
    _run(
        [
            python,
            "-m",
            "pytest",
            str(scenarios / "harness"),
            str(scenarios / "provider"),
            "--psc-role",
            "provider",
            f"--psc-output={output}",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=installed.elsewhere,
        env=env,
        timeout_s=CAMPAIGN_TIMEOUT_S,
    )
    assert (output / "report.html").is_file()
    doc: dict[str, Any] = json.loads((output / "results.json").read_text(encoding="utf-8"))
    assert {s["outcome"] for s in doc["scenarios"]} == {"passed"}
