"""The transport conditions on hand-built evidence: pass, fail and inconclusive for each."""

from __future__ import annotations

import httpx
import pytest

from conformance.campaign.conditions import Condition
from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.evidence.model import TO_HARNESS, Exchange, TLSDetails
from conformance.pki import TestPKI, build_pki
from conformance.roles.consumer.conditions.answers import upstream_failure_answered_502_503_504
from conformance.roles.consumer.conditions.transport import (
    LinkTraffic,
    ListenerWatch,
    api_as_legacy_tls_refused,
    api_as_server_certificate_verified,
    api_legacy_tls_refused,
    api_server_certificate_verified,
    certificate_owner,
    psc_client_certificate_auth_cli,
    psc_legacy_tls_refused,
    psc_server_certificate_verified,
    upstream_client_certificate_auth_cli,
    upstream_tls_1_2_or_higher,
    upstream_tls_1_3,
)
from conformance.roles.shared.tls_endpoint import (
    endpoint_negotiates_tls_1_2_or_higher,
    endpoint_offers_tls_1_3,
    endpoint_refuses_legacy_tls,
)
from conformance.tls import ProbeResult

REFUSALS = (
    psc_legacy_tls_refused,
    psc_server_certificate_verified,
    api_as_legacy_tls_refused,
    api_as_server_certificate_verified,
    api_legacy_tls_refused,
    api_server_certificate_verified,
)


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return build_pki()


def exchange(
    counterpart: str, version: str | None = "TLSv1.3", x5t: str | None = None, ident: str = "ex-1"
) -> Exchange:
    return Exchange(
        counterpart=counterpart,
        direction=TO_HARNESS,
        method="POST",
        url=f"https://127.0.0.1:1/{counterpart}/token",
        started_at=0.0,
        status=200,
        tls=TLSDetails(version=version, client_x5t_s256=x5t),
        id=ident,
    )


def watch(failed: tuple[str, ...] = (), served: tuple[Exchange, ...] = (), story: str = "") -> ListenerWatch:
    return ListenerWatch("api-as", "tls1.1-only", failed, served, story, ("ex-lps",))


# -- adversarial listeners ------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", REFUSALS, ids=lambda c: c.name)
def test_a_refused_handshake_passes(rule: Condition) -> None:
    judgement = rule(watch(failed=("UNSUPPORTED_PROTOCOL",)))
    assert judgement.status is Status.PASSED
    assert "UNSUPPORTED_PROTOCOL" in judgement.message and judgement.evidence == ("ex-lps",)


@pytest.mark.parametrize("rule", REFUSALS, ids=lambda c: c.name)
def test_a_request_served_over_the_adversarial_listener_fails(rule: Condition) -> None:
    judgement = rule(watch(served=(exchange("api-as", "TLSv1.1", ident="ex-9"),)))
    assert judgement.status is Status.FAILED
    assert "over TLSv1.1" in judgement.message and "ex-9" in judgement.evidence


@pytest.mark.parametrize("rule", REFUSALS, ids=lambda c: c.name)
def test_a_sut_that_never_came_is_not_judged(rule: Condition) -> None:
    """A cached API token, or a connect that timed out before the exchange: 0 handshakes."""
    judgement = rule(watch(story="POST /connect: HTTP 200, then POST /send: HTTP 200"))
    assert judgement.status is Status.INCONCLUSIVE
    assert "attempted no handshake" in judgement.message
    assert "did not contact api-as" in judgement.root_cause and "POST /send: HTTP 200" in judgement.root_cause


def test_refusal_conditions_carry_their_basis_and_precondition() -> None:
    assert {r.precondition for r in REFUSALS} == {
        "the SUT attempted a TLS handshake with the adversarial listener"
    }
    assert psc_legacy_tls_refused.requirements == ("IG-SEC-03", "EXI PSC 24")
    assert "RFC 9110 §4.3.4" in api_server_certificate_verified.basis
    assert all(r.severity.value == "failure" for r in REFUSALS)


# -- versions over normal links -------------------------------------------------------------------------


def test_tls_1_3_passes_both_version_rules() -> None:
    traffic = LinkTraffic("psc", (exchange("psc", "TLSv1.3"),))
    assert upstream_tls_1_2_or_higher(traffic).status is Status.PASSED
    assert upstream_tls_1_3(traffic).status is Status.PASSED


def test_tls_1_2_passes_the_floor_and_only_warns_for_1_3() -> None:
    traffic = LinkTraffic("api", (exchange("api", "TLSv1.2"),))
    assert upstream_tls_1_2_or_higher(traffic).status is Status.PASSED
    recommended = upstream_tls_1_3(traffic)
    assert recommended.status is Status.FAILED and upstream_tls_1_3.severity.value == "warning"
    assert "TLSv1.2" in recommended.message


def test_a_legacy_version_fails_the_floor() -> None:
    traffic = LinkTraffic(
        "api-as", (exchange("api-as", "TLSv1.3", ident="a"), exchange("api-as", "TLSv1.1", ident="b"))
    )
    judgement = upstream_tls_1_2_or_higher(traffic)
    assert judgement.status is Status.FAILED and "TLSv1.1 is below TLS 1.2" in judgement.message
    assert set(judgement.evidence) == {"a", "b"}


def test_no_traffic_is_a_pass_on_nothing_no_more() -> None:
    """A SUT that answered without contacting the counterpart: nothing about the link is judged."""
    traffic = LinkTraffic("api", (), "ans-odc-lps1-edc-bas: connected, /send HTTP 200")
    for rule in (upstream_tls_1_2_or_higher, upstream_tls_1_3):
        judgement = rule(traffic)
        assert judgement.status is Status.INCONCLUSIVE
        assert "did not contact api" in judgement.root_cause


# -- client certificates --------------------------------------------------------------------------------


def auth(pki: TestPKI, client_id: str, cert_of: str | None, kind: str = "client_auth") -> Observation:
    x5t = pki.clients[cert_of].x5t_s256 if cert_of else None
    return Observation(
        "psc", kind, client_id, "backchannel", {"endpoint": "backchannel", "certificate_x5t": x5t}, "ex-a"
    )


def test_psc_authentication_with_the_clients_auth_cli_certificate_passes(pki: TestPKI) -> None:
    lps = pki.lps_client_ids[0]
    judgement = psc_client_certificate_auth_cli(pki, [auth(pki, lps, lps)])
    assert judgement.status is Status.PASSED and "AUTH_CLI profile" in judgement.message


def test_psc_authentication_with_another_clients_certificate_fails(pki: TestPKI) -> None:
    lps1, lps2 = pki.lps_client_ids[:2]
    judgement = psc_client_certificate_auth_cli(pki, [auth(pki, lps2, lps1)])
    assert judgement.status is Status.FAILED and f"the certificate is {lps1}'s" in judgement.message


def test_psc_authentication_without_a_certificate_fails(pki: TestPKI) -> None:
    lps = pki.lps_client_ids[0]
    refused = auth(pki, lps, None, kind="client_auth.no_certificate")
    judgement = psc_client_certificate_auth_cli(pki, [refused])
    assert judgement.status is Status.FAILED and "no client certificate" in judgement.message


def test_how_the_client_authenticated_is_another_rule(pki: TestPKI) -> None:
    """client_secret_basic is judged where the connection is; here only the certificate counts."""
    lps = pki.lps_client_ids[0]
    basic = auth(pki, lps, lps, kind="client_auth.basic")
    assert psc_client_certificate_auth_cli(pki, [basic]).status is Status.INCONCLUSIVE
    assert psc_client_certificate_auth_cli(pki, [basic, auth(pki, lps, lps)]).status is Status.PASSED


def test_no_psc_authentication_is_inconclusive(pki: TestPKI) -> None:
    assert psc_client_certificate_auth_cli(pki, []).status is Status.INCONCLUSIVE


def test_upstream_client_certificates(pki: TestPKI) -> None:
    lps = pki.lps_client_ids[0]
    good = LinkTraffic("api", (exchange("api", x5t=pki.clients[lps].x5t_s256),))
    assert upstream_client_certificate_auth_cli(pki, good).status is Status.PASSED
    stranger = LinkTraffic("api", (exchange("api", x5t="not-a-pki-thumbprint"),))
    judgement = upstream_client_certificate_auth_cli(pki, stranger)
    assert judgement.status is Status.FAILED and "none of the PKI's AUTH_CLI" in judgement.message
    bare = LinkTraffic("api-as", (exchange("api-as", x5t=None),))
    assert "no client certificate" in upstream_client_certificate_auth_cli(pki, bare).message
    assert upstream_client_certificate_auth_cli(pki, LinkTraffic("api", ())).status is Status.INCONCLUSIVE


def test_a_server_certificate_is_not_an_auth_cli_client_certificate(pki: TestPKI) -> None:
    owner, problems = certificate_owner(pki, pki.servers["psc"].x5t_s256)
    assert owner is None and problems


# -- the SUT's endpoint ---------------------------------------------------------------------------------


def probe(
    outcome: str,
    *,
    accepted: bool = False,
    negotiated: str | None = None,
    alert: str | None = None,
    offered: str = "TLSv1",
) -> ProbeResult:
    return ProbeResult(offered, accepted, negotiated, alert, outcome)  # type: ignore[arg-type]


def test_endpoint_legacy_refusal() -> None:
    assert (
        endpoint_refuses_legacy_tls(probe("peer-alert", alert="TLSV1_ALERT_PROTOCOL_VERSION")).status
        is Status.PASSED
    )
    # another alert, or a close, is still a refusal: the IG asks for TLS 1.0/1.1 to be refused
    assert endpoint_refuses_legacy_tls(probe("peer-closed")).status is Status.PASSED
    assert (
        endpoint_refuses_legacy_tls(probe("completed", accepted=True, negotiated="TLSv1")).status
        is Status.FAILED
    )
    # agreed on TLS 1.0, then failed (no client certificate): the version was accepted
    assert (
        endpoint_refuses_legacy_tls(probe("peer-alert", accepted=True, negotiated="TLSv1")).status
        is Status.FAILED
    )
    # our own OpenSSL gave up: the SUT said nothing
    for outcome in ("local-failure", "timeout", "unreachable"):
        assert endpoint_refuses_legacy_tls(probe(outcome)).status is Status.INCONCLUSIVE


def test_endpoint_modern_versions() -> None:
    ok = probe("completed", accepted=True, negotiated="TLSv1.3", offered="TLSv1.2")
    assert endpoint_negotiates_tls_1_2_or_higher(ok).status is Status.PASSED
    assert (
        endpoint_negotiates_tls_1_2_or_higher(probe("peer-alert", offered="TLSv1.2")).status is Status.FAILED
    )
    assert endpoint_negotiates_tls_1_2_or_higher(probe("local-failure")).status is Status.INCONCLUSIVE
    assert (
        endpoint_offers_tls_1_3(
            probe("completed", accepted=True, negotiated="TLSv1.3", offered="TLSv1.3")
        ).status
        is Status.PASSED
    )
    refused = endpoint_offers_tls_1_3(probe("peer-alert", offered="TLSv1.3"))
    assert refused.status is Status.FAILED and endpoint_offers_tls_1_3.severity.value == "warning"
    assert endpoint_offers_tls_1_3(probe("timeout")).status is Status.INCONCLUSIVE


# -- EDC-07 when the link to the API failed -------------------------------------------------------------


def answer(status: int) -> httpx.Response:
    return httpx.Response(
        status, json={"code": str(status)}, request=httpx.Request("POST", "https://sut/send/a/b")
    )


def test_a_failed_link_is_answered_502_503_504() -> None:
    failure = "the SUT's TLS handshake with the API failed"
    for status in (502, 503, 504):
        assert upstream_failure_answered_502_503_504(answer(status), failure).status is Status.PASSED
    for status in (200, 500, 401):
        assert upstream_failure_answered_502_503_504(answer(status), failure).status is Status.FAILED
    no_answer = upstream_failure_answered_502_503_504(None, failure, 3.0)
    assert no_answer.status is Status.FAILED and "within 3.0 s" in no_answer.message


def test_a_link_that_did_not_fail_is_not_judged_by_edc_07() -> None:
    assert upstream_failure_answered_502_503_504(answer(200), "").status is Status.INCONCLUSIVE
