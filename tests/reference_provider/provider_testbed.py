"""What the reference provider's tests stand on: the PKI files, counterparts.json, a PSC introspection
stub, a stub of the harness's authorization server, and in-process reference providers.

The stubs are deliberately small (a dict of tokens, a JWKS): the tests judge the provider, not them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from conformance.counterparts.layout import write_counterparts
from conformance.counterparts.settings import API_INTROSPECTION_PATH, API_JWKS_PATH, CounterpartSettings
from conformance.pki import LPS1_CLIENT_ID, TestPKI, client_context, server_context, write_pki
from conformance.reference.provider.faults import apply_faults
from conformance.reference.provider.provider import ReferenceProvider
from conformance.reference.provider.settings import load_settings, write_config
from conformance.reference.provider.variants import apply_variants
from conformance.tls import Request, Response, TLSServer

P12_PASSWORD = "psc-conformance"
PS1 = "899700000011"  # the professional's national id (SubjectNameID)
PSC_SUB = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"  # PSC's technical sub: never the national id
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SESSION_DATA = {
    "nationalId": PS1,
    "clientID": LPS1_CLIENT_ID,
    "proxy_session_id": "5f0c6f2e-6b0e-4c9a-9b1e-0f4b8d3c2a11",
    "session_state": "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def x5t(der: bytes) -> str:
    return b64url(hashlib.sha256(der).digest())


def secrets_for(pki: TestPKI) -> dict[str, str]:
    return {cid: f"secret-of-{cid}" for cid in pki.clients}


# -- the PSC introspection stub ---------------------------------------------------------------------


@dataclass
class IntrospectionCall:
    form_client_id: str | None
    certificate_cn: str | None
    authorization: str | None  # the scheme of the Authorization header
    token: str


class PscStub:
    """PSC's RFC 7662 endpoint: answers from the tokens it minted, as the simulated PSC does (client_id =
    certificate CN for tls_client_auth, or a right Basic secret)."""

    def __init__(self, pki: TestPKI, client_secrets: Mapping[str, str]) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.secrets = dict(client_secrets)
        self.tokens: dict[str, tuple[dict[str, Any], bool]] = {}
        self.calls: list[IntrospectionCall] = []
        self.failing = False
        self.issuer = ""
        self.server = TLSServer(
            server_context(pki, "psc", require_client_cert=False), self.handle, name="psc-stub"
        )

    def reset(self) -> None:
        self.calls.clear()
        self.failing = False

    def mint(
        self,
        client_id: str = LPS1_CLIENT_ID,
        *,
        active: bool = True,
        ttl_s: float = 120.0,
        national_id: str = PS1,
    ) -> str:
        """A PSC access token (a JWT, as PSC's are) issued to `client_id` for the professional."""
        now = time.time()
        claims = {
            "iss": self.issuer,
            "sub": PSC_SUB,
            "aud": [client_id],
            "azp": client_id,
            "typ": "Bearer",
            "exp": now + ttl_s,
            "iat": int(now),
            "jti": str(uuid.uuid4()),
            "scope": "openid scope_all",
            "SubjectNameID": national_id,
            "preferred_username": national_id,
        }
        token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "psc-stub"})
        self.tokens[token] = (claims, active)
        return token

    def calls_for(self, token: str) -> list[IntrospectionCall]:
        return [call for call in self.calls if call.token == token]

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or not request.path.endswith("/token/introspect"):
            return Response.json({"error": "not_found"}, 404)
        if self.failing:
            return Response.json({"error": "temporarily_unavailable"}, 503)
        form = request.form()
        scheme, _, value = (request.header("Authorization") or "").partition(" ")
        cn = request.tls.peer_common_name
        if scheme.lower() == "basic":
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
            if self.secrets.get(client_id) != secret:
                return Response.json({"error": "invalid_client"}, 401)
        elif not cn or form.get("client_id", [None])[0] != cn:
            return Response.json({"error": "invalid_client"}, 401)
        token = form.get("token", [""])[0]
        self.calls.append(
            IntrospectionCall(form.get("client_id", [None])[0], cn, scheme.lower() or None, token)
        )
        claims, active = self.tokens.get(token, ({}, False))
        if not active or claims["exp"] <= time.time():
            return Response.json({"active": False})
        return Response.json({**claims, "active": True, "client_id": claims["azp"]})


# -- the harness's authorization server stub -----------------------------------------------------------


class HarnessAsStub:
    """The harness's AS as the provider's RS sees it: a JWKS, RFC 7662 introspection of what it signed,
    and the signing of the tokens the tests forge."""

    def __init__(self, pki: TestPKI) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {
            "harness-1": ec.generate_private_key(ec.SECP256R1())
        }
        self.kid = "harness-1"
        self.jwks_fetches = 0
        self.introspections: list[str | None] = []  # the CN of each introspecting client
        self.issuer = ""
        self.server = TLSServer(
            server_context(pki, "api", require_client_cert=False), self.handle, name="harness-as"
        )

    def reset(self) -> None:
        self.introspections.clear()

    def rotate(self) -> str:
        """A new signing key (the old one stays published)."""
        self.kid = f"harness-{len(self.keys) + 1}"
        self.keys[self.kid] = ec.generate_private_key(ec.SECP256R1())
        return self.kid

    @property
    def public_pem(self) -> bytes:
        return (
            self.keys[self.kid]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def claims(self, certificate_der: bytes | None, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": PS1,
            "aud": "apipsc",
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "scope": "signsessiondata",
            "client_id": LPS1_CLIENT_ID,
        }
        if certificate_der is not None:
            claims["cnf"] = {"x5t#S256": x5t(certificate_der)}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self.keys[self.kid], algorithm="ES256", headers={"kid": self.kid})

    def issue(self, certificate_der: bytes | None, **overrides: Any) -> str:
        """A harness token bound to `certificate_der`; an override of None removes that claim."""
        return self.sign(self.claims(certificate_der, **overrides))

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == API_JWKS_PATH:
            self.jwks_fetches += 1
            keys = [
                {
                    **ECAlgorithm.to_jwk(key.public_key(), as_dict=True),
                    "kid": kid,
                    "alg": "ES256",
                    "use": "sig",
                }
                for kid, key in self.keys.items()
            ]
            return Response.json({"keys": keys})
        if request.method == "POST" and request.path == API_INTROSPECTION_PATH:
            cn = request.tls.peer_common_name
            if not cn or request.param("client_id") != cn:
                return Response.json({"error": "invalid_client"}, 401)
            self.introspections.append(cn)
            return Response.json(self.introspect(request.param("token") or ""))
        return Response.json({"error": "not_found"}, 404)

    def introspect(self, token: str) -> dict[str, Any]:
        try:
            key = self.keys[jwt.get_unverified_header(token)["kid"]]
            claims = jwt.decode(
                token,
                key.public_key(),
                algorithms=["ES256"],
                issuer=self.issuer,
                options={"verify_aud": False},
            )
        except (jwt.PyJWTError, KeyError):
            return {"active": False}
        return {**claims, "active": True}


# -- forged tokens ----------------------------------------------------------------------------------------


def _segment(data: Mapping[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def unsigned_token(claims: Mapping[str, Any]) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def hs256_token(claims: Mapping[str, Any], secret: bytes, kid: str | None) -> str:
    """HS256 keyed with `secret` (PyJWT refuses PEM keys as HMAC secrets: written by hand)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def tampered(token: str) -> str:
    """The same token with its signature altered."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


# -- the environment and the providers in it ---------------------------------------------------------------


@dataclass
class Environment:
    pki: TestPKI
    directory: Path
    psc: PscStub
    harness: HarnessAsStub
    client_secrets: dict[str, str]

    def der(self, identity: str | None = LPS1_CLIENT_ID, negative: str | None = None) -> bytes:
        return (
            self.pki.negatives[negative].der if negative else self.pki.clients[identity or LPS1_CLIENT_ID].der
        )

    def context(
        self,
        identity: str | None = LPS1_CLIENT_ID,
        negative: str | None = None,
        *,
        min_version: ssl.TLSVersion | None = None,
        max_version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        return client_context(
            self.pki,
            None if negative else identity,
            negative=negative,
            min_version=min_version,
            max_version=max_version,
        )


def start_environment(pki: TestPKI, directory: Path) -> Environment:
    """The PKI files, the stubs on ephemeral ports, and counterparts.json naming them."""
    files = write_pki(pki, directory, p12_password=P12_PASSWORD)
    client_secrets = secrets_for(pki)
    psc, harness = PscStub(pki, client_secrets), HarnessAsStub(pki)
    psc.server.start()
    harness.server.start()
    settings = CounterpartSettings(psc_port=psc.server.port, api_as_port=harness.server.port, api_port=0)
    psc.issuer, harness.issuer = settings.psc_issuer, settings.api_issuer
    write_counterparts(directory, settings, pki, files, P12_PASSWORD, client_secrets)
    return Environment(pki, directory, psc, harness, client_secrets)


def stop_environment(environment: Environment) -> None:
    environment.psc.server.stop()
    environment.harness.server.stop()


@dataclass
class Bench:
    """One in-process reference provider in the environment, and calls to it as the harness makes them."""

    env: Environment
    provider: ReferenceProvider

    @property
    def token_url(self) -> str:
        return self.provider.urls.token_endpoint

    @property
    def api_url(self) -> str:
        return self.provider.urls.sign_session_data_url

    def exchange(
        self,
        subject_token: str | None = None,
        *,
        identity: str | None = LPS1_CLIENT_ID,
        negative: str | None = None,
        form: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """A token exchange; `form` entries replace the defaults (None removes one)."""
        fields: dict[str, str | None] = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token
            if subject_token is not None
            else self.env.psc.mint(identity or LPS1_CLIENT_ID),
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": "signsessiondata",
            **(form or {}),
        }
        data = {k: v for k, v in fields.items() if v is not None}
        with httpx.Client(verify=self.env.context(identity, negative), timeout=5.0) as client:
            if content is not None:
                return client.post(self.token_url, content=content, headers=dict(headers or {}))
            return client.post(self.token_url, data=data, headers=dict(headers or {}))

    def api_token(self, identity: str = LPS1_CLIENT_ID) -> str:
        answer = self.exchange(identity=identity)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def call(
        self,
        token: str | None,
        *,
        identity: str | None = LPS1_CLIENT_ID,
        negative: str | None = None,
        body: Any = SESSION_DATA,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        url: str | None = None,
    ) -> httpx.Response:
        """The API PSC operation with `token` as a Bearer token (None: no Authorization header)."""
        sent = {"Authorization": f"Bearer {token}"} if token is not None else {}
        sent.update(headers or {})
        with httpx.Client(verify=self.env.context(identity, negative), timeout=5.0) as client:
            if content is not None:
                sent.setdefault("Content-Type", "application/json")
                return client.request(method, url or self.api_url, content=content, headers=sent)
            return client.request(method, url or self.api_url, json=body, headers=sent)

    def harness_token(
        self, identity: str | None = LPS1_CLIENT_ID, negative: str | None = None, **claims: Any
    ) -> str:
        return self.env.harness.issue(self.env.der(identity, negative), **claims)

    def handshake(self, port: int, context: ssl.SSLContext) -> str | None:
        """The TLS version negotiated with a listener, or raise the handshake's error."""
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            tls.recv(1)  # TLS 1.3: a refused client certificate shows only once the server has spoken
            return tls.version()


def provider_in(
    env: Environment, faults: Sequence[str] = (), variants: Sequence[str] = (), **settings: Any
) -> ReferenceProvider:
    """A reference provider on free ports, configured through its TOML file, started."""
    config = write_config(env.directory, as_port=0, rs_port=0, **settings)
    provider = ReferenceProvider(load_settings(config))
    try:
        apply_variants(provider, variants)
        apply_faults(provider, faults)
    except BaseException:
        provider.stop()
        raise
    return provider.start()


@dataclass
class BenchFactory:
    env: Environment
    started: list[ReferenceProvider] = field(default_factory=list)

    def __call__(self, faults: Sequence[str] = (), variants: Sequence[str] = (), **settings: Any) -> Bench:
        provider = provider_in(self.env, faults, variants, **settings)
        self.started.append(provider)
        return Bench(self.env, provider)

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


def basic_header(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


def decoded(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def refused(action: Callable[[], object]) -> bool:
    """True when the action fails at the transport level (a TLS handshake refused, the connection cut)."""
    try:
        action()
    except (httpx.TransportError, ssl.SSLError, ConnectionError):
        return True
    return False


def served(answer: httpx.Response) -> bool:
    return answer.status_code == 200


def wait_past(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()) + 0.05)
