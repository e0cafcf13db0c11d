"""What every counterpart has: a TLS listener with switchable modes, an address, an observation log."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self

from conformance.clock import Clock
from conformance.counterparts.observations import Observation, ObservationLog
from conformance.pki import TestPKI, server_context
from conformance.tls import ModeContexts, Request, TLSServer
from conformance.tls.routing import Router


class Counterpart:
    """A service the harness plays around the SUT, on one `TLSServer`.

    The listener asks for a client certificate and verifies it (chain and CRL); whether one is
    *required* at the handshake is the subclass's choice, so that a call without one can reach
    the handler and be observed rather than vanish in a failed handshake. Adversarial modes
    (`self.server.set_mode(...)`) keep the same address, as a SUT is configured once.
    """

    counterpart: ClassVar[str]  # the name observations and evidence carry: psc, api-as, api

    def __init__(
        self,
        pki: TestPKI,
        *,
        observations: ObservationLog,
        clock: Clock,
        host: str,
        port: int,
        public_host: str | None,
        server_name: str,
        handshake_requires_cert: bool,
        observer: Callable[..., None] | None,
    ) -> None:
        self.pki = pki
        self.observations = observations
        self.clock = clock
        self.public_host = public_host
        self.router = Router()
        required = handshake_requires_cert
        self.server = TLSServer(
            server_context(pki, server_name, require_client_cert=required, check_crl=True),
            self.router,
            host=host,
            port=port,
            observer=observer,
            name=self.counterpart,
            mode_contexts=ModeContexts.from_pki(
                pki, server_name, require_client_cert=required, check_crl=True
            ),
        )

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Scheme, host and port of the listener (no path), under `public_host` when one is given."""
        if self.public_host is None:
            return self.server.url
        return f"https://{self.public_host}:{self.server.port}"

    def observe(
        self, request: Request | None, kind: str, client_id: str | None, detail: str, **data: Any
    ) -> Observation:
        """Record what the caller did; the exchange id links it to the evidence."""
        observation = Observation(
            counterpart=self.counterpart,
            kind=kind,
            client_id=client_id,
            detail=detail,
            data=data,
            exchange_id=getattr(request, "id", None),
            at=self.clock.now(),
        )
        self.observations.add(observation)
        return observation
