"""Traces : le proxy restitue sur GET /traces chaque événement, avec des champs exacts.

The harness plays one journey through the SUT as an LPS — a connection (LPS 1), its replay (304),
a pause, a business call, a disconnection, then a connection that PSC refuses (LPS 2) — for two
professionals the SUT never saw, and reads back what the SUT traced for it. Each record is judged
by the conditions of `conformance.roles.consumer.conditions.traces` against what the harness knows
independently: the session the SUT handed out, the `session_state` PSC issued, the certificate the
SUT presented at PSC, the address the harness called from, the moment of each call.

The journey runs once per module (a few seconds); each scenario reads the traces itself.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509

from conformance.campaign.checks import CheckRecorder
from conformance.counterparts.identities import TestIdentity
from conformance.evidence.calls import Call, json_body
from conformance.roles.consumer.bench import ConsumerBench
from conformance.roles.consumer.conditions.answers import ConnectAnswer, connect_answers_session
from conformance.roles.consumer.conditions.traces import (
    FAILURE_EVENT,
    BoundProbe,
    TracedCall,
    TracesRead,
    at_the_pause,
    bound_between,
    iso,
    listing_conditions,
    read_traces,
    record_conditions,
    trace_id_rpps_is_subject_name_id,
    trace_ip_address_is_the_caller,
    trace_send_api_request,
    traces_answer_lists_records,
    traces_end_bound,
    traces_start_bound,
)
from conformance.standards.ciba import DeviceAction, DeviceBehaviour

COOKIE: Final = "proxy_session_id"
# `start` of the first read is this much before the journey, so a SUT clock slightly behind the
# harness's does not hide records; no event of the journey sits near it.
START_MARGIN_S: Final = 1.0
# The pause between the replay and the business call, where the bounds of the filtered reads go:
# longer than a second, so that even stamps truncated to the second fall on either side of it, and
# the (exclusive) bound sits well away from every judged event.
FILTER_GAP_S: Final = 1.2
BEFORE_PAUSE: Final = ("CONNECT_SUCCESS", "CONNECT_REPLAY")
AFTER_PAUSE: Final = ("SEND", "DISCONNECT", FAILURE_EVENT)
ENDPOINT: Final = "signsessiondata"


# -- the journey (acting) -----------------------------------------------------------------------------


@dataclass
class Journey:
    client_id: str
    identity: TestIdentity
    caller_ip: str | None
    started_at: float
    connected: ConnectAnswer = field(default_factory=lambda: ConnectAnswer(None, None))
    calls: dict[str, TracedCall] = field(default_factory=dict)
    ended_at: float = 0.0

    def exchange_ids(self) -> list[str]:
        return [c.exchange_id for c in self.calls.values() if c.exchange_id]


def _caller_ip(base_url: str) -> str | None:
    """The source address this host uses towards the SUT (what the SUT sees, short of a NAT)."""
    parts = urlsplit(base_url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_UDP)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)  # UDP: nothing is sent, the kernel only picks the route
            return str(probe.getsockname()[0])
    except OSError:
        return None


def _call(
    consumer: ConsumerBench,
    lps: httpx.Client,
    event: str,
    expected: int,
    identity: TestIdentity,
    client_id: str,
    method: str,
    path: str,
    **kwargs: Any,
) -> tuple[TracedCall, Call]:
    sent = lps.cookies.get(COOKIE)
    call = consumer.call(lps, method, path, **kwargs)
    traced = TracedCall(
        event,
        expected,
        call.started_at,
        call.ended_at,
        client_id,
        identity.national_id,
        identity.sub,
        status=call.status,
        error=call.error or None,
        exchange_id=call.exchange_id,
        session_id=sent,
    )
    body = json_body(call.answer) if call.answer is not None and call.status == 200 else None
    if path == "/connect" and isinstance(body, dict) and isinstance(body.get(COOKIE), str):
        traced.session_id = body[COOKIE]
    return traced, call


def _presented_certificate(consumer: ConsumerBench, call: TracedCall) -> tuple[bool, x509.Name | None]:
    """Whether the harness saw the SUT at PSC's CIBA endpoint during `call`, and the subject of the
    client certificate it presented there (None: none, or one outside the PKI)."""
    requests = [o for o in consumer.observed("ciba.request", since=call.started_at) if o.at <= call.ended_at]
    if not requests:
        return False, None
    x5t = requests[0].data.get("certificate_x5t")
    if x5t is None:
        return True, None
    by_x5t = {issued.x5t_s256: issued.cert.subject for issued in consumer.counterparts.pki.clients.values()}
    subject = by_x5t.get(str(x5t))
    return subject is not None, subject


def _drive(consumer: ConsumerBench) -> Journey:
    lps_ids = consumer.lps_ids
    identity, failure_identity = consumer.fresh_identity(), consumer.fresh_identity()
    journey = Journey(lps_ids[0], identity, _caller_ip(consumer.base_url), time.time())
    failure_client = lps_ids[1] if len(lps_ids) > 1 else lps_ids[0]
    # proxy session -> whether the harness saw its certificate at PSC, and that certificate's subject
    certificates: dict[str | None, tuple[bool, x509.Name | None]] = {}

    def add(call: TracedCall) -> None:
        if call.event != FAILURE_EVENT and call.session_id in certificates:
            call.certificate_known, call.certificate = certificates[call.session_id]
        else:
            call.certificate_known, call.certificate = _presented_certificate(consumer, call)
            certificates.setdefault(call.session_id, (call.certificate_known, call.certificate))
        journey.calls[call.event] = call

    body = consumer.connect_body(client_id=journey.client_id, national_id=identity.national_id)
    with consumer.lps() as lps:

        def step(event: str, expected: int, method: str, path: str, **kwargs: Any) -> Call:
            traced, call = _call(
                consumer, lps, event, expected, identity, journey.client_id, method, path, **kwargs
            )
            add(traced)
            return call

        connect = step("CONNECT_SUCCESS", 200, "POST", "/connect", json=body)
        journey.connected = ConnectAnswer(connect.answer, lps.cookies.get(COOKIE))
        session = journey.connected.session
        if session is not None:
            replay = ConnectAnswer(step("CONNECT_REPLAY", 304, "POST", "/connect", json=body).answer, None)
            if replay.answer is not None and replay.answer.status_code == 200:
                # No replay: the 200 opened another session, which the rest of the journey uses.
                session = ConnectAnswer(replay.answer, lps.cookies.get(COOKIE)).session or session
            time.sleep(FILTER_GAP_S)
            data = consumer.session_data(
                session, client_id=journey.client_id, national_id=identity.national_id
            )
            step("SEND", 200, "POST", consumer.send_path(ENDPOINT), json=data)
            step("DISCONNECT", 200, "DELETE", "/disconnect")
    psc = consumer.counterparts.psc
    psc.set_device(failure_identity.national_id, DeviceBehaviour(DeviceAction.DENY, after_polls=0))
    try:
        with consumer.lps() as lps:
            failure_body = consumer.connect_body(
                client_id=failure_client, national_id=failure_identity.national_id
            )
            failure, _ = _call(
                consumer,
                lps,
                FAILURE_EVENT,
                401,
                failure_identity,
                failure_client,
                "POST",
                "/connect",
                json=failure_body,
            )
            add(failure)
    finally:
        psc.reset()
    journey.ended_at = time.time()
    issued = consumer.observed("token.issued", since=journey.started_at, client_id=journey.client_id)
    states = frozenset(str(o.data["session_state"]) for o in issued if o.data.get("session_state"))
    for call in journey.calls.values():
        if call.event != FAILURE_EVENT:
            call.session_states = states
    return journey


# The journey pauses between events (the bound between them must be clear): it starts early.
pytestmark = pytest.mark.waits("the journey pauses between its events")


@pytest.fixture(scope="module")
def journey(consumer: ConsumerBench) -> Iterator[Journey]:
    yield _drive(consumer)


def _read(consumer: ConsumerBench, start: float, end: float | None = None) -> TracesRead:
    params = {"start": iso(start)}
    if end is not None:
        params["end"] = iso(end)
    with consumer.lps() as lps:
        call = consumer.call(lps, "GET", "/traces", params=params)
    read = read_traces("&".join(f"{k}={v}" for k, v in params.items()), call.answer, call.error)
    if read.records is None:
        return read
    # Scenarios running at the same time log other professionals in: their records are theirs.
    own = [r for r in read.records if not consumer.claimed_by_another(_text(r.get("IdRPPS")))]
    return dataclasses.replace(read, records=own)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _has_session(checks: CheckRecorder, journey: Journey) -> None:
    """What every scenario of this module judges is the journey: it needs its session (prerequisite)."""
    checks.exchanged_with_sut(len(journey.exchange_ids()))
    checks.prerequisite(connect_answers_session, journey.connected)


def _traced(checks: CheckRecorder, consumer: ConsumerBench, journey: Journey) -> TracesRead:
    """The traces of the whole journey; the scenario needs them readable (prerequisite)."""
    read = _read(consumer, journey.started_at - START_MARGIN_S)
    checks.prerequisite(traces_answer_lists_records, read)
    return read


# -- scenarios ----------------------------------------------------------------------------------------


@pytest.mark.verifies("EDC-10")
def test_traces_list_every_event(checks: CheckRecorder, consumer: ConsumerBench, journey: Journey) -> None:
    """GET /traces restitue chaque événement : connexion, rejeu, envoi, déconnexion, échec"""
    _has_session(checks, journey)
    read = _read(consumer, journey.started_at - START_MARGIN_S)
    checks.evaluate(traces_answer_lists_records, read)
    for call in journey.calls.values():
        for listed in listing_conditions(call.event):
            checks.evaluate(listed, call, read)


@pytest.mark.verifies("EDC-11")
def test_trace_records_are_complete_and_exact(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> None:
    """Chaque enregistrement de trace porte des champs complets et exacts"""
    _has_session(checks, journey)
    read = _traced(checks, consumer, journey)
    for call in journey.calls.values():
        if not call.happened:
            continue  # nothing was due: trace_event_listed (EDC-10) says so
        record = read.record_for(call)
        for field_condition in record_conditions(call.event):
            checks.evaluate(field_condition, call, record)
        checks.evaluate(trace_ip_address_is_the_caller, call, record, journey.caller_ip)
        if call.event == "SEND":
            checks.evaluate(trace_send_api_request, call, record, consumer.api_name, "POST", ENDPOINT)


@pytest.mark.verifies("EXI PSC 18")
def test_traces_identify_the_professional_by_subject_name_id(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> None:
    """Les traces identifient le professionnel par son SubjectNameID, pas par le sub de PSC"""
    _has_session(checks, journey)
    read = _traced(checks, consumer, journey)
    for call in journey.calls.values():
        if call.happened:
            checks.evaluate(trace_id_rpps_is_subject_name_id.bound("EXI PSC 18"), call, read.record_for(call))


@pytest.mark.verifies("EDC-10")
def test_traces_filter_by_start_and_end(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> None:
    """GET /traces ne restitue que les événements entre start et end (bornes exclues)"""
    _has_session(checks, journey)
    full = _traced(checks, consumer, journey)
    before, after = at_the_pause(full, list(journey.calls.values()), BEFORE_PAUSE, AFTER_PAUSE)
    # The bound sits between the records as the SUT stamped them: the SUT's own clock decides.
    middle, detail = bound_between(full, before, after)
    early = _read(consumer, journey.started_at - START_MARGIN_S, end=middle) if middle is not None else None
    late = _read(consumer, middle) if middle is not None else None
    bound = iso(middle) if middle is not None else None
    checks.evaluate(traces_end_bound, BoundProbe(bound, early, before, after, detail))
    checks.evaluate(traces_start_bound, BoundProbe(bound, late, after, before, detail))
