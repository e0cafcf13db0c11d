"""The counterparts' signing keys are generated once per process and purpose, and purposes never share."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.counterparts import signing_keys
from conformance.counterparts.signing_keys import KeyPurpose, shared_signing_key
from conformance.counterparts.suite import Counterparts
from conformance.pki import TestPKI
from conformance.standards.jose import Alg, SigningKey


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> Counter[Alg]:
    """An empty key cache, and how many keys of each algorithm are generated from now on."""
    counts: Counter[Alg] = Counter()
    original = SigningKey.generate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[SigningKey], alg: Alg = "RS256") -> SigningKey:
        counts[alg] += 1
        key: SigningKey = original(cls, alg)
        return key

    monkeypatch.setattr(signing_keys, "_keys", {})
    monkeypatch.setattr(SigningKey, "generate", classmethod(counting))
    return counts


def test_counterparts_built_twice_generate_their_keys_once(pki: TestPKI, generated: Counter[Alg]) -> None:
    first, second = Counterparts.build(pki), Counterparts.build(pki)
    assert second.psc.signing_key is first.psc.signing_key
    assert second.api_as.signing_key is first.api_as.signing_key
    assert second.api.signing_key is first.api.signing_key
    # PSC's and the authorization server's RSA keys, the API PSC's EC key: once each, not once a build
    assert generated == {"RS256": 2, "ES256": 1}


def test_no_two_purposes_share_a_key(pki: TestPKI) -> None:
    """A tampered or foreign token must never verify under a published key."""
    counterparts = Counterparts.build(pki)
    keys = {
        "PSC": counterparts.psc.signing_key,
        "PSC impostor": counterparts.psc._impostor_key,
        "API authorization server": counterparts.api_as.signing_key,
        "API authorization server, foreign": counterparts.api_as.token_minter.foreign_key,
        "API PSC session data": counterparts.api.signing_key,
    }
    assert len({key.kid for key in keys.values()}) == len(keys), {name: key.kid for name, key in keys.items()}
    assert keys["PSC impostor"].alg == keys["PSC"].alg  # an impostor signs with the algorithm PSC announces


def test_concurrent_first_uses_get_one_key(generated: Counter[Alg], monkeypatch: pytest.MonkeyPatch) -> None:
    """Counterparts start in concurrent scenarios: racing callers must not each get their own key."""
    counting = SigningKey.generate.__func__  # type: ignore[attr-defined]

    def slow(cls: type[SigningKey], alg: Alg = "RS256") -> SigningKey:
        time.sleep(0.05)  # widens the window in which a second caller would generate another key
        key: SigningKey = counting(cls, alg)
        return key

    monkeypatch.setattr(SigningKey, "generate", classmethod(slow))
    start = threading.Barrier(4)

    def first_use() -> SigningKey:
        start.wait(timeout=5)
        return shared_signing_key(KeyPurpose.API_SESSION_DATA, "ES256")

    with ThreadPoolExecutor(4) as pool:
        keys = [future.result(timeout=5) for future in [pool.submit(first_use) for _ in range(4)]]
    assert all(key is keys[0] for key in keys)
    assert generated == {"ES256": 1}
