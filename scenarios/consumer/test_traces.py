"""Traces : le proxy restitue sur GET /traces chaque événement, avec des champs exacts.

The harness plays one journey through the SUT as an LPS — a connection (LPS 1), its replay (304),
a business call, a disconnection, then a connection that PSC refuses (LPS 2) — and reads back
what the SUT traced for it. Each record is judged against what the harness knows independently:
the session the SUT handed out, the `session_state` PSC issued, the certificate the PKI minted
for the LPS, the address the harness called from, the moment of each call.

The journey runs once per module (a few seconds); each scenario reads the traces itself.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from conformance.checks import Check, CheckRecorder
from conformance.ciba import DeviceAction, DeviceBehaviour
from conformance.consumer_bench import ConsumerBench
from conformance.counterparts.identities import TestIdentity
from conformance.evidence.client import EXCHANGE_ID

# A record's timestamp must fall within the call that caused it, give or take this much (clock
# resolution, and the SUT and the harness reading their clocks a few instants apart).
TIMESTAMP_TOLERANCE_S: Final = 1.0
# `start` of the first read is this much before the journey, so a SUT clock slightly behind the
# harness's does not hide records; records are attributed to the journey by session or by time.
START_MARGIN_S: Final = 1.0
# Between the replay and the business call: a bound for `end` is placed in this gap.
FILTER_GAP_S: Final = 0.6

FAILURE_EVENT: Final = "CONNECT_FAILURE"

# GET /traces: a JSON array of trace objects (the OpenAPI says `object`; the ANS proxy and the
# contract's description return the list of records).
TRACES_SCHEMA: Final = {"type": "array", "items": {"type": "object"}}

# -- checks -------------------------------------------------------------------------------------------

SESSION_ESTABLISHED = Check(
    "traces_journey_session_established",
    ("EDC-01",),
    fr="Le LPS obtient une session du proxy (prérequis : sans session, rien à tracer)",
    en="The LPS gets a proxy session (prerequisite: without a session there is nothing to trace)",
)
JOURNEY_RECORDS_FOUND = Check(
    "traces_journey_records_found",
    ("EDC-10",),
    fr="GET /traces restitue des enregistrements du parcours (prérequis)",
    en="GET /traces lists records of the journey (prerequisite)",
)
TRACES_JSON_ARRAY = Check(
    "traces_answer_json_array",
    ("EDC-10",),
    fr="GET /traces?start=… répond 200 avec un tableau JSON d'enregistrements",
    en="GET /traces?start=… answers 200 with a JSON array of records",
)
TRACE_EVENT_LISTED = Check(
    "trace_event_listed",
    ("EDC-10",),
    fr="Chaque événement du parcours est restitué une fois, avec le bon type",
    en="Each event of the journey is listed once, with the right type",
)
TRACE_END_BOUND = Check(
    "traces_end_bound_excludes_later_records",
    ("EDC-10",),
    fr="Le paramètre end exclut les enregistrements postérieurs et garde les antérieurs",
    en="The end parameter excludes later records and keeps earlier ones",
)
TRACE_START_BOUND = Check(
    "traces_start_bound_excludes_earlier_records",
    ("EDC-10",),
    fr="Le paramètre start exclut les enregistrements antérieurs et garde les postérieurs",
    en="The start parameter excludes earlier records and keeps later ones",
)
TRACE_FILTER_PRECONDITION = Check(
    "traces_filter_precondition",
    ("EDC-10",),
    fr="Des événements sont tracés avant et après la pause du parcours, horodatages ordonnés (prérequis)",
    en="Events are traced before and after the journey's pause, in timestamp order (prerequisite)",
)
TRACE_CLIENT_ID = Check(
    "trace_client_id_is_the_lps",
    ("EDC-11",),
    fr="clientId est l'identifiant client du LPS à l'origine de l'événement",
    en="clientId is the client id of the LPS behind the event",
)
TRACE_ID_RPPS = Check(
    "trace_id_rpps_is_the_professional",
    ("EDC-11",),
    fr="IdRPPS est l'identifiant national du professionnel (le nationalId de /connect)",
    en="IdRPPS is the professional's national id (the nationalId of /connect)",
)
TRACE_IP_ADDRESS = Check(
    "trace_ip_address_is_the_caller",
    ("EDC-11",),
    fr="ipAddress est l'adresse IP de l'appelant",
    en="ipAddress is the caller's IP address",
)
TRACE_SESSION_ID = Check(
    "trace_proxy_id_session",
    ("EDC-11",),
    fr="proxy_id_session est la session de l'appel tracé, celle que /connect a rendue",
    en="proxy_id_session is the session of the traced call, the one /connect returned",
)
TRACE_SESSION_STATE = Check(
    "trace_session_state_is_psc_session",
    ("EDC-11",),
    fr="session_state est celui de la session PSC",
    en="session_state is PSC's session",
)
TRACE_DN = Check(
    "trace_dn_is_the_lps_certificate",
    ("EDC-11",),
    fr="dn est le DN sujet du certificat du LPS utilisé",
    en="dn is the subject DN of the LPS certificate used",
)
TRACE_TIMESTAMP = Check(
    "trace_timestamp_iso8601_in_window",
    ("EDC-11",),
    fr="timestamp est une date ISO 8601 avec décalage, au moment de l'appel tracé",
    en="timestamp is an ISO 8601 date-time with an offset, at the time of the traced call",
)
TRACE_API_REQUEST = Check(
    "trace_send_api_request",
    ("EDC-11",),
    fr="Un enregistrement SEND porte apiRequest {nomApiPsc, methode, path} de l'appel relayé",
    en="A SEND record carries apiRequest {nomApiPsc, methode, path} of the relayed call",
)
TRACE_SUBJECT_NAME_ID = Check(
    "trace_id_rpps_is_subject_name_id",
    ("EXI PSC 18",),
    fr="IdRPPS est le SubjectNameID du professionnel, jamais le sub technique de PSC",
    en="IdRPPS is the professional's SubjectNameID, never PSC's technical sub",
)

# -- the journey --------------------------------------------------------------------------------------


@dataclass
class Step:
    """One call of the journey to the SUT, and the trace event it must produce."""

    event: str
    expected_status: int
    started_at: float
    ended_at: float
    status: int | None = None
    error: str | None = None
    exchange_id: str | None = None
    # The proxy session the event belongs to: the one /connect returned, or the cookie the LPS sent.
    session_id: str | None = None
    # The client whose certificate the SUT presented at PSC for this session (or attempt).
    certificate_client: str | None = None
    session_state: str | None = None  # what a /connect answering 200 returned

    @property
    def happened(self) -> bool:
        """The SUT did what the step drives, so the event it traces is due."""
        if self.event == FAILURE_EVENT:
            return self.status is not None and self.status != 200
        return self.status == self.expected_status

    def describe(self) -> str:
        return f"{self.event}: HTTP {self.status if self.status is not None else self.error}"


@dataclass
class Journey:
    client_id: str
    identity: TestIdentity
    failure_client_id: str
    failure_identity: TestIdentity
    caller_ip: str | None
    started_at: float
    ended_at: float = 0.0
    session_id: str | None = None
    psc_session_states: set[str] = field(default_factory=set)
    steps: dict[str, Step] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.session_id is not None

    def expected_client(self, event: str) -> str:
        return self.failure_client_id if event == FAILURE_EVENT else self.client_id

    def expected_identity(self, event: str) -> TestIdentity:
        return self.failure_identity if event == FAILURE_EVENT else self.identity

    def exchange_ids(self) -> list[str]:
        return [s.exchange_id for s in self.steps.values() if s.exchange_id]


def _timed(
    lps: httpx.Client, event: str, expected: int, method: str, path: str, **kwargs: Any
) -> tuple[Step, httpx.Response | None]:
    sent = lps.cookies.get("proxy_session_id")
    started = time.time()
    try:
        answer = lps.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        step = Step(event, expected, started, time.time(), error=f"{type(exc).__name__}: {exc}")
        step.session_id = sent
        return step, None
    step = Step(event, expected, started, time.time(), status=answer.status_code, session_id=sent)
    step.exchange_id = answer.extensions.get(EXCHANGE_ID)
    if answer.status_code == 200 and path == "/connect":
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("proxy_session_id"), str):
            step.session_id = body["proxy_session_id"]
            step.session_state = str(body.get("session_state"))
    return step, answer


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


def _certificate_client(consumer: ConsumerBench, step: Step, client_id: str) -> str:
    """Whose AUTH_CLI certificate the SUT presented at PSC's CIBA endpoint during `step`; the LPS's
    own when that cannot be observed (no CIBA request, or a certificate outside the PKI)."""
    by_x5t = {issued.x5t_s256: cid for cid, issued in consumer.counterparts.pki.clients.items()}
    requests = [o for o in consumer.observed("ciba.request", since=step.started_at) if o.at <= step.ended_at]
    for request in requests:
        cid = by_x5t.get(str(request.data.get("certificate_x5t")))
        if cid is not None:
            return cid
    return client_id


def _drive(consumer: ConsumerBench) -> Journey:
    identities = consumer.identities
    lps_ids = consumer.lps_ids
    journey = Journey(
        client_id=lps_ids[0],
        identity=identities[0],
        failure_client_id=lps_ids[1] if len(lps_ids) > 1 else lps_ids[0],
        failure_identity=identities[1] if len(identities) > 1 else identities[0],
        caller_ip=_caller_ip(consumer.base_url),
        started_at=time.time(),
    )
    certificates: dict[str | None, str] = {}  # proxy session -> whose certificate it was opened with

    def add(step: Step) -> Step:
        if step.event in ("CONNECT_SUCCESS", "CONNECT_REPLAY", FAILURE_EVENT) and (
            step.event == FAILURE_EVENT or step.status == 200
        ):
            client_id = journey.expected_client(step.event)
            certificates[step.session_id] = _certificate_client(consumer, step, client_id)
        step.certificate_client = certificates.get(step.session_id, journey.expected_client(step.event))
        journey.steps[step.event] = step
        return step

    body = consumer.connect_body(client_id=journey.client_id, national_id=journey.identity.national_id)
    with consumer.lps() as lps:
        connect, _ = _timed(lps, "CONNECT_SUCCESS", 200, "POST", "/connect", json=body)
        add(connect)
        if connect.status == 200 and connect.session_id is not None:
            journey.session_id = connect.session_id
            replay = add(_timed(lps, "CONNECT_REPLAY", 304, "POST", "/connect", json=body)[0])
            time.sleep(FILTER_GAP_S)
            current = replay if replay.session_state is not None else connect  # a 200 opened another
            session_data = consumer.session_data(
                {"proxy_session_id": current.session_id or "", "session_state": current.session_state or ""},
                client_id=journey.client_id,
                national_id=journey.identity.national_id,
            )
            add(_timed(lps, "SEND", 200, "POST", consumer.send_path(), json=session_data)[0])
            add(_timed(lps, "DISCONNECT", 200, "DELETE", "/disconnect")[0])
    psc = consumer.counterparts.psc
    psc.set_device(journey.failure_identity.national_id, DeviceBehaviour(DeviceAction.DENY, after_polls=0))
    try:
        with consumer.lps() as lps:
            failure_body = consumer.connect_body(
                client_id=journey.failure_client_id, national_id=journey.failure_identity.national_id
            )
            add(_timed(lps, FAILURE_EVENT, 401, "POST", "/connect", json=failure_body)[0])
    finally:
        psc.reset()
    journey.ended_at = time.time()
    issued = consumer.observed("token.issued", since=journey.started_at, client_id=journey.client_id)
    journey.psc_session_states = {str(o.data["session_state"]) for o in issued if o.data.get("session_state")}
    return journey


@pytest.fixture(scope="module")
def journey(consumer: ConsumerBench) -> Iterator[Journey]:
    yield _drive(consumer)


# -- reading the traces -------------------------------------------------------------------------------


def _iso(epoch: float) -> str:
    """RFC 3339 / ISO 8601 date-time with its offset, as the OpenAPI's `format: date-time`."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


def _instant(value: Any) -> dt.datetime | None:
    """A trace timestamp as an aware datetime; None unless ISO 8601 with a date, a time and an offset."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None and parsed.utcoffset() is not None else None


@dataclass
class TracesAnswer:
    status: int | None
    records: list[dict[str, Any]] | None
    detail: str
    exchange_id: str | None

    @property
    def ok(self) -> bool:
        return self.records is not None


def _read_traces(consumer: ConsumerBench, start: float, end: float | None = None) -> TracesAnswer:
    params = {"start": _iso(start)}
    if end is not None:
        params["end"] = _iso(end)
    with consumer.lps() as lps:
        try:
            answer = lps.get("/traces", params=params)
        except httpx.HTTPError as exc:
            return TracesAnswer(None, None, f"GET /traces failed: {type(exc).__name__}: {exc}", None)
    exchange_id = answer.extensions.get(EXCHANGE_ID)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    if answer.status_code != 200:
        return TracesAnswer(
            answer.status_code, None, f"GET /traces?{query}: HTTP {answer.status_code}", exchange_id
        )
    try:
        body = answer.json()
    except ValueError:
        return TracesAnswer(200, None, f"GET /traces?{query}: not JSON: {answer.text[:160]!r}", exchange_id)
    try:
        jsonschema.validate(body, TRACES_SCHEMA)
    except jsonschema.ValidationError as exc:
        return TracesAnswer(
            200, None, f"GET /traces?{query}: not an array of objects ({exc.message[:160]})", exchange_id
        )
    return TracesAnswer(200, body, f"GET /traces?{query}: {len(body)} record(s)", exchange_id)


def _attributed(
    journey: Journey, records: list[dict[str, Any]], event: str, *, strict: bool = False
) -> list[dict[str, Any]]:
    """The records of `event` that belong to the journey: by the step's session, else by their time.

    Attribution by time (the record stamped within the call that caused it) keeps a record whose
    session id is wrong visible, so that the field check, not the listing, reports it. `strict`
    attributes session events by their session only: a time window can also hold the records of
    an earlier scenario's session, which must not pass for the journey's.
    """
    step = journey.steps.get(event)
    if step is None:
        return []
    typed = [r for r in records if r.get("type") == event]
    if event != FAILURE_EVENT and step.session_id is not None:
        by_session = [r for r in typed if r.get("proxy_id_session") == step.session_id]
        if by_session or strict:
            return by_session
    low, high = step.started_at - TIMESTAMP_TOLERANCE_S, step.ended_at + TIMESTAMP_TOLERANCE_S
    timed = []
    for record in typed:
        instant = _instant(record.get("timestamp"))
        if instant is not None and low <= instant.timestamp() <= high:
            timed.append(record)
    return timed


def _due_events(journey: Journey) -> list[str]:
    return [event for event, step in journey.steps.items() if step.happened]


# -- distinguished names ------------------------------------------------------------------------------

_DN_KEYWORDS: Final = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "C": NameOID.COUNTRY_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
}
_UNESCAPED_SEPARATOR: Final = re.compile(r"(?<!\\)[,+;]")


def _dn_attributes(text: str) -> list[tuple[str, str]] | None:
    """The (OID, value) pairs of a string DN, whatever the order and the spaces around separators
    (RFC 4514 / RFC 2253, Java's X500Principal, OpenSSL's `-nameopt oneline`); None if unreadable."""
    pairs: list[tuple[str, str]] = []
    for part in _UNESCAPED_SEPARATOR.split(text.strip()):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            return None
        key = key.strip().upper()
        oid = _DN_KEYWORDS.get(key)
        dotted = oid.dotted_string if oid is not None else (key if re.fullmatch(r"[\d.]+", key) else None)
        if dotted is None:
            return None
        value = re.sub(r"\\(.)", r"\1", value.strip().strip('"'))
        pairs.append((dotted, value))
    return pairs or None


def _dn_matches(observed: Any, expected: x509.Name) -> tuple[bool, str]:
    if not isinstance(observed, str) or not observed:
        return False, f"dn {observed!r}"
    if observed == expected.rfc4514_string():
        return True, f"dn {observed!r}"
    attributes = _dn_attributes(observed)
    wanted = sorted((a.oid.dotted_string, str(a.value)) for a in expected)
    if attributes is not None and sorted(attributes) == wanted:
        same = f"same attributes as {expected.rfc4514_string()!r}, in another order or spacing"
        return True, f"dn {observed!r} ({same})"
    return False, f"dn {observed!r}, expected {expected.rfc4514_string()!r}"


def _same_ip(observed: Any, expected: str) -> bool:
    try:
        address = ipaddress.ip_address(str(observed))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is the same caller
    return address == ipaddress.ip_address(expected)


# -- scenarios ----------------------------------------------------------------------------------------


def _require_session(checks: CheckRecorder, journey: Journey) -> None:
    # The journey's calls are what every scenario of this module judges.
    checks.exchanged_with_sut(len(journey.exchange_ids()))
    checks.require(
        SESSION_ESTABLISHED,
        journey.connected,
        "; ".join(s.describe() for s in journey.steps.values()),
        evidence=journey.exchange_ids(),
    )


def _journey_records(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> tuple[TracesAnswer, dict[str, dict[str, Any]]]:
    """The first record of each due event of the journey; stops the scenario when there is none."""
    answer = _read_traces(consumer, journey.started_at - START_MARGIN_S)
    found: dict[str, dict[str, Any]] = {}
    if answer.records is not None:
        for event in _due_events(journey):
            records = _attributed(journey, answer.records, event)
            if records:
                found[event] = records[0]
    checks.require(
        JOURNEY_RECORDS_FOUND,
        bool(found),
        f"{answer.detail}; journey records found: {sorted(found)}",
        evidence=[answer.exchange_id] if answer.exchange_id else [],
    )
    return answer, found


@pytest.mark.verifies("EDC-10", "EDC-01")
def test_traces_list_every_event(checks: CheckRecorder, consumer: ConsumerBench, journey: Journey) -> None:
    """GET /traces restitue chaque événement : connexion, rejeu, envoi, déconnexion, échec"""
    _require_session(checks, journey)
    answer = _read_traces(consumer, journey.started_at - START_MARGIN_S)
    undue = [s.describe() for s in journey.steps.values() if not s.happened]
    checks.record(
        TRACES_JSON_ARRAY,
        answer.ok,
        answer.detail + (f"; steps that did not behave, so not expected: {undue}" if undue else ""),
        evidence=[answer.exchange_id] if answer.exchange_id else [],
    )
    if answer.records is None:
        return
    listed_types = sorted({str(r.get("type")) for r in answer.records})
    for event in _due_events(journey):
        step = journey.steps[event]
        found = _attributed(journey, answer.records, event)
        if event == FAILURE_EVENT:
            ok, expected = bool(found), "at least 1"
        else:
            ok, expected = len(found) == 1, f"exactly 1 for session {step.session_id}"
        checks.record(
            TRACE_EVENT_LISTED,
            ok,
            f"{step.describe()} -> {len(found)} {event} record(s), {expected}; types listed: {listed_types}",
            evidence=[e for e in (step.exchange_id, answer.exchange_id) if e],
        )


@pytest.mark.verifies("EDC-11", "EDC-10", "EDC-01")
def test_trace_records_are_complete_and_exact(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> None:
    """Chaque enregistrement de trace porte des champs complets et exacts"""
    _require_session(checks, journey)
    answer, found = _journey_records(checks, consumer, journey)
    pki = consumer.counterparts.pki
    for event, record in found.items():
        step = journey.steps[event]
        evidence = [e for e in (step.exchange_id, answer.exchange_id) if e]
        client_id = journey.expected_client(event)

        def check(
            chk: Check, ok: bool, message: str, evidence: list[str] = evidence, event: str = event
        ) -> None:
            checks.record(chk, ok, f"{event}: {message}", evidence=evidence)

        check(
            TRACE_CLIENT_ID,
            record.get("clientId") == client_id,
            f"clientId {record.get('clientId')!r}, expected {client_id!r}",
        )
        national_id = journey.expected_identity(event).national_id
        check(
            TRACE_ID_RPPS,
            record.get("IdRPPS") == national_id,
            f"IdRPPS {record.get('IdRPPS')!r}, the LPS asked for {national_id!r}",
        )
        if journey.caller_ip is not None:
            check(
                TRACE_IP_ADDRESS,
                _same_ip(record.get("ipAddress"), journey.caller_ip),
                f"ipAddress {record.get('ipAddress')!r}, the harness called from {journey.caller_ip}",
            )
        if event != FAILURE_EVENT:  # a refused connection has no proxy session nor PSC session
            check(
                TRACE_SESSION_ID,
                record.get("proxy_id_session") == step.session_id,
                f"proxy_id_session {record.get('proxy_id_session')!r}, the session of the call is "
                f"{step.session_id!r}",
            )
            state = record.get("session_state")
            check(
                TRACE_SESSION_STATE,
                isinstance(state, str) and state in journey.psc_session_states,
                f"session_state {state!r}, PSC issued {sorted(journey.psc_session_states)}",
            )
        # The certificate the SUT presented at PSC for this session (the LPS's own when unobservable).
        certificate = step.certificate_client or client_id
        ok, message = _dn_matches(record.get("dn"), pki.clients[certificate].cert.subject)
        check(TRACE_DN, ok, f"{message}; the certificate used was {certificate}'s")
        instant = _instant(record.get("timestamp"))
        low, high = step.started_at - TIMESTAMP_TOLERANCE_S, step.ended_at + TIMESTAMP_TOLERANCE_S
        check(
            TRACE_TIMESTAMP,
            instant is not None and low <= instant.timestamp() <= high,
            f"timestamp {record.get('timestamp')!r}"
            + ("" if instant is not None else " is not ISO 8601 with an offset")
            + f"; the call ran from {_iso(step.started_at)} to {_iso(step.ended_at)}"
            f" (±{TIMESTAMP_TOLERANCE_S:g} s)",
        )
        if event == "SEND":
            api_request = record.get("apiRequest")
            # The ANS example traces the request path; either the API's path or the path the LPS
            # called names the relayed request unambiguously.
            wanted_paths = ("/signsessiondata", consumer.send_path())
            ok = (
                isinstance(api_request, Mapping)
                and api_request.get("nomApiPsc") == consumer.api_name
                and api_request.get("methode") == "POST"
                and api_request.get("path") in wanted_paths
            )
            check(
                TRACE_API_REQUEST,
                ok,
                f"apiRequest {api_request!r}, expected nomApiPsc {consumer.api_name!r}, methode 'POST', "
                f"path one of {list(wanted_paths)}",
            )


@pytest.mark.verifies("EXI PSC 18", "EDC-10", "EDC-01")
def test_traces_identify_the_professional_by_subject_name_id(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> None:
    """Les traces identifient le professionnel par son SubjectNameID, pas par le sub de PSC"""
    if any(i.sub == i.national_id for i in (journey.identity, journey.failure_identity)):
        raise RuntimeError("the test identities must have sub != SubjectNameID for this scenario to judge")
    _require_session(checks, journey)
    answer, found = _journey_records(checks, consumer, journey)
    for event, record in found.items():
        identity = journey.expected_identity(event)
        id_rpps = record.get("IdRPPS")
        checks.record(
            TRACE_SUBJECT_NAME_ID,
            id_rpps == identity.national_id,
            f"{event}: IdRPPS {id_rpps!r}; SubjectNameID {identity.national_id!r}, PSC sub {identity.sub!r}",
            evidence=[e for e in (journey.steps[event].exchange_id, answer.exchange_id) if e],
        )


@pytest.mark.verifies("EDC-10", "EDC-01")
def test_traces_filter_by_start_and_end(
    checks: CheckRecorder, consumer: ConsumerBench, journey: Journey
) -> None:
    """GET /traces ne restitue que les événements entre start et end"""
    _require_session(checks, journey)
    full = _read_traces(consumer, journey.started_at - START_MARGIN_S)
    records = full.records or []
    stamps: dict[str, dt.datetime | None] = {}
    for event in _due_events(journey):
        found = _attributed(journey, records, event)
        if found:
            stamps[event] = _instant(found[0].get("timestamp"))
    # Events before the pause of the journey, and after it; only those the SUT did trace.
    before = tuple(e for e in ("CONNECT_SUCCESS", "CONNECT_REPLAY") if e in stamps)
    after = tuple(e for e in ("SEND", "DISCONNECT", FAILURE_EVENT) if e in stamps)
    last_before = max((t for e in before if (t := stamps[e]) is not None), default=None)
    first_after = min((t for e in after if (t := stamps[e]) is not None), default=None)
    checks.require(
        TRACE_FILTER_PRECONDITION,
        bool(before and after)
        and all(stamps[e] is not None for e in before + after)
        and last_before is not None
        and first_after is not None
        and last_before < first_after,
        f"{full.detail}; timestamps {{{', '.join(f'{e}: {t}' for e, t in stamps.items())}}}",
        evidence=[full.exchange_id] if full.exchange_id else [],
    )
    assert last_before is not None and first_after is not None
    # The bound sits between the records as the SUT stamped them: the SUT's own clock decides.
    middle = (last_before.timestamp() + first_after.timestamp()) / 2

    def listed(records: list[dict[str, Any]], events: tuple[str, ...]) -> list[str]:
        return [e for e in events if _attributed(journey, records, e, strict=True)]

    early = _read_traces(consumer, journey.started_at - START_MARGIN_S, end=middle)
    ok = early.records is not None and listed(early.records, before) == list(before)
    ok = ok and early.records is not None and not listed(early.records, after)
    checks.record(
        TRACE_END_BOUND,
        ok,
        f"{early.detail}; expected {list(before)} and none of {list(after)}, got "
        f"{listed(early.records, before + after) if early.records is not None else None}",
        evidence=[e for e in (early.exchange_id,) if e],
    )
    late = _read_traces(consumer, middle)
    ok = late.records is not None and listed(late.records, after) == list(after)
    ok = ok and late.records is not None and not listed(late.records, before)
    checks.record(
        TRACE_START_BOUND,
        ok,
        f"{late.detail}; expected {list(after)} and none of {list(before)}, got "
        f"{listed(late.records, before + after) if late.records is not None else None}",
        evidence=[e for e in (late.exchange_id,) if e],
    )
