"""What a provider scenario drives: the data provider's authorization server and API as the proxy
would call them, and the counterparts around it.

The harness plays the proxy/LPS side (RFC 8693 token exchange and business calls over mTLS with the
LPS certificates), PSC (it issues the PSC access tokens to exchange and answers the provider's
introspection) and, for tokens the resource server must refuse, an authorization server of its own.
Every call to the SUT goes through a recording client, so the evidence of a check is the exchanges.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance.counterparts.api_tokens import MintedToken
from conformance.counterparts.identities import TestIdentity
from conformance.counterparts.suite import ProviderCounterparts
from conformance.evidence import EvidenceRecorder, recording_client
from conformance.evidence.breaker import SutBreaker
from conformance.evidence.calls import Call, json_body, timed
from conformance.pki import client_context
from conformance.roles.provider.bringup import ProviderEndpoints
from conformance.roles.shared.scenario_scope import ScenarioEvidence
from conformance.standards import rfc8693
from conformance.tls import ProbeResult, probe_protocol

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Exchanged:
    """One token exchange the bench made: the PSC token it gave, and what the SUT answered."""

    identity: TestIdentity
    client_id: str
    subject_token: str
    call: Call

    @property
    def body(self) -> Any:
        return None if self.call.answer is None else json_body(self.call.answer)

    @property
    def access_token(self) -> str | None:
        """The API access token issued, if the answer is a success carrying one."""
        body = self.body
        if self.call.status != 200 or not isinstance(body, dict):
            return None
        token = body.get("access_token")
        return token if isinstance(token, str) and token else None


@dataclass
class ProviderBench(ScenarioEvidence):
    counterparts: ProviderCounterparts
    sut: ProviderEndpoints
    evidence: EvidenceRecorder
    read_timeout_s: float
    breaker: SutBreaker | None = None  # the campaign's, shared by every bench (`scenarios/*/conftest.py`)

    # -- who is who -------------------------------------------------------------------------------

    @property
    def lps_ids(self) -> tuple[str, ...]:
        return self.counterparts.pki.lps_client_ids

    @property
    def api_scope(self) -> str:
        return self.counterparts.settings.api_scope

    @property
    def audience(self) -> str:
        return self.counterparts.settings.api_name

    @property
    def resource_server_only(self) -> bool:
        """The harness plays the provider's authorization server: only the resource server is judged."""
        return self.sut.resource_server_only

    def fresh_identity(self) -> TestIdentity:
        """A professional the SUT has never seen: nothing it cached can answer for this one.

        The scenario claims it (see `ConsumerBench.fresh_identity`)."""
        identity = self.counterparts.psc.mint_identity()
        self.evidence.scenarios.claim(identity.national_id, identity.sub)
        return identity

    def psc_token(self, identity: TestIdentity, client_id: str, *, ttl_s: float | None = None) -> str:
        """A PSC access token for `identity`, issued to the LPS `client_id`, as CIBA would yield it."""
        return self.counterparts.psc.issue_access_token(identity, client_id, ttl_s=ttl_s)

    def x5t(self, client_id: str) -> str:
        return self.counterparts.pki.clients[client_id].x5t_s256

    # -- the proxy side: clients with a certificate -------------------------------------------------

    def client(
        self,
        client_id: str | None = None,
        *,
        negative: str | None = None,
        max_version: ssl.TLSVersion | None = None,
    ) -> httpx.Client:
        """A new client of the SUT presenting the certificate of `client_id` (or the negative variant
        `negative`, or none); every exchange is evidence."""
        pki = self.counterparts.pki
        context = client_context(pki, client_id, negative=negative, max_version=max_version)
        cert = pki.clients[client_id] if client_id else pki.negatives[negative] if negative else None
        return recording_client(
            self.evidence,
            counterpart="sut",
            verify=context,
            timeout=httpx.Timeout(self.read_timeout_s, connect=5.0),
            client_cert_der=cert.der if cert is not None else None,
            breaker=self.breaker,
        )

    def call(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> Call:
        """One timed request; a transport failure (a refused handshake included) is kept, not raised."""
        return timed(client, method, url, **kwargs)

    # -- the authorization server -----------------------------------------------------------------

    def exchange_form(self, subject_token: str | None, **fields: str | None) -> dict[str, str]:
        """An RFC 8693 exchange as a conformant proxy sends it; `fields` replace (None: leave out)."""
        form: dict[str, str | None] = {
            "grant_type": rfc8693.GRANT_TYPE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": self.api_scope,
            **fields,
        }
        return {key: value for key, value in form.items() if value is not None}

    def post_exchange(
        self,
        form: Mapping[str, str],
        *,
        client_id: str | None = None,
        negative: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Call:
        assert self.sut.token_endpoint is not None, "no authorization server to judge"
        with self.client(client_id, negative=negative) as client:
            return self.call(client, "POST", self.sut.token_endpoint, data=dict(form), headers=headers)

    def exchange(
        self,
        client_id: str | None = None,
        *,
        identity: TestIdentity | None = None,
        ttl_s: float | None = None,
        **fields: str | None,
    ) -> Exchanged:
        """A fresh professional's PSC token exchanged by LPS `client_id` (default: the first LPS)."""
        client_id = client_id or self.lps_ids[0]
        identity = identity or self.fresh_identity()
        subject = self.psc_token(identity, client_id, ttl_s=ttl_s)
        call = self.post_exchange(self.exchange_form(subject, **fields), client_id=client_id)
        return Exchanged(identity, client_id, subject, call)

    def api_token(self, client_id: str | None = None) -> tuple[TestIdentity, str | None, Exchanged | None]:
        """An API access token bound to `client_id`'s certificate: from the SUT's authorization server,
        or, in the resource-server-only mode, from the harness's own (then no exchange to show)."""
        client_id = client_id or self.lps_ids[0]
        if self.resource_server_only:
            identity = self.fresh_identity()
            return identity, self.mint(identity, client_id).token, None
        exchanged = self.exchange(client_id)
        return exchanged.identity, exchanged.access_token, exchanged

    # -- tokens the harness signs, for the resource server ------------------------------------------

    def mint(self, identity: TestIdentity, client_id: str, **overrides: Any) -> MintedToken:
        """A token of the harness's authorization server for `identity`, bound to `client_id`'s
        certificate (or to `x5t_s256`'s); valid unless an override breaks it (`ApiTokenMinter.mint`)."""
        overrides.setdefault("x5t_s256", self.x5t(client_id))
        return self.counterparts.api_as.token_minter.mint(
            national_id=identity.national_id, client_id=client_id, **overrides
        )

    # -- the resource server -----------------------------------------------------------------------

    def session_data(self, identity: TestIdentity, client_id: str | None = None) -> dict[str, str]:
        """A valid SessionData body for `identity` (API PSC document)."""
        return {
            "nationalId": identity.national_id,
            "clientID": client_id or self.lps_ids[0],
            "proxy_session_id": f"psc-conformance-{int(time.time() * 1000)}",
            "session_state": "psc-conformance-session-state",
        }

    def call_api(
        self,
        token: str | None,
        *,
        client_id: str | None = None,
        negative: str | None = None,
        no_certificate: bool = False,
        json: Any = None,
        content: bytes | None = None,
        scheme: str = "Bearer",
        headers: Mapping[str, str] | None = None,
    ) -> Call:
        """POST …/signsessiondata with `token` (None: no Authorization header) over mTLS with the
        certificate of `client_id` (default the first LPS), a negative one, or none."""
        client_id = None if (negative or no_certificate) else (client_id or self.lps_ids[0])
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"{scheme} {token}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if content is not None:
            kwargs["content"] = content
        else:
            kwargs["json"] = json
        with self.client(client_id, negative=negative) as client:
            return self.call(client, "POST", self.sut.signsessiondata_url, **kwargs)

    # -- the transport ------------------------------------------------------------------------------

    def endpoints(self) -> dict[str, str]:
        """The provider's TLS endpoints by role: its authorization server (if judged) and its API."""
        urls = {"api": self.sut.api_base_url}
        if self.sut.token_endpoint:
            urls["as"] = self.sut.token_endpoint
        return urls

    def probe(self, url: str, version: ssl.TLSVersion, **kwargs: Any) -> ProbeResult:
        """One handshake offering only `version` to the endpoint of `url`."""
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port or 443
        cafile = self.sut.ca_file
        return probe_protocol(
            host, port, version, cafile=cafile, server_hostname=host, timeout=PROBE_TIMEOUT_S, **kwargs
        )
