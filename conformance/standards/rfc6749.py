"""OAuth 2.0 (RFC 6749) pieces the counterparts and the conditions share: client authentication by
HTTP Basic, and the shape of a token request."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret of an `Authorization: Basic` header (§2.3.1), None if there is none.

    Both parts are form-encoded before being joined, so they are decoded with `unquote_plus`.
    A Basic header that does not decode gives ("", ""): present, but naming nobody.
    """
    if authorization is None:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


# -- token requests (§3.2, §4.1.3, §4.3.2, §4.4.2, §6) -----------------------------------------------

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# The parameters each grant's token request must carry besides grant_type. `redirect_uri` is required
# by §4.1.3 when the authorization request carried one, which every PSC authorization request does.
GRANT_PARAMETERS: dict[str, tuple[str, ...]] = {
    "authorization_code": ("code", "redirect_uri"),
    "refresh_token": ("refresh_token",),
    "password": ("username", "password"),
    "client_credentials": (),
}


@dataclass(frozen=True)
class TokenRequest:
    """A token request as an authorization server reads it: which parameters came where, and how the
    client identified itself (never the values of secrets or tokens)."""

    grant_type: str | None
    parameters: tuple[str, ...]  # names in the form body, each once
    repeated: tuple[str, ...] = ()  # names the body carries more than once
    query_parameters: tuple[str, ...] = ()  # names in the request URI's query
    content_type: str = ""
    authorization_scheme: str | None = None  # the Authorization header's scheme, lowercased
    client_id: str | None = None  # the client_id form parameter

    @property
    def identifies_client(self) -> bool:
        """§2.3 / §3.2.1: the client is named, by the client_id parameter (RFC 8705 §2 with mTLS)
        or by an Authorization header (client_secret_basic)."""
        return bool(self.client_id) or self.authorization_scheme is not None


def parse_token_request(
    form: Mapping[str, Sequence[str]],
    query: Mapping[str, Sequence[str]],
    *,
    content_type: str | None,
    authorization: str | None,
) -> TokenRequest:
    """What a token endpoint received, from its decoded body and query (parse_qs shapes)."""
    grant = form.get("grant_type") or ()
    client_id = form.get("client_id") or ()
    return TokenRequest(
        grant_type=grant[0] if grant else None,
        parameters=tuple(sorted(k for k, v in form.items() if any(v))),
        repeated=tuple(sorted(k for k, v in form.items() if len(v) > 1)),
        query_parameters=tuple(sorted(query)),
        content_type=(content_type or "").split(";", 1)[0].strip().lower(),
        authorization_scheme=authorization.partition(" ")[0].lower() if authorization else None,
        client_id=client_id[0] if client_id else None,
    )


def token_request_problems(
    request: TokenRequest, required: Mapping[str, Sequence[str]] = GRANT_PARAMETERS
) -> list[str]:
    """How a token request departs from RFC 6749 (§3.2: POST, form-encoded body, no repeated
    parameter; the grant's own parameters; the client identified). `required` maps each grant type to
    the parameters it needs (extension grants such as CIBA's add theirs)."""
    problems: list[str] = []
    if request.content_type != FORM_MEDIA_TYPE:
        problems.append(f"Content-Type {request.content_type or 'absent'!r}, not {FORM_MEDIA_TYPE}")
    if request.query_parameters:
        problems.append(f"parameters in the query string: {', '.join(request.query_parameters)}")
    if request.repeated:
        problems.append(f"repeated parameters: {', '.join(request.repeated)}")
    grant = request.grant_type
    if not grant:
        problems.append("no grant_type")
    else:
        missing = [name for name in required.get(grant, ()) if name not in request.parameters]
        if missing:
            problems.append(f"grant_type {grant} without {', '.join(missing)}")
    if not request.identifies_client:
        problems.append("the client is not identified (no client_id, no Authorization header)")
    return problems
