"""Evidence export: redaction, JWT decoding and shortening, body caps, HAR 1.2 structure, files."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence import (
    PRIVATE_KEY_REDACTED,
    REDACTED,
    TO_HARNESS,
    TO_SUT,
    EvidenceRecorder,
    Exchange,
    TLSDetails,
    shorten_jwt,
    to_har,
    to_json,
    write_evidence,
)
from conformance.pki import LPS1_CLIENT_ID, TestPKI
from conformance.standards.jose import SigningKey

FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON = ("Content-Type", "application/json")


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture(scope="module")
def id_token(key: SigningKey) -> str:
    return key.sign({"iss": "https://psc.example", "sub": "899700218896", "aud": "proxy", "nonce": "n-1"})


def exchange(**fields: Any) -> Exchange:
    base: dict[str, Any] = {
        "counterpart": "psc",
        "direction": TO_HARNESS,
        "method": "POST",
        "url": "https://127.0.0.1:8443/token",
        "started_at": 1_750_000_000.25,
        "duration_s": 0.012,
        "status": 200,
        "response_headers": [JSON],
        "response_body": b"{}",
    }
    return Exchange(**(base | fields))


def serialized(exchanges: list[Exchange], **options: Any) -> str:
    """Both exports, as an auditor would get them."""
    return json.dumps(to_json(exchanges, **options), ensure_ascii=False) + json.dumps(
        to_har(exchanges, **options), ensure_ascii=False
    )


# -- JWTs ----------------------------------------------------------------------------------------------


def test_id_token_decoded_with_shortened_signature(id_token: str) -> None:
    header_b64, payload_b64, signature = id_token.split(".")
    body = json.dumps({"id_token": id_token, "token_type": "Bearer"}).encode()
    exported = to_json([exchange(response_body=body)])
    jwts = exported[0]["jwts"]

    assert jwts == [
        {
            "where": "response.json.id_token",
            "header": {"alg": "ES256", "typ": "JWT", "kid": jwts[0]["header"]["kid"]},
            "claims": {"iss": "https://psc.example", "sub": "899700218896", "aud": "proxy", "nonce": "n-1"},
            "signature": signature[:8] + "…",
        }
    ]
    text = json.loads(exported[0]["response"]["body"]["text"])
    assert text["id_token"] == f"{header_b64}.{payload_b64}.{signature[:8]}…"
    assert text["token_type"] == "Bearer"
    for dumped in (
        json.dumps(exported),
        json.dumps(exported, ensure_ascii=False),
        serialized([exchange(response_body=body)]),
    ):
        assert id_token not in dumped
        assert signature not in dumped


def test_jwts_found_in_headers_query_form_and_text(id_token: str) -> None:
    signature = id_token.rsplit(".", 1)[1]
    ex = exchange(
        url=f"https://sut.example/authorize?id_token_hint={id_token}&state=s1",
        request_headers=[("Authorization", f"Bearer {id_token}"), ("DPoP", id_token), FORM],
        request_body=f"subject_token={id_token}&grant_type=x".encode(),
        response_headers=[("Content-Type", "text/html")],
        response_body=f"<p>token: {id_token}.</p>".encode(),
    )
    exported = to_json([ex])[0]
    where = [j["where"] for j in exported["jwts"]]
    assert where == [
        "request.query.id_token_hint",
        "request.header.Authorization",
        "request.header.DPoP",
        "request.form.subject_token",
        "response.body",
    ]
    assert all(j["claims"]["sub"] == "899700218896" for j in exported["jwts"])
    assert exported["request"]["headers"][0]["value"] == "Bearer " + shorten_jwt(id_token)
    assert exported["response"]["body"]["text"] == f"<p>token: {shorten_jwt(id_token)}.</p>"
    assert signature not in serialized([ex])


def test_unsigned_and_encrypted_tokens_and_look_alikes() -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64({'sub': 'x'})}."
    jwe = f"{b64({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.{'k' * 40}.{'i' * 16}.{'c' * 60}.{'t' * 22}"
    text = f"unsigned={unsigned} jwe={jwe} hosts=www.example.org exa.mple.org e.x.y"
    ex = exchange(response_headers=[("Content-Type", "text/plain")], response_body=text.encode())
    exported = to_json([ex])[0]
    body = exported["response"]["body"]["text"]
    assert f"unsigned={unsigned} " in body  # nothing to hide, and alg none is evidence
    assert "c" * 60 not in body
    assert "hosts=www.example.org exa.mple.org e.x.y" in body
    kinds = [(j["header"]["alg"], j.get("encrypted", False)) for j in exported["jwts"]]
    assert kinds == [("none", False), ("RSA-OAEP", True)]


# -- secrets -------------------------------------------------------------------------------------------

SECRETS = {
    "basic": base64.b64encode(b"ans-odc-lps1-edc-bas:basic-pass-4242").decode(),
    "basic_password": "basic-pass-4242",
    "client_secret": "cs-super-secret-0001",
    "password": "pw-super-secret-0002",
    "p12_password": "p12-super-secret-0003",
    "json_client_secret": "cs-json-secret-0004",
    "query_secret": "cs-query-secret-0005",
    "userinfo": "userinfo-secret-0006",
    "header_secret": "hdr-secret-0007",
    "jwk_d": "jwk-private-d-0008",
    "text_form_secret": "cs-text-form-0009",
}


def secret_exchanges(pki: TestPKI, client_assertion: str) -> list[Exchange]:
    key_pem = pki.clients[LPS1_CLIENT_ID].key_pem
    config = {
        "settings": {
            "oauth": [
                {"clientSecret": SECRETS["json_client_secret"], "p12_password": SECRETS["p12_password"]}
            ],
            "tls": {"private_key": key_pem, "note": "key follows\n" + key_pem},
        },
        "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB", "d": SECRETS["jwk_d"]}]},
    }
    return [
        exchange(
            url=f"https://u:{SECRETS['userinfo']}@sut.example/token?client_secret={SECRETS['query_secret']}&a=1",
            request_headers=[
                ("Authorization", f"Basic {SECRETS['basic']}"),
                ("X-Client-Secret", SECRETS["header_secret"]),
                ("Cookie", "PROXY_SESSION=sess-123"),
                FORM,
            ],
            request_body=(
                f"grant_type=client_credentials&client_secret={SECRETS['client_secret']}"
                f"&password={SECRETS['password']}&client_assertion={client_assertion}"
            ).encode(),
            response_headers=[JSON, ("Set-Cookie", "PROXY_SESSION=sess-456; Path=/; HttpOnly; Secure")],
            response_body=json.dumps(config).encode(),
        ),
        exchange(
            direction=TO_SUT,
            counterpart="sut",
            request_headers=[("Content-Type", "text/plain")],
            request_body=f"client_secret={SECRETS['text_form_secret']}".encode(),
            response_headers=[("Content-Type", "application/x-pem-file")],
            response_body=(pki.clients[LPS1_CLIENT_ID].cert_pem + key_pem).encode(),
        ),
        exchange(  # a key cut short by the SUT: no END line
            response_headers=[("Content-Type", "text/plain")],
            response_body=key_pem[: len(key_pem) // 2 + 30].encode(),
        ),
        exchange(  # a key inside a body that is not UTF-8
            response_headers=[("Content-Type", "application/octet-stream")],
            response_body=b"\xff\xfe\x00" + key_pem.encode() + b"\x00\xff",
        ),
    ]


def _key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_secrets_never_appear_in_exports(pki: TestPKI, key: SigningKey, tmp_path: Path) -> None:
    assertion = key.sign({"iss": LPS1_CLIENT_ID, "sub": LPS1_CLIENT_ID, "aud": "https://psc.example/token"})
    exchanges = secret_exchanges(pki, assertion)
    json_path, har_path = write_evidence(exchanges, tmp_path)
    outputs = {
        "to_json": json.dumps(to_json(exchanges)),
        "to_json(utf-8)": json.dumps(to_json(exchanges), ensure_ascii=False),
        "to_har": json.dumps(to_har(exchanges), ensure_ascii=False),
        "evidence.json": json_path.read_text(encoding="utf-8"),
        "evidence.har": har_path.read_text(encoding="utf-8"),
    }
    forbidden = [*SECRETS.values(), assertion, assertion.rsplit(".", 1)[1], "PRIVATE KEY-----"]
    forbidden += _key_lines(pki.clients[LPS1_CLIENT_ID].key_pem)
    for name, text in outputs.items():
        for secret in forbidden:
            assert secret not in text, f"{secret!r} leaked into {name}"

    first = to_json(exchanges)[0]
    headers = {h["name"]: h["value"] for h in first["request"]["headers"]}
    assert headers["Authorization"] == f"Basic {REDACTED}"
    assert headers["X-Client-Secret"] == REDACTED
    assert headers["Cookie"] == "PROXY_SESSION=sess-123"  # kept on purpose: session ids are evidence
    assert first["request"]["url"].startswith(
        f"https://u:{REDACTED}@sut.example/token?client_secret={REDACTED}"
    )
    assert first["request"]["body"]["redacted"] is True
    assert first["jwts"][0]["where"] == "request.form.client_assertion"
    assert first["jwts"][0]["claims"]["iss"] == LPS1_CLIENT_ID
    config = json.loads(first["response"]["body"]["text"])
    assert config["settings"]["oauth"][0]["clientSecret"] == REDACTED
    assert config["settings"]["tls"] == {
        "private_key": REDACTED,
        "note": "key follows\n" + PRIVATE_KEY_REDACTED + "\n",
    }
    assert config["jwks"]["keys"][0] == {"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB", "d": REDACTED}
    pem_body = to_json(exchanges)[1]["response"]["body"]["text"]
    assert "BEGIN CERTIFICATE" in pem_body and pem_body.endswith(PRIVATE_KEY_REDACTED + "\n")
    har_cookies = to_har(exchanges)["log"]["entries"][0]["response"]["cookies"]
    assert har_cookies == [
        {"name": "PROXY_SESSION", "value": "sess-456", "path": "/", "httpOnly": True, "secure": True}
    ]


def test_raw_values_are_kept_in_memory(pki: TestPKI, key: SigningKey) -> None:
    """Scenarios judge exact bytes: redaction is for exports only."""
    recorder = EvidenceRecorder()
    original = secret_exchanges(pki, key.sign({"sub": "x"}))[0]
    stored = recorder.get(recorder.record(original))
    assert stored is not None
    assert stored.request_header("authorization") == f"Basic {SECRETS['basic']}"
    assert stored.request_body == original.request_body


def test_opaque_bearer_and_unknown_schemes() -> None:
    ex = exchange(
        request_headers=[
            ("Authorization", "Bearer opaque-access-token-value-123456"),
            ("Proxy-Authorization", "Digest username=x, response=abcdef"),
        ]
    )
    headers = [h["value"] for h in to_json([ex])[0]["request"]["headers"]]
    assert headers == ["Bearer opaque-a…", f"Digest {REDACTED}"]


# -- bodies --------------------------------------------------------------------------------------------


def test_body_cap_marks_truncation_with_the_original_size() -> None:
    big = b"x" * (100 * 1024)
    exported = to_json([exchange(response_headers=[("Content-Type", "text/plain")], response_body=big)])
    body = exported[0]["response"]["body"]
    assert body == {
        "size": 100 * 1024,
        "mime_type": "text/plain",
        "text": "x" * (64 * 1024),
        "base64": False,
        "truncated": True,
        "redacted": False,
    }
    small = to_json([exchange(response_body=b'{"a": 1}')], max_body=4)[0]["response"]["body"]
    assert small["text"] == '{"a"' and small["truncated"] and small["size"] == 8
    har = to_har([exchange(response_headers=[], response_body=big)], max_body=10)
    content = har["log"]["entries"][0]["response"]["content"]
    assert content["size"] == 100 * 1024 and content["_truncated"] is True and len(content["text"]) == 10


def test_cap_never_cuts_a_utf8_character_or_reveals_a_signature(id_token: str) -> None:
    body = ("é" * 5 + id_token).encode()
    exported = to_json(
        [exchange(response_headers=[("Content-Type", "text/plain")], response_body=body)],
        max_body=len(body) - 3,
    )
    text = exported[0]["response"]["body"]["text"]
    assert text.startswith("éééééeyJ")
    assert id_token.rsplit(".", 1)[1][:9] not in text


def test_binary_bodies_are_base64() -> None:
    data = bytes(range(256))
    exported = to_json([exchange(response_headers=[("Content-Type", "image/png")], response_body=data)])
    body = exported[0]["response"]["body"]
    assert body["base64"] is True and base64.b64decode(body["text"]) == data
    content = to_har([exchange(response_body=data)])["log"]["entries"][0]["response"]["content"]
    assert content["encoding"] == "base64"
    p12 = to_json([exchange(response_headers=[("Content-Type", "application/x-pkcs12")], response_body=data)])
    assert p12[0]["response"]["body"]["text"] == REDACTED


def test_gzip_bodies_are_shown_decoded() -> None:
    ex = exchange(
        response_headers=[JSON, ("Content-Encoding", "gzip")],
        response_body=gzip.compress(b'{"client_secret": "zipped-secret", "ok": true}'),
    )
    body = to_json([ex])[0]["response"]["body"]
    assert body["decoded_from"] == "gzip"
    assert json.loads(body["text"]) == {"client_secret": REDACTED, "ok": True}


def test_untouched_json_keeps_its_bytes() -> None:
    raw = b'{ "a" : 1,\n  "b": [true] }'
    assert to_json([exchange(response_body=raw)])[0]["response"]["body"]["text"] == raw.decode()


# -- HAR 1.2 structure ---------------------------------------------------------------------------------


def _require(obj: Any, where: str, spec: dict[str, type | tuple[type, ...]]) -> None:
    assert isinstance(obj, dict), f"{where} must be an object"
    for name, types in spec.items():
        assert name in obj, f"{where}.{name} is required"
        assert isinstance(obj[name], types), f"{where}.{name} has type {type(obj[name]).__name__}"
    for name in obj:
        assert name in spec or name.startswith("_") or name in _OPTIONAL.get(where, ()), f"{where}.{name}?"


_OPTIONAL = {
    "log": ("browser", "pages", "comment"),
    "entry": ("pageref", "serverIPAddress", "connection", "comment"),
    "request": ("postData", "comment"),
    "response": ("comment",),
    "content": ("compression", "encoding", "comment"),
    "timings": ("blocked", "dns", "connect", "ssl", "comment"),
    "postData": ("params", "comment"),
}
NUMBER = (int, float)


def _name_values(items: Any, where: str) -> None:
    assert isinstance(items, list), where
    for item in items:
        assert isinstance(item.get("name"), str) and isinstance(item.get("value"), str), where


def validate_har(document: Any) -> None:
    """Required members and their types per HAR 1.2, plus: custom members start with `_`."""
    assert isinstance(document, dict) and set(document) == {"log"}
    log = document["log"]
    _require(log, "log", {"version": str, "creator": dict, "entries": list})
    assert log["version"] == "1.2"
    _require(log["creator"], "creator", {"name": str, "version": str})
    for entry in log["entries"]:
        _require(
            entry,
            "entry",
            {
                "startedDateTime": str,
                "time": NUMBER,
                "request": dict,
                "response": dict,
                "cache": dict,
                "timings": dict,
            },
        )
        assert "T" in entry["startedDateTime"] and entry["startedDateTime"].endswith("+00:00")
        request, response = entry["request"], entry["response"]
        _require(
            request,
            "request",
            {
                "method": str,
                "url": str,
                "httpVersion": str,
                "cookies": list,
                "headers": list,
                "queryString": list,
                "headersSize": int,
                "bodySize": int,
            },
        )
        _name_values(request["headers"], "request.headers")
        _name_values(request["queryString"], "request.queryString")
        if "postData" in request:
            _require(request["postData"], "postData", {"mimeType": str, "text": str})
            if "params" in request["postData"]:
                _name_values(request["postData"]["params"], "postData.params")
        _require(
            response,
            "response",
            {
                "status": int,
                "statusText": str,
                "httpVersion": str,
                "cookies": list,
                "headers": list,
                "content": dict,
                "redirectURL": str,
                "headersSize": int,
                "bodySize": int,
            },
        )
        _name_values(response["headers"], "response.headers")
        _require(response["content"], "content", {"size": int, "mimeType": str, "text": str})
        _require(entry["timings"], "timings", {"send": NUMBER, "wait": NUMBER, "receive": NUMBER})
        spent = sum(v for k, v in entry["timings"].items() if isinstance(v, NUMBER) and v >= 0)
        assert abs(spent - entry["time"]) < 0.01


def test_har_export_has_the_har_12_structure(pki: TestPKI, key: SigningKey, tmp_path: Path) -> None:
    exchanges = [
        *secret_exchanges(pki, key.sign({"sub": "x"})),
        exchange(
            direction=TO_SUT,
            counterpart="sut",
            method="GET",
            url="https://127.0.0.1:9443/health?x=1&y=",
            status=None,
            response_headers=[],
            response_body=b"",
            error="ConnectError: [Errno 111] Connection refused",
        ),
        exchange(
            status=302,
            reason="Found",
            headers_received_s=0.004,
            response_headers=[("Location", "https://lps.example/cb?code=c1&state=s1")],
            response_body=b"",
            tls=TLSDetails(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", client_x5t_s256="abc"),
            scenario="tests/scenarios/test_x.py::test_y",
            id="ex-9",
        ),
    ]
    _, har_path = write_evidence(exchanges, tmp_path)
    document = json.loads(har_path.read_text(encoding="utf-8"))
    validate_har(document)
    entries = document["log"]["entries"]
    assert len(entries) == len(exchanges)
    failed, redirect = entries[-2], entries[-1]
    assert failed["response"]["status"] == 0 and failed["_error"].startswith("ConnectError")
    assert failed["request"]["queryString"] == [{"name": "x", "value": "1"}, {"name": "y", "value": ""}]
    assert redirect["response"]["redirectURL"] == "https://lps.example/cb?code=c1&state=s1"
    assert redirect["response"]["statusText"] == "Found"
    assert redirect["timings"] == {"send": 0.0, "wait": 4.0, "receive": 8.0} and redirect["time"] == 12.0
    assert redirect["_tls"]["version"] == "TLSv1.3"
    assert redirect["_exchangeId"] == "ex-9" and redirect["_scenario"] == "tests/scenarios/test_x.py::test_y"
    assert redirect["startedDateTime"] == "2025-06-15T15:06:40.250+00:00"
    assert {"_counterpart", "_direction", "_jwts"} <= set(redirect)


def test_recorder_write_returns_both_paths(tmp_path: Path) -> None:
    recorder = EvidenceRecorder()
    recorder.record(exchange())
    json_path, har_path = recorder.write(tmp_path / "evidence")
    assert (json_path.name, har_path.name) == ("evidence.json", "evidence.har")
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["format"] == "psc-conformance-evidence"
    assert [e["id"] for e in document["exchanges"]] == [e.id for e in recorder.exchanges()]
    validate_har(json.loads(har_path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/json", '{"client_secret": "free-text-secret", "cut": "', id="cut-json"),
        pytest.param(FORM[1], '{"password": "free-text-secret"}', id="json-labelled-form"),
        pytest.param(FORM[1], "client_secret: free-text-secret", id="not-a-form"),
        pytest.param("text/plain", "error: bad client-secret='free-text-secret' for x", id="log-line"),
        pytest.param(
            "multipart/form-data; boundary=b",
            '--b\r\nContent-Disposition: form-data; name="client_secret"\r\n\r\n'
            "free-text-secret\r\n--b--\r\n",
            id="multipart",
        ),
    ],
)
def test_secrets_in_bodies_that_do_not_parse(content_type: str, body: str) -> None:
    ex = exchange(request_headers=[("Content-Type", content_type)], request_body=body.encode())
    assert "free-text-secret" not in serialized([ex])
    assert REDACTED in to_json([ex])[0]["request"]["body"]["text"]
