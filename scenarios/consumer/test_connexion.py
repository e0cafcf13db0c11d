"""Connexion : le proxy authentifie le professionnel à PSC par CIBA, au nom du LPS.

The harness plays the LPS calling POST /connect, PSC answering CIBA, and the API's authorization
server; it judges what the SUT sent to PSC (PSC's own record) and what it answered the LPS. The
rules are the conditions of `roles/consumer/conditions/connexion.py` and, for the error descriptors, of
`roles/consumer/conditions/answers.py`. Each scenario that needs a login uses a professional the SUT never
saw, so no cached token or session lets it skip the step under test.

Every wait is bounded and derives from PSC's own timers in the scenario: a SUT that never answers
the LPS is judged from PSC's record of what it did.
"""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from conformance.campaign.checks import CheckRecorder
from conformance.campaign.conditions import Condition
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.psc import IdTokenTamper, PscTimings
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import (
    connect_answers_session,
    error_answer_status,
    error_descriptor_fields,
    error_descriptor_is_json,
)
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
from conformance.standards.ciba import DeviceAction, DeviceBehaviour

# The one error-descriptor rule, speaking for the /connect refusals.
BAD_INPUT_STATUS = error_answer_status.bound("EDC-03")
BAD_INPUT_DESCRIPTOR = error_descriptor_is_json.bound("EDC-03")
BAD_INPUT_FIELDS = error_descriptor_fields.bound("EDC-03")
UNKNOWN_CLIENT_STATUS = error_answer_status.bound("EDC-04")
UNKNOWN_CLIENT_DESCRIPTOR = error_descriptor_is_json.bound("EDC-04")
UNKNOWN_CLIENT_FIELDS = error_descriptor_fields.bound("EDC-04")

# Polling scenarios: an interval long enough that polling "as fast as possible" cannot pass for
# following it, and (slow_down) an increment well above PSC's tolerance on the gaps it measures.
POLL_INTERVAL_FLOOR_S = 0.4
# The interval-following scenario's own floor: a SUT polling at a fixed fast pace must show it even when
# a loaded machine stretches every poll's round trip (0.4 s let polls every 0.05 s pass once, in CI).
FOLLOW_INTERVAL_FLOOR_S = 1.0
SLOW_DOWN_INCREMENT_FLOOR_S = 1.0
# What CIBA Core §11 asks a client to add after slow_down: a conformant SUT may wait this long.
STANDARD_SLOW_DOWN_S = 5.0


# -- acting -------------------------------------------------------------------------------------------


def _polling_timings(
    timings: PscTimings, *, expires_in_s: int | None = None, interval_floor_s: float = POLL_INTERVAL_FLOOR_S
) -> PscTimings:
    return dataclasses.replace(
        timings,
        ciba_interval_s=max(timings.ciba_interval_s, interval_floor_s),
        slow_down_increment_s=max(timings.slow_down_increment_s, SLOW_DOWN_INCREMENT_FLOOR_S),
        ciba_expires_in_s=expires_in_s or timings.ciba_expires_in_s,
    )


def _settle(consumer: ConsumerBench, identity: TestIdentity) -> None:
    """Give a SUT that keeps polling after PSC's final answer the time to show it (two intervals)."""
    timings = consumer.counterparts.psc.timings_for(identity)
    time.sleep(max(0.5, 2 * timings.ciba_interval_s + timings.poll_tolerance_s))


# -- the connect itself ---------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-01", "EDC-12", "EXI PSC 16", "EXI PSC 17", "EXI PSC 21", "EXI PSC 24")
@pytest.mark.parametrize(
    ("lps_index", "channel"), [(0, "MOBILE"), (1, "CARD")], ids=["lps1-mobile", "lps2-card"]
)
def test_lps_connects_a_professional_by_ciba(
    checks: CheckRecorder, consumer: ConsumerBench, since: float, lps_index: int, channel: str
) -> None:
    """Un LPS connecte un professionnel : CIBA à PSC en son nom, session rendue au LPS"""
    client_id = consumer.lps_ids[lps_index]
    identity = consumer.fresh_identity()
    with consumer.lps() as lps:
        connected = consumer.open_session(
            lps, client_id=client_id, national_id=identity.national_id, channel=channel
        )

    received = consumer.observed("ciba.received", since=since)
    auths = consumer.observed("client_auth", since=since, counterpart="psc")
    lps_certificate = consumer.counterparts.pki.clients[client_id].x5t_s256
    checks.evaluate(ciba_on_behalf_of_the_lps, auths, client_id, lps_certificate)
    checks.evaluate(ciba_scope_openid_scope_all, received)
    checks.evaluate(ciba_acr_values_eidas1, received)
    checks.evaluate(psc_client_auth_mtls, auths)
    checks.evaluate(psc_client_id_is_registered, auths)
    checks.evaluate(connect_answers_session, connected)
    checks.evaluate(
        connect_session_state_is_psc_session, connected, consumer.observed("token.issued", since=since)
    )


@pytest.mark.verifies("EDC-02")
def test_replay_with_a_live_session_answers_304(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Reconnexion avec une session vivante : 304, sans nouvel appel à PSC"""
    identity = consumer.fresh_identity()
    with consumer.lps() as lps:
        first = consumer.open_session(lps, national_id=identity.national_id)
        checks.prerequisite(connect_answers_session, first)
        after_first = time.time()
        replay = consumer.try_connect(lps, national_id=identity.national_id)
    checks.evaluate(
        connect_replay_304_without_psc, replay, consumer.observed("ciba.received", since=after_first)
    )


# -- polling PSC ------------------------------------------------------------------------------------------


@pytest.mark.verifies("EXI PSC 09")
@pytest.mark.waits("polls PSC over several intervals")
def test_polling_follows_the_announced_interval(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Le proxy interroge PSC au rythme annoncé pendant que le professionnel valide"""
    psc = consumer.counterparts.psc
    identity = consumer.fresh_identity()
    interval = max(psc.timings.ciba_interval_s, FOLLOW_INTERVAL_FLOOR_S)
    # The device approves at the fourth poll; the request lives long enough for that, and short
    # enough that a SUT polling wrongly is done before the next scenario.
    expires_in = max(3, math.ceil(6 * interval))
    psc.behave(
        identity,
        timings=_polling_timings(
            psc.timings, expires_in_s=expires_in, interval_floor_s=FOLLOW_INTERVAL_FLOOR_S
        ),
        device=DeviceBehaviour(DeviceAction.APPROVE, after_polls=3),
    )
    with consumer.lps(read_timeout_s=expires_in + consumer.read_timeout_s) as lps:
        consumer.try_connect(lps, national_id=identity.national_id)
    checks.evaluate(ciba_polls_no_faster_than_interval, consumer.observed("ciba.poll", since=since))


@pytest.mark.verifies("EXI PSC 09")
@pytest.mark.waits("polls PSC over growing intervals after slow_down")
def test_polling_backs_off_after_slow_down(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """PSC répond slow_down : le proxy espace ses interrogations de l'incrément demandé"""
    psc = consumer.counterparts.psc
    identity = consumer.fresh_identity()
    timings = _polling_timings(psc.timings)
    # A SUT adding the standard's 5 s (or PSC's increment, when longer) after slow_down still gets
    # its tokens before the request expires.
    back_off = max(timings.slow_down_increment_s, STANDARD_SLOW_DOWN_S)
    expires_in = math.ceil(2 * timings.ciba_interval_s + back_off + 2)
    psc.behave(
        identity,
        timings=dataclasses.replace(timings, ciba_expires_in_s=expires_in),
        device=DeviceBehaviour(DeviceAction.APPROVE, after_polls=0, slow_down_polls=1),
    )
    with consumer.lps(read_timeout_s=expires_in + consumer.read_timeout_s) as lps:
        consumer.try_connect(lps, national_id=identity.national_id)
    checks.evaluate(ciba_slow_down_increases_interval, consumer.observed("ciba.poll", since=since))


@pytest.mark.verifies("EXI PSC 09")
@pytest.mark.parametrize("action", [DeviceAction.DENY, DeviceAction.NEVER], ids=["denied", "expired"])
@pytest.mark.waits("waits for the CIBA request to expire")
def test_psc_refusal_fails_the_connection(
    checks: CheckRecorder, consumer: ConsumerBench, since: float, action: DeviceAction
) -> None:
    """Refus du professionnel ou expiration de la demande : la connexion échoue, les interrogations cessent"""
    psc = consumer.counterparts.psc
    identity = consumer.fresh_identity()
    expires_in = max(2, math.ceil(10 * psc.timings.ciba_interval_s))
    psc.behave(
        identity,
        timings=dataclasses.replace(psc.timings, ciba_expires_in_s=expires_in),
        device=DeviceBehaviour(action, after_polls=0),
    )
    with consumer.lps(read_timeout_s=expires_in + consumer.read_timeout_s) as lps:
        connected = consumer.open_session(lps, national_id=identity.national_id)
    _settle(consumer, identity)
    checks.evaluate(
        connect_refused_without_session,
        connected,
        consumer.observed("ciba.request", since=since),
        consumer.observed("token.issued", since=since),
    )
    checks.evaluate(ciba_stops_polling_after_terminal_answer, consumer.observed("ciba.poll", since=since))


# -- the ID token ---------------------------------------------------------------------------------------


@pytest.mark.verifies("EXI PSC 09")
@pytest.mark.parametrize(
    ("tamper", "rule"),
    [
        pytest.param(IdTokenTamper.BAD_SIGNATURE, id_token_signature_validated, id="bad_signature"),
        pytest.param(IdTokenTamper.WRONG_ISSUER, id_token_claims_validated, id="wrong_issuer"),
        pytest.param(IdTokenTamper.WRONG_AUDIENCE, id_token_claims_validated, id="wrong_audience"),
        pytest.param(IdTokenTamper.EXPIRED, id_token_claims_validated, id="expired"),
    ],
)
def test_invalid_id_token_fails_the_connection(
    checks: CheckRecorder, consumer: ConsumerBench, since: float, tamper: IdTokenTamper, rule: Condition
) -> None:
    """Un jeton d'identité invalide fait échouer la connexion"""
    identity = consumer.fresh_identity()
    consumer.counterparts.psc.behave(identity, id_token_tamper=tamper)
    with consumer.lps() as lps:
        connected = consumer.open_session(lps, national_id=identity.national_id)
    checks.evaluate(rule, connected, consumer.observed("token.issued", since=since), tamper.value)


@pytest.mark.verifies("EXI PSC 16")
def test_id_token_below_eidas1_fails_the_connection(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Un jeton d'identité d'un niveau autre qu'eidas1 fait échouer la connexion"""
    identity = consumer.fresh_identity()
    consumer.counterparts.psc.behave(identity, id_token_tamper=IdTokenTamper.WRONG_ACR)
    with consumer.lps() as lps:
        connected = consumer.open_session(lps, national_id=identity.national_id)
    checks.evaluate(
        id_token_acr_validated,
        connected,
        consumer.observed("token.issued", since=since),
        IdTokenTamper.WRONG_ACR.value,
    )


@pytest.mark.verifies("EDC-15")
def test_psc_access_token_introspected_with_the_proxy_certificate(
    checks: CheckRecorder, consumer: ConsumerBench, since: float
) -> None:
    """Le jeton d'accès PSC est introspecté avec le certificat du proxy, jamais celui d'un LPS"""
    identity = consumer.fresh_identity()  # a new PSC token: no introspection result to reuse
    with consumer.lps() as lps:
        consumer.open_session(lps, national_id=identity.national_id)
    checks.evaluate(
        introspection_with_proxy_certificate,
        consumer.observed("client_auth", since=since, counterpart="psc"),
        consumer.counterparts.pki.proxy_client_id,
    )
    checks.evaluate(
        psc_access_token_introspected,
        consumer.observed("token.issued", since=since),
        consumer.observed("introspection", since=since),
    )


# -- refused inputs ---------------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-03")
@pytest.mark.parametrize("defect", ["not_json", "missing_national_id"])
def test_malformed_connect_input_gets_a_400_descriptor(
    checks: CheckRecorder, consumer: ConsumerBench, defect: str
) -> None:
    """Requête /connect malformée (corps non JSON, nationalId absent) : 400 et descripteur d'erreur"""
    body = consumer.connect_body()
    with consumer.lps() as lps:
        if defect == "not_json":
            call = consumer.call(
                lps, "POST", "/connect", content=b"{not json", headers={"Content-Type": "application/json"}
            )
        else:
            call = consumer.call(
                lps, "POST", "/connect", json={k: v for k, v in body.items() if k != "nationalId"}
            )
    checks.evaluate(BAD_INPUT_STATUS, call.answer, {400}, defect)
    checks.evaluate(BAD_INPUT_DESCRIPTOR, call.answer, {400}, defect)
    checks.evaluate(BAD_INPUT_FIELDS, call.answer, defect)


@pytest.mark.verifies("EDC-03")
@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", "FAX"), ("bindingMessage", "1234")],
    ids=["bad_channel", "bad_binding_message"],
)
def test_connect_value_outside_the_described_domain(
    checks: CheckRecorder, consumer: ConsumerBench, field: str, value: str
) -> None:
    """Valeur hors de la description du contrat (channel, bindingMessage) : 400 et descripteur attendus"""
    identity = consumer.fresh_identity()  # if the SUT accepts the value, its login disturbs nobody
    body = {**consumer.connect_body(national_id=identity.national_id), field: value}
    case = f"{field}={value!r}"
    with consumer.lps() as lps:
        call = consumer.call(lps, "POST", "/connect", json=body)
    checks.evaluate(connect_value_outside_description_refused, call.answer, case)
    checks.evaluate(BAD_INPUT_DESCRIPTOR, call.answer, {400}, case)
    checks.evaluate(BAD_INPUT_FIELDS, call.answer, case)


@pytest.mark.verifies("EDC-04")
def test_unknown_client_id_gets_a_404_descriptor(checks: CheckRecorder, consumer: ConsumerBench) -> None:
    """clientId inconnu : 404 et descripteur d'erreur"""
    with consumer.lps() as lps:
        call = consumer.call(
            lps, "POST", "/connect", json=consumer.connect_body(client_id="ans-odc-inconnu-edc-bas")
        )
    checks.evaluate(UNKNOWN_CLIENT_STATUS, call.answer, {404}, "unknown clientId")
    checks.evaluate(UNKNOWN_CLIENT_DESCRIPTOR, call.answer, {404}, "unknown clientId")
    checks.evaluate(UNKNOWN_CLIENT_FIELDS, call.answer, "unknown clientId")
