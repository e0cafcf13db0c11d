"""OAuth 2.0 Token Introspection (RFC 7662): reading an introspection request, shaping the answer.

The simulated PSC answers the introspection of a provider's authorization server (and of a proxy), the
harness's own authorization server answers a resource server's: both read the request and build the
answer here, so the two endpoints cannot drift apart. Who may introspect, and whether a token is
active, stays with the server that knows its tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from conformance.standards.rfc8693 import Deviation

# Values of the OAuth Token Type Hints registry (RFC 7009 §4.1.2) that §2.1 refers to.
TOKEN_TYPE_HINTS: Final = ("access_token", "refresh_token")
INVALID_REQUEST: Final = "invalid_request"


@dataclass(frozen=True)
class ParsedIntrospection:
    """An introspection request as read (§2.1): the token, its hint, and every departure from the RFC.

    A deviation with an `error` makes the request unanswerable (only a missing token does); the others
    are served as a lenient, Keycloak-like server would, and merely recorded.
    """

    token: str | None
    token_type_hint: str | None
    deviations: tuple[Deviation, ...] = ()

    @property
    def error(self) -> Deviation | None:
        """The first deviation the server has to refuse the request for, if any."""
        return next((d for d in self.deviations if d.fatal), None)


def parse_request(
    form: Mapping[str, Sequence[str]], query: Mapping[str, Sequence[str]] | None = None
) -> ParsedIntrospection:
    """Read a request from its form body and query (as `parse_qs` decodes them).

    §2.1 puts the parameters in a form-encoded POST body. A token found only in the query is still
    used (Keycloak-like leniency, and what the simulated PSC always did), but recorded.
    """
    query = query or {}
    deviations: list[Deviation] = []
    repeated = sorted(name for name in ("token", "token_type_hint") if len(form.get(name) or ()) > 1)
    if repeated:
        deviations.append(
            Deviation("duplicate_parameter", f"parameters sent more than once: {', '.join(repeated)}")
        )
    token = _first(form, "token")
    if "token" not in form and "token" in query:
        token = _first(query, "token")
        deviations.append(Deviation("query_parameters", "the token is sent in the query string"))
    if token is None:
        deviations.append(
            Deviation("token_missing", "the token parameter is missing or empty", INVALID_REQUEST)
        )
    hint = _first(form, "token_type_hint")
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        deviations.append(
            Deviation(
                "token_type_hint", f"token_type_hint {hint!r} is not one of {', '.join(TOKEN_TYPE_HINTS)}"
            )
        )
    return ParsedIntrospection(token, hint, tuple(deviations))


def _first(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """First non-empty value of a parameter (an empty value stands for none)."""
    values = params.get(name) or ()
    return values[0] if values and values[0] else None


def inactive() -> dict[str, Any]:
    """§2.2: all an inactive, unknown, expired or revoked token gets; nothing about why (§4)."""
    return {"active": False}


def active_answer(
    claims: Mapping[str, Any], *, client_id: str | None = None, token_type: str | None = None
) -> dict[str, Any]:
    """§2.2 answer for an active token: its claims, `active`, and `client_id` / `token_type` when given
    (they override the claims of the same name)."""
    answer = {**claims, "active": True}
    if client_id is not None:
        answer["client_id"] = client_id
    if token_type is not None:
        answer["token_type"] = token_type
    return answer


def is_active(answer: Mapping[str, Any]) -> bool:
    """§2.2: only a JSON `true` means active (not "true", not 1)."""
    return answer.get("active") is True
