"""The client-authentication condition of the provider role: refused in the handshake or by 400/401."""

from __future__ import annotations

import httpx
import pytest

from conformance.campaign.verdicts import Status
from conformance.evidence.calls import Call, Failure
from conformance.roles.provider.conditions.authentification import unauthenticated_client_refused


def answered(status: int, body: object = None) -> Call:
    return Call(httpx.Response(status, json=body), 1.0, 2.0)


@pytest.mark.parametrize(
    "call",
    [
        Call(
            None,
            1.0,
            2.0,
            "ConnectError: [SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] handshake failure",
            Failure.CUT,
        ),
        Call(
            None,
            1.0,
            2.0,
            "ReadError: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] certificate required",
            Failure.CUT,
        ),
        Call(
            None,
            1.0,
            2.0,
            "RemoteProtocolError: Server disconnected without sending a response.",
            Failure.CUT,
        ),
        answered(401, {"error": "invalid_client"}),
        answered(400, {"error": "invalid_request"}),
        answered(400, None),  # a TLS terminator's HTML page is still a refusal
    ],
)
def test_refusals_pass(call: Call) -> None:
    assert unauthenticated_client_refused(call, "rogue")


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (answered(200, {"access_token": "t", "token_type": "Bearer"}), "with an access token"),
        (answered(403, {"error": "access_denied"}), "not a refusal of RFC 6749"),
        (answered(500, None), "not a refusal of RFC 6749"),
    ],
)
def test_a_token_or_another_status_fails(call: Call, said: str) -> None:
    judgement = unauthenticated_client_refused(call, "expired")
    assert judgement.status is Status.FAILED and said in judgement.message


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        ("ReadTimeout: The read operation timed out", Failure.TIMEOUT),
        ("ConnectError: [Errno 111] Connection refused", Failure.UNREACHABLE),
        ("ConnectError: [Errno 101] Le réseau n'est pas accessible", Failure.UNREACHABLE),  # never by text
    ],
)
def test_no_answer_is_inconclusive(error: str, failure: Failure) -> None:
    assert unauthenticated_client_refused(Call(None, 1.0, 2.0, error, failure), "revoked").inconclusive
