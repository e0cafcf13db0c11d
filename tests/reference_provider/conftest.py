"""Fixtures of the reference provider's tests: one environment (PKI, counterparts.json, stubs) per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_testbed import Bench, BenchFactory, Environment, start_environment, stop_environment

from conformance.pki import TestPKI


@pytest.fixture(scope="module")
def env(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    environment = start_environment(pki, tmp_path_factory.mktemp("provider"))
    yield environment
    stop_environment(environment)


@pytest.fixture(autouse=True)
def _stubs_back_to_normal(env: Environment) -> None:
    env.psc.reset()
    env.harness.reset()


@pytest.fixture(scope="module")
def bench_factory(env: Environment) -> Iterator[BenchFactory]:
    factory = BenchFactory(env)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def bench(bench_factory: BenchFactory) -> Bench:
    """The correct reference provider, shared by a module's tests."""
    return bench_factory()
