"""The connexion conditions on hand-built evidence: pass, fail and inconclusive for each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conformance.campaign.conditions import Strength
from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.roles.consumer.conditions.answers import ConnectAnswer
from conformance.roles.consumer.conditions.connexion import (
    ciba_acr_values_eidas1,
    ciba_on_behalf_of_the_lps,
    ciba_polls_no_faster_than_interval,
    ciba_scope_openid_scope_all,
    ciba_slow_down_increases_interval,
    ciba_stops_polling_after_terminal_answer,
    connect_refused_without_session,
    connect_replay_304_without_psc,
    connect_session_state_is_psc_session,
    connect_value_outside_description_refused,
    id_token_acr_validated,
    id_token_claims_validated,
    id_token_signature_validated,
    introspection_with_proxy_certificate,
    psc_access_token_introspected,
    psc_client_auth_mtls,
    psc_client_id_is_registered,
)
from conformance.standards.ciba import AuthenticationRequest, DeviceAction, DeviceBehaviour, PollResult

LPS, PROXY = "ans-odc-lps1-edc-bas", "proxy-esante-edc-test"
LPS_X5T, PROXY_X5T = "lps-thumbprint", "proxy-thumbprint"
PASSED, FAILED, INCONCLUSIVE = Status.PASSED, Status.FAILED, Status.INCONCLUSIVE


def obs(kind: str, client_id: str | None = LPS, at: float = 0.0, **data: Any) -> Observation:
    return Observation("psc", kind, client_id, f"{kind} detail", data, exchange_id=f"ex-{kind}-{at}", at=at)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


SESSION = ConnectAnswer(answer(200, {"proxy_session_id": "s1", "session_state": "psc-1"}), "s1")
REFUSED = ConnectAnswer(answer(401, {"code": "401", "message": "refused"}), None)
NO_ANSWER = ConnectAnswer(None, None)


def auth(endpoint: str, client_id: str = LPS, x5t: str = LPS_X5T, **data: Any) -> Observation:
    values = {"method": "tls_client_auth", "tls_version": "TLSv1.3", "certificate_x5t": x5t}
    return obs("client_auth", client_id, endpoint=endpoint, **{**values, **data})


class TestWhatTheSutAskedPsc:
    def test_ciba_on_behalf_of_the_lps(self) -> None:
        ok = ciba_on_behalf_of_the_lps([auth("backchannel"), auth("token")], LPS, LPS_X5T)
        assert ok.status is PASSED
        proxy = ciba_on_behalf_of_the_lps([auth("backchannel", PROXY, PROXY_X5T)], LPS, LPS_X5T)
        assert proxy.status is FAILED and PROXY in proxy.message
        refused = obs("client_auth.cn_mismatch", LPS, endpoint="backchannel", certificate_cn=PROXY)
        assert ciba_on_behalf_of_the_lps([refused], LPS, LPS_X5T).status is FAILED
        assert ciba_on_behalf_of_the_lps([auth("token")], LPS, LPS_X5T).status is INCONCLUSIVE
        # Authenticating by a secret is judged by EXI PSC 24, not as acting for someone else.
        basic = [
            obs("client_auth.basic", endpoint="backchannel"),
            auth("backchannel", method="client_secret_basic"),
        ]
        assert ciba_on_behalf_of_the_lps(basic, LPS, LPS_X5T).status is PASSED

    def test_scope_and_acr(self) -> None:
        good = obs("ciba.received", scope=("openid", "scope_all"), acr_values="eidas1")
        assert ciba_scope_openid_scope_all([good]).status is PASSED
        assert ciba_acr_values_eidas1([good]).status is PASSED
        bad = obs("ciba.received", scope=("openid",), acr_values=None)
        assert ciba_scope_openid_scope_all([good, bad]).status is FAILED
        assert ciba_acr_values_eidas1([bad]).status is FAILED
        assert ciba_scope_openid_scope_all([]).status is INCONCLUSIVE
        assert ciba_acr_values_eidas1([]).status is INCONCLUSIVE

    def test_client_authentication_by_mtls(self) -> None:
        assert psc_client_auth_mtls([auth("backchannel"), auth("introspection", PROXY)]).status is PASSED
        basic = [obs("client_auth.basic", endpoint="token"), auth("token", method="client_secret_basic")]
        assert psc_client_auth_mtls(basic).status is FAILED
        assert psc_client_auth_mtls([auth("token", tls_version="TLSv1.1")]).status is FAILED
        assert psc_client_auth_mtls([obs("client_auth.no_certificate", endpoint="token")]).status is FAILED
        assert psc_client_auth_mtls([]).status is INCONCLUSIVE

    def test_registered_client_id(self) -> None:
        assert psc_client_id_is_registered([auth("backchannel")]).status is PASSED
        for kind in (
            "client_auth.unknown_client",
            "client_auth.cn_mismatch",
            "client_auth.client_id_missing",
        ):
            assert psc_client_id_is_registered([obs(kind, endpoint="token")]).status is FAILED
        assert psc_client_id_is_registered([]).status is INCONCLUSIVE


class TestWhatTheLpsGot:
    def test_session_state_is_psc_session(self) -> None:
        issued = [obs("token.issued", session_state="psc-1")]
        assert connect_session_state_is_psc_session(SESSION, issued).status is PASSED
        other = [obs("token.issued", session_state="psc-2")]
        assert connect_session_state_is_psc_session(SESSION, other).status is FAILED
        assert connect_session_state_is_psc_session(REFUSED, issued).status is INCONCLUSIVE
        assert connect_session_state_is_psc_session(SESSION, []).status is INCONCLUSIVE

    def test_replay_304(self) -> None:
        assert connect_replay_304_without_psc(answer(304), []).status is PASSED
        assert connect_replay_304_without_psc(answer(200, {}), []).status is FAILED
        assert connect_replay_304_without_psc(answer(304), [obs("ciba.received")]).status is FAILED
        assert connect_replay_304_without_psc(None, []).status is FAILED

    def test_value_outside_description_is_a_reading(self) -> None:
        assert connect_value_outside_description_refused.strength is Strength.READING
        assert connect_value_outside_description_refused(answer(400, {}), "channel='FAX'").status is PASSED
        accepted = connect_value_outside_description_refused(answer(200, {}), "bindingMessage='1234'")
        assert accepted.status is FAILED and "beyond the upstream" in accepted.message
        assert connect_value_outside_description_refused(None, "x").status is INCONCLUSIVE


def poll(
    at: float, result: str, since: float | None, interval: float = 0.4, auth_req_id: str = "r1"
) -> Observation:
    return obs(
        "ciba.poll",
        at=at,
        auth_req_id=auth_req_id,
        result=result,
        seconds_since_last_poll=since,
        interval=interval,
        tolerance_s=0.2,
    )


PENDING, SLOW, DENIED, APPROVED = "authorization_pending", "slow_down", "access_denied", "approved"


class TestPolling:
    def test_interval(self) -> None:
        series = [poll(1, PENDING, None), poll(2, PENDING, 0.41), poll(3, APPROVED, 0.40)]
        assert ciba_polls_no_faster_than_interval(series).status is PASSED
        fast = [poll(1, PENDING, None), poll(1.05, SLOW, 0.05)]
        assert ciba_polls_no_faster_than_interval(fast).status is FAILED
        assert ciba_polls_no_faster_than_interval([poll(1, APPROVED, None)]).status is INCONCLUSIVE

    def test_waiting_before_the_first_poll_too_is_conformant(self) -> None:
        # The first poll has no previous one: however early or late it comes, it is not measured.
        series = [poll(1.4, PENDING, None), poll(1.8, APPROVED, 0.4)]
        assert ciba_polls_no_faster_than_interval(series).status is PASSED

    def test_slow_down_back_off(self) -> None:
        # PSC answered slow_down with interval 0.4 s; its increment (1 s) makes the next interval 1.4 s.
        backed_off = [poll(1, SLOW, None), poll(6.4, APPROVED, 5.4, interval=1.4)]
        assert ciba_slow_down_increases_interval(backed_off).status is PASSED
        ignored = [poll(1, SLOW, None), poll(1.4, SLOW, 0.4, interval=1.4)]
        judgement = ciba_slow_down_increases_interval(ignored)
        assert judgement.status is FAILED and "1.4 s" in judgement.message
        assert ciba_slow_down_increases_interval([poll(1, PENDING, None)]).status is INCONCLUSIVE
        assert ciba_slow_down_increases_interval([poll(1, SLOW, None)]).status is INCONCLUSIVE

    def test_stop_after_a_terminal_answer(self) -> None:
        stopped = [poll(1, PENDING, None), poll(2, DENIED, 1.0)]
        assert ciba_stops_polling_after_terminal_answer(stopped).status is PASSED
        kept_on = [poll(1, DENIED, None), poll(2, DENIED, 1.0), poll(3, "expired_token", 1.0)]
        judgement = ciba_stops_polling_after_terminal_answer(kept_on)
        assert judgement.status is FAILED and judgement.message.startswith("2 poll(s)")
        assert ciba_stops_polling_after_terminal_answer([poll(1, PENDING, None)]).status is INCONCLUSIVE
        # Each authentication request is judged on its own polls.
        two = [poll(1, DENIED, None, auth_req_id="a"), poll(2, PENDING, None, auth_req_id="b")]
        assert ciba_stops_polling_after_terminal_answer(two).status is PASSED


STARTED = [obs("ciba.request")]


class TestRefusedConnect:
    @pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503])
    def test_any_refusal_without_a_session_passes(self, status: int) -> None:
        refused = ConnectAnswer(answer(status), None)
        assert connect_refused_without_session(refused, STARTED, []).status is PASSED

    def test_a_session_or_a_2xx_fails(self) -> None:
        assert connect_refused_without_session(SESSION, STARTED, []).status is FAILED
        cookie_only = ConnectAnswer(answer(401), "s1")
        assert connect_refused_without_session(cookie_only, STARTED, []).status is FAILED
        assert connect_refused_without_session(ConnectAnswer(answer(204), None), STARTED, []).status is FAILED

    def test_preconditions(self) -> None:
        assert connect_refused_without_session(REFUSED, [], []).status is INCONCLUSIVE
        issued = [obs("token.issued")]
        assert connect_refused_without_session(REFUSED, STARTED, issued).status is INCONCLUSIVE
        assert connect_refused_without_session(NO_ANSWER, STARTED, []).status is INCONCLUSIVE


class TestIdToken:
    @pytest.mark.parametrize(
        ("rule", "tamper"),
        [
            (id_token_claims_validated, "wrong_issuer"),
            (id_token_signature_validated, "bad_signature"),
            (id_token_acr_validated, "wrong_acr"),
        ],
    )
    def test_rejection(self, rule: Any, tamper: str) -> None:
        issued = [obs("token.issued", id_token_tamper=tamper)]
        assert rule(REFUSED, issued, tamper).status is PASSED
        assert rule(SESSION, issued, tamper).status is FAILED
        assert rule(SESSION, [obs("token.issued", id_token_tamper="none")], tamper).status is INCONCLUSIVE

    def test_strengths_follow_the_sources(self) -> None:
        assert id_token_claims_validated.strength is Strength.MUST
        assert id_token_signature_validated.strength is Strength.READING  # OIDC Core §3.1.3.7 step 6
        assert id_token_acr_validated.strength is Strength.SHOULD  # OIDC Core §3.1.3.7 step 12


class TestIntrospection:
    def test_with_the_proxy_certificate(self) -> None:
        by_proxy = [auth("backchannel"), auth("introspection", PROXY, PROXY_X5T, role="proxy")]
        assert introspection_with_proxy_certificate(by_proxy, PROXY).status is PASSED
        by_lps = [auth("introspection", LPS, role="lps")]
        assert introspection_with_proxy_certificate(by_lps, PROXY).status is FAILED
        refused = [obs("client_auth.cn_mismatch", PROXY, endpoint="introspection")]
        assert introspection_with_proxy_certificate(refused, PROXY).status is FAILED
        assert introspection_with_proxy_certificate([auth("token")], PROXY).status is INCONCLUSIVE
        basic = [
            obs("client_auth.basic", PROXY, endpoint="introspection"),
            auth("introspection", PROXY, role="proxy"),
        ]
        assert introspection_with_proxy_certificate(basic, PROXY).status is PASSED

    def test_each_token_introspected(self) -> None:
        issued = [obs("token.issued", jti="j1")]
        assert psc_access_token_introspected(issued, [obs("introspection", PROXY, jti="j1")]).status is PASSED
        assert psc_access_token_introspected(issued, []).status is FAILED
        assert psc_access_token_introspected([], []).status is INCONCLUSIVE


class TestSimulatedPscSlowDown:
    """The device schedule that provokes slow_down (conformance.standards.ciba)."""

    def request(self, behaviour: DeviceBehaviour) -> AuthenticationRequest:
        return AuthenticationRequest(
            LPS, "8001", ("openid",), "eidas1", "42", "MOBILE", 0.0, 60, 1.0, behaviour
        )

    def test_scheduled_slow_down_raises_the_interval(self) -> None:
        auth_request = self.request(DeviceBehaviour(DeviceAction.APPROVE, after_polls=0, slow_down_polls=1))
        assert auth_request.poll(1.0, tolerance_s=0.2, slow_down_increment_s=5) is PollResult.SLOW_DOWN
        assert auth_request.interval == 6.0
        assert auth_request.poll(7.0, tolerance_s=0.2, slow_down_increment_s=5) is PollResult.APPROVED

    def test_terminal_answers(self) -> None:
        assert PollResult.AUTHORIZATION_PENDING.continues and PollResult.SLOW_DOWN.continues
        assert not any(
            r.continues for r in (PollResult.ACCESS_DENIED, PollResult.EXPIRED_TOKEN, PollResult.APPROVED)
        )
