"""Bearer tokens (RFC 6750) and the HTTP authentication challenges that carry their errors (RFC 9110 §11).

Both sides use it: a resource server the harness plays finds the token and builds its
`WWW-Authenticate: Bearer …` answers here, and the conditions that judge a SUT's resource server parse
the challenges it sends with :func:`parse_challenges`, which follows the RFC 9110 grammar exactly
(several challenges in one header, quoted strings with escapes, token68) and refuses anything else with
:class:`ChallengeSyntaxError` rather than guessing what a sloppy header meant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

SCHEME: Final = "Bearer"

# §3.1 error codes and the status each one is answered with.
INVALID_REQUEST: Final = "invalid_request"
INVALID_TOKEN: Final = "invalid_token"
INSUFFICIENT_SCOPE: Final = "insufficient_scope"
ERROR_STATUS: Final = {INVALID_REQUEST: 400, INVALID_TOKEN: 401, INSUFFICIENT_SCOPE: 403}

TokenLocation = Literal["header", "body", "query"]

# RFC 9110 §5.6.2 tchar, §11.2 token68, §5.6.4 qdtext / quoted-pair (obs-text included).
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68_RE: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QDTEXT_RE: Final = re.compile(r"[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]")
_QUOTED_PAIR_RE: Final = re.compile(r"[\t \x21-\x7e\x80-\xff]")
_OWS: Final = " \t"
# §3: what error, error_description and scope values may contain (no '"' and no '\').
_ERROR_TEXT_RE: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SCOPE_TOKEN_RE: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


# -- finding the token (§2) ------------------------------------------------------------------------------


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (§2.1; the scheme is case-insensitive)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == SCHEME.lower() and token else None


def bearer_token_location(
    authorization: str | None,
    form: Mapping[str, Sequence[str]],
    query: Mapping[str, Sequence[str]],
) -> TokenLocation | None:
    """Where a caller put its access token: header (§2.1), form body (§2.2), query (§2.3), or None.

    `form` and `query` are decoded as `parse_qs` gives them; the first place that holds a token wins.
    """
    if bearer_token(authorization) is not None:
        return "header"
    if form.get("access_token"):
        return "body"
    if query.get("access_token"):
        return "query"
    return None


# -- building a challenge (§3) -------------------------------------------------------------------------


def quoted_string(value: str) -> str:
    """RFC 9110 §5.6.4 quoted-string of `value`: `"` and `\\` escaped; control characters refused."""
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ValueError(f"control character in a quoted-string: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    *,
    realm: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    error_uri: str | None = None,
    scope: str | Sequence[str] | None = None,
) -> str:
    """A `WWW-Authenticate` value for the Bearer scheme, attributes in the order of §3's examples.

    Values that §3 restricts (error, error_description, scope) are checked so that the harness never
    sends a challenge a strict client would have to reject.
    """
    params: list[tuple[str, str]] = []
    if realm is not None:
        params.append(("realm", realm))
    if error is not None:
        if not error or not _ERROR_TEXT_RE.fullmatch(error) or " " in error:
            raise ValueError(f"invalid error code: {error!r}")
        params.append(("error", error))
    if error_description is not None:
        if not _ERROR_TEXT_RE.fullmatch(error_description):
            raise ValueError(f"error_description has characters RFC 6750 §3 forbids: {error_description!r}")
        params.append(("error_description", error_description))
    if error_uri is not None:
        params.append(("error_uri", error_uri))
    if scope is not None:
        tokens = scope.split() if isinstance(scope, str) else list(scope)
        if not tokens or not all(_SCOPE_TOKEN_RE.fullmatch(t) for t in tokens):
            raise ValueError(f"invalid scope: {scope!r}")
        params.append(("scope", " ".join(tokens)))
    if not params:
        return SCHEME
    return SCHEME + " " + ", ".join(f"{name}={quoted_string(value)}" for name, value in params)


# -- parsing challenges (RFC 9110 §11.6.1) ---------------------------------------------------------------


class ChallengeSyntaxError(ValueError):
    """The header does not follow the challenge grammar; `position` is where parsing stopped."""

    def __init__(self, message: str, header: str, position: int) -> None:
        super().__init__(f"{message} at position {position} of {header!r}")
        self.position = position


@dataclass(frozen=True)
class Challenge:
    """One challenge: its scheme as sent, and either auth-params (names lowercased, as they are
    case-insensitive) or a token68."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    def is_scheme(self, scheme: str) -> bool:
        """Scheme names are case-insensitive (§11.1)."""
        return self.scheme.lower() == scheme.lower()


class _Scanner:
    """A cursor over one header value, for the recursive-descent parser below."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ows(self) -> None:
        while self.peek() and self.peek() in _OWS:
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group()

    def fail(self, message: str) -> ChallengeSyntaxError:
        return ChallengeSyntaxError(message, self.text, self.pos)

    def token(self, what: str) -> str:
        value = self.match(_TOKEN_RE)
        if value is None:
            raise self.fail(f"expected {what}")
        return value

    def quoted_string(self) -> str:
        start = self.pos
        self.pos += 1  # the opening DQUOTE
        chars: list[str] = []
        while True:
            char = self.peek()
            if not char:
                self.pos = start
                raise self.fail("unterminated quoted-string")
            self.pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                escaped = self.peek()
                if not escaped or not _QUOTED_PAIR_RE.fullmatch(escaped):
                    raise self.fail("invalid quoted-pair")
                self.pos += 1
                chars.append(escaped)
            elif _QDTEXT_RE.fullmatch(char):
                chars.append(char)
            else:
                self.pos -= 1
                raise self.fail(f"character {char!r} not allowed in a quoted-string")

    def starts_auth_param(self) -> bool:
        """Whether a `token BWS "="` follows (an auth-param), as opposed to the next challenge's scheme."""
        found = _TOKEN_RE.match(self.text, self.pos)
        if found is None:
            return False
        rest = self.text[found.end() :].lstrip(_OWS)
        return rest.startswith("=")

    def at_list_end(self) -> bool:
        """Whether only OWS stands between here and a comma or the end of the header."""
        rest = self.text[self.pos :].lstrip(_OWS)
        return not rest or rest.startswith(",")


def parse_challenges(www_authenticate: str) -> list[Challenge]:
    """Every challenge of a `WWW-Authenticate` value (RFC 9110 §11.6.1), in order.

    Empty list elements are skipped (§5.6.1), so an empty header gives []. Raises
    :class:`ChallengeSyntaxError` on an unterminated quoted-string, a parameter without a value, a
    repeated parameter name (§11.2 allows each once), or anything else outside the grammar.
    """
    scanner = _Scanner(www_authenticate)
    challenges: list[Challenge] = []
    while True:
        while scanner.peek() and scanner.peek() in _OWS + ",":
            scanner.pos += 1
        if scanner.at_end():
            return challenges
        scheme = scanner.token("an auth-scheme")
        if scanner.at_list_end():
            challenges.append(Challenge(scheme))
            scanner.skip_ows()
            continue
        if scanner.peek() != " ":
            raise scanner.fail("expected a space after the auth-scheme")
        while scanner.peek() == " ":
            scanner.pos += 1
        start = scanner.pos
        token68 = scanner.match(_TOKEN68_RE)
        if token68 is not None and scanner.at_list_end():
            challenges.append(Challenge(scheme, token68=token68))
            scanner.skip_ows()
            continue
        scanner.pos = start
        challenges.append(Challenge(scheme, _auth_params(scanner)))


def _auth_params(scanner: _Scanner) -> dict[str, str]:
    """`#auth-param` after a scheme, up to the end of the header or the comma before the next scheme."""
    params: dict[str, str] = {}
    while True:
        name = scanner.token("an auth-param name").lower()
        scanner.skip_ows()
        if scanner.peek() != "=":
            raise scanner.fail(f"expected '=' after {name!r}")
        scanner.pos += 1
        scanner.skip_ows()
        value = scanner.quoted_string() if scanner.peek() == '"' else scanner.token(f"a value for {name!r}")
        if name in params:
            raise scanner.fail(f"auth-param {name!r} repeated")
        params[name] = value
        scanner.skip_ows()
        if scanner.at_end():
            return params
        if scanner.peek() != ",":
            raise scanner.fail("expected ',' between auth-params")
        while scanner.peek() and scanner.peek() in _OWS + ",":
            scanner.pos += 1
        if scanner.at_end() or not scanner.starts_auth_param():
            return params  # the next challenge (or trailing empty elements)
