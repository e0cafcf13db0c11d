"""Connexion : le proxy authentifie le professionnel à PSC par CIBA, au nom du LPS.

The harness plays the LPS calling POST /connect, PSC answering CIBA, and the API's
authorization server; it judges what the SUT sent to PSC and what it answered the LPS.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from conformance.checks import Check
from conformance.ciba import DeviceAction, DeviceBehaviour
from conformance.consumer_bench import ConsumerBench
from conformance.counterparts.psc import IdTokenTamper

# -- checks -------------------------------------------------------------------------------------------

CONNECT_ANSWERS_SESSION = Check(
    "connect_answers_session",
    ("EDC-01",),
    fr="POST /connect répond 200 avec proxy_session_id, session_state et le cookie de session",
    en="POST /connect answers 200 with proxy_session_id, session_state and the session cookie",
)
SESSION_STATE_IS_PSC_S = Check(
    "connect_session_state_is_psc_session",
    ("EDC-01",),
    fr="Le session_state rendu au LPS est celui de la session PSC",
    en="The session_state given to the LPS is PSC's session",
)
CIBA_FOR_THE_LPS = Check(
    "ciba_on_behalf_of_the_lps",
    ("EDC-12",),
    fr="La demande CIBA est faite au nom du LPS, avec son client id et son certificat",
    en="The CIBA request is made on behalf of the LPS, with its client id and its certificate",
)
CIBA_SCOPES = Check(
    "ciba_scope_openid_scope_all",
    ("EXI PSC 17",),
    fr="La demande d'authentification porte les scopes openid et scope_all",
    en="The authentication request carries the openid and scope_all scopes",
)
CIBA_ACR = Check(
    "ciba_acr_values_eidas1",
    ("EXI PSC 16",),
    fr="La demande d'authentification porte acr_values=eidas1",
    en="The authentication request carries acr_values=eidas1",
)
PSC_MTLS = Check(
    "psc_client_auth_mtls_auth_cli",
    ("EXI PSC 24",),
    fr="Le proxy s'authentifie à PSC par mTLS (TLS ≥ 1.2, certificat AUTH_CLI), sans secret",
    en="The proxy authenticates to PSC by mTLS (TLS >= 1.2, AUTH_CLI certificate), without a secret",
)
PSC_CLIENT_ID = Check(
    "psc_client_id_is_registered",
    ("EXI PSC 21",),
    fr="Le proxy utilise l'identifiant client attribué par PSC, cohérent avec son certificat",
    en="The proxy uses the client id PSC assigned, matching its certificate",
)
POLLS_AT_INTERVAL = Check(
    "ciba_polls_at_interval",
    ("EXI PSC 09",),
    fr="Le proxy interroge PSC au rythme de l'intervalle annoncé",
    en="The proxy polls PSC no faster than the announced interval",
)
PSC_REFUSAL_FAILS_CONNECT = Check(
    "connect_fails_when_psc_refuses",
    ("EXI PSC 09",),
    fr="Un refus ou une expiration à PSC fait échouer la connexion, sans session",
    en="A refusal or an expiry at PSC makes the connection fail, with no session",
)
ID_TOKEN_VALIDATED = Check(
    "id_token_validated",
    ("EXI PSC 09",),
    fr="Un jeton d'identité invalide (signature, iss, aud, exp) fait échouer la connexion",
    en="An invalid ID token (signature, iss, aud, exp) makes the connection fail",
)
ID_TOKEN_ACR_VALIDATED = Check(
    "id_token_acr_validated",
    ("EXI PSC 16",),
    fr="Un jeton d'identité dont l'acr n'est pas eidas1 fait échouer la connexion",
    en="An ID token whose acr is not eidas1 makes the connection fail",
)
REPLAY_304 = Check(
    "connect_replay_304_without_psc",
    ("EDC-02",),
    fr="Un second /connect avec la session vivante répond 304 sans appeler PSC",
    en="A second /connect with the live session answers 304 without calling PSC",
)
CONNECT_REPLAY_PRECONDITION = Check(
    "connect_replay_precondition",
    ("EDC-01",),
    fr="Une première connexion réussit (prérequis du rejeu)",
    en="A first connection succeeds (replay prerequisite)",
)
TOKENS_OBTAINED = Check(
    "connect_obtains_psc_tokens",
    ("EDC-01",),
    fr="La connexion obtient des jetons de PSC (prérequis)",
    en="The connection obtains tokens from PSC (prerequisite)",
)
BAD_INPUT_400 = Check(
    "connect_bad_input_400_descriptor",
    ("EDC-03",),
    fr="Une requête /connect invalide reçoit 400 et un descripteur {code, message, metadata}",
    en="An invalid /connect request gets 400 and a {code, message, metadata} descriptor",
)
UNKNOWN_CLIENT_404 = Check(
    "connect_unknown_client_404_descriptor",
    ("EDC-04",),
    fr="Un clientId inconnu reçoit 404 et un descripteur {code, message, metadata}",
    en="An unknown clientId gets 404 and a {code, message, metadata} descriptor",
)
INTROSPECTION_WITH_PROXY_CERT = Check(
    "introspection_with_proxy_certificate",
    ("EDC-15",),
    fr="Le jeton d'accès PSC est introspecté avec le certificat propre du proxy",
    en="The PSC access token is introspected with the proxy's own certificate",
)


def _descriptor(answer, status: int) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    try:
        body = answer.json()
    except ValueError:
        return False, f"HTTP {answer.status_code}, body is not JSON: {answer.text[:120]!r}"
    ok = (
        answer.status_code == status
        and isinstance(body, dict)
        and {"code", "message", "metadata"} <= set(body)
        and str(body.get("code")) == str(status)
    )
    return ok, f"HTTP {answer.status_code} {body}"


# -- scenarios --------------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-01", "EDC-12", "EXI PSC 16", "EXI PSC 17", "EXI PSC 21", "EXI PSC 24")
@pytest.mark.parametrize(
    ("lps_index", "channel"), [(0, "MOBILE"), (1, "CARD")], ids=["lps1-mobile", "lps2-card"]
)
def test_lps_connects_a_professional_by_ciba(
    checks, consumer: ConsumerBench, since: float, lps_index: int, channel: str
) -> None:
    """Un LPS connecte un professionnel : CIBA à PSC en son nom, session rendue au LPS"""
    client_id = consumer.lps_ids[lps_index]
    identity = consumer.identities[lps_index]
    with consumer.lps() as lps:
        answer = consumer.connect(lps, client_id=client_id, national_id=identity.national_id, channel=channel)
        body = answer.json() if answer.status_code == 200 else {}
        cookie = lps.cookies.get("proxy_session_id")
    requests = consumer.observed("ciba.request", since=since)
    expected_x5t = consumer.counterparts.pki.clients[client_id].x5t_s256
    on_behalf = [
        r for r in requests if r.client_id == client_id and r.data.get("certificate_x5t") == expected_x5t
    ]
    checks.record(
        CIBA_FOR_THE_LPS,
        bool(on_behalf),
        f"CIBA requests by {[(r.client_id, r.data.get('certificate_x5t')) for r in requests]}, "
        f"expected {client_id} with its certificate",
        evidence=consumer.exchange_ids(requests),
    )
    scope_deviations = consumer.observed("ciba.scope", since=since)
    checks.record(
        CIBA_SCOPES,
        bool(requests) and not scope_deviations,
        "; ".join(o.detail for o in scope_deviations)
        or f"scope {requests[0].data.get('scope') if requests else None}",
        evidence=consumer.exchange_ids(requests + scope_deviations),
    )
    acr_deviations = consumer.observed("ciba.acr_values", since=since)
    checks.record(
        CIBA_ACR,
        bool(requests) and not acr_deviations,
        "; ".join(o.detail for o in acr_deviations)
        or f"acr_values {requests[0].data.get('acr_values') if requests else None}",
        evidence=consumer.exchange_ids(requests + acr_deviations),
    )
    auths = [o for o in consumer.observed("client_auth", since=since) if o.kind == "client_auth"]
    to_psc = [o for o in auths if o.data.get("endpoint") in ("backchannel", "token")]
    secrets = consumer.observed("client_auth.basic", since=since) + consumer.observed(
        "client_auth.bad_secret", since=since
    )
    mtls = bool(to_psc) and all(
        o.data.get("method") == "tls_client_auth" and o.data.get("tls_version") in ("TLSv1.2", "TLSv1.3")
        for o in to_psc
    )
    checks.record(
        PSC_MTLS,
        mtls and not secrets,
        f"{[(o.data.get('endpoint'), o.data.get('method'), o.data.get('tls_version')) for o in to_psc]}"
        + (f"; {secrets[0].detail}" if secrets else ""),
        evidence=consumer.exchange_ids(to_psc + secrets),
    )
    refused = consumer.observed("client_auth.cn_mismatch", since=since) + consumer.observed(
        "client_auth.unknown_client", since=since
    )
    checks.record(
        PSC_CLIENT_ID,
        bool(to_psc) and not refused,
        "; ".join(o.detail for o in refused) or f"client ids {sorted({o.client_id for o in to_psc})}",
    )
    # What PSC saw is judged above whatever the answer; the session itself last (EDC-01).
    checks.require(
        CONNECT_ANSWERS_SESSION,
        answer.status_code == 200
        and {"proxy_session_id", "session_state"} <= set(body)
        and cookie == body.get("proxy_session_id"),
        f"HTTP {answer.status_code}, body keys {sorted(body)}, cookie {'set' if cookie else 'absent'}",
    )
    issued = consumer.observed("token.issued", since=since)
    checks.record(
        SESSION_STATE_IS_PSC_S,
        body["session_state"] in {o.data["session_state"] for o in issued},
        f"session_state {body['session_state']!r}",
        evidence=consumer.exchange_ids(issued),
    )


@pytest.mark.verifies("EXI PSC 09")
def test_polling_follows_the_announced_interval(checks, consumer: ConsumerBench, since: float) -> None:
    """Le proxy interroge PSC au rythme annoncé pendant que le professionnel valide"""
    identity = consumer.identities[0]
    psc = consumer.counterparts.psc
    # An interval long enough that polling "as fast as possible" cannot pass for following it, and a
    # short life for the request, so a SUT that polls wrongly is done before the next scenario.
    psc.timings = dataclasses.replace(
        psc.timings, ciba_interval_s=max(psc.timings.ciba_interval_s, 0.4), ciba_expires_in_s=3
    )
    psc.set_device(identity.national_id, DeviceBehaviour(DeviceAction.APPROVE, after_polls=3))
    with consumer.lps() as lps:
        answer = consumer.try_connect(lps)  # a SUT polling wrongly may never answer: PSC's record decides
    polls = consumer.observed("ciba.poll", since=since)
    too_fast = consumer.observed("ciba.poll_too_fast", since=since)
    checks.record(
        POLLS_AT_INTERVAL,
        len(polls) >= 2 and not too_fast,
        f"HTTP {answer.status_code if answer is not None else 'no answer'}; {len(polls)} polls; "
        + ("; ".join(o.detail for o in too_fast) or "none faster than the interval"),
        evidence=consumer.exchange_ids(polls),
    )


@pytest.mark.verifies("EXI PSC 09")
@pytest.mark.parametrize("action", [DeviceAction.DENY, DeviceAction.NEVER], ids=["denied", "expired"])
def test_psc_refusal_fails_the_connection(
    checks, consumer: ConsumerBench, since: float, action: DeviceAction
) -> None:
    """Refus du professionnel ou expiration de la demande : la connexion échoue"""
    identity = consumer.identities[0]
    consumer.counterparts.psc.set_device(identity.national_id, DeviceBehaviour(action, after_polls=0))
    if action is DeviceAction.NEVER:
        consumer.counterparts.psc.timings = _short_expiry(consumer)
    with consumer.lps() as lps:
        answer = consumer.connect(lps)
        cookie = lps.cookies.get("proxy_session_id")
    checks.record(
        PSC_REFUSAL_FAILS_CONNECT,
        answer.status_code in (401, 403) and not cookie,
        f"HTTP {answer.status_code} {answer.text[:200]}; cookie {'set' if cookie else 'absent'}",
    )


def _short_expiry(consumer: ConsumerBench):  # type: ignore[no-untyped-def]
    timings = consumer.counterparts.settings.psc_timings
    return dataclasses.replace(timings, ciba_expires_in_s=max(1, int(timings.ciba_interval_s * 5)))


@pytest.mark.verifies("EXI PSC 09")
@pytest.mark.parametrize(
    "tamper",
    [
        IdTokenTamper.BAD_SIGNATURE,
        IdTokenTamper.WRONG_ISSUER,
        IdTokenTamper.WRONG_AUDIENCE,
        IdTokenTamper.EXPIRED,
    ],
)
def test_invalid_id_token_fails_the_connection(
    checks, consumer: ConsumerBench, tamper: IdTokenTamper
) -> None:
    """Un jeton d'identité invalide fait échouer la connexion"""
    consumer.counterparts.psc.id_token_tamper = tamper
    with consumer.lps() as lps:
        answer = consumer.connect(lps)
    checks.record(ID_TOKEN_VALIDATED, answer.status_code != 200, f"{tamper.value}: HTTP {answer.status_code}")


@pytest.mark.verifies("EXI PSC 16")
def test_id_token_below_eidas1_fails_the_connection(checks, consumer: ConsumerBench) -> None:
    """Un jeton d'identité d'un niveau autre qu'eidas1 fait échouer la connexion"""
    consumer.counterparts.psc.id_token_tamper = IdTokenTamper.WRONG_ACR
    with consumer.lps() as lps:
        answer = consumer.connect(lps)
    checks.record(ID_TOKEN_ACR_VALIDATED, answer.status_code != 200, f"acr eidas0: HTTP {answer.status_code}")


@pytest.mark.verifies("EDC-02", "EDC-01")
def test_replay_with_a_live_session_answers_304(checks, consumer: ConsumerBench, since: float) -> None:
    """Reconnexion avec une session vivante : 304, sans nouvel appel à PSC"""
    with consumer.lps() as lps:
        first = consumer.connect(lps)
        checks.require(
            CONNECT_REPLAY_PRECONDITION, first.status_code == 200, f"first connect: HTTP {first.status_code}"
        )
        after_first = time.time()
        replay = consumer.connect(lps)
    new_requests = consumer.observed("ciba.request", since=after_first)
    checks.record(
        REPLAY_304,
        replay.status_code == 304 and not new_requests,
        f"HTTP {replay.status_code}; {len(new_requests)} new CIBA request(s)",
        evidence=consumer.exchange_ids(new_requests),
    )


@pytest.mark.verifies("EDC-03")
@pytest.mark.parametrize(
    "defect",
    ["missing_fields", "bad_channel", "bad_binding_message", "not_json"],
)
def test_bad_connect_input_gets_a_400_descriptor(checks, consumer: ConsumerBench, defect: str) -> None:
    """Requête /connect invalide : 400 et descripteur d'erreur"""
    body = consumer.connect_body()
    with consumer.lps() as lps:
        if defect == "not_json":
            answer = lps.post("/connect", content=b"{not json", headers={"Content-Type": "application/json"})
        elif defect == "missing_fields":
            answer = lps.post("/connect", json={"nationalId": body["nationalId"]})
        elif defect == "bad_channel":
            answer = lps.post("/connect", json={**body, "channel": "FAX"})
        else:
            answer = lps.post("/connect", json={**body, "bindingMessage": "1234"})
    ok, detail = _descriptor(answer, 400)
    checks.record(BAD_INPUT_400, ok, f"{defect}: {detail}")


@pytest.mark.verifies("EDC-04")
def test_unknown_client_id_gets_a_404_descriptor(checks, consumer: ConsumerBench) -> None:
    """clientId inconnu : 404 et descripteur d'erreur"""
    with consumer.lps() as lps:
        answer = consumer.connect(lps, client_id="ans-odc-inconnu-edc-bas")
    ok, detail = _descriptor(answer, 404)
    checks.record(UNKNOWN_CLIENT_404, ok, detail)


@pytest.mark.verifies("EDC-15", "EDC-01")
def test_psc_access_token_introspected_with_the_proxy_certificate(
    checks, consumer: ConsumerBench, since: float
) -> None:
    """Le jeton d'accès PSC est introspecté avec le certificat du proxy, jamais celui d'un LPS"""
    with consumer.lps() as lps:
        answer = consumer.connect(lps)
    issued = consumer.observed("token.issued", since=since)
    checks.require(TOKENS_OBTAINED, bool(issued), f"HTTP {answer.status_code}; no PSC token was issued")
    introspections = consumer.observed("introspection", since=since)
    proxy_id = consumer.counterparts.pki.proxy_client_id
    by_proxy = [o for o in introspections if o.client_id == proxy_id]
    by_others = [o for o in introspections if o.client_id != proxy_id]
    checks.record(
        INTROSPECTION_WITH_PROXY_CERT,
        bool(by_proxy) and not by_others,
        f"HTTP {answer.status_code}; introspections by {[o.client_id for o in introspections]}",
        evidence=consumer.exchange_ids(introspections),
    )
