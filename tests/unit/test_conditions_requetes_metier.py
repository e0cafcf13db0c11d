"""The business-call conditions (token exchange, business call, /send) on small hand-built evidence."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest

from conformance.campaign.verdicts import Status
from conformance.evidence.calls import Call
from conformance.evidence.model import TO_SUT, Exchange
from conformance.roles.consumer.conditions.answers import ConnectAnswer, upstream_failure_answered_502_503_504
from conformance.roles.consumer.conditions.requetes_metier import (
    ApiCall,
    ExchangeAttempt,
    IssuedApiToken,
    PscGrant,
    Upstream,
    api_error_relayed_or_gateway_status,
    api_link_failure,
    business_call_bearer_api_token,
    business_call_with_the_exchange_certificate,
    content,
    exchange_answer_without_refresh_token_suffices,
    exchange_client_authenticated_by_certificate_only,
    exchange_grant_type_token_exchange,
    exchange_scope_of_the_api,
    exchange_subject_is_psc_access_token,
    exchange_subject_token_type_allowed,
    expired_psc_token_refreshed_then_exchanged,
    forwarded,
    lps_session_cookie_kept_from_the_api,
    lps_sessions_share_no_certificate_or_token,
    no_token_in_answers_to_the_lps,
    send_forwards_the_lps_request,
    send_relays_the_api_answer,
    send_without_session_reaches_no_api,
    stalled_api_fits_the_scenario_bound,
    upstream_with_the_session_lps_certificate,
)
from conformance.standards import rfc8693

LPS1, LPS2, PROXY = "lps1", "lps2", "proxy"
X5T = {LPS1: "x5t-lps1", LPS2: "x5t-lps2", PROXY: "x5t-proxy"}
CERTIFICATES = {v: k for k, v in X5T.items()}
PS1, PS2 = "899900000001", "899900000002"
SCOPE = "signsessiondata"
PATH = "/mockservice/apipsc/signsessiondata"


def psc_token(national_id: str, kind: str = "access") -> str:
    return jwt.encode({"SubjectNameID": national_id, "kind": kind}, "k" * 32, algorithm="HS256")


def grant(
    national_id: str = PS1, *, at: float = 10.0, state: str = "s1", refreshed: bool = False, n: int = 0
) -> PscGrant:
    return PscGrant(
        exchange_id=f"psc-{national_id}-{n}",
        at=at,
        session_state=state,
        client_id=LPS1,
        access_token=psc_token(national_id, f"access{n}"),
        refresh_token=f"refresh-{national_id}-{n}",
        id_token=psc_token(national_id, f"id{n}"),
        refreshed=refreshed,
    )


def attempt(
    subject: str,
    *,
    exchange_id: str = "x1",
    at: float = 11.0,
    client: str = LPS1,
    status: int = 200,
    error: str | None = None,
    credentials: tuple[str, ...] = (),
    **form: str,
) -> ExchangeAttempt:
    fields = {
        "grant_type": rfc8693.GRANT_TYPE,
        "subject_token": subject,
        "subject_token_type": rfc8693.ACCESS_TOKEN,
        "scope": SCOPE,
        **form,
    }
    parsed = rfc8693.parse_request({k: [v] for k, v in fields.items() if v != ""})
    return ExchangeAttempt(
        exchange_id,
        at,
        parsed,
        X5T.get(client),
        credentials,
        status,
        error,
        f"api-token-{exchange_id}" if status == 200 else None,
    )


def api_call(
    token: str | None,
    *,
    exchange_id: str = "a1",
    at: float = 12.0,
    client: str = LPS1,
    scheme: str = "Bearer",
    body: Any = None,
    status: int | None = 200,
    answer: Any = None,
    cookie: str | None = None,
) -> ApiCall:
    headers = [("Content-Type", "application/json")]
    if token is not None:
        headers.append(("Authorization", f"{scheme} {token}"))
    if cookie is not None:
        headers.append(("Cookie", cookie))
    return ApiCall(
        exchange_id,
        at,
        "POST",
        PATH,
        X5T.get(client),
        tuple(headers),
        json.dumps(body if body is not None else {"proxy_session_id": "p1"}).encode(),
        status,
        json.dumps(answer if answer is not None else {"ok": True}).encode(),
    )


def upstream(
    psc: tuple[PscGrant, ...] = (),
    exchanges: tuple[ExchangeAttempt, ...] = (),
    calls: tuple[ApiCall, ...] = (),
) -> Upstream:
    tokens = {
        x.access_token: IssuedApiToken(x.exchange_id, x.at, x.x5t_s256) for x in exchanges if x.access_token
    }
    return Upstream(
        psc=psc,
        exchanges=exchanges,
        calls=calls,
        psc_known=psc,
        api_tokens=tokens,
        certificates=CERTIFICATES,
    )


def sent(status: int | None = 200, body: Any = None, *, start: float = 11.0, end: float = 12.0) -> Call:
    if status is None:
        return Call(None, start, end, "ReadTimeout")
    return Call(httpx.Response(status, json=body if body is not None else {"ok": True}), start, end)


def connected(ok: bool = True) -> ConnectAnswer:
    if not ok:
        return ConnectAnswer(httpx.Response(401, json={"code": "401", "message": "refused"}), None)
    session = {"proxy_session_id": "p1", "session_state": "s1"}
    return ConnectAnswer(httpx.Response(200, json=session), "p1")


# -- the token exchange --------------------------------------------------------------------------------


def test_every_exchange_rule_is_inconclusive_without_an_exchange() -> None:
    nothing = upstream(psc=(grant(),))
    for rule in (
        exchange_grant_type_token_exchange,
        exchange_subject_is_psc_access_token,
        exchange_subject_token_type_allowed,
        exchange_client_authenticated_by_certificate_only,
    ):
        judgement = rule(nothing)
        assert judgement.status is Status.INCONCLUSIVE and judgement.root_cause, rule.name
    assert exchange_scope_of_the_api(nothing, SCOPE).status is Status.INCONCLUSIVE


def test_a_conformant_exchange_passes_every_rule() -> None:
    g = grant()
    assert g.access_token is not None
    seen = upstream((g,), (attempt(g.access_token, subject_issuer="psc", client_id=LPS1),))
    assert exchange_grant_type_token_exchange(seen)
    assert exchange_subject_is_psc_access_token(seen)
    assert exchange_subject_token_type_allowed(seen)
    assert exchange_scope_of_the_api(seen, SCOPE)
    assert exchange_client_authenticated_by_certificate_only(seen)


def test_jwt_subject_token_type_is_allowed() -> None:
    g = grant()
    assert g.access_token is not None
    seen = upstream((g,), (attempt(g.access_token, subject_token_type=rfc8693.JWT),))
    assert exchange_subject_token_type_allowed(seen)


def test_grant_type_other_than_token_exchange_fails() -> None:
    g = grant()
    assert g.access_token is not None
    bad = attempt(
        g.access_token,
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
        status=400,
        error="unsupported_grant_type",
    )
    judgement = exchange_grant_type_token_exchange(upstream((g,), (bad,)))
    assert judgement.status is Status.FAILED and "jwt-bearer" in judgement.message
    assert "unsupported_grant_type" in judgement.message


@pytest.mark.parametrize(
    ("subject", "kind"),
    [("id", "PSC ID token"), ("refresh", "PSC refresh token"), ("other", "a token PSC never issued")],
)
def test_subject_token_other_than_the_psc_access_token_fails(subject: str, kind: str) -> None:
    g = grant()
    token = {"id": g.id_token, "refresh": g.refresh_token, "other": "someone-else"}[subject]
    assert token is not None
    judgement = exchange_subject_is_psc_access_token(upstream((g,), (attempt(token, status=400),)))
    assert judgement.status is Status.FAILED and kind in judgement.message


def test_subject_token_type_id_token_fails() -> None:
    g = grant()
    assert g.access_token is not None
    seen = upstream((g,), (attempt(g.access_token, subject_token_type=rfc8693.ID_TOKEN, status=400),))
    judgement = exchange_subject_token_type_allowed(seen)
    assert judgement.status is Status.FAILED and "id_token" in judgement.message


def test_scope_absent_or_not_the_apis_fails() -> None:
    g = grant()
    assert g.access_token is not None
    assert exchange_scope_of_the_api(upstream((g,), (attempt(g.access_token, scope=""),)), SCOPE).status is (
        Status.FAILED
    )
    other = upstream((g,), (attempt(g.access_token, scope="openid"),))
    assert exchange_scope_of_the_api(other, SCOPE).status is Status.FAILED
    both = upstream((g,), (attempt(g.access_token, scope="openid signsessiondata"),))
    assert exchange_scope_of_the_api(both, SCOPE)


def test_credentials_beside_the_certificate_fail() -> None:
    g = grant()
    assert g.access_token is not None
    basic = attempt(g.access_token, credentials=("Authorization: Basic",))
    judgement = exchange_client_authenticated_by_certificate_only(upstream((g,), (basic,)))
    assert judgement.status is Status.FAILED and "Basic" in judgement.message
    no_cert = attempt(g.access_token, client="nobody")
    assert (
        exchange_client_authenticated_by_certificate_only(upstream((g,), (no_cert,))).status is Status.FAILED
    )


def test_other_client_credentials_reads_header_and_form() -> None:
    assert rfc8693.other_client_credentials(None, {"client_id": ["lps1"]}) == ()
    assert rfc8693.other_client_credentials("Basic abc", {"client_secret": ["s"]}) == (
        "Authorization: Basic",
        "client_secret",
    )
    assert rfc8693.is_refresh_request({"grant_type": ["refresh_token"]})
    assert not rfc8693.is_refresh_request({"grant_type": [rfc8693.GRANT_TYPE]})


# -- refresh_token left out of the exchange answer -----------------------------------------------------------


def test_without_refresh_token_judged_against_a_working_control() -> None:
    g = grant(PS2)
    assert g.access_token is not None
    second = upstream((g,), (attempt(g.access_token),))
    control = (connected(), sent(200))
    assert exchange_answer_without_refresh_token_suffices(control, second, connected(), sent(200))
    needs_it = exchange_answer_without_refresh_token_suffices(control, second, connected(False), None)
    assert needs_it.status is Status.FAILED and "optional" in needs_it.message
    send_fails = exchange_answer_without_refresh_token_suffices(control, second, connected(), sent(500))
    assert send_fails.status is Status.FAILED
    assert exchange_answer_without_refresh_token_suffices.strength.severity.value == "warning"


def test_without_refresh_token_inconclusive_when_nothing_to_compare() -> None:
    g = grant(PS2)
    assert g.access_token is not None
    second = upstream((g,), (attempt(g.access_token),))
    broken_control = (connected(), sent(401))
    judgement = exchange_answer_without_refresh_token_suffices(broken_control, second, connected(False), None)
    assert judgement.status is Status.INCONCLUSIVE and judgement.root_cause
    no_exchange = exchange_answer_without_refresh_token_suffices(
        (connected(), sent()), upstream(), connected(), sent()
    )
    assert no_exchange.status is Status.INCONCLUSIVE


# -- certificates --------------------------------------------------------------------------------------------


def test_call_with_the_certificate_that_obtained_its_token() -> None:
    g = grant()
    assert g.access_token is not None
    x = attempt(g.access_token)
    assert business_call_with_the_exchange_certificate(upstream((g,), (x,), (api_call(x.access_token),)))
    other = upstream((g,), (x,), (api_call(x.access_token, client=PROXY),))
    judgement = business_call_with_the_exchange_certificate(other)
    assert judgement.status is Status.FAILED and "lps1 -> proxy" in judgement.message
    # Any scheme still names the token used: the certificate rule is judged even without Bearer.
    assert business_call_with_the_exchange_certificate(
        upstream((g,), (x,), (api_call(x.access_token, scheme="Token"),))
    )
    unknown = upstream((g,), (x,), (api_call("not-an-api-token"),))
    assert business_call_with_the_exchange_certificate(unknown).status is Status.INCONCLUSIVE


def test_upstream_with_the_session_lps_certificate() -> None:
    g = grant()
    assert g.access_token is not None
    x = attempt(g.access_token)
    seen = upstream((g,), (x,), (api_call(x.access_token),))
    assert upstream_with_the_session_lps_certificate(seen.trail(LPS1, PS1, None), seen)
    proxy_call = upstream((g,), (x,), (api_call(x.access_token, client=PROXY),))
    judgement = upstream_with_the_session_lps_certificate(proxy_call.trail(LPS1, PS1, None), proxy_call)
    assert judgement.status is Status.FAILED and "proxy" in judgement.message
    nothing = upstream((g,))
    assert upstream_with_the_session_lps_certificate(nothing.trail(LPS1, PS1, None), nothing).status is (
        Status.INCONCLUSIVE
    )


def test_two_sessions_apart_and_crossed() -> None:
    g1, g2 = grant(PS1, state="s1"), grant(PS2, state="s2", n=1)
    assert g1.access_token is not None and g2.access_token is not None
    x1, x2 = (
        attempt(g1.access_token, exchange_id="x1"),
        attempt(g2.access_token, exchange_id="x2", client=LPS2),
    )
    calls = (
        api_call(x1.access_token, exchange_id="a1"),
        api_call(x2.access_token, exchange_id="a2", client=LPS2),
    )
    seen = upstream((g1, g2), (x1, x2), calls)
    first, second = seen.trail(LPS1, PS1, None), seen.trail(LPS2, PS2, None)
    assert lps_sessions_share_no_certificate_or_token(first, second, seen)

    crossed_x2 = attempt(g2.access_token, exchange_id="x2", client=LPS1)
    crossed = upstream(
        (g1, g2), (x1, crossed_x2), (calls[0], api_call(crossed_x2.access_token, exchange_id="a2"))
    )
    judgement = lps_sessions_share_no_certificate_or_token(
        crossed.trail(LPS1, PS1, None), crossed.trail(LPS2, PS2, None), crossed
    )
    assert (
        judgement.status is Status.FAILED
        and "the session of lps2 used the certificate of lps1" in judgement.message
    )
    assert (
        upstream_with_the_session_lps_certificate(crossed.trail(LPS2, PS2, None), crossed).status
        is Status.FAILED
    )

    idle = upstream((g1, g2), (x1,), (calls[0],))
    assert (
        lps_sessions_share_no_certificate_or_token(
            idle.trail(LPS1, PS1, None), idle.trail(LPS2, PS2, None), idle
        ).status
        is Status.INCONCLUSIVE
    )


def test_one_proxy_session_for_both_is_crossed() -> None:
    g1, g2 = grant(PS1, state="s1"), grant(PS2, state="s2", n=1)
    assert g1.access_token is not None and g2.access_token is not None
    x1, x2 = (
        attempt(g1.access_token, exchange_id="x1"),
        attempt(g2.access_token, exchange_id="x2", client=LPS2),
    )
    seen = upstream((g1, g2), (x1, x2))
    same = {"proxy_session_id": "p1", "session_state": "s1"}
    judgement = lps_sessions_share_no_certificate_or_token(
        seen.trail(LPS1, PS1, same), seen.trail(LPS2, PS2, same), seen
    )
    assert judgement.status is Status.FAILED and "one proxy session for both" in judgement.message


# -- the business call ---------------------------------------------------------------------------------------


def test_bearer_api_token() -> None:
    g = grant()
    assert g.access_token is not None
    x = attempt(g.access_token)
    assert business_call_bearer_api_token(upstream((g,), (x,), (api_call(x.access_token),)))
    for call, shown in (
        (api_call(x.access_token, scheme="Token"), "Authorization: Token"),
        (api_call(None), "no Authorization header"),
        (api_call(g.access_token), "PSC access token"),
    ):
        judgement = business_call_bearer_api_token(upstream((g,), (x,), (call,)))
        assert judgement.status is Status.FAILED and shown in judgement.message
    assert business_call_bearer_api_token(upstream((g,), (x,))).status is Status.INCONCLUSIVE


def test_send_forwards_and_relays() -> None:
    data = {"proxy_session_id": "p1", "nationalId": PS1}
    answer = {"signed": True}
    x = attempt("t")
    call = api_call(x.access_token, body=data, answer=answer)
    seen = upstream(exchanges=(x,), calls=(call,))
    lps = sent(200, answer)
    assert send_forwards_the_lps_request(lps, seen, PATH, data)
    carried = forwarded(seen.calls, PATH, data)
    assert carried == [call]
    assert send_relays_the_api_answer(lps, carried)
    wrapped = send_relays_the_api_answer(sent(200, {"status": 200, "body": answer}), carried)
    assert wrapped.status is Status.FAILED
    # Key order and spacing aside, JSON is the same JSON.
    assert content(b'{"a": 1, "b": 2}') == content(b'{"b":2,"a":1}')


def test_send_forward_precondition_and_failure() -> None:
    data = {"proxy_session_id": "p1"}
    refused = upstream(exchanges=(attempt("t", status=400, error="invalid_grant"),))
    judgement = send_forwards_the_lps_request(sent(401), refused, PATH, data)
    assert judgement.status is Status.INCONCLUSIVE and "invalid_grant" in judgement.root_cause
    got_token = upstream(exchanges=(attempt("t"),))
    assert send_forwards_the_lps_request(sent(401), got_token, PATH, data).status is Status.FAILED
    assert send_relays_the_api_answer(sent(200), []).status is Status.INCONCLUSIVE


def test_session_cookie_kept_from_the_api() -> None:
    call = api_call("t", cookie=None)
    assert lps_session_cookie_kept_from_the_api([call], "p1")
    leaked = lps_session_cookie_kept_from_the_api([api_call("t", cookie="proxy_session_id=p1")], "p1")
    assert leaked.status is Status.FAILED and "beyond the sources" in leaked.message
    assert lps_session_cookie_kept_from_the_api.strength.severity.value == "warning"
    assert lps_session_cookie_kept_from_the_api([], "p1").status is Status.INCONCLUSIVE


def test_send_without_session_reaches_no_api() -> None:
    assert send_without_session_reaches_no_api(sent(401), [])
    assert send_without_session_reaches_no_api(sent(200), [api_call("t")]).status is Status.FAILED


# -- the API failing -----------------------------------------------------------------------------------------


def test_api_5xx_relayed_as_is_or_gateway_status_passes() -> None:
    error = {"error": "server_error"}
    failing = [api_call("t", status=500, answer=error)]
    relayed = api_error_relayed_or_gateway_status(sent(500, error), failing)
    assert relayed and "as is" in relayed.message
    assert api_error_relayed_or_gateway_status(sent(502, {"code": "502", "message": "x"}), failing)
    as_success = api_error_relayed_or_gateway_status(sent(200, {"error": "API unavailable"}), failing)
    assert as_success.status is Status.FAILED
    assert api_error_relayed_or_gateway_status(sent(None), failing).status is Status.FAILED
    assert api_error_relayed_or_gateway_status(sent(401), []).status is Status.INCONCLUSIVE


def test_unreachable_api_is_judged_only_when_the_sut_met_the_failure() -> None:
    reached = [api_call("t", status=None)]
    assert api_link_failure(reached, "reset the connection") == (
        "the API received the relayed call and reset the connection"
    )
    assert api_link_failure([], "reset the connection") == ""  # the SUT never met the failure
    judged_late = upstream_failure_answered_502_503_504(None, api_link_failure(reached, "held it"), 40.0)
    assert judged_late.status is Status.FAILED and "40.0 s" in judged_late.message
    assert upstream_failure_answered_502_503_504(sent(504).answer, api_link_failure(reached, "held it"))
    nothing = upstream_failure_answered_502_503_504(sent(401).answer, api_link_failure([], "reset"))
    assert nothing.status is Status.INCONCLUSIVE


def test_stall_must_fit_the_scenario_bound() -> None:
    assert stalled_api_fits_the_scenario_bound(45.0, 60.0, 120.0)
    judgement = stalled_api_fits_the_scenario_bound(90.0, 110.0, 100.0)
    assert judgement.status is Status.INCONCLUSIVE and "scenario_s" in judgement.root_cause


# -- IG-SEC-16 -----------------------------------------------------------------------------------------------


def test_refreshed_then_exchanged_then_called() -> None:
    old, new = grant(at=1.0), grant(at=20.0, refreshed=True, n=1)
    assert old.access_token is not None and new.access_token is not None
    refused = attempt(old.access_token, exchange_id="x1", at=19.0, status=400, error="invalid_grant")
    retried = attempt(new.access_token, exchange_id="x2", at=21.0)
    call = api_call(retried.access_token, at=22.0)
    after = upstream((new,), (refused, retried), (call,))
    judgement = expired_psc_token_refreshed_then_exchanged(after, sent(200), "expired-at-psc")
    assert judgement and "invalid_grant" in judgement.message

    gave_up = upstream((), (refused,))
    assert expired_psc_token_refreshed_then_exchanged(gave_up, sent(401), "x").status is Status.FAILED
    no_call = upstream((new,), (refused, retried))
    assert expired_psc_token_refreshed_then_exchanged(no_call, sent(401), "x").status is Status.FAILED
    nothing = expired_psc_token_refreshed_then_exchanged(upstream(), sent(401), "x")
    assert nothing.status is Status.INCONCLUSIVE
    # renewed ahead (in the background, say): its exchange presented a valid token, case 1a never arose
    ahead = upstream((), (attempt(old.access_token, exchange_id="x3", at=21.0),), (call,))
    renewed = expired_psc_token_refreshed_then_exchanged(ahead, sent(200), "lifetime-elapsed")
    assert renewed.status is Status.INCONCLUSIVE and "did not arise" in renewed.message


# -- IG-SEC-20 -----------------------------------------------------------------------------------------------


def answer_to_lps(body: bytes, headers: list[tuple[str, str]] | None = None) -> Exchange:
    return Exchange(
        "sut",
        TO_SUT,
        "POST",
        "https://sut/connect",
        1.0,
        status=200,
        response_headers=headers or [],
        response_body=body,
        id="ex-1",
    )


def test_no_token_in_answers_to_the_lps() -> None:
    token = psc_token(PS1)
    clean = answer_to_lps(b'{"proxy_session_id": "p1"}')
    assert no_token_in_answers_to_the_lps([clean], {token})
    leaked = no_token_in_answers_to_the_lps(
        [answer_to_lps(json.dumps({"access_token": token}).encode())], {token}
    )
    assert leaked.status is Status.FAILED and "/connect" in leaked.message
    signature = token.rsplit(".", 1)[1]
    reencoded = answer_to_lps(b"", [("Set-Cookie", f"t=xx.yy.{signature}")])
    assert no_token_in_answers_to_the_lps([reencoded], {token}).status is Status.FAILED
    assert no_token_in_answers_to_the_lps([], {token}).status is Status.INCONCLUSIVE
    assert no_token_in_answers_to_the_lps([clean], set()).status is Status.INCONCLUSIVE
