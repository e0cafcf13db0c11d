"""Adversarial modes of the harness listeners: how a counterpart misbehaves on purpose.

A SUT is configured once with the addresses of its counterparts, so a listener switches mode in place
(:meth:`conformance.tls.server.TLSServer.set_mode`): same socket, same port. Two kinds of modes:

* TLS-level modes change what a *new connection's handshake* offers: only TLS 1.0 / 1.1, or a server
  certificate the SUT must refuse. Each needs its own ``ssl.SSLContext``, built by :class:`ModeContexts`.
* HTTP-level modes change the *answer* to a request: late, a TCP reset, a 5xx, or broken JSON.

Everything mode-specific that is not socket plumbing lives here, so the normal request path of the
server stays a plain "call the handler, send its response".
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from conformance.pki.builder import Issued, TestPKI
from conformance.pki.contexts import server_context

DEFAULT_SLOW_S: Final = 5.0
MAX_SLOW_S: Final = 600.0  # a bound, so a forgotten SLOW mode cannot hold a connection thread forever
DEFAULT_ERROR_STATUS: Final = 503
# A JSON document cut in the middle of a string: `json.loads` and every other parser reject it.
MALFORMED_JSON_BODY: Final = b'{"access_token": "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3Mi'


class ListenerMode(StrEnum):
    """What a listener does to connections or requests that start after the switch."""

    NORMAL = "normal"
    TLS1_1_ONLY = "tls1.1-only"  # handshake: TLS 1.1 and nothing else (security level 0, as OpenSSL 3 needs)
    TLS1_0_ONLY = "tls1.0-only"
    UNTRUSTED_CERT = "untrusted-cert"  # server certificate chaining to the rogue root
    EXPIRED_CERT = "expired-cert"  # server certificate whose validity ended
    WRONG_HOST_CERT = "wrong-host-cert"  # valid chain, issued for another host name
    SLOW = "slow"  # the normal answer, after a delay
    RESET = "reset"  # the request is read, then the TCP connection is reset (RST), nothing answered
    SERVER_ERROR = "server-error"  # a 5xx with a small JSON error body; the handler is not called
    MALFORMED_JSON = "malformed-json"  # 200, application/json, truncated body; the handler is not called

    @property
    def tls_level(self) -> bool:
        """Applied at the handshake, through another SSLContext."""
        return self in _TLS_MODES

    @property
    def http_level(self) -> bool:
        """Applied to each request of a connection."""
        return self in _HTTP_MODES


_TLS_MODES: Final = frozenset(
    {
        ListenerMode.TLS1_1_ONLY,
        ListenerMode.TLS1_0_ONLY,
        ListenerMode.UNTRUSTED_CERT,
        ListenerMode.EXPIRED_CERT,
        ListenerMode.WRONG_HOST_CERT,
    }
)
_HTTP_MODES: Final = frozenset(
    {ListenerMode.SLOW, ListenerMode.RESET, ListenerMode.SERVER_ERROR, ListenerMode.MALFORMED_JSON}
)
# Which negative server certificate of the PKI each certificate mode presents.
CERT_MODE_VARIANTS: Final = {
    ListenerMode.UNTRUSTED_CERT: "untrusted",
    ListenerMode.EXPIRED_CERT: "expired",
    ListenerMode.WRONG_HOST_CERT: "wrong-host",
}
VERSION_MODES: Final = {
    ListenerMode.TLS1_1_ONLY: ssl.TLSVersion.TLSv1_1,
    ListenerMode.TLS1_0_ONLY: ssl.TLSVersion.TLSv1,
}


@dataclass(frozen=True)
class ModeSettings:
    """A mode with its parameters; `slow_s` is set only for SLOW, `status` only for SERVER_ERROR."""

    mode: ListenerMode = ListenerMode.NORMAL
    slow_s: float | None = None
    status: int | None = None

    @classmethod
    def for_mode(
        cls, mode: ListenerMode | str, *, slow_s: float | None = None, status: int | None = None
    ) -> ModeSettings:
        """Validated settings with defaults filled in; a parameter the mode does not use is an error
        (it is almost certainly a mistake in the scenario)."""
        mode = ListenerMode(mode)
        if slow_s is not None and mode is not ListenerMode.SLOW:
            raise ValueError(f"slow_s only applies to {ListenerMode.SLOW}, not {mode}")
        if status is not None and mode is not ListenerMode.SERVER_ERROR:
            raise ValueError(f"status only applies to {ListenerMode.SERVER_ERROR}, not {mode}")
        if mode is ListenerMode.SLOW:
            slow_s = DEFAULT_SLOW_S if slow_s is None else float(slow_s)
            if not 0 < slow_s <= MAX_SLOW_S:
                raise ValueError(f"slow_s must be in (0, {MAX_SLOW_S}] seconds, got {slow_s}")
        if mode is ListenerMode.SERVER_ERROR:
            status = DEFAULT_ERROR_STATUS if status is None else status
            if not 500 <= status <= 599:
                raise ValueError(f"status must be a 5xx, got {status}")
        return cls(mode, slow_s, status)

    def canned_response(self) -> tuple[int, dict[str, str], bytes] | None:
        """Status, headers and body that replace the handler's answer, for the modes that have one."""
        if self.mode is ListenerMode.SERVER_ERROR:
            body = {
                "error": "server_error",
                "error_description": "simulated failure (harness adversarial mode)",
            }
            return self.status or DEFAULT_ERROR_STATUS, _JSON, json.dumps(body).encode("utf-8")
        if self.mode is ListenerMode.MALFORMED_JSON:
            return 200, _JSON, MALFORMED_JSON_BODY
        return None

    def __str__(self) -> str:
        extra = f" slow_s={self.slow_s}" if self.slow_s is not None else ""
        extra += f" status={self.status}" if self.status is not None else ""
        return f"{self.mode}{extra}"


_JSON: Final = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class ModeContexts:
    """One server SSLContext per TLS-level mode (NORMAL uses the listener's own context).

    Build it with :meth:`from_pki` using the same `name`, `require_client_cert` and `check_crl` as the
    listener's normal context, so that each mode differs from normal in the one respect it tests.
    """

    contexts: Mapping[ListenerMode, ssl.SSLContext]

    def __post_init__(self) -> None:
        wrong = [str(mode) for mode in self.contexts if not ListenerMode(mode).tls_level]
        if wrong:
            raise ValueError(f"not TLS-level modes: {wrong}")

    def __contains__(self, mode: object) -> bool:
        return mode in self.contexts

    def get(self, mode: ListenerMode) -> ssl.SSLContext:
        try:
            return self.contexts[mode]
        except KeyError:
            raise ValueError(f"no SSLContext for mode {mode}") from None

    @classmethod
    def from_pki(
        cls,
        pki: TestPKI,
        name: str = "psc",
        *,
        require_client_cert: bool = True,
        check_crl: bool = False,
    ) -> ModeContexts:
        """Contexts for every TLS-level mode: `pki.servers[name]` offered over TLS 1.0 or 1.1 only, and
        each of `pki.negative_servers` over the normal versions (a certificate mode whose negative
        certificate the PKI lacks is left out, and switching to it raises)."""

        def context(identity: Issued | None = None, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
            # Swap the presented certificate in a copy of the PKI, so that every other setting (trust
            # anchor, CRL, ALPN, client-certificate policy) is exactly that of the normal context.
            source = pki if identity is None else replace(pki, servers={**pki.servers, name: identity})
            if version is None:
                return server_context(
                    source, name, require_client_cert=require_client_cert, check_crl=check_crl
                )
            return server_context(
                source,
                name,
                require_client_cert=require_client_cert,
                check_crl=check_crl,
                min_version=version,  # set_versions also lowers the security level to 0 for these
                max_version=version,
            )

        contexts: dict[ListenerMode, ssl.SSLContext] = {
            mode: context(version=version) for mode, version in VERSION_MODES.items()
        }
        for mode, variant in CERT_MODE_VARIANTS.items():
            if variant in pki.negative_servers:
                contexts[mode] = context(pki.negative_servers[variant])
        return cls(contexts)
