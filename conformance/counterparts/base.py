"""What every counterpart has: a TLS listener with switchable modes, an address, an observation log."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self

from conformance.clock import Clock
from conformance.counterparts.observations import Observation, ObservationLog
from conformance.pki import TestPKI, server_context
from conformance.standards.jose import unverified
from conformance.tls import ModeContexts, Request, Response, TLSServer
from conformance.tls.routing import Router

# The [counterparts] setting that gives each listener's port, for the message of a port already taken.
PORT_SETTINGS = {"psc": "psc_port", "api-as": "api_as_port", "api": "api_port"}


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
        self.listen_port = port  # as configured: 0 for an ephemeral port
        self.router = Router()
        required = handshake_requires_cert
        self.server = TLSServer(
            server_context(pki, server_name, require_client_cert=required, check_crl=True),
            self._dispatch,
            host=host,
            port=port,
            observer=observer,
            name=self.counterpart,
            mode_contexts=ModeContexts.from_pki(
                pki, server_name, require_client_cert=required, check_crl=True
            ),
        )

    def _dispatch(self, request: Request) -> Response | None:
        """Route the request, once it is known whom a bearer token in it concerns (any path, even one
        no route serves): scenarios running at the same time tell their traffic apart by it."""
        request.concerns(*bearer_subjects(request.header("Authorization")))
        return self.router(request)

    def start(self) -> Self:
        try:
            self.server.start()
        except OSError as exc:  # a fixed port another campaign or service holds: say which setting
            setting = PORT_SETTINGS.get(self.counterpart, "port")
            raise OSError(
                exc.errno, f"[counterparts] {setting} = {self.listen_port}: {exc.strerror}"
            ) from exc
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
            subjects=request.subjects if request is not None else [],
        )
        self.observations.add(observation)
        return observation


def bearer_subjects(authorization: str | None) -> list[str]:
    """The `sub` (and PSC's `SubjectNameID`, `preferred_username`) of a JWT bearer token, unverified: only
    to attribute the request, never to judge or serve it."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return []
    decoded = unverified(authorization[7:].strip())
    if decoded is None:
        return []
    claims = decoded[1]
    names = ("sub", "SubjectNameID", "preferred_username")
    return [value for name in names if isinstance(value := claims.get(name), str) and value]
