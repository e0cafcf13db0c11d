"""OpenID Connect : le proxy est un client OpenID qui n'emploie que les flux de PSC, selon la norme.

One life of a session (connect, activity after the PSC token expired, disconnect), then PSC's
own record of what the SUT asked, request by request.
"""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qs

import pytest

from conformance.checks import Check
from conformance.consumer_bench import ConsumerBench
from conformance.evidence import Exchange

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
PSC_GRANTS = {CIBA_GRANT, "refresh_token", "authorization_code"}

OPENID_CLIENT = Check(
    "openid_client_of_psc",
    ("EXI PSC 08",),
    fr="Le proxy obtient l'identité du professionnel par OpenID Connect auprès de PSC (jeton d'identité)",
    en="The proxy gets the professional's identity through OpenID Connect at PSC (ID token)",
)
OPENID_METADATA = Check(
    "openid_metadata_from_psc",
    ("EXI PSC 08",),
    fr="Le proxy lit les métadonnées publiées par PSC (découverte et clés)",
    en="The proxy reads PSC's published metadata (discovery and keys)",
)
ONLY_PSC_FLOWS = Check(
    "only_psc_flows",
    ("EXI PSC 10",),
    fr="Le proxy n'emploie que les flux de PSC (CIBA, rafraîchissement, code d'autorisation)",
    en="The proxy uses only PSC's flows (CIBA, refresh, authorization code)",
)
TOKEN_REQUESTS_PER_STANDARD = Check(
    "token_requests_per_openid",
    ("EXI PSC 15",),
    fr="Chaque requête au point de jeton porte les paramètres de la norme pour son type de grant",
    en="Each token request carries the standard parameters of its grant type",
)
USERINFO_WITH_BEARER = Check(
    "userinfo_with_bearer",
    ("EXI PSC 15",),
    fr="Les appels userinfo, s'il y en a, portent le jeton dans l'en-tête Authorization: Bearer",
    en="Userinfo calls, if any, carry the token in an Authorization: Bearer header",
)
SESSION_PRECONDITION = Check(
    "openid_tour_connects",
    ("EDC-01",),
    fr="La connexion du parcours réussit (prérequis)",
    en="The tour's connection succeeds (prerequisite)",
)


def _form(exchange: Exchange) -> dict[str, str]:
    parsed = parse_qs(exchange.request_body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _token_request_problems(exchange: Exchange) -> list[str]:
    form = _form(exchange)
    grant = form.get("grant_type")
    needs = {
        CIBA_GRANT: ("auth_req_id",),
        "refresh_token": ("refresh_token",),
        "authorization_code": ("code", "redirect_uri"),
    }.get(grant or "", ())
    problems = [f"grant_type {grant!r} without {name}" for name in needs if not form.get(name)]
    if grant is None:
        problems.append("no grant_type")
    if "client_id" not in form and not (exchange.request_header("Authorization") or ""):
        problems.append(f"{grant}: the client is not identified (no client_id, no Authorization)")
    return problems


@pytest.mark.verifies("EXI PSC 08", "EXI PSC 10", "EXI PSC 15", "EDC-01")
def test_session_life_uses_standard_psc_flows(
    checks, consumer: ConsumerBench, since: float, request: pytest.FixtureRequest
) -> None:
    """Une vie de session complète n'emploie que des requêtes OpenID standard et les flux de PSC"""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    # Short lifetimes so the session's activity needs a refresh at PSC (the reset restores them).
    psc.timings = dataclasses.replace(psc.timings, access_token_ttl_s=1, id_token_ttl_s=60)
    api_as.api_token_ttl_s = 1
    with consumer.lps() as lps:
        connected = consumer.connect(lps)
        checks.require(SESSION_PRECONDITION, connected.status_code == 200, f"HTTP {connected.status_code}")
        time.sleep(1.3)
        lps.post(consumer.send_path(), json=consumer.session_data(connected.json()))
        lps.delete("/disconnect")

    token_requests = [
        e
        for e in consumer.evidence.exchanges(counterpart="psc", scenario=request.node.nodeid)
        if e.url.split("?")[0].endswith("/protocol/openid-connect/token")
    ]
    issued = consumer.observed("token.issued", since=since)
    checks.record(
        OPENID_CLIENT,
        bool(issued) and bool(token_requests),
        f"{len(token_requests)} token request(s); ID tokens issued: {len(issued)}",
        evidence=consumer.exchange_ids(issued),
    )

    every_psc_call = consumer.evidence.exchanges(counterpart="psc")  # the whole campaign so far
    fetched = {
        path
        for e in every_psc_call
        for path in ("/.well-known/", "/protocol/openid-connect/certs")
        if path in e.url
    }
    checks.record(
        OPENID_METADATA,
        fetched == {"/.well-known/", "/protocol/openid-connect/certs"},
        f"fetched from PSC: {sorted(fetched) or 'neither discovery nor JWKS'}",
    )

    grants = {_form(e).get("grant_type") for e in token_requests}
    off_flow = consumer.observed("token.grant_type", since=since) + consumer.observed(
        "authorize", since=since
    )
    checks.record(
        ONLY_PSC_FLOWS,
        grants <= PSC_GRANTS and not off_flow,
        f"grant types {sorted(g or '-' for g in grants)}"
        + (f"; {'; '.join(o.detail for o in off_flow)}" if off_flow else ""),
        evidence=[e.id for e in token_requests],
    )

    for exchange in token_requests:
        problems = _token_request_problems(exchange)
        grant = _form(exchange).get("grant_type")
        checks.record(
            TOKEN_REQUESTS_PER_STANDARD,
            not problems,
            "; ".join(problems) or f"{grant}: standard parameters present",
            evidence=[exchange.id],
        )
    bad_userinfo = consumer.observed("userinfo.invalid_token", since=since)
    checks.record(
        USERINFO_WITH_BEARER,
        not bad_userinfo,
        "; ".join(o.detail for o in bad_userinfo) or "no userinfo call without a Bearer token",
        evidence=consumer.exchange_ids(bad_userinfo),
    )
