"""Each allowed variant of the reference provider shows its behaviour, and the normal flow still works."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import jwt
import pytest
from provider_testbed import JWT_TOKEN_TYPE, Bench, BenchFactory, decoded, refused, served

from conformance.reference.provider.variants import VARIANT_CATALOGUE, VARIANTS, variant_settings
from conformance.reference.registry import variant_catalogue
from conformance.roles import Role

Probe = Callable[[Bench], bool]


def _introspected_at_the_harness(bench: Bench) -> bool:
    answer = bench.call(bench.harness_token())
    return served(answer) and bool(bench.env.harness.introspections)


def _minimal_challenges(bench: Bench) -> bool:
    expired = bench.call(bench.harness_token(exp=1))
    no_scope = bench.call(bench.harness_token(scope="openid"))
    return (expired.status_code, no_scope.status_code) == (401, 403) and {
        expired.headers["www-authenticate"],
        no_scope.headers["www-authenticate"],
    } == {'Bearer realm="apipsc"'}


def _refused_without_certificate(bench: Bench) -> bool:
    return refused(lambda: bench.call(bench.harness_token(), identity=None))


def _tls_1_2_refused(bench: Bench) -> bool:
    context = bench.env.context(max_version=ssl.TLSVersion.TLSv1_2)

    def handshake_with(port: int) -> Callable[[], object]:
        return lambda: bench.handshake(port, context)

    return all(refused(handshake_with(listener.port)) for listener in bench.provider.listeners.values())


PROBES: dict[str, Probe] = {
    "subject_token_type_jwt": lambda b: served(b.exchange(form={"subject_token_type": JWT_TOKEN_TYPE})),
    "rs_introspection": _introspected_at_the_harness,
    "token_lifetime_1h": lambda b: b.exchange().json()["expires_in"] == 3600,
    "rfc6750_minimal_challenge": _minimal_challenges,
    "aud_as_list": lambda b: decoded(b.api_token())["aud"] == ["apipsc"],
    "introspection_client_secret_basic": lambda b: (
        served(b.exchange()) and b.env.psc.calls[-1].authorization == "basic"
    ),
    "rs_rejects_in_handshake": _refused_without_certificate,
    "exchange_answer_with_refresh_token": lambda b: (
        {"refresh_token", "refresh_expires_in"} <= set(b.exchange().json())
    ),
    "api_tokens_rs256": lambda b: jwt.get_unverified_header(b.api_token())["alg"] == "RS256",
    "tls_1_3_only": _tls_1_2_refused,
    "unallowed_scope_ignored": lambda b: (
        (answer := b.exchange(form={"scope": "signsessiondata admin"})).status_code == 200
        and answer.json()["scope"] == "signsessiondata"
    ),
}


def test_every_variant_has_a_probe_and_a_basis() -> None:
    assert set(PROBES) == set(VARIANTS)
    assert len(VARIANTS) >= 7
    assert variant_catalogue(Role.PROVIDER) is VARIANT_CATALOGUE
    for variant in VARIANTS.values():
        assert variant.role is Role.PROVIDER and variant.basis and variant.description_en


def test_variant_settings() -> None:
    assert variant_settings(["token_lifetime_1h", "aud_as_list"]) == {"token_ttl_s": 3600}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_variant_shows_and_the_flow_still_works(
    name: str, bench: Bench, bench_factory: BenchFactory
) -> None:
    assert not PROBES[name](bench), f"the reference provider already shows {name}"
    varied = bench_factory(variants=[name])
    try:
        assert PROBES[name](varied), f"{name} does not show"
        assert served(varied.call(varied.api_token())), f"{name} breaks the normal exchange and call"
        assert served(varied.call(varied.harness_token())), f"{name} breaks the harness's tokens"
    finally:
        varied.provider.stop()
