"""OpenID Connect : le proxy est un client OpenID qui n'emploie que les flux de PSC, selon la norme.

One life of a session (connect, activity after the PSC token expired, disconnect), then PSC's own
record of what the SUT asked, request by request: every token request as PSC parsed it, the flows
it used, its userinfo calls and the metadata it read. The rules are the conditions of
`conformance.roles.consumer.conditions.openid`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time

import httpx
import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.clock import sleep_until
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import connect_answers_session
from conformance.roles.consumer.conditions.openid import (
    only_psc_flows,
    openid_client_obtains_id_token,
    openid_provider_metadata_read,
    token_requests_per_oauth,
    userinfo_bearer_in_header,
    userinfo_bearer_token,
)

# PSC's access token lives this long in the scenario (an integer, as PSC's expires_in), so that the
# session's activity needs a refresh: long enough for the connect itself (CIBA, introspection, token
# exchange) even on a loaded machine, and short beside the SUT's declared idle timeout, so the
# session is still alive when the LPS comes back after the token expired.
PSC_TOKEN_TTL_S = 3
# The API token dies at once, so the activity needs a new exchange, hence a live PSC token.
API_TOKEN_TTL_S = 1
PAST_EXPIRY_S = 0.3


def _psc_token_ttl(consumer: ConsumerBench) -> int:
    idle = consumer.declared.get("idle_timeout_s")
    if not idle:
        return PSC_TOKEN_TTL_S
    return max(1, min(PSC_TOKEN_TTL_S, math.floor(float(idle) - 2 * PAST_EXPIRY_S)))


def _psc_token_expiry(consumer: ConsumerBench, since: float, ttl: int) -> float:
    """When the PSC access token issued during the connect has expired (it was issued before the end)."""
    issued = consumer.observed("token.issued", since=since)
    return max((o.at for o in issued), default=time.time()) + ttl + PAST_EXPIRY_S


def _send(consumer: ConsumerBench, lps: httpx.Client, session: dict[str, str], national_id: str) -> None:
    """The LPS's activity: what the SUT answers is judged by other themes, PSC's record of it here."""
    with contextlib.suppress(httpx.TransportError):
        lps.post(consumer.send_path(), json=consumer.session_data(session, national_id=national_id))


@pytest.mark.verifies("EXI PSC 08", "EXI PSC 10", "EXI PSC 15")
@pytest.mark.waits("waits for the PSC token to expire")
def test_session_life_uses_standard_psc_flows(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Une vie de session complète n'emploie que des requêtes OpenID standard et les flux de PSC"""
    psc, api_as = consumer.counterparts.psc, consumer.counterparts.api_as
    ttl = _psc_token_ttl(consumer)
    identity = consumer.fresh_identity()  # a first login: no cached token stands in for the flows
    psc.behave(identity, timings=dataclasses.replace(psc.timings, access_token_ttl_s=ttl, id_token_ttl_s=60))
    api_as.behave(identity, api_token_ttl_s=API_TOKEN_TTL_S)
    with consumer.lps() as lps:
        connected = consumer.open_session(lps, national_id=identity.national_id)
        checks.prerequisite(connect_answers_session, connected)
        session = connected.session
        assert session is not None  # the prerequisite held
        expiry = _psc_token_expiry(consumer, since, ttl)
        # Active half-way (the session must not die of idleness), then once the PSC token has expired.
        sleep_until((time.time() + expiry) / 2)
        _send(consumer, lps, session, identity.national_id)
        sleep_until(expiry)
        _send(consumer, lps, session, identity.national_id)
        with contextlib.suppress(httpx.TransportError):
            lps.delete("/disconnect")

    requests = consumer.observed("token.request", since=since, counterpart="psc")
    checks.evaluate(openid_client_obtains_id_token, requests, consumer.observed("token.issued", since=since))
    # Discovery and keys may have been read once, at any time since the campaign began.
    checks.evaluate(
        openid_provider_metadata_read, consumer.observed("metadata", since=0.0, counterpart="psc")
    )
    checks.evaluate(
        only_psc_flows,
        requests,
        consumer.observed("authorize", since=since, counterpart="psc"),
        psc.discovery_document()["grant_types_supported"],
    )
    checks.evaluate(token_requests_per_oauth, requests)
    userinfo = consumer.observed("userinfo", since=since, counterpart="psc")
    checks.evaluate(userinfo_bearer_token, userinfo)
    checks.evaluate(userinfo_bearer_in_header, userinfo)
