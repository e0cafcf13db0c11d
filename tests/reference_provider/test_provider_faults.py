"""Each injectable fault of the reference provider visibly changes what crosses the wire.

Every fault has a probe: a few real exchanges over mTLS that answer "does the defect show?". The
probe must say no on the correct provider (shared by the module) and yes on a provider with the
fault injected (one in-process provider per fault). A second test checks that the fault leaves the
rest alone: the normal exchange and API call still work, except for the faults whose defect is in
the token the normal call presents.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

import httpx
import pytest
from provider_testbed import (
    PSC_SUB,
    Bench,
    BenchFactory,
    basic_header,
    decoded,
    hs256_token,
    refused,
    served,
    tampered,
    unsigned_token,
    wait_past,
)

from conformance.pki import LPS1_CLIENT_ID, LPS2_CLIENT_ID
from conformance.reference.provider.faults import FAULT_CATALOGUE, FAULTS
from conformance.reference.registry import check_faults, fault_catalogue
from conformance.requirements import requirement_index
from conformance.roles import Role

Probe = Callable[[Bench], bool]


def _exchange_claims(bench: Bench) -> dict[str, object]:
    answer = bench.exchange()
    assert answer.status_code == 200, answer.text
    return decoded(answer.json()["access_token"])


def _accepts_with(negative: str) -> Probe:
    """The AS issues a token to a connection presenting the negative certificate `negative`."""

    def probe(bench: Bench) -> bool:
        token = bench.env.psc.mint(LPS1_CLIENT_ID)
        answers: list[httpx.Response] = []
        return not refused(lambda: answers.append(bench.exchange(token, negative=negative))) and served(
            answers[0]
        )

    return probe


def _hs256_with_public_key(bench: Bench) -> bool:
    harness = bench.env.harness
    claims = harness.claims(bench.env.der())
    return served(bench.call(hs256_token(claims, harness.public_pem, harness.kid)))


def _introspection_skipped(bench: Bench) -> bool:
    token = bench.env.psc.mint(active=False)
    return served(bench.exchange(token)) and not bench.env.psc.calls_for(token)


def _cached_past_expiry(bench: Bench) -> bool:
    token = bench.env.psc.mint(ttl_s=3)  # the exchanges before its expiry take seconds on a loaded machine
    assert served(bench.exchange(token))
    wait_past(decoded(token)["exp"])
    return served(bench.exchange(token))


def _tls_1_1_accepted(bench: Bench) -> bool:
    context = bench.env.context(min_version=ssl.TLSVersion.TLSv1, max_version=ssl.TLSVersion.TLSv1_1)
    versions = []
    for listener in bench.provider.listeners.values():
        try:
            versions.append(bench.handshake(listener.port, context))
        except ssl.SSLError as exc:
            assert exc.reason == "TLSV1_ALERT_PROTOCOL_VERSION", exc  # the server refused, not our client
            versions.append(None)
    return versions == ["TLSv1.1", "TLSv1.1"]


PROBES: dict[str, Probe] = {
    # resource server: the token
    "rs_accepts_expired_token": lambda b: served(b.call(b.harness_token(exp=int(time.time()) - 120))),
    "rs_accepts_future_nbf": lambda b: served(b.call(b.harness_token(nbf=int(time.time()) + 600))),
    "rs_accepts_alg_none": lambda b: served(b.call(unsigned_token(b.env.harness.claims(b.env.der())))),
    "rs_accepts_hs256_public_key": _hs256_with_public_key,
    "rs_signature_not_checked": lambda b: served(b.call(tampered(b.harness_token()))),
    "rs_accepts_unknown_issuer": lambda b: served(
        b.call(b.harness_token(iss="https://rogue.invalid/realms/x"))
    ),
    "rs_skips_audience_check": lambda b: served(b.call(b.harness_token(aud="another-api"))),
    "rs_skips_scope_check": lambda b: served(b.call(b.harness_token(scope="openid"))),
    "rs_skips_cnf_check": lambda b: served(b.call(b.harness_token(LPS2_CLIENT_ID))),
    "rs_accepts_unbound_token": lambda b: served(b.call(b.harness_token(cnf=None))),
    "rs_401_without_www_authenticate": lambda b: "www-authenticate" not in b.call(None).headers,
    # resource server: the connection
    "rs_accepts_no_client_cert": lambda b: served(b.call(b.harness_token(), identity=None)),
    "rs_trusts_rogue_ca": lambda b: (
        not refused(lambda: b.call(b.harness_token(negative="rogue"), negative="rogue").raise_for_status())
    ),
    # resource server: bad input
    "rs_answers_500_to_bad_input": lambda b: (
        b.call(b.harness_token(), content=b"not json").status_code == 500
    ),
    "rs_leaks_stack_trace": lambda b: (
        b"Traceback" in b.call(b.harness_token(), body={"nationalId": 1}).content
    ),
    # authorization server: client authentication
    "as_accepts_expired_client_cert": _accepts_with("expired"),
    "as_accepts_wrong_eku_cert": _accepts_with("wrong-eku"),
    "as_accepts_revoked_client_cert": _accepts_with("revoked"),
    "as_maps_unknown_dn": _accepts_with("cn-mismatch"),
    "as_accepts_basic_without_cert": lambda b: served(
        b.exchange(
            b.env.psc.mint(LPS1_CLIENT_ID),
            identity=None,
            headers={"Authorization": basic_header(LPS1_CLIENT_ID, b.env.client_secrets[LPS1_CLIENT_ID])},
        )
    ),
    # authorization server: the subject token
    "as_skips_introspection": _introspection_skipped,
    "as_ignores_inactive_subject_token": lambda b: served(b.exchange(b.env.psc.mint(active=False))),
    "as_caches_introspection_past_expiry": _cached_past_expiry,
    # authorization server: the issued token and the answer
    "as_issues_unbound_token": lambda b: "cnf" not in _exchange_claims(b),
    "as_cnf_hex_form": lambda b: (
        _exchange_claims(b).get("cnf") == {"x5t#S256": b.env.pki.clients[LPS1_CLIENT_ID].x5t_s256_ans_hex}
    ),
    "as_omits_cache_control": lambda b: "cache-control" not in b.exchange().headers,
    "as_omits_issued_token_type": lambda b: "issued_token_type" not in b.exchange().json(),
    "as_sub_is_psc_sub": lambda b: _exchange_claims(b)["sub"] == PSC_SUB,
    "as_token_without_aud": lambda b: "aud" not in _exchange_claims(b),
    "as_grants_unallowed_scope": lambda b: served(b.exchange(form={"scope": "signsessiondata admin"})),
    "as_accepts_unknown_grant_type": lambda b: served(b.exchange(form={"grant_type": "client_credentials"})),
    "provider_accepts_tls_1_1": _tls_1_1_accepted,
    "as_short_token_lifetime": lambda b: b.exchange().json()["expires_in"] == 300,
}

# Faults whose defect is in the token the normal call presents: the correct RS refuses that call.
BREAK_THE_NORMAL_CALL = frozenset(
    {"as_issues_unbound_token", "as_cnf_hex_form", "as_sub_is_psc_sub", "as_token_without_aud"}
)


def test_every_fault_has_a_probe() -> None:
    assert set(PROBES) == set(FAULTS)
    assert len(FAULTS) >= 22


def test_the_registry_finds_the_catalogue() -> None:
    assert fault_catalogue(Role.PROVIDER) is FAULT_CATALOGUE
    assert check_faults(["rs_skips_scope_check"], Role.PROVIDER) == ["rs_skips_scope_check"]


def test_every_fault_names_known_provider_requirements() -> None:
    index = requirement_index()
    for fault in FAULTS.values():
        assert fault.role is Role.PROVIDER
        assert fault.requirements, fault.name
        for rid in fault.requirements:
            assert rid in index, (fault.name, rid)
            assert index[rid].applies(Role.PROVIDER), (fault.name, rid)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_fault_shows_only_when_injected(name: str, bench: Bench, bench_factory: BenchFactory) -> None:
    assert not PROBES[name](bench), f"the correct provider already shows {name}"
    faulty = bench_factory(faults=[name])
    try:
        assert PROBES[name](faulty), f"{name} does not show"
        if name not in BREAK_THE_NORMAL_CALL:
            assert served(faulty.call(faulty.api_token())), f"{name} breaks the normal exchange and call"
    finally:
        faulty.provider.stop()
