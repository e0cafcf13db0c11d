"""Each allowed variant of the reference proxy really changes what crosses the wire.

The dual of `test_reference_faults.py`, with its bench (its counterparts fixture, `new_bench`, the
`Scenario`/`Exposure` table). A variant is a behaviour the sources allow; before the variation
matrix can prove that the campaign accepts it, the variant must show: the counterparts must see
something different, or the LPS must get a different answer. Each scenario below reduces a few real
exchanges over mTLS to a small dict of evidence; the reference proxy shows `Scenario.conformant`, the
proxy with the variant shows the same evidence with `Exposure.changes` applied, and nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import ssl
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from test_reference_faults import (  # the faults' bench, shared
    PS1,
    SIGN,
    Bench,
    Evidence,
    Exposure,
    Scenario,
    body_of,
    connect_body,
    counterparts,  # noqa: F401  (a fixture)
    kinds,
    new_bench,  # noqa: F401  (a fixture)
    session_data,
    traces,
)

from conformance.cli import main
from conformance.counterparts.settings import API_BASE_PATH
from conformance.counterparts.suite import Counterparts
from conformance.errors import UsageError
from conformance.pki import LPS1_CLIENT_ID
from conformance.reference import registry
from conformance.reference.consumer.faults import apply_faults
from conformance.reference.consumer.injection import Catalogue
from conformance.reference.consumer.proxy import MESSAGES
from conformance.reference.consumer.settings import load_settings
from conformance.reference.consumer.variants import (
    FRENCH_MESSAGES,
    VARIANTS,
    Variant,
    apply_variants,
    check_variant_names,
    variant_settings,
    variants_for_role,
)
from conformance.roles import Role
from conformance.standards import rfc8693
from conformance.standards.ciba import DeviceAction, DeviceBehaviour
from conformance.tls import ListenerMode, probe_protocol

# PSC access tokens live 120 s: with this margin they are "near expiry" 0.1 s after being issued, so
# a refresh is due at the next sign of activity (the reference refreshes only for a new exchange).
REFRESH_MARGIN_S = 119.9
PAUSE_S = 0.15  # between two sends: past the margin again


def dn_label(bench: Bench, dn: object) -> str | None:
    """Certificate DNs by the name of their owner, in either string form, so evidence reads the same on
    every bench."""
    if dn is None:
        return None
    name: x509.Name = bench.counterparts.pki.clients[LPS1_CLIENT_ID].cert.subject
    labels = {
        name.rfc4514_string(): "<dn of LPS 1>",
        ", ".join(rdn.rfc4514_string() for rdn in reversed(name.rdns)): "<dn of LPS 1, Java form>",
    }
    return labels.get(str(dn), str(dn))


# -- scenarios ----------------------------------------------------------------------------------------


def working_day(bench: Bench) -> Evidence:
    """LPS 1 connects PS 1, signs twice a little apart, reads its traces and disconnects."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    started = time.time()
    with bench.lps() as lps:
        connected = lps.post("/connect", json=connect_body())
        session = body_of(connected)
        morsel = SimpleCookie(connected.headers.get("Set-Cookie", "")).get("proxy_session_id")
        exchanged_at_connect = len(kinds(bench, "token_exchange.issued"))
        sends = []
        for _ in range(2):
            time.sleep(PAUSE_S)
            sends.append(lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session)).status_code)
        records = traces(lps, since)
        disconnected = lps.delete("/disconnect")
    exchanges = bench.counterparts.evidence.exchanges(counterpart="api-as", since=started)
    forms = [parse_qs(e.request_body.decode()) for e in exchanges if e.method == "POST"]
    issued = kinds(bench, "token_exchange.issued")
    return {
        "connect": connected.status_code,
        "cookie SameSite": morsel["samesite"] if morsel else None,
        "cookie is a session cookie": morsel is not None and not (morsel["max-age"] or morsel["expires"]),
        "token exchanges at connect": exchanged_at_connect,
        "token exchanges": len(issued),
        "subject_token_type": sorted({str(o.data.get("subject_token_type")) for o in issued}),
        "token exchange parameters": sorted({name for form in forms for name in form}),
        "send": sends,
        "PSC refreshes on a send": bool(kinds(bench, "token.refresh")),
        "trace events": [r["type"] for r in records],
        "trace members": sorted({member for r in records for member in r}),
        "apiRequest of the other records": sorted(
            {json.dumps(r.get("apiRequest", "absent")) for r in records if r["type"] != "SEND"}
        ),
        "SEND path": [r["apiRequest"]["path"] for r in records if r["type"] == "SEND"][:1],
        "timestamps in Z form": all(str(r["timestamp"]).endswith("Z") for r in records),
        "ipAddress": sorted({str(r["ipAddress"]) for r in records}),
        "traced dn": sorted({str(dn_label(bench, r["dn"])) for r in records}),
        "disconnect": disconnected.status_code,
        "PSC end-session": [str(o.data.get("method")) for o in kinds(bench, "logout")],
    }


def bad_connects(bench: Bench) -> Evidence:
    """Connect requests the proxy may refuse, or not: a numeric nationalId, an empty body, an unknown
    clientId, then a free-text bindingMessage."""
    with bench.lps() as lps:
        numeric = lps.post("/connect", json={**connect_body(), "nationalId": 42})
        empty = lps.post("/connect", json={})
        unknown = lps.post("/connect", json=connect_body(client_id="unknown-lps"))
        free_text = lps.post("/connect", json={**connect_body(), "bindingMessage": "Signature 42"})
    return {
        "metadata for a numeric nationalId": body_of(numeric).get("metadata", "absent"),
        "metadata for an empty body": body_of(empty).get("metadata", "absent"),
        "message for an unknown clientId": body_of(unknown).get("message"),
        "connect with a free-text bindingMessage": free_text.status_code,
        "CIBA requests": len(kinds(bench, "ciba.request")),
    }


def refused_connect(bench: Bench) -> Evidence:
    """The professional refuses the authentication on their device: PSC answers access_denied."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    bench.counterparts.psc.set_device(PS1, DeviceBehaviour(DeviceAction.DENY))
    with bench.lps() as lps:
        refused = lps.post("/connect", json=connect_body())
        records = traces(lps, since)
    return {
        "connect refused by PSC": [refused.status_code, sorted(body_of(refused))],
        "CONNECT_FAILURE dn": [dn_label(bench, r["dn"]) for r in records if r["type"] == "CONNECT_FAILURE"],
    }


def api_answers_500(bench: Bench) -> Evidence:
    """The API answers the business call with its own 500."""
    with bench.lps() as lps:
        session = body_of(lps.post("/connect", json=connect_body()))
        bench.counterparts.api.server.set_mode(ListenerMode.SERVER_ERROR, status=500)
        send = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
    return {
        "send while the API answers 500": send.status_code,
        "an error descriptor of the proxy": set(body_of(send)) >= {"code", "message"}
        and str(body_of(send).get("message", "")).startswith("API apipsc"),
    }


SLOW_API_S = 1.5


def slow_api(bench: Bench) -> Evidence:
    """The API answers after 1.5 s; the proxy is configured with a 1 s upstream timeout."""
    with bench.lps() as lps:
        session = body_of(lps.post("/connect", json=connect_body()))
        bench.counterparts.api.server.set_mode(ListenerMode.SLOW, slow_s=SLOW_API_S)
        send = lps.post(SIGN, json=session_data(LPS1_CLIENT_ID, PS1, session))
    return {"send while the API takes 1.5 s": send.status_code}


CIBA_INTERVAL_S = 0.3


def first_poll(bench: Bench) -> Evidence:
    """PSC asks for 0.3 s between polls; the professional approves after the first poll."""
    psc = bench.counterparts.psc
    psc.timings = dataclasses.replace(psc.timings, ciba_interval_s=CIBA_INTERVAL_S, poll_tolerance_s=0.05)
    with bench.lps() as lps:
        status = lps.post("/connect", json=connect_body()).status_code
    asked, polls = kinds(bench, "ciba.request"), kinds(bench, "ciba.poll")
    waited = bool(asked and polls) and polls[0].at - asked[0].at >= CIBA_INTERVAL_S - 0.05
    return {
        "connect": status,
        "first poll waited the interval": waited,
        "polled faster than interval": bool(kinds(bench, "ciba.poll_too_fast")),
    }


def records_at_the_bounds(bench: Bench) -> Evidence:
    """Two records, then /traces with start and end set to their very timestamps."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with bench.lps() as lps:
        lps.post("/connect", json=connect_body())
        time.sleep(0.01)  # a later millisecond
        lps.post("/connect", json=connect_body())  # the replay
        records = traces(lps, since)
        bounds = {"start": records[0]["timestamp"], "end": records[-1]["timestamp"]} if records else {}
        bounded = lps.get("/traces", params=bounds).json() if records else []
    return {"records": len(records), "records stamped at the bounds": len(bounded)}


def endpoint_tls(bench: Bench) -> Evidence:
    """Which TLS versions the API Conformité's own endpoint accepts."""
    host, port = bench.proxy.server.address[:2]
    versions = (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    return {f"endpoint accepts {v.name}": probe_protocol(host, port, v).accepted for v in versions}


# -- the table --------------------------------------------------------------------------------------

DAY = Scenario(
    working_day,
    {
        "connect": 200,
        "cookie SameSite": "Strict",
        "cookie is a session cookie": True,
        "token exchanges at connect": 1,
        "token exchanges": 1,
        "subject_token_type": [rfc8693.ACCESS_TOKEN],
        "token exchange parameters": ["grant_type", "scope", "subject_token", "subject_token_type"],
        "send": [200, 200],
        "PSC refreshes on a send": False,
        "trace events": ["CONNECT_SUCCESS", "SEND", "SEND"],
        "trace members": [
            "IdRPPS",
            "apiRequest",
            "clientId",
            "dn",
            "ipAddress",
            "proxy_id_session",
            "session_state",
            "timestamp",
            "type",
        ],
        "apiRequest of the other records": ['"absent"'],
        "SEND path": ["/signsessiondata"],
        "timestamps in Z form": False,
        "ipAddress": ["127.0.0.1"],
        "traced dn": ["<dn of LPS 1>"],
        "disconnect": 200,
        "PSC end-session": ["GET"],
    },
    {"refresh_margin_s": REFRESH_MARGIN_S},
)
BAD_CONNECTS = Scenario(
    bad_connects,
    {
        "metadata for a numeric nationalId": {"nationalId": None, "clientId": LPS1_CLIENT_ID},
        "metadata for an empty body": {"nationalId": None, "clientId": None},
        "message for an unknown clientId": MESSAGES["unknown_client"],
        "connect with a free-text bindingMessage": 400,
        "CIBA requests": 0,
    },
)
REFUSED = Scenario(
    refused_connect,
    {
        "connect refused by PSC": [401, ["code", "message", "metadata"]],
        "CONNECT_FAILURE dn": ["<dn of LPS 1>"],
    },
)
API_500 = Scenario(
    api_answers_500, {"send while the API answers 500": 502, "an error descriptor of the proxy": True}
)
SLOW_API = Scenario(slow_api, {"send while the API takes 1.5 s": 504}, {"http_timeout_s": 1.0})
FIRST_POLL = Scenario(
    first_poll, {"connect": 200, "first poll waited the interval": True, "polled faster than interval": False}
)
BOUNDS = Scenario(records_at_the_bounds, {"records": 2, "records stamped at the bounds": 0})
TLS = Scenario(
    endpoint_tls,
    {"endpoint accepts TLSv1_1": False, "endpoint accepts TLSv1_2": True, "endpoint accepts TLSv1_3": True},
)
SCENARIOS = (DAY, BAD_CONNECTS, REFUSED, API_500, SLOW_API, FIRST_POLL, BOUNDS, TLS)

EXPOSURES: dict[str, Exposure] = {
    "ciba_first_poll_immediate": Exposure(FIRST_POLL, {"first poll waited the interval": False}),
    "psc_logout_by_post": Exposure(DAY, {"PSC end-session": ["POST"]}),
    "psc_refresh_on_every_send": Exposure(DAY, {"PSC refreshes on a send": True}),
    "exchange_subject_token_type_jwt": Exposure(DAY, {"subject_token_type": [rfc8693.JWT]}),
    "exchange_with_subject_issuer": Exposure(
        DAY,
        {
            "token exchange parameters": [
                "grant_type",
                "scope",
                "subject_issuer",
                "subject_token",
                "subject_token_type",
            ]
        },
    ),
    # The first send exchanges, and a new exchange refreshes a PSC token near expiry first.
    "api_exchange_at_first_send": Exposure(
        DAY, {"token exchanges at connect": 0, "PSC refreshes on a send": True}
    ),
    "api_5xx_relayed": Exposure(
        API_500, {"send while the API answers 500": 500, "an error descriptor of the proxy": False}
    ),
    "upstream_timeout_30s": Exposure(SLOW_API, {"send while the API takes 1.5 s": 200}),
    "binding_message_any_string": Exposure(
        BAD_CONNECTS, {"connect with a free-text bindingMessage": 200, "CIBA requests": 1}
    ),
    "connect_refusal_as_500": Exposure(
        REFUSED, {"connect refused by PSC": [500, ["code", "message", "metadata"]]}
    ),
    "error_messages_in_french": Exposure(
        BAD_CONNECTS, {"message for an unknown clientId": FRENCH_MESSAGES["unknown_client"]}
    ),
    "error_metadata_without_nulls": Exposure(
        BAD_CONNECTS,
        {"metadata for a numeric nationalId": {"clientId": LPS1_CLIENT_ID}, "metadata for an empty body": {}},
    ),
    "error_metadata_original_types": Exposure(
        BAD_CONNECTS, {"metadata for a numeric nationalId": {"nationalId": 42, "clientId": LPS1_CLIENT_ID}}
    ),
    "session_cookie_samesite_lax": Exposure(DAY, {"cookie SameSite": "Lax"}),
    "api_conformite_tls_1_3_only": Exposure(TLS, {"endpoint accepts TLSv1_2": False}),
    "trace_timestamps_utc_z": Exposure(DAY, {"timestamps in Z form": True}),
    "traces_inclusive_bounds": Exposure(BOUNDS, {"records stamped at the bounds": 2}),
    "trace_extra_fields": Exposure(
        DAY, {"trace members": sorted([*DAY.conformant["trace members"], "id", "level"])}
    ),
    "trace_api_request_null": Exposure(DAY, {"apiRequest of the other records": ["null"]}),
    "failure_trace_without_dn": Exposure(REFUSED, {"CONNECT_FAILURE dn": [None]}),
    "trace_ip_ipv4_mapped": Exposure(DAY, {"ipAddress": ["::ffff:127.0.0.1"]}),
    "trace_dn_java_form": Exposure(DAY, {"traced dn": ["<dn of LPS 1, Java form>"]}),
    "send_trace_upstream_path": Exposure(DAY, {"SEND path": [f"{API_BASE_PATH}/signsessiondata"]}),
}


# -- on the wire --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_reference_proxy_shows_the_expected_evidence(
    new_bench: Callable[..., Bench],  # noqa: F811
    scenario: Scenario,
) -> None:
    bench = new_bench(**scenario.settings)
    assert scenario.run(bench) == scenario.conformant


@pytest.mark.parametrize("name", sorted(EXPOSURES))
def test_each_variant_changes_what_crosses_the_wire(
    new_bench: Callable[..., Bench],  # noqa: F811
    name: str,
) -> None:
    exposure = EXPOSURES[name]
    scenario = exposure.scenario
    assert exposure.changes, "a variant must change some evidence"
    assert set(exposure.changes) <= set(scenario.conformant), "evidence the scenario does not produce"
    same = [item for item, value in exposure.changes.items() if scenario.conformant[item] == value]
    assert not same, f"listed as changes but what the reference does: {same}"
    bench = new_bench(**scenario.settings)
    apply_variants(bench.proxy, [name])
    assert scenario.run(bench) == {**scenario.conformant, **exposure.changes}


def test_every_variant_has_a_scenario_that_shows_it() -> None:
    assert sorted(EXPOSURES) == sorted(VARIANTS)


def test_faults_and_variants_combine(new_bench: Callable[..., Bench]) -> None:  # noqa: F811
    """A fault still shows through a variant that touches the same seams."""
    bench = new_bench(**DAY.settings)
    started = time.time()
    apply_variants(bench.proxy, ["psc_logout_by_post", "trace_ip_ipv4_mapped"])
    apply_faults(bench.proxy, ["logout_without_id_token_hint"])
    evidence = DAY.run(bench)
    assert evidence["ipAddress"] == ["::ffff:127.0.0.1"]
    assert evidence["PSC end-session"] == []  # refused by PSC: the hint is missing
    assert kinds(bench, "logout.id_token_hint_missing")
    logouts = [
        e.method
        for e in bench.counterparts.evidence.exchanges(counterpart="psc", since=started)
        if e.url.split("?")[0].endswith("/logout")
    ]
    assert logouts == ["POST"]


# -- the catalogue ----------------------------------------------------------------------------------


def test_the_catalogue_is_a_variation_matrix() -> None:
    """At least 16 variants, each with a basis, its own description and its own way to apply."""
    consumer = variants_for_role(Role.CONSUMER)
    assert len(consumer) >= 16
    assert variants_for_role("provider") == []
    assert len({v.name for v in consumer}) == len(consumer)
    assert len({v.description_en for v in consumer}) == len(consumer)
    assert len({v.apply for v in consumer}) == len(consumer)
    for variant in consumer:
        assert variant.name.isidentifier() and variant.name == variant.name.lower(), variant.name
        assert len(variant.basis) > 40, f"{variant.name}: say which source and clause allow it"
        assert variant.description_en.endswith("."), variant.name
        assert set(variant.settings) <= {"http_timeout_s", "idle_timeout_s", "refresh_margin_s"}, variant.name


def test_the_french_wording_covers_every_message() -> None:
    assert set(FRENCH_MESSAGES) == set(MESSAGES)


def test_a_name_twice_in_a_catalogue_is_refused() -> None:
    entry = VARIANTS["trace_extra_fields"]
    with pytest.raises(ValueError, match="'trace_extra_fields' is in the catalogue twice"):
        Catalogue[Variant]("variant", [entry, entry])


def test_an_unknown_variant_is_a_usage_error_with_a_suggestion(
    new_bench: Callable[..., Bench],  # noqa: F811
) -> None:
    bench = new_bench()
    with pytest.raises(
        UsageError,
        match=r"unknown consumer variant 'trace_extra_field'.*Did you mean 'trace_extra_fields'.*"
        r"Known variants: .*api_5xx_relayed",
    ):
        apply_variants(bench.proxy, ["psc_logout_by_post", "trace_extra_field"])
    assert "end_session" not in vars(bench.proxy.psc)  # checked before anything was applied
    assert check_variant_names(["api_5xx_relayed", "api_5xx_relayed"]) == ["api_5xx_relayed"]
    with pytest.raises(UsageError, match="unknown provider variant"):
        check_variant_names(["api_5xx_relayed"], Role.PROVIDER)


def test_variant_settings() -> None:
    assert variant_settings([]) == {}
    assert variant_settings(["trace_extra_fields", "upstream_timeout_30s"]) == {"http_timeout_s": 30.0}
    with pytest.raises(UsageError, match="unknown consumer variant 'nope'"):
        variant_settings(["nope"])


def test_the_proxy_file_names_variants(counterparts: tuple[Counterparts, Path]) -> None:  # noqa: F811
    _, directory = counterparts
    path = directory / "with-variants.toml"
    path.write_text(
        '[proxy]\ncounterparts = "counterparts.json"\nport = 0\nvariants = ["trace_extra_fields"]\n',
        encoding="utf-8",
    )
    assert load_settings(path).variants == ("trace_extra_fields",)
    assert load_settings(directory / "reference-proxy.toml").variants == ()


# -- the command line ---------------------------------------------------------------------------------


def test_variants_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["variants", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["variants"]
    assert [v["name"] for v in listed] == [v.name for role in Role for v in registry.variants(role)]
    assert len(listed) >= 16
    assert all(set(v) == {"name", "role", "description", "basis"} and v["basis"] for v in listed)
    entry = next(v for v in listed if v["name"] == "exchange_subject_token_type_jwt")
    assert entry["role"] == "consumer" and "RFC 8693" in entry["basis"]
    assert main(["variants", "--json", "--role", "provider"]) == 0
    provider = json.loads(capsys.readouterr().out)["variants"]
    assert len(provider) >= 6 and {v["role"] for v in provider} == {"provider"}


def test_variants_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    assert "api_5xx_relayed" in out and "allowed by: " in out
    consumer, provider = (len(registry.variants(role)) for role in (Role.CONSUMER, Role.PROVIDER))
    assert f"{consumer + provider} variants ({consumer} consumer, {provider} provider)" in out


def test_variants_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["variants", "--help"])
    assert exit_.value.code == 0
    assert "usage: psc-conformance variants" in capsys.readouterr().out
