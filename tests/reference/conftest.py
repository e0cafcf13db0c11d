"""The reference proxy against the harness's counterparts, over real mTLS on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conformance.counterparts.settings import CounterpartSettings, PscTimings
from conformance.counterparts.suite import Counterparts
from conformance.pki import TestPKI, load_pki_files, write_pki
from conformance.reference.consumer.proxy import ReferenceProxy
from conformance.reference.consumer.settings import load_settings

P12_PASSWORD = "psc-conformance"


@dataclass
class Bench:
    counterparts: Counterparts
    proxy: ReferenceProxy
    directory: Path

    def lps(self) -> httpx.Client:
        """An LPS calling the proxy's API Conformité (no client certificate, the proxy's CA trusted)."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.directory / "ca-bundle.pem"))
        return httpx.Client(base_url=self.proxy.url, verify=context, timeout=10)


def write_proxy_config(directory: Path, **proxy: object) -> Path:
    lines = ["[proxy]", 'counterparts = "counterparts.json"', "port = 0"]
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in proxy.items()]
    path = directory / "reference-proxy.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def bench_factory(pki: TestPKI, tmp_path: Path) -> Iterator[object]:
    started: list[Bench] = []

    def make(psc_timings: PscTimings | None = None, **proxy: object) -> Bench:
        timings = psc_timings or PscTimings(ciba_interval_s=0.05, slow_down_increment_s=0.05)
        settings = CounterpartSettings(psc_port=0, api_as_port=0, api_port=0, psc_timings=timings)
        counterparts = Counterparts.build(pki, settings).start()
        if (tmp_path / "pki.json").exists():
            files = load_pki_files(tmp_path)
        else:
            files = write_pki(pki, tmp_path, p12_password=P12_PASSWORD)
        counterparts.write_counterparts_file(tmp_path, files, P12_PASSWORD)
        proxy_settings = load_settings(write_proxy_config(tmp_path, **proxy))
        bench = Bench(counterparts, ReferenceProxy(proxy_settings).start(), tmp_path)
        started.append(bench)
        return bench

    yield make
    for bench in started:
        bench.proxy.stop()
        bench.counterparts.stop()


@pytest.fixture
def bench(bench_factory) -> Bench:  # type: ignore[no-untyped-def]
    return bench_factory()  # type: ignore[no-any-return]
