"""Redaction for exported evidence: what an auditor may read, computed from the raw exchange.

Rules (applied on export only; the recorder keeps raw values):

* ``Authorization`` / ``Proxy-Authorization``: ``Basic`` credentials become ``Basic [redacted]``;
  ``Bearer`` / ``DPoP`` keep the scheme and the token shortened (a JWT keeps header and payload and
  the first 8 characters of its signature, an opaque token its first 8 characters); other schemes keep
  the scheme only.
* Headers whose name says secret, password or API key: value ``[redacted]``.
* ``Cookie`` / ``Set-Cookie`` values are kept: session ids are evidence of how the SUT tracks a session
  (and they are test sessions against simulated services). JWTs inside them are still shortened.
* Form fields and query parameters ``client_secret``, ``password``, ``client_assertion`` (and the other
  names of `SECRET_FIELDS`, matched without case, ``_`` or ``-``): value ``[redacted]``. A redacted
  ``client_assertion`` is still listed decoded in ``jwts`` (signature shortened): its claims say who
  authenticated, not how to authenticate again.
* JSON fields of the same names, at any depth: value ``[redacted]``; in an object with ``kty`` (a JWK),
  the private members ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``oth``, ``k`` too.
* The same names in free text (``name=value``, ``name: value``, ``"name": "value"``, multipart parts),
  for bodies that do not parse as declared (truncated JSON, a form sent as text/plain, a log line).
* Any PEM private key block (``-----BEGIN … PRIVATE KEY-----`` up to its END line, or to the end of the
  text when the END line is missing), anywhere in text: ``[redacted private key]``. PKCS#12 / PKCS#8
  binary bodies are redacted whole.
* Every JWT (compact JWS, or JWE shown by its header only) found in headers, URL, form fields, JSON
  strings or any other text is decoded into the ``jwts`` list and shortened in place, so a signature
  never appears whole. User info passwords in URLs are redacted.
* Bodies are capped (default 64 KiB of UTF-8 after redaction, so a cap never cuts a secret in half and
  leaves the rest visible), marked ``truncated`` with the original size; bodies that are not UTF-8 are
  shown as base64. gzip / deflate bodies are shown decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from conformance.evidence.model import Exchange, Headers

DEFAULT_MAX_BODY: Final = 64 * 1024
REDACTED: Final = "[redacted]"
PRIVATE_KEY_REDACTED: Final = "[redacted private key]"
ELLIPSIS: Final = "…"
SIGNATURE_KEPT: Final = 8  # characters of a signature (or opaque token) left in evidence

# Compared after lower-casing and removing "_" and "-": clientSecret, client-secret, CLIENT_SECRET…
SECRET_FIELDS: Final = frozenset(
    {"client_secret", "password", "client_assertion", "p12_password", "private_key", "passphrase"}
)
_SECRET_KEYS: Final = frozenset(name.replace("_", "") for name in SECRET_FIELDS)
JWK_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_SECRET_HEADER_WORDS: Final = ("secret", "password", "passwd", "api-key", "apikey", "api_key")
_AUTH_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})
_TOKEN_SCHEMES: Final = frozenset({"bearer", "dpop"})
_BINARY_SECRET_TYPES: Final = frozenset(
    {"application/x-pkcs12", "application/pkcs12", "application/pkcs8", "application/x-pkcs8"}
)
_MAX_DECODED: Final = 16 * 1024 * 1024  # bound on gzip/deflate output shown in evidence

_B64URL = r"[A-Za-z0-9_-]"
# A compact JWS (header.payload.signature, payload possibly empty when detached) or a JWE (5 parts).
# A JSON header starts with "{" then any character below 0x40 (quote, space, newline): base64url
# "e" then w, x, y or z ("eyJ" for '{"'). Candidates not starting with "eyJ" count only when their
# header decodes to a JSON object, so that host names such as "exa.mple.org" are left alone.
_JWT_PATTERN = (
    rf"(?<!{_B64URL})e[w-z]{_B64URL}+\.{_B64URL}*\.{_B64URL}*"
    rf"(?:\.{_B64URL}*\.{_B64URL}*)?(?!{_B64URL})"
)
_JWT_RE: Final = re.compile(_JWT_PATTERN)
_JWT_BYTES_RE: Final = re.compile(_JWT_PATTERN.encode("ascii"))
_PEM_PATTERN = (
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\Z)"
)
_PEM_RE: Final = re.compile(_PEM_PATTERN, re.DOTALL)
_PEM_BYTES_RE: Final = re.compile(_PEM_PATTERN.encode("ascii"), re.DOTALL)
# Secret fields in free text (a form or JSON that could not be parsed, a multipart part, a log line).
_SECRET_NAMES = "|".join(re.escape(n).replace("_", "[_-]?") for n in sorted(SECRET_FIELDS))
_KV_SECRET_RE: Final = re.compile(
    rf"""(\b(?:{_SECRET_NAMES})\b["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"?|'[^']*'?|[^"'&\s,;}}<]+)""",
    re.IGNORECASE,
)
_MULTIPART_SECRET_RE: Final = re.compile(
    rf"""(name="(?:{_SECRET_NAMES})"[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n)([^\r\n]*)""", re.IGNORECASE
)


@dataclass
class Findings:
    """JWTs decoded while redacting one exchange, in the order met."""

    jwts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BodyView:
    """A body as exported: redacted, capped, text or base64."""

    size: int  # bytes on the wire
    mime_type: str
    text: str
    base64: bool = False
    truncated: bool = False
    redacted: bool = False  # some content was replaced
    decoded_from: str | None = None  # content-encoding undone for display (gzip, deflate)
    params: list[tuple[str, str]] | None = None  # form fields, redacted


@dataclass(frozen=True)
class ExchangeView:
    """Everything the exporters need from an exchange, already redacted."""

    exchange: Exchange
    url: str
    query: list[tuple[str, str]]
    request_headers: Headers
    request_body: BodyView
    response_headers: Headers
    response_body: BodyView | None
    error: str | None
    jwts: list[dict[str, Any]]


def view(exchange: Exchange, *, max_body: int = DEFAULT_MAX_BODY) -> ExchangeView:
    """The redacted form of `exchange` shared by the JSON and HAR exports."""
    found = Findings()
    url, query = redact_url(exchange.url, "request", found)
    request_headers = redact_headers(exchange.request_headers, "request", found)
    request_body = render_body(exchange.request_body, exchange.request_headers, "request", found, max_body)
    response_headers: Headers = []
    response_body: BodyView | None = None
    if exchange.status is not None:
        response_headers = redact_headers(exchange.response_headers, "response", found)
        response_body = render_body(
            exchange.response_body, exchange.response_headers, "response", found, max_body
        )
    error = scrub_text(exchange.error, "error", found) if exchange.error else None
    return ExchangeView(
        exchange=exchange,
        url=url,
        query=query,
        request_headers=request_headers,
        request_body=request_body,
        response_headers=response_headers,
        response_body=response_body,
        error=error,
        jwts=found.jwts,
    )


# -- tokens --------------------------------------------------------------------------------------------


def shorten_signature(signature: str) -> str:
    """First characters of a signature and an ellipsis; an empty signature (alg none) stays empty."""
    if not signature:
        return ""
    kept = SIGNATURE_KEPT if len(signature) > SIGNATURE_KEPT else len(signature) // 2
    return signature[:kept] + ELLIPSIS


def shorten_jwt(token: str) -> str:
    """`header.payload.sig…` for a JWS; `header.…` for a JWE (its other parts say nothing readable)."""
    parts = token.split(".")
    if len(parts) == 5:
        return f"{parts[0]}.{ELLIPSIS}"
    if len(parts) != 3:
        return shorten_opaque(token)
    return f"{parts[0]}.{parts[1]}.{shorten_signature(parts[2])}"


def shorten_opaque(token: str) -> str:
    return shorten_signature(token)


def decode_jwt(token: str, where: str) -> dict[str, Any]:
    """The `jwts` entry for a token: header and claims decoded (None when not JSON), signature shortened."""
    parts = token.split(".")
    entry: dict[str, Any] = {"where": where, "header": _b64_json(parts[0]), "claims": None}
    if len(parts) == 5:
        entry["encrypted"] = True
        entry["signature"] = None
    else:
        entry["claims"] = _b64_json(parts[1])
        entry["signature"] = shorten_signature(parts[2])
    return entry


def _b64_json(segment: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return None


def _token_like(candidate: str) -> bool:
    return candidate.startswith("eyJ") or isinstance(_b64_json(candidate.split(".", 1)[0]), dict)


def is_jwt(value: str) -> bool:
    """Whether `value` (stripped) is one compact JWS or JWE, by shape; the signature is not checked."""
    stripped = value.strip()
    return _JWT_RE.fullmatch(stripped) is not None and _token_like(stripped)


# -- text ----------------------------------------------------------------------------------------------


def scrub_text(text: str, where: str, found: Findings) -> str:
    """Private keys and `name=value` / `"name": value` secrets replaced, JWTs decoded into `found` and
    shortened."""
    # Each pattern needs a character most header names and values lack: a campaign scrubs thousands of
    # short strings, and a search for a character costs a tenth of a regular expression's.
    if "-----" in text:
        text = _PEM_RE.sub(PRIVATE_KEY_REDACTED, text)
    if "=" in text:
        text = _MULTIPART_SECRET_RE.sub(rf"\g<1>{REDACTED}", text)
    if "=" in text or ":" in text:
        text = _KV_SECRET_RE.sub(_redact_value, text)
    if "." not in text:
        return text

    def shorten(match: re.Match[str]) -> str:
        token = match.group(0)
        if not _token_like(token):
            return token
        found.jwts.append(decode_jwt(token, where))
        return shorten_jwt(token)

    return _JWT_RE.sub(shorten, text)


def _redact_value(match: re.Match[str]) -> str:
    value = match.group(2)
    quote_char = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote_char}{REDACTED}{quote_char}"


def scrub_bytes(data: bytes, where: str, found: Findings) -> bytes:
    """`scrub_text` for bodies that are not UTF-8 (a JWT or a PEM key can still sit inside them)."""
    data = _PEM_BYTES_RE.sub(PRIVATE_KEY_REDACTED.encode("utf-8"), data)

    def shorten(match: re.Match[bytes]) -> bytes:
        token = match.group(0).decode("ascii")
        if not _token_like(token):
            return match.group(0)
        found.jwts.append(decode_jwt(token, where))
        return shorten_jwt(token).encode("utf-8")

    return _JWT_BYTES_RE.sub(shorten, data)


def _secret_name(name: str) -> bool:
    return name.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def redact_field(name: str, value: str, where: str, found: Findings) -> str:
    """A form field or query parameter value."""
    if _secret_name(name):
        if not value:
            return value
        if is_jwt(value):  # a client_assertion: claims listed, token withheld
            found.jwts.append(decode_jwt(value.strip(), where))
        return REDACTED
    return scrub_text(value, where, found)


def _encode_pairs(pairs: list[tuple[str, str]]) -> str:
    # Keep the markers readable instead of percent-encoded.
    encoded = urlencode(pairs, quote_via=quote)
    return encoded.replace(quote(ELLIPSIS), ELLIPSIS).replace(quote(REDACTED, safe=""), REDACTED)


def redact_pairs(pairs: list[tuple[str, str]], where: str, found: Findings) -> list[tuple[str, str]]:
    # Names are scrubbed too: in a body that is not really a form, a whole line ends up as a name.
    return [
        (scrub_text(name, where, found), redact_field(name, value, f"{where}.{name}", found))
        for name, value in pairs
    ]


def redact_url(url: str, where: str, found: Findings) -> tuple[str, list[tuple[str, str]]]:
    """URL with secrets redacted (user info password, secret query parameters, JWTs), and its query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_text(url, f"{where}.url", found), []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if colon else netloc
    raw_pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs = redact_pairs(raw_pairs, f"{where}.query", found)
    query = _encode_pairs(pairs) if pairs != raw_pairs else parts.query
    fragment = scrub_text(parts.fragment, f"{where}.url.fragment", found)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment)), pairs


# -- headers -------------------------------------------------------------------------------------------


def redact_header(name: str, value: str, where: str, found: Findings) -> str:
    lname = name.lower()
    at = f"{where}.header.{name}"
    if lname in _AUTH_HEADERS:
        scheme, space, credentials = value.strip().partition(" ")
        if not space:
            return REDACTED
        credentials = credentials.strip()
        if scheme.lower() == "basic":
            return f"{scheme} {REDACTED}"
        if is_jwt(credentials):
            return f"{scheme} {scrub_text(credentials, at, found)}"
        if scheme.lower() in _TOKEN_SCHEMES:
            return f"{scheme} {shorten_opaque(credentials)}"
        return f"{scheme} {REDACTED}"
    if any(word in lname for word in _SECRET_HEADER_WORDS):
        return REDACTED
    if lname in ("location", "content-location", "referer"):
        return redact_url(value, at, found)[0]
    return scrub_text(value, at, found)


def redact_headers(headers: Headers, where: str, found: Findings) -> Headers:
    return [(name, redact_header(name, value, where, found)) for name, value in headers]


# -- bodies --------------------------------------------------------------------------------------------


def _header(headers: Headers, name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers if k.lower() == wanted), "")


def _decompress(data: bytes, encoding: str) -> bytes | None:
    """gzip or deflate body decoded (bounded), None when it is not what the header says."""
    windows = {
        "gzip": (16 + zlib.MAX_WBITS,),
        "x-gzip": (16 + zlib.MAX_WBITS,),
        "deflate": (zlib.MAX_WBITS, -zlib.MAX_WBITS),
    }.get(encoding)
    for wbits in windows or ():
        try:
            decoder = zlib.decompressobj(wbits)
            return decoder.decompress(data, _MAX_DECODED)
        except zlib.error:
            continue
    return None


def _walk_json(value: Any, path: str, found: Findings, state: dict[str, bool]) -> Any:
    if isinstance(value, dict):
        is_jwk = "kty" in value
        result: dict[str, Any] = {}
        for key, item in value.items():
            key_path = f"{path}.{key}"
            secret = _secret_name(str(key)) or (is_jwk and key in JWK_PRIVATE_MEMBERS)
            if secret and item not in (None, ""):
                if isinstance(item, str) and is_jwt(item):
                    found.jwts.append(decode_jwt(item.strip(), key_path))
                state["changed"] = True
                result[key] = REDACTED
            else:
                result[key] = _walk_json(item, key_path, found, state)
        return result
    if isinstance(value, list):
        return [_walk_json(item, f"{path}[{i}]", found, state) for i, item in enumerate(value)]
    if isinstance(value, str):
        scrubbed = scrub_text(value, path, found)
        if scrubbed != value:
            state["changed"] = True
        return scrubbed
    return value


def _is_json_type(mime: str) -> bool:
    return mime in ("application/json", "text/json") or mime.endswith("+json")


def _render_text(
    text: str, mime: str, where: str, found: Findings
) -> tuple[str, list[tuple[str, str]] | None]:
    # JSON first, whatever the declared type: a SUT may send JSON labelled as a form.
    if _is_json_type(mime) or text.lstrip()[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except ValueError:
            pass
        else:
            state = {"changed": False}
            redacted = _walk_json(document, f"{where}.json", found, state)
            # Re-serialized only when something was replaced, so untouched bodies keep their bytes.
            return (json.dumps(redacted, ensure_ascii=False) if state["changed"] else text), None
    # A form sent with the wrong content type still hides its secrets.
    if mime == "application/x-www-form-urlencoded" or _looks_like_form_with_secret(text):
        raw_pairs = parse_qsl(text, keep_blank_values=True)
        pairs = redact_pairs(raw_pairs, f"{where}.form", found)
        if pairs != raw_pairs:
            return _encode_pairs(pairs), pairs
        # Nothing recognised field by field (maybe not a form at all): the free-text rules still apply.
        return scrub_text(text, f"{where}.body", found), pairs
    return scrub_text(text, f"{where}.body", found), None


def _looks_like_form_with_secret(text: str) -> bool:
    if "=" not in text or any(c.isspace() for c in text.strip()):
        return False
    return any(_secret_name(name) for name, _ in parse_qsl(text.strip(), keep_blank_values=True))


def _cap_text(text: str, max_body: int) -> tuple[str, bool]:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_body:
        return text, False
    return encoded[:max_body].decode("utf-8", errors="ignore"), True


def render_body(body: bytes, headers: Headers, where: str, found: Findings, max_body: int) -> BodyView:
    """A body as an auditor sees it: decoded when compressed, redacted, then capped."""
    content_type = _header(headers, "Content-Type")
    mime = content_type.split(";", 1)[0].strip().lower()
    size = len(body)
    if not body:
        return BodyView(size=0, mime_type=content_type, text="")
    if mime in _BINARY_SECRET_TYPES:
        return BodyView(size=size, mime_type=content_type, text=REDACTED, redacted=True)
    data, decoded_from = body, None
    encoding = _header(headers, "Content-Encoding").strip().lower()
    if encoding and encoding != "identity":
        decoded = _decompress(body, encoding)
        if decoded is not None:
            data, decoded_from = decoded, encoding
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        scrubbed = scrub_bytes(data, f"{where}.body", found)
        truncated = len(scrubbed) > max_body
        return BodyView(
            size=size,
            mime_type=content_type,
            text=base64.b64encode(scrubbed[:max_body]).decode("ascii"),
            base64=True,
            truncated=truncated,
            redacted=scrubbed != data,
            decoded_from=decoded_from,
        )
    rendered, params = _render_text(text, mime, where, found)
    capped, truncated = _cap_text(rendered, max_body)
    return BodyView(
        size=size,
        mime_type=content_type,
        text=capped,
        truncated=truncated,
        redacted=rendered != text,
        decoded_from=decoded_from,
        params=params,
    )


def safe_url(url: str) -> str:
    """A URL as it may appear in a report: secrets in its query redacted, JWTs shortened."""
    return redact_url(url, "url", Findings())[0]
