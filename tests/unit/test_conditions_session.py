"""The session conditions (logout, idleness, refresh, cookie) on small hand-built evidence."""

from __future__ import annotations

import json

import httpx
import pytest

from conformance.campaign.verdicts import Status
from conformance.counterparts.observations import Observation
from conformance.evidence.calls import Call
from conformance.evidence.model import TO_HARNESS, Exchange
from conformance.roles.consumer.conditions.session import (
    Footprint,
    IdlePhase,
    active_session_lives_on,
    disconnect_answers_200,
    disconnect_ends_psc_session,
    footprint,
    idle_end_keeps_psc_session,
    idle_session_ended,
    no_action_after_disconnect,
    no_psc_refresh_while_idle,
    psc_refresh_on_activity,
    psc_session_of,
    psc_token_expiry,
    session_call_relayed,
    session_cookie_without_expiry,
)

STATE = "psc-session-1"
TOKEN_PATH = "/realms/x/protocol/openid-connect/token"


def call(
    start: float, end: float, status: int | None = 200, headers: list[tuple[str, str]] | None = None
) -> Call:
    answer = None if status is None else httpx.Response(status, headers=headers or [])
    return Call(answer, start, end, "" if answer else "ReadTimeout")


def exchange(
    exchange_id: str,
    counterpart: str,
    at: float,
    *,
    url: str = "https://x/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    answer: object = None,
    status: int = 200,
) -> Exchange:
    return Exchange(
        counterpart,
        TO_HARNESS,
        "POST",
        url,
        at,
        0.01,
        request_headers=headers or [],
        request_body=body,
        status=status,
        response_body=json.dumps(answer).encode() if answer is not None else b"",
        id=exchange_id,
    )


def issued(
    exchange_id: str, at: float, state: str = STATE, client: str = "lps1", jti: str = "j1"
) -> Observation:
    return Observation(
        "psc", "token.issued", client, "tokens", {"session_state": state, "jti": jti}, exchange_id, at
    )


def refresh(at: float, exchange_id: str = "r1", state: str = STATE) -> Observation:
    return Observation("psc", "token.refresh", "lps1", "refresh", {"session_state": state}, exchange_id, at)


def logout(state: str | None, kind: str = "logout", method: str = "GET") -> Observation:
    data = {"session_state": state, "method": method} if state else {}
    return Observation("psc", kind, "lps1", f"{kind} seen", data, "ex-logout", 5.0)


def trail_with_api_call(at: float) -> tuple[list[Observation], list[Exchange]]:
    """PSC issued tokens for STATE at t=1, the AS exchanged them at t=2, the API was called at `at`."""
    psc = exchange("ex-psc", "psc", 1.0, url=f"https://psc{TOKEN_PATH}", answer={"access_token": "psc-at"})
    exch = exchange("ex-as", "api-as", 2.0, body=b"subject_token=psc-at", answer={"access_token": "api-at"})
    api = exchange("ex-api", "api", at, headers=[("Authorization", "Bearer api-at")])
    return [issued("ex-psc", 1.0)], [psc, exch, api]


# -- evidence -----------------------------------------------------------------------------------------


def test_footprint_follows_the_psc_tokens_to_the_api_calls() -> None:
    observations, exchanges = trail_with_api_call(3.0)
    stranger = exchange("ex-other", "api", 3.5, headers=[("Authorization", "Bearer someone-else")])
    renewal = exchange("ex-ref", "psc", 4.0, url=f"https://psc{TOKEN_PATH}", body=b"refresh_token=x&a=psc-at")
    trail = footprint(STATE, observations, [*exchanges, stranger, renewal], {TOKEN_PATH})
    assert [e.id for e in trail.exchanges] == ["ex-as", "ex-api", "ex-ref"]
    assert [e.id for e in trail.relayed(call(2.9, 3.1))] == ["ex-api"]
    assert footprint("other-state", observations, exchanges, {TOKEN_PATH}).exchanges == ()


def test_psc_session_and_token_expiry_are_read_from_psc() -> None:
    seen = [issued("a", 1.0, "s1", "lps1"), issued("b", 1.5, "s2", "lps2"), issued("c", 9.0, "s1", "lps1")]
    assert psc_session_of(seen, call(0.5, 2.0), "lps2") == "s2"
    assert psc_session_of(seen, call(3.0, 4.0), "lps1") is None
    assert psc_token_expiry(seen, "s1", before=5.0, ttl_s=2) == 3.0
    assert psc_token_expiry(seen, "s3", before=5.0, ttl_s=2) is None


# -- prerequisite and logout ----------------------------------------------------------------------------


def test_session_call_relayed() -> None:
    observations, exchanges = trail_with_api_call(3.0)
    trail = footprint(STATE, observations, exchanges, {TOKEN_PATH})
    assert session_call_relayed(call(2.9, 3.1), trail).status is Status.PASSED
    assert session_call_relayed(call(5.0, 5.1, 502), trail).status is Status.FAILED


def test_disconnect_answers_200() -> None:
    assert disconnect_answers_200(call(0, 1)).status is Status.PASSED
    judgement = disconnect_answers_200(call(0, 1, 500))
    assert judgement.status is Status.FAILED and "HTTP 500" in judgement.message
    assert disconnect_answers_200(call(0, 1, None)).status is Status.FAILED


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_end_session_by_get_or_post_ends_the_psc_session(method: str) -> None:
    judgement = disconnect_ends_psc_session(STATE, [logout(STATE, method=method)])
    assert judgement.status is Status.PASSED and method in judgement.message


def test_end_session_refused_or_missing_fails_and_unknown_session_is_inconclusive() -> None:
    refused = disconnect_ends_psc_session(STATE, [logout(None, "logout.id_token_hint_missing")])
    assert refused.status is Status.FAILED and "logout.id_token_hint_missing seen" in refused.message
    assert disconnect_ends_psc_session(STATE, [logout("another")]).status is Status.FAILED
    assert disconnect_ends_psc_session(STATE, []).status is Status.FAILED
    assert disconnect_ends_psc_session(None, []).status is Status.INCONCLUSIVE


def test_no_action_after_disconnect() -> None:
    observations, exchanges = trail_with_api_call(3.0)
    trail = footprint(STATE, observations, exchanges, {TOKEN_PATH})
    probes = [call(4.0, 4.1, 401)]
    assert no_action_after_disconnect(trail, call(3.5, 3.6), probes).status is Status.PASSED
    judgement = no_action_after_disconnect(trail, call(2.5, 2.6), probes)
    assert judgement.status is Status.FAILED and "api POST" in judgement.message


# -- idleness ---------------------------------------------------------------------------------------------


def test_idle_session_ended() -> None:
    observations, exchanges = trail_with_api_call(10.0)
    trail = footprint(STATE, observations, exchanges, {TOKEN_PATH})
    last = call(1.0, 1.1)
    assert idle_session_ended(trail, last, call(11.0, 11.1, 401), 3.0).status is Status.PASSED
    assert idle_session_ended(trail, last, call(9.9, 10.1, 200), 3.0).status is Status.FAILED
    assert idle_session_ended(trail, last, call(3.0, 3.1, 200), 3.0).status is Status.INCONCLUSIVE


def test_idle_end_keeps_psc_session() -> None:
    assert idle_end_keeps_psc_session(STATE, [logout("other")]).status is Status.PASSED
    assert idle_end_keeps_psc_session(STATE, [logout(STATE)]).status is Status.FAILED


def _api_calls(times: list[float]) -> Footprint:
    return Footprint(STATE, tuple(exchange(f"api-{t}", "api", t + 0.01) for t in times))


def test_active_session_lives_on() -> None:
    calls = [call(t, t + 0.05) for t in (0.0, 1.5, 3.0, 4.5)]
    assert active_session_lives_on(_api_calls([0.0, 1.5, 3.0, 4.5]), calls, 3.0, 0.5).status is Status.PASSED
    ended = active_session_lives_on(_api_calls([0.0, 1.5, 3.0]), calls, 3.0, 0.5)
    assert ended.status is Status.FAILED and "project reading" not in ended.message
    assert "only requires ending idle" in ended.message
    sparse = [call(0.0, 0.1), call(2.8, 2.9), call(5.6, 5.7)]
    assert active_session_lives_on(_api_calls([0.0]), sparse, 3.0, 0.5).status is Status.INCONCLUSIVE
    assert active_session_lives_on(_api_calls([0.0]), calls[:1], 3.0, 0.5).status is Status.INCONCLUSIVE


def test_active_session_rule_is_a_reading() -> None:
    assert active_session_lives_on.strength.value == "reading"


# -- refresh ------------------------------------------------------------------------------------------------


def phase(expired_at: float | None = 2.2) -> IdlePhase:
    return IdlePhase(STATE, call(0.0, 0.1), call(2.5, 2.7), expired_at)


def test_no_psc_refresh_while_idle() -> None:
    assert no_psc_refresh_while_idle(phase(), [refresh(0.3), refresh(2.6)]).status is Status.PASSED
    assert no_psc_refresh_while_idle(phase(), [refresh(1.0)]).status is Status.FAILED
    assert no_psc_refresh_while_idle(phase(), [refresh(1.0, state="other")]).status is Status.PASSED
    assert no_psc_refresh_while_idle(phase(expired_at=3.0), []).status is Status.INCONCLUSIVE
    assert no_psc_refresh_while_idle(phase(expired_at=None), []).status is Status.INCONCLUSIVE


def test_psc_refresh_on_activity() -> None:
    active = [refresh(2.55, "r-act")]
    tokens = [issued("r-act", 2.56, jti="fresh")]
    used = [
        Observation("api-as", "token_exchange.issued", "lps1", "x", {"subject_token_jti": "fresh"}, "e", 2.6)
    ]
    assert psc_refresh_on_activity(phase(), active, tokens, used).status is Status.PASSED
    assert psc_refresh_on_activity(phase(), active, tokens, []).status is Status.FAILED
    assert psc_refresh_on_activity(phase(), [], [], []).status is Status.FAILED
    assert psc_refresh_on_activity(phase(expired_at=3.0), active, tokens, used).status is Status.INCONCLUSIVE


# -- the cookie ---------------------------------------------------------------------------------------------


def test_session_cookie_with_extra_attributes_is_a_session_cookie() -> None:
    answer = httpx.Response(
        200, headers=[("Set-Cookie", "proxy_session_id=abc; Path=/; Secure; HttpOnly; SameSite=Lax")]
    )
    assert session_cookie_without_expiry(answer).status is Status.PASSED


@pytest.mark.parametrize("attribute", ["Max-Age=86400", "expires=Wed, 21 Oct 2099 07:28:00 GMT"])
def test_lasting_session_cookie_warns(attribute: str) -> None:
    answer = httpx.Response(200, headers=[("Set-Cookie", f"proxy_session_id=abc; Path=/; {attribute}")])
    judgement = session_cookie_without_expiry(answer)
    assert judgement.status is Status.FAILED
    assert session_cookie_without_expiry.strength.value == "should"


def test_no_session_cookie_is_inconclusive() -> None:
    answer = httpx.Response(200, headers=[("Set-Cookie", "other=1; Max-Age=5")])
    assert session_cookie_without_expiry(answer).status is Status.INCONCLUSIVE
    assert session_cookie_without_expiry(None).status is Status.INCONCLUSIVE
