"""The trace conditions (GET /traces and the record's fields) on small hand-built evidence."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from conformance.campaign.verdicts import Status
from conformance.roles.consumer.conditions.traces import (
    FAILURE_EVENT,
    BoundProbe,
    Listed,
    TracedCall,
    at_the_pause,
    bound_between,
    caller_address,
    dn_attributes,
    instants,
    names_endpoint,
    read_traces,
    same_dn,
    trace_client_id_is_the_lps,
    trace_dn_is_the_certificate,
    trace_event_listed,
    trace_event_listed_once,
    trace_id_rpps_is_subject_name_id,
    trace_ip_address_is_the_caller,
    trace_proxy_id_session,
    trace_send_api_request,
    trace_session_state_is_psc_session,
    trace_timestamp_at_the_call,
    trace_timestamp_iso8601_with_offset,
    traces_answer_lists_records,
    traces_end_bound,
)

T0 = 1_750_000_000.0  # the journey's calls run at T0 + n seconds
SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LPS 1"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "399999000000011"),
        x509.NameAttribute(NameOID.COMMON_NAME, "ans-odc-lps1-edc-bas"),
    ]
)


def stamp(offset_s: float) -> str:
    return dt.datetime.fromtimestamp(T0 + offset_s, dt.UTC).astimezone().isoformat(timespec="milliseconds")


def traced(event: str = "CONNECT_SUCCESS", at: float = 0.0, **kw: Any) -> TracedCall:
    values: dict[str, Any] = {
        "status": 401 if event == FAILURE_EVENT else (304 if event == "CONNECT_REPLAY" else 200),
        "session_id": None if event == FAILURE_EVENT else "sess-1",
        "session_states": frozenset({"psc-1"}),
        "certificate": SUBJECT,
        "exchange_id": "ex-call",
        "client_id": "lps1",
        "national_id": "899700000001",
        "sub": "uuid-sub",
    }
    values.update(kw)
    expected = 401 if event == FAILURE_EVENT else (304 if event == "CONNECT_REPLAY" else 200)
    return TracedCall(event, expected, T0 + at, T0 + at + 0.1, **values)


def record(event: str = "CONNECT_SUCCESS", at: float = 0.05, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": event,
        "clientId": "lps1",
        "IdRPPS": "899700000001",
        "ipAddress": "127.0.0.1",
        "proxy_id_session": None if event == FAILURE_EVENT else "sess-1",
        "session_state": None if event == FAILURE_EVENT else "psc-1",
        "dn": SUBJECT.rfc4514_string(),
        "timestamp": stamp(at),
    }
    base.update(fields)
    return base


def listed(**fields: Any) -> Listed:
    event = fields.pop("type", "CONNECT_SUCCESS")
    return Listed(record(event, **fields), "ex-read")


def answer(body: Any, status: int = 200) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"Content-Type": "application/json"})


# -- reading GET /traces ---------------------------------------------------------------------------------


def test_read_traces_takes_an_array_or_an_object_holding_one() -> None:
    assert read_traces("start=x", answer([record()])).records == [record()]
    wrapped = read_traces("start=x", answer({"traces": [record()]}))
    assert wrapped.records == [record()] and "member 'traces'" in wrapped.detail
    assert read_traces("start=x", answer(b"not json")).records is None
    assert read_traces("start=x", answer({"error": "x"}, 400)).records is None
    assert read_traces("start=x", None, "ReadTimeout").records is None


def test_traces_answer_lists_records() -> None:
    assert traces_answer_lists_records(read_traces("q", answer([]))).status is Status.PASSED
    assert traces_answer_lists_records(read_traces("q", answer([1, 2]))).status is Status.FAILED


@pytest.mark.parametrize(
    "value",
    [
        "2025-06-15T15:06:40.050+00:00",
        "2025-06-15T15:06:40.050Z",
        "2025-06-15T17:06:40.050123456+02:00",
        1750000000.05,
        1750000000050,
    ],
)
def test_instants_read_iso_dates_with_an_offset_and_epoch_numbers(value: Any) -> None:
    found = instants(value)
    assert len(found) == 1 and abs(found[0].timestamp() - (T0 + 0.05)) < 0.01


def test_instants_of_a_date_without_offset_are_ambiguous() -> None:
    assert len(instants("2025-06-15T15:06:40")) == 2
    assert instants("15:06:40") == [] and instants(None) == [] and instants(True) == []


# -- listing (EDC-10) ---------------------------------------------------------------------------------------


def test_trace_event_listed() -> None:
    read = read_traces("q", answer([record(), record(FAILURE_EVENT, at=5.05)]))
    assert trace_event_listed(traced(), read).status is Status.PASSED
    assert trace_event_listed(traced(FAILURE_EVENT, at=5.0), read).status is Status.PASSED
    assert trace_event_listed(traced("SEND", at=2.0), read).status is Status.FAILED
    not_due = traced("CONNECT_REPLAY", status=200)
    assert trace_event_listed(not_due, read).status is Status.INCONCLUSIVE
    assert trace_event_listed(traced(), read_traces("q", answer({}, 500))).status is Status.INCONCLUSIVE


def test_trace_event_listed_once_is_a_reading() -> None:
    twice = read_traces("q", answer([record(), record()]))
    judgement = trace_event_listed_once(traced(), twice)
    assert judgement.status is Status.FAILED and trace_event_listed_once.strength.value == "reading"
    assert trace_event_listed_once(traced(), read_traces("q", answer([record()]))).status is Status.PASSED
    assert trace_event_listed_once(traced(), read_traces("q", answer([]))).status is Status.INCONCLUSIVE


def test_records_of_another_session_are_found_by_time_unless_strict() -> None:
    read = read_traces("q", answer([record(proxy_id_session="other")]))
    assert len(read.listed(traced())) == 1
    assert read.listed(traced(), strict=True) == []


def test_a_failure_record_naming_the_professional_wins_over_others_in_its_window() -> None:
    """Scenarios run at the same time: another professional's failure can be stamped within the call."""
    other = record(FAILURE_EVENT, at=0.02, IdRPPS="9" * 40, clientId="lps2")
    own = record(FAILURE_EVENT, at=0.06)
    found = read_traces("q", answer([other, own])).record_for(traced(FAILURE_EVENT))
    assert found is not None and found.get("IdRPPS") == "899700000001"
    # None names the professional: the record of the window is still judged (its IdRPPS is wrong)
    alone = read_traces("q", answer([other])).record_for(traced(FAILURE_EVENT))
    assert alone is not None and trace_id_rpps_is_subject_name_id(traced(FAILURE_EVENT), alone).status is (
        Status.FAILED
    )


# -- the time bounds (EDC-10) ------------------------------------------------------------------------


def journey_read() -> tuple[list[TracedCall], Any]:
    calls = [
        traced(),
        traced("CONNECT_REPLAY", at=0.2),
        traced("SEND", at=1.5),
        traced(FAILURE_EVENT, at=2.0),
    ]
    records = [record(), record("CONNECT_REPLAY", 0.25), record("SEND", 1.55), record(FAILURE_EVENT, 2.05)]
    return calls, read_traces("q", answer(records))


def test_bound_between_is_the_midpoint_of_the_sut_stamps() -> None:
    calls, full = journey_read()
    before, after = at_the_pause(full, calls, ("CONNECT_SUCCESS", "CONNECT_REPLAY"), ("SEND", FAILURE_EVENT))
    middle, _ = bound_between(full, before, after)
    assert middle == pytest.approx(T0 + (0.25 + 1.55) / 2, abs=1e-3)
    same_second = read_traces("q", answer([record(at=1.0), record("SEND", at=1.0)]))
    assert bound_between(same_second, calls[:1], calls[2:3])[0] is None


def test_end_bound_keeps_earlier_records_and_drops_later_ones() -> None:
    calls, _ = journey_read()
    before, after = calls[:2], calls[2:]
    good = read_traces("q", answer([record(), record("CONNECT_REPLAY", 0.25)]))
    assert traces_end_bound(BoundProbe("end", good, before, after)).status is Status.PASSED
    leaky = read_traces("q", answer([record(), record("CONNECT_REPLAY", 0.25), record("SEND", 1.55)]))
    assert traces_end_bound(BoundProbe("end", leaky, before, after)).status is Status.FAILED
    assert traces_end_bound(BoundProbe(None, None, before, after, "no pause")).status is Status.INCONCLUSIVE


# -- the fields (EDC-11, EXI PSC 18) -----------------------------------------------------------------


def test_client_id_may_be_null_on_a_failure_only() -> None:
    assert trace_client_id_is_the_lps(traced(), listed()).status is Status.PASSED
    assert trace_client_id_is_the_lps(traced(), listed(clientId=None)).status is Status.FAILED
    failure = Listed(record(FAILURE_EVENT, clientId=None), "ex-read")
    assert trace_client_id_is_the_lps(traced(FAILURE_EVENT), failure).status is Status.PASSED
    wrong = Listed(record(FAILURE_EVENT, clientId="lps2"), "ex-read")
    assert trace_client_id_is_the_lps(traced(FAILURE_EVENT), wrong).status is Status.FAILED
    assert trace_client_id_is_the_lps(traced(), None).status is Status.INCONCLUSIVE


def test_id_rpps_is_subject_name_id_never_sub() -> None:
    assert trace_id_rpps_is_subject_name_id(traced(), listed()).status is Status.PASSED
    judgement = trace_id_rpps_is_subject_name_id(traced(), listed(IdRPPS="uuid-sub"))
    assert judgement.status is Status.FAILED and "technical sub" in judgement.message
    same = traced(sub="899700000001")
    assert trace_id_rpps_is_subject_name_id(same, listed()).status is Status.INCONCLUSIVE
    bound = trace_id_rpps_is_subject_name_id.bound("EXI PSC 18")
    assert bound.requirements == ("EXI PSC 18",) and bound(traced(), listed()).status is Status.PASSED


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1",
        "/127.0.0.1",
        "localhost/127.0.0.1",
        "::ffff:127.0.0.1",
        "127.0.0.1:54321",
        "/127.0.0.1:54321",
    ],
)
def test_ip_address_in_any_textual_form(value: str) -> None:
    assert (
        trace_ip_address_is_the_caller(traced(), listed(ipAddress=value), "127.0.0.1").status is Status.PASSED
    )


def test_ip_address_forms_and_mismatches() -> None:
    assert str(caller_address("[::1]:8443")) == "::1"
    assert str(caller_address("/0:0:0:0:0:0:0:1%0")) == "::1"
    assert caller_address("not an address") is None and caller_address(None) is None
    assert (
        trace_ip_address_is_the_caller(traced(), listed(ipAddress="::1"), "127.0.0.1").status is Status.PASSED
    )
    wrong = trace_ip_address_is_the_caller(traced(), listed(ipAddress="10.1.2.3"), "127.0.0.1")
    assert wrong.status is Status.FAILED
    assert (
        trace_ip_address_is_the_caller(traced(), listed(ipAddress=None), "127.0.0.1").status is Status.FAILED
    )
    assert trace_ip_address_is_the_caller(traced(), listed(), None).status is Status.INCONCLUSIVE


def test_session_ids() -> None:
    assert trace_proxy_id_session(traced(), listed()).status is Status.PASSED
    assert trace_proxy_id_session(traced(), listed(proxy_id_session="x")).status is Status.FAILED
    assert trace_session_state_is_psc_session(traced(), listed()).status is Status.PASSED
    assert trace_session_state_is_psc_session(traced(), listed(session_state=None)).status is Status.FAILED


@pytest.mark.parametrize(
    "dn",
    [
        "CN=ans-odc-lps1-edc-bas, OU=399999000000011, O=LPS 1, ST=Paris (75), C=FR",  # Java's X500Principal
        "C=FR,ST=Paris (75),O=LPS 1,OU=399999000000011,CN=ans-odc-lps1-edc-bas",  # reversed order
        "/C=FR/ST=Paris (75)/O=LPS 1/OU=399999000000011/CN=ans-odc-lps1-edc-bas",  # OpenSSL oneline
    ],
)
def test_dn_in_other_orders_and_spacings(dn: str) -> None:
    assert same_dn(dn, SUBJECT)
    assert trace_dn_is_the_certificate(traced(), listed(dn=dn)).status is Status.PASSED


def test_dn_rules() -> None:
    assert dn_attributes("garbage") is None
    assert trace_dn_is_the_certificate(traced(), listed(dn="CN=other")).status is Status.FAILED
    missing = trace_dn_is_the_certificate(traced(), listed(dn=None))
    assert missing.status is Status.FAILED  # a session of a client authenticated by certificate
    failure = Listed(record(FAILURE_EVENT, dn=None), "ex-read")
    assert trace_dn_is_the_certificate(traced(FAILURE_EVENT), failure).status is Status.PASSED
    no_certificate = traced(certificate=None)
    assert trace_dn_is_the_certificate(no_certificate, listed(dn=None)).status is Status.PASSED
    assert trace_dn_is_the_certificate(no_certificate, listed()).status is Status.INCONCLUSIVE
    unseen = traced(certificate_known=False, certificate=None)
    assert trace_dn_is_the_certificate(unseen, listed()).status is Status.INCONCLUSIVE


def test_timestamp_rules() -> None:
    assert trace_timestamp_at_the_call(traced(), listed()).status is Status.PASSED
    assert trace_timestamp_at_the_call(traced(), listed(at=30.0)).status is Status.FAILED
    assert trace_timestamp_at_the_call(traced(), listed(timestamp="yesterday")).status is Status.FAILED
    epoch = listed(timestamp=T0 + 0.05)
    assert trace_timestamp_at_the_call(traced(), epoch).status is Status.PASSED
    assert trace_timestamp_iso8601_with_offset(traced(), epoch).status is Status.FAILED
    assert trace_timestamp_iso8601_with_offset(traced(), listed()).status is Status.PASSED
    assert trace_timestamp_iso8601_with_offset.strength.value == "reading"


@pytest.mark.parametrize(
    "path",
    [
        "/signsessiondata",
        "/apipsc/signsessiondata",
        "/send/apipsc/signsessiondata",
        "https://api.example/mockservice/apipsc/signsessiondata?x=1",
    ],
)
def test_send_api_request_path_may_keep_a_prefix(path: str) -> None:
    assert names_endpoint(path, "signsessiondata")
    api = {"nomApiPsc": "apipsc", "methode": "post", "path": path}
    send = Listed(record("SEND", apiRequest=api), "ex-read")
    judgement = trace_send_api_request(traced("SEND"), send, "apipsc", "POST", "signsessiondata")
    assert judgement.status is Status.PASSED


def test_send_api_request_must_name_the_call() -> None:
    assert not names_endpoint("/signsessiondata-other", "signsessiondata")
    assert not names_endpoint(None, "signsessiondata")
    wrong = Listed(record("SEND", apiRequest={"nomApiPsc": "apipsc", "methode": "GET", "path": "/x"}), "r")
    assert (
        trace_send_api_request(traced("SEND"), wrong, "apipsc", "POST", "signsessiondata").status
        is Status.FAILED
    )
    absent = Listed(record("SEND"), "r")
    assert trace_send_api_request(traced("SEND"), absent, "apipsc", "POST", "signsessiondata").status is (
        Status.FAILED
    )
    assert trace_send_api_request(traced("SEND"), None, "apipsc", "POST", "x").status is Status.INCONCLUSIVE
