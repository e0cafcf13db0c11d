"""Traces: what `GET /traces` must give back of each event the SUT went through, and how exactly.

The upstream contract only says that `GET /traces?start=…[&end=…]` answers 200 with "the traces
(logs) recorded by the proxy", newer than `start` and older than `end`; its schema is an untyped
object. The record's fields come from the ANS example proxy (`ansforge/psc-edc-proxy-esante`,
`model/Trace.java`, `model/TraceType.java`), which EDC-11 names:

| field | what the example requires | judged here |
|---|---|---|
| type | always | the record is found by it (EDC-10) |
| clientId | session events | MUST for session events; null accepted on CONNECT_FAILURE |
| IdRPPS | always | MUST: the professional's SubjectNameID |
| ipAddress | always | MUST: the caller's address, in any textual form |
| proxy_id_session, session_state | session events | MUST for session events |
| dn | never (null for a client without certificate) | MUST for session events of a client that
  authenticated with a certificate; null accepted otherwise |
| timestamp | always (OffsetDateTime) | MUST: the instant of the call; READING: ISO 8601 with an offset |
| apiRequest | SEND only | MUST on SEND: nomApiPsc, methode, a path naming the endpoint |

Null or absent fields beyond these are accepted. Each record is judged against what the harness
knows independently (the `TracedCall`): the session the SUT handed out, PSC's `session_state`, the
certificate the SUT presented at PSC, the address the harness called from, the time of the call.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from conformance.campaign.conditions import (
    Condition,
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.evidence.calls import exchange_of, json_body

UPSTREAM = "OpenAPI API Conformité 1.0 (upstream)"
EXAMPLE = "ANS example proxy (ansforge/psc-edc-proxy-esante 0.0.2, model/Trace.java, TraceType.java)"

FAILURE_EVENT: Final = "CONNECT_FAILURE"
SESSION_EVENTS: Final = ("CONNECT_SUCCESS", "CONNECT_REPLAY", "SEND", "DISCONNECT")

# A record's timestamp must fall within the call that caused it, give or take this much (clock
# resolution, and the SUT and the harness reading their clocks a few instants apart).
TIMESTAMP_TOLERANCE_S: Final = 1.0
SHOWN_VALUE_MAX: Final = 200  # characters of a record's value quoted in a message


# -- evidence -----------------------------------------------------------------------------------------


@dataclass
class TracedCall:
    """One call of the harness's journey to the SUT, and what the event it traces must say."""

    event: str
    expected_status: int
    started_at: float
    ended_at: float
    client_id: str  # the LPS that called
    national_id: str  # the professional's SubjectNameID (the nationalId the LPS sent)
    sub: str  # PSC's technical subject for that professional (never to be traced as IdRPPS)
    status: int | None = None
    error: str | None = None
    exchange_id: str | None = None
    session_id: str | None = None  # the proxy session: the one /connect returned, or the cookie sent
    session_states: frozenset[str] = frozenset()  # what PSC issued for the session
    # Subject of the client certificate the SUT presented at PSC for this session (None: none was).
    certificate: x509.Name | None = None
    certificate_known: bool = True  # False when the harness could not observe the SUT at PSC

    @property
    def happened(self) -> bool:
        """The SUT did what the call drives, so the event it traces is due."""
        if self.event == FAILURE_EVENT:
            return self.status is not None and self.status != 200
        return self.status == self.expected_status

    def describe(self) -> str:
        return f"{self.event}: HTTP {self.status if self.status is not None else self.error}"

    @property
    def window(self) -> tuple[float, float]:
        return self.started_at - TIMESTAMP_TOLERANCE_S, self.ended_at + TIMESTAMP_TOLERANCE_S


@dataclass
class TracesRead:
    """One GET /traces and the records read from it (None when it gave none)."""

    query: str
    answer: httpx.Response | None
    records: list[dict[str, Any]] | None
    detail: str
    error: str = ""
    exchange_id: str | None = field(default=None)

    def listed(self, call: TracedCall, *, strict: bool = False) -> list[dict[str, Any]]:
        return records_of(call, self.records or [], strict=strict)

    def record_for(self, call: TracedCall) -> Listed | None:
        """The first record listed for `call`'s event, if any."""
        found = self.listed(call)
        return Listed(found[0], self.exchange_id) if found else None


def read_traces(query: str, answer: httpx.Response | None, error: str = "") -> TracesRead:
    """The records of a GET /traces answer: a JSON array of objects (what the ANS example returns),
    or a JSON object holding one such array (what the upstream schema, `object`, would also allow)."""
    exchange_id = exchange_of(answer)
    if answer is None:
        return TracesRead(query, None, None, f"GET /traces?{query}: no answer ({error})", error, exchange_id)
    if answer.status_code != 200:
        detail = f"GET /traces?{query}: HTTP {answer.status_code} {answer.text[:120]!r}"
        return TracesRead(query, answer, None, detail, exchange_id=exchange_id)
    body = json_body(answer)
    records: Any = body
    where = ""
    if isinstance(body, dict):
        arrays = [(k, v) for k, v in body.items() if isinstance(v, list)]
        if len(arrays) == 1:
            where, records = f" (member {arrays[0][0]!r})", arrays[0][1]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        shown = type(body).__name__ if body is not None else f"not JSON: {answer.text[:120]!r}"
        detail = f"GET /traces?{query}: HTTP 200, not an array of trace objects ({shown})"
        return TracesRead(query, answer, None, detail, exchange_id=exchange_id)
    return TracesRead(
        query,
        answer,
        records,
        f"GET /traces?{query}: {len(records)} record(s){where}",
        exchange_id=exchange_id,
    )


def instants(value: Any) -> list[dt.datetime]:
    """The instants a trace timestamp can designate: one for an ISO 8601 date-time with an offset
    or for epoch seconds / milliseconds; two for a date-time without an offset (UTC, or the harness's
    local time); none when it is neither."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return [dt.datetime.fromtimestamp(seconds, dt.UTC)]
        except (OverflowError, OSError, ValueError):
            return []
    if not isinstance(value, str) or "T" not in value.upper():
        return []
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return []
    if parsed.tzinfo is not None and parsed.utcoffset() is not None:
        return [parsed]
    return [parsed.replace(tzinfo=dt.UTC), parsed.astimezone()]


def _in_window(value: Any, low: float, high: float) -> bool:
    return any(low <= instant.timestamp() <= high for instant in instants(value))


def records_of(
    call: TracedCall, records: Sequence[dict[str, Any]], *, strict: bool = False
) -> list[dict[str, Any]]:
    """The records of `call`'s event that belong to it: by its proxy session, else by their time (only those
    naming its professional, when some do).

    Attribution by time (the record stamped within the call that caused it) keeps a record whose
    session id is wrong visible, so that the field condition, not the listing, reports it. `strict`
    attributes session events by their session only: a time window can also hold the records of
    an earlier session, which must not pass for the journey's.
    """
    typed = [r for r in records if r.get("type") == call.event]
    if call.event != FAILURE_EVENT and call.session_id is not None:
        by_session = [r for r in typed if r.get("proxy_id_session") == call.session_id]
        if by_session or strict:
            return by_session
    low, high = call.window
    timely = [r for r in typed if _in_window(r.get("timestamp"), low, high)]
    # Other scenarios' events can fall within the same window (a campaign runs scenarios at the same
    # time): the records naming the call's professional, if any; else all of them, so that a record
    # whose IdRPPS is wrong is still found and its field condition, not the listing, reports it.
    return [r for r in timely if r.get("IdRPPS") == call.national_id] or timely


def stamp_of(call: TracedCall, records: Sequence[dict[str, Any]]) -> dt.datetime | None:
    """The earliest instant the records of `call` are stamped with; of the readings of a stamp
    without offset, the one that falls within the call (else the first)."""
    low, high = call.window
    found = []
    for r in records:
        readings = instants(r.get("timestamp"))
        fitting = [i for i in readings if low <= i.timestamp() <= high]
        found += (fitting or readings)[:1]
    return min(found) if found else None


# -- GET /traces (EDC-10) -----------------------------------------------------------------------------


@condition(
    "traces_answer_lists_records",
    ("EDC-10",),
    basis=f"{UPSTREAM}, GET /traces, 200 (returns the recorded traces); the ANS example answers a JSON "
    "array of trace objects",
    strength=Strength.MUST,
    precondition="the harness asked GET /traces with a start date",
    fr="GET /traces?start=… répond 200 avec les enregistrements en JSON",
    en="GET /traces?start=… answers 200 with the records in JSON",
)
def traces_answer_lists_records(read: TracesRead) -> Judgement:
    return judged(read.records is not None, read.detail, [read.exchange_id])


@condition(
    "trace_event_listed",
    ("EDC-10",),
    basis=f"{UPSTREAM}, GET /traces (all the traces recorded); {EXAMPLE}: one record per CONNECT_SUCCESS, "
    "CONNECT_REPLAY, CONNECT_FAILURE, SEND and DISCONNECT",
    strength=Strength.MUST,
    precondition="the SUT did what the call drives (the event is due) and GET /traces answered records",
    fr="Chaque événement du parcours est restitué, avec le bon type",
    en="Each event of the journey is listed, with the right type",
)
def trace_event_listed(call: TracedCall, read: TracesRead) -> Judgement:
    evidence = [call.exchange_id, read.exchange_id]
    if not call.happened:
        return inconclusive(f"{call.describe()}: the event did not happen, nothing to trace", evidence)
    if read.records is None:
        return inconclusive(f"{read.detail}: no records to look in", evidence)
    found = read.listed(call)
    types = sorted({str(r.get("type")) for r in read.records})
    return judged(
        bool(found),
        f"{call.describe()} -> {len(found)} {call.event} record(s) for it; types listed: {types}",
        evidence,
    )


@condition(
    "trace_event_listed_once",
    ("EDC-10",),
    basis=f"project reading of {EXAMPLE}: one record per event of a session (the upstream contract does "
    "not say that an event is traced once)",
    strength=Strength.READING,
    precondition="the event of a session was listed",
    fr="Un événement de session est restitué une seule fois (lecture du projet)",
    en="An event of a session is listed once (project reading)",
)
def trace_event_listed_once(call: TracedCall, read: TracesRead) -> Judgement:
    found = read.listed(call)
    evidence = [call.exchange_id, read.exchange_id]
    if not found or call.event == FAILURE_EVENT:
        return inconclusive(f"{call.event}: no record of a session event to count", evidence)
    if len(found) == 1:
        return passed(f"{call.event}: 1 record for session {call.session_id}", evidence)
    return failed(
        f"{call.event}: {len(found)} records for session {call.session_id}; one per event is our reading "
        "of the example, not a rule of the upstream contract",
        evidence,
    )


@dataclass
class BoundProbe:
    """A GET /traces bounded between the journey's events, and what it must and must not list.

    `bound` is None when the precondition did not hold: the SUT's own stamps did not place the
    `inside` events strictly before (or after) the `outside` ones; `detail` says why.
    """

    bound: str | None
    read: TracesRead | None
    inside: list[TracedCall]
    outside: list[TracedCall]
    detail: str = ""


def bound_between(
    full: TracesRead, before: Sequence[TracedCall], after: Sequence[TracedCall]
) -> tuple[float | None, str]:
    """An instant strictly between the SUT's stamps of the `before` and the `after` events (the
    midpoint: far from both, since the bounds are exclusive), or None with the reason."""
    stamps = {c.event: stamp_of(c, full.listed(c)) for c in (*before, *after)}
    shown = ", ".join(f"{e}: {t.isoformat() if t else None}" for e, t in stamps.items())
    last_before = max((t for c in before if (t := stamps[c.event]) is not None), default=None)
    first_after = min((t for c in after if (t := stamps[c.event]) is not None), default=None)
    if last_before is None or first_after is None or last_before >= first_after:
        return (
            None,
            f"{full.detail}; stamps {{{shown}}}: no instant between the events before and after the pause",
        )
    return (last_before.timestamp() + first_after.timestamp()) / 2, f"stamps {{{shown}}}"


def _bound(probe: BoundProbe, which: str) -> Judgement:
    if probe.bound is None or probe.read is None:
        return inconclusive(probe.detail)
    read = probe.read
    if read.records is None:
        return failed(f"{read.detail}", [read.exchange_id])
    kept = [c.event for c in probe.inside if read.listed(c, strict=True)]
    leaked = [c.event for c in probe.outside if read.listed(c, strict=True)]
    wanted = [c.event for c in probe.inside]
    return judged(
        kept == wanted and not leaked,
        f"{read.detail} ({which} {probe.bound}): expected {wanted} and none of "
        f"{[c.event for c in probe.outside]}, listed {kept + leaked}",
        [read.exchange_id],
    )


@condition(
    "traces_end_bound",
    ("EDC-10",),
    basis=f'{UPSTREAM}, GET /traces, parameter end ("return the traces older than" it)',
    strength=Strength.MUST,
    precondition="the SUT's stamps place the events before the journey's pause strictly before the others",
    fr="Le paramètre end exclut les enregistrements postérieurs et garde les antérieurs",
    en="The end parameter excludes later records and keeps earlier ones",
)
def traces_end_bound(probe: BoundProbe) -> Judgement:
    return _bound(probe, "end")


@condition(
    "traces_start_bound",
    ("EDC-10",),
    basis=f'{UPSTREAM}, GET /traces, parameter start ("return the traces newer than" it)',
    strength=Strength.MUST,
    precondition="the SUT's stamps place the events before the journey's pause strictly before the others",
    fr="Le paramètre start exclut les enregistrements antérieurs et garde les postérieurs",
    en="The start parameter excludes earlier records and keeps later ones",
)
def traces_start_bound(probe: BoundProbe) -> Judgement:
    return _bound(probe, "start")


# -- the record's fields (EDC-11, EXI PSC 18) ---------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One trace record as GET /traces listed it; the exchange that listed it is evidence."""

    fields: Mapping[str, Any]
    exchange_id: str | None = None

    def get(self, name: str) -> Any:
        return self.fields.get(name)

    def show(self, name: str) -> str:
        if name not in self.fields:
            return f"{name} absent"
        shown = repr(self.fields[name])
        if len(shown) > SHOWN_VALUE_MAX:  # the SUT's text: a value can be as large as an input it echoes
            shown = f"{shown[:SHOWN_VALUE_MAX]}... ({len(shown)} characters)"
        return f"{name} {shown}"


def _no_record(call: TracedCall) -> Judgement:
    return inconclusive(
        f"{call.event}: no record of it was listed",
        [call.exchange_id],
        root_cause=f"trace_event_listed: no {call.event} record",
    )


def _on(call: TracedCall, record: Listed, ok: bool, message: str) -> Judgement:
    return judged(ok, f"{call.event}: {message}", [call.exchange_id, record.exchange_id])


@condition(
    "trace_client_id_is_the_lps",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: clientId required on the records of a session, optional on CONNECT_FAILURE",
    strength=Strength.MUST,
    precondition="the event's record was listed",
    fr="clientId est l'identifiant client du LPS à l'origine de l'événement (facultatif sur un échec)",
    en="clientId is the client id of the LPS behind the event (optional on a failure)",
)
def trace_client_id_is_the_lps(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    value = record.get("clientId")
    if value is None and call.event == FAILURE_EVENT:
        return _on(call, record, True, f"{record.show('clientId')}, accepted on a failure (no session)")
    return _on(
        call, record, value == call.client_id, f"{record.show('clientId')}, the LPS is {call.client_id!r}"
    )


@condition(
    "trace_id_rpps_is_subject_name_id",
    ("EDC-11",),
    basis=f"{EXAMPLE}: IdRPPS required on every record; Référentiel PSC v1.8, EXI PSC 18: SubjectNameID "
    "is the identifier used in the service's traceability, never PSC's technical sub",
    strength=Strength.MUST,
    precondition="the event's record was listed, and PSC's sub differs from SubjectNameID",
    fr="IdRPPS est le SubjectNameID du professionnel (le nationalId de /connect), jamais le sub de PSC",
    en="IdRPPS is the professional's SubjectNameID (the nationalId of /connect), never PSC's sub",
)
def trace_id_rpps_is_subject_name_id(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    if call.sub == call.national_id:
        return inconclusive(f"{call.event}: PSC's sub equals SubjectNameID for this professional")
    value = record.get("IdRPPS")
    tail = " (PSC's technical sub)" if value == call.sub else ""
    return _on(
        call,
        record,
        value == call.national_id,
        f"{record.show('IdRPPS')}{tail}; SubjectNameID {call.national_id!r}, PSC sub {call.sub!r}",
    )


def caller_address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a trace's ipAddress designates, whatever its textual form: `127.0.0.1`,
    Java's `/127.0.0.1` or `host/127.0.0.1`, IPv4-mapped `::ffff:127.0.0.1`, with a port
    (`127.0.0.1:5123`, `[::1]:5123`) or a zone (`fe80::1%eth0`); None when it names no address."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().rsplit("/", 1)[-1]
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def same_caller(value: Any, expected: str) -> bool:
    """`value` designates `expected`, or both are loopback addresses (the same host either way)."""
    observed, wanted = caller_address(value), caller_address(expected)
    if observed is None or wanted is None:
        return False
    return observed == wanted or (observed.is_loopback and wanted.is_loopback)


@condition(
    "trace_ip_address_is_the_caller",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: ipAddress required, the caller's address (first X-Forwarded-For value "
    "when present); no source fixes its textual form",
    strength=Strength.MUST,
    precondition="the event's record was listed and the harness knows its own source address",
    fr="ipAddress est l'adresse IP de l'appelant, sous une forme textuelle quelconque",
    en="ipAddress is the caller's IP address, in any textual form",
)
def trace_ip_address_is_the_caller(
    call: TracedCall, record: Listed | None, caller_ip: str | None
) -> Judgement:
    if record is None:
        return _no_record(call)
    if caller_ip is None:
        return inconclusive(
            f"{call.event}: the harness could not tell its own source address towards the SUT"
        )
    value = record.get("ipAddress")
    address = caller_address(value)
    shown = f" (address {address})" if address is not None and str(address) != value else ""
    return _on(
        call,
        record,
        same_caller(value, caller_ip),
        f"{record.show('ipAddress')}{shown}, the harness called from {caller_ip}",
    )


@condition(
    "trace_proxy_id_session",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: proxy_id_session required on the records of a session",
    strength=Strength.MUST,
    precondition="the record of a session event was listed",
    fr="proxy_id_session est la session de l'appel tracé, celle que /connect a rendue",
    en="proxy_id_session is the session of the traced call, the one /connect returned",
)
def trace_proxy_id_session(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    return _on(
        call,
        record,
        record.get("proxy_id_session") == call.session_id,
        f"{record.show('proxy_id_session')}, the session of the call is {call.session_id!r}",
    )


@condition(
    "trace_session_state_is_psc_session",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: session_state required on the records of a session, PSC's session_state",
    strength=Strength.MUST,
    precondition="the record of a session event was listed",
    fr="session_state est celui de la session PSC",
    en="session_state is PSC's session",
)
def trace_session_state_is_psc_session(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    state = record.get("session_state")
    return _on(
        call,
        record,
        isinstance(state, str) and state in call.session_states,
        f"{record.show('session_state')}, PSC issued {sorted(call.session_states)}",
    )


# Distinguished names, as RFC 4514 / RFC 2253, Java's X500Principal or OpenSSL print them.
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
_SLASH_SEPARATOR: Final = re.compile(r"(?<!\\)/")


def dn_attributes(text: str) -> list[tuple[str, str]] | None:
    """The (OID, value) pairs of a string DN, whatever the order and the spaces around separators
    (RFC 4514, Java's X500Principal, OpenSSL's oneline `/C=FR/O=…` form); None if unreadable."""
    text = text.strip()
    separator = _SLASH_SEPARATOR if text.startswith("/") else _UNESCAPED_SEPARATOR
    pairs: list[tuple[str, str]] = []
    for part in separator.split(text):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            return None
        key = key.strip().upper().removeprefix("OID.")
        oid = _DN_KEYWORDS.get(key)
        dotted = oid.dotted_string if oid is not None else (key if re.fullmatch(r"[\d.]+", key) else None)
        if dotted is None:
            return None
        pairs.append((dotted, re.sub(r"\\(.)", r"\1", value.strip().strip('"'))))
    return pairs or None


def same_dn(observed: Any, expected: x509.Name) -> bool:
    """`observed` names the same attributes as `expected`, in any order and spacing."""
    if not isinstance(observed, str) or not observed:
        return False
    if observed == expected.rfc4514_string():
        return True
    attributes = dn_attributes(observed)
    wanted = sorted((a.oid.dotted_string, str(a.value)) for a in expected)
    return attributes is not None and sorted(attributes) == wanted


@condition(
    "trace_dn_is_the_certificate",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: dn is the subject of the client certificate the proxy uses for the LPS "
    "(null for a client without certificate, and on CONNECT_FAILURE); mTLS with a certificate per LPS "
    "is mandatory in the trust space (ANS FAQ; ANS slides of 29/09/2025)",
    strength=Strength.MUST,
    precondition="the event's record was listed; the harness saw which certificate the SUT presented at PSC",
    fr="dn est le DN sujet du certificat présenté pour le LPS (facultatif sur un échec ou sans certificat)",
    en="dn is the subject DN of the certificate presented for the LPS (optional on a failure or without one)",
)
def trace_dn_is_the_certificate(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    value = record.get("dn")
    evidence = [call.exchange_id, record.exchange_id]
    if not call.certificate_known:
        return inconclusive(
            f"{call.event}: {record.show('dn')}; the harness did not see the SUT at PSC", evidence
        )
    if value is None and (call.event == FAILURE_EVENT or call.certificate is None):
        why = (
            "a failure opens no session"
            if call.event == FAILURE_EVENT
            else "no client certificate was presented"
        )
        return _on(call, record, True, f"{record.show('dn')}, accepted ({why})")
    if call.certificate is None:
        return inconclusive(
            f"{call.event}: {record.show('dn')}, but the SUT presented no client certificate at PSC", evidence
        )
    expected = call.certificate.rfc4514_string()
    ok = same_dn(value, call.certificate)
    same = " (same attributes, another order or spacing)" if ok and value != expected else ""
    return _on(call, record, ok, f"{record.show('dn')}{same}; the certificate presented is {expected!r}")


def iso(epoch: float) -> str:
    """RFC 3339 / ISO 8601 date-time in UTC with its offset, as the contract's `format: date-time`."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


@condition(
    "trace_timestamp_at_the_call",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: timestamp required, the moment of the event",
    strength=Strength.MUST,
    precondition="the event's record was listed",
    fr="timestamp désigne le moment de l'appel tracé",
    en="timestamp designates the moment of the traced call",
)
def trace_timestamp_at_the_call(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    value = record.get("timestamp")
    low, high = call.window
    return _on(
        call,
        record,
        _in_window(value, low, high),
        f"{record.show('timestamp')}"
        + ("" if instants(value) else " is not a date-time")
        + f"; the call ran from {iso(call.started_at)} to {iso(call.ended_at)}"
        f" (±{TIMESTAMP_TOLERANCE_S:g} s)",
    )


@condition(
    "trace_timestamp_iso8601_with_offset",
    ("EDC-11",),
    basis=f"project reading of {EXAMPLE} (an OffsetDateTime) and of {UPSTREAM}, whose start and end are "
    "date-times (RFC 3339 §5.6: with an offset); no source fixes the record's format",
    strength=Strength.READING,
    precondition="the event's record was listed",
    fr="timestamp est une date ISO 8601 avec décalage horaire (lecture du projet)",
    en="timestamp is an ISO 8601 date-time with an offset (project reading)",
)
def trace_timestamp_iso8601_with_offset(call: TracedCall, record: Listed | None) -> Judgement:
    if record is None:
        return _no_record(call)
    value = record.get("timestamp")
    ok = isinstance(value, str) and len(instants(value)) == 1
    why = (
        ""
        if ok
        else ": not an ISO 8601 date-time with an offset, as the example writes it (beyond the sources)"
    )
    return _on(call, record, ok, f"{record.show('timestamp')}{why}")


def names_endpoint(path: Any, endpoint: str) -> bool:
    """A trace's apiRequest.path names `endpoint` whatever prefix it keeps: the API's own path
    (`/signsessiondata`), with the API's base path (`/apipsc/signsessiondata`), the path the LPS
    called (`/send/apipsc/signsessiondata`), or a full URL."""
    if not isinstance(path, str) or not path:
        return False
    segments = [s for s in urlsplit(path).path.split("/") if s]
    wanted = [s for s in endpoint.split("/") if s]
    return bool(wanted) and segments[-len(wanted) :] == wanted


@condition(
    "trace_send_api_request",
    ("EDC-11",),
    basis=f"EDC-11; {EXAMPLE}: apiRequest {{nomApiPsc, methode, path}} required on SEND records (the "
    "route id, the method, the request path: no source fixes the path's prefix)",
    strength=Strength.MUST,
    precondition="the SEND record was listed",
    fr="Un enregistrement SEND porte apiRequest {nomApiPsc, methode, path} de l'appel relayé",
    en="A SEND record carries apiRequest {nomApiPsc, methode, path} of the relayed call",
)
def trace_send_api_request(
    call: TracedCall, record: Listed | None, api_name: str, method: str, endpoint: str
) -> Judgement:
    if record is None:
        return _no_record(call)
    request = record.get("apiRequest")
    ok = (
        isinstance(request, Mapping)
        and str(request.get("nomApiPsc", "")).lower() == api_name.lower()
        and str(request.get("methode", "")).upper() == method.upper()
        and names_endpoint(request.get("path"), endpoint)
    )
    return _on(
        call,
        record,
        ok,
        f"{record.show('apiRequest')}; expected nomApiPsc {api_name!r}, methode {method!r}, "
        f"a path naming {endpoint!r}",
    )


def listing_conditions(event: str) -> list[Condition]:
    """The conditions judging how a call's event is listed."""
    return [trace_event_listed] if event == FAILURE_EVENT else [trace_event_listed, trace_event_listed_once]


def at_the_pause(
    full: TracesRead, calls: Sequence[TracedCall], before: Collection[str], after: Collection[str]
) -> tuple[list[TracedCall], list[TracedCall]]:
    """The calls of the `before` and `after` events that `full` listed with a readable stamp: the
    ones a bounded read can be expected to keep or leave out."""

    def stamped(events: Collection[str]) -> list[TracedCall]:
        return [c for c in calls if c.event in events and stamp_of(c, full.listed(c)) is not None]

    return stamped(before), stamped(after)


def record_conditions(event: str) -> list[Condition]:
    """The conditions judging a record of `event` from the call and the record alone."""
    common = [
        trace_client_id_is_the_lps,
        trace_id_rpps_is_subject_name_id,
        trace_dn_is_the_certificate,
        trace_timestamp_at_the_call,
        trace_timestamp_iso8601_with_offset,
    ]
    if event == FAILURE_EVENT:  # a refused connection has no proxy session nor PSC session
        return common
    return [*common, trace_proxy_id_session, trace_session_state_is_psc_session]
