"""The proxy's RFC 8693 token exchange at an API's authorization server, with the LPS's certificate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from conformance.reference.consumer.settings import UpstreamApi
from conformance.reference.consumer.upstream import Identities, UpstreamUnavailable, call, oauth_refusal

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
# Other RFC 8693 §3 token types: a fault declares an ID token, a variant a JWT.
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


@dataclass
class ApiToken:
    access_token: str
    expires_at: float


class TokenExchanger:
    def __init__(self, identities: Identities) -> None:
        self.identities = identities

    def form(self, api: UpstreamApi, subject_token: str) -> dict[str, str]:
        """RFC 8693 §2.1, as the IG asks: the PSC access token as subject, and the API's scope."""
        return {
            "grant_type": GRANT_TYPE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": api.scope,
        }

    def headers(self, client_id: str) -> dict[str, str]:
        """No Authorization header: the client authenticates by its certificate only (IG 1.2.0)."""
        return {}

    def exchange(self, client_id: str, api: UpstreamApi, subject_token: str) -> ApiToken:
        answer = call(
            self.identities.http(client_id),
            "POST",
            api.token_endpoint,
            data=self.form(api, subject_token),
            headers=self.headers(client_id),
        )
        if answer.status_code >= 500:
            raise UpstreamUnavailable(
                f"{api.name} authorization server answered {answer.status_code}", status=answer.status_code
            )
        if answer.status_code != 200:
            raise oauth_refusal(answer)
        return self.api_token(answer.json())

    def api_token(self, body: dict[str, Any]) -> ApiToken:
        """The API token of an exchange answer (RFC 8693 §2.2.1): access_token is all it needs;
        refresh_token and the lifetimes are optional, expires_in defaults to an hour."""
        return ApiToken(body["access_token"], time.time() + float(body.get("expires_in", 3600)))
