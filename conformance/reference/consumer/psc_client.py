"""The proxy's OpenID Connect client at Pro Santé Connect: CIBA in poll mode, on behalf of an LPS."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from conformance.reference.consumer.settings import ProxySettings
from conformance.reference.consumer.upstream import (
    Identities,
    UpstreamRefusal,
    UpstreamUnavailable,
    call,
    oauth_refusal,
)

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
SCOPE = "openid scope_all"  # EXI PSC 17
ACR = "eidas1"  # EXI PSC 16


@dataclass
class PscTokens:
    access_token: str
    refresh_token: str
    id_token: str
    expires_at: float
    session_state: str
    claims: dict[str, Any]  # of the validated ID token


class PscClient:
    def __init__(self, settings: ProxySettings, identities: Identities) -> None:
        self.settings = settings
        self.identities = identities
        self._discovery: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    # -- metadata ----------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._discovery is None:
                answer = call(self.identities.http(None), "GET", self.settings.psc_discovery_url)
                if answer.status_code != 200:
                    raise UpstreamUnavailable(
                        f"PSC discovery answered {answer.status_code}", status=answer.status_code
                    )
                self._discovery = answer.json()
            return self._discovery

    def signing_key(self, kid: str | None) -> jwt.PyJWK:
        """The JWKS is fetched once and again when an unknown key id shows up (key rotation)."""
        for attempt in range(2):
            with self._lock:
                keys = self._jwks
            if keys is not None and attempt == 0:
                for key in keys.keys:
                    if key.key_id == kid:
                        return key
            answer = call(self.identities.http(None), "GET", self.discovery()["jwks_uri"])
            with self._lock:
                self._jwks = jwt.PyJWKSet.from_dict(answer.json())
                keys = self._jwks
            for key in keys.keys:
                if key.key_id == kid:
                    return key
        raise jwt.InvalidTokenError(f"no key {kid!r} in PSC's JWKS")

    # -- CIBA --------------------------------------------------------------------------------------

    def backchannel_form(
        self, client_id: str, national_id: str, binding_message: str, channel: str
    ) -> dict[str, str]:
        return {
            "client_id": client_id,  # tls_client_auth (RFC 8705 §2.1)
            "scope": SCOPE,
            "acr_values": ACR,
            "login_hint": national_id,
            "binding_message": binding_message,
            "channel": channel,
        }

    def authenticate(self, client_id: str, national_id: str, binding_message: str, channel: str) -> PscTokens:
        """CIBA on behalf of the LPS `client_id`, with that LPS's certificate; polls until PSC decides."""
        http = self.identities.http(client_id)
        started = call(
            http,
            "POST",
            self.discovery()["backchannel_authentication_endpoint"],
            data=self.backchannel_form(client_id, national_id, binding_message, channel),
            headers=self.auth_headers(client_id),
        )
        if started.status_code != 200:
            raise self._refusal(started)
        ack = started.json()
        interval = float(ack.get("interval", 5))
        deadline = time.monotonic() + min(float(ack.get("expires_in", 120)), self.settings.ciba_max_wait_s)
        delay = self.first_poll_delay(interval)
        while True:
            time.sleep(delay)
            answer = call(
                http,
                "POST",
                self.discovery()["token_endpoint"],
                data={"grant_type": CIBA_GRANT, "auth_req_id": ack["auth_req_id"], "client_id": client_id},
                headers=self.auth_headers(client_id),
            )
            if answer.status_code == 200:
                return self.tokens(answer.json(), client_id)
            refusal = self._refusal(answer)
            if isinstance(refusal, UpstreamUnavailable):
                raise refusal
            if refusal.error == "authorization_pending" and time.monotonic() < deadline:
                delay = self.poll_delay(interval)
                continue
            if refusal.error == "slow_down" and time.monotonic() < deadline:
                interval += 5  # CIBA §11 / RFC 8628 §3.5
                delay = self.poll_delay(interval)
                continue
            raise refusal

    def first_poll_delay(self, interval: float) -> float:
        """Before the first poll too, wait as between polls (as the ANS example proxy does)."""
        return self.poll_delay(interval)

    def poll_delay(self, interval: float) -> float:
        """Wait `interval` between polls, as PSC asks (CIBA §7.3)."""
        return interval

    def auth_headers(self, client_id: str) -> dict[str, str]:
        """No Authorization header: tls_client_auth, the certificate authenticates (EXI PSC 24)."""
        return {}

    def tokens(self, body: dict[str, Any], client_id: str) -> PscTokens:
        claims = self.validate_id_token(body["id_token"], client_id)
        return PscTokens(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token", ""),
            id_token=body["id_token"],
            expires_at=time.time() + float(body.get("expires_in", 60)),
            session_state=str(body.get("session_state") or claims.get("session_state") or ""),
            claims=claims,
        )

    def validate_id_token(self, id_token: str, client_id: str) -> dict[str, Any]:
        """OpenID Connect Core §3.1.3.7: signature from the JWKS, iss, aud, exp; and acr = eidas1."""
        header = jwt.get_unverified_header(id_token)
        key = self.signing_key(header.get("kid"))
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=[header.get("alg", "RS256")],
            audience=client_id,
            issuer=self.discovery()["issuer"],
            leeway=30,
            options=self.id_token_checks(),
        )
        self.check_acr(claims)
        return claims

    def id_token_checks(self) -> Options:
        """PyJWT options: every check on (signature, exp, iss, aud), and the claims they need present."""
        return {"require": ["exp", "iat", "iss", "aud", "sub"]}

    def check_acr(self, claims: dict[str, Any]) -> None:
        """The professional authenticated at the eIDAS level PSC was asked for (EXI PSC 16)."""
        if claims.get("acr") != ACR:
            raise jwt.InvalidTokenError(f"acr {claims.get('acr')!r} is not {ACR}")

    # -- after login -------------------------------------------------------------------------------

    def introspect(self, access_token: str, obtained_by: str) -> dict[str, Any]:
        """RFC 7662 with the proxy's own certificate: SubjectNameID comes from here.

        `obtained_by` is the client the token was issued to (the session's LPS), which is not the
        client that introspects it.
        """
        proxy = self.introspection_client(obtained_by)
        answer = call(
            self.identities.http(proxy),
            "POST",
            self.discovery()["introspection_endpoint"],
            data={"client_id": proxy, "token": access_token},
            headers=self.auth_headers(proxy),
        )
        if answer.status_code != 200:
            raise self._refusal(answer)
        result: dict[str, Any] = answer.json()
        return result

    def introspection_client(self, obtained_by: str) -> str:
        """The proxy acts for itself here, whichever LPS obtained the token (EDC-15)."""
        return self.settings.proxy_client.client_id

    def refresh(self, client_id: str, tokens: PscTokens) -> PscTokens:
        answer = call(
            self.identities.http(client_id),
            "POST",
            self.discovery()["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token,
                "client_id": client_id,
            },
            headers=self.auth_headers(client_id),
        )
        if answer.status_code != 200:
            raise self._refusal(answer)
        return self.tokens(answer.json(), client_id)

    def end_session(self, client_id: str, tokens: PscTokens) -> None:
        """RP-initiated logout at PSC with id_token_hint (EXI PSC 20); best effort."""
        call(
            self.identities.http(client_id),
            "GET",
            self.discovery()["end_session_endpoint"],
            params=self.end_session_params(client_id, tokens),
        )

    def end_session_params(self, client_id: str, tokens: PscTokens) -> dict[str, str]:
        """id_token_hint names the PSC session to end (OpenID RP-Initiated Logout §2)."""
        return {"id_token_hint": tokens.id_token, "client_id": client_id}

    @staticmethod
    def _refusal(answer: Any) -> UpstreamRefusal | UpstreamUnavailable:
        if answer.status_code >= 500:
            return UpstreamUnavailable(f"PSC answered {answer.status_code}", status=answer.status_code)
        return oauth_refusal(answer)
