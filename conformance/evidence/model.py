"""What one HTTP exchange looked like, as kept in memory for scenarios and exported for auditors.

Raw values are kept here (scenarios judge exact bytes and exact header values); redaction, capping and
JWT shortening happen only when exporting (`conformance.evidence.export`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

Direction = Literal["to_harness", "to_sut"]
TO_HARNESS: Final = "to_harness"  # the SUT called one of the harness's counterparts
TO_SUT: Final = "to_sut"  # the harness called the SUT

Headers = list[tuple[str, str]]  # keeps order and duplicates, as on the wire


@dataclass(frozen=True)
class TLSDetails:
    """The TLS session an exchange ran over; fields the recording side could not see stay None.

    `client_*` is the certificate the TLS client presented (the SUT's, when it called a counterpart);
    `server_*` the one the TLS server presented (the SUT's, when the harness called it).
    """

    version: str | None = None
    cipher: str | None = None
    alpn_protocol: str | None = None
    client_subject: str | None = None
    client_issuer: str | None = None
    client_x5t_s256: str | None = None  # RFC 8705 form: base64url(SHA-256(DER))
    server_subject: str | None = None
    server_issuer: str | None = None
    server_x5t_s256: str | None = None


@dataclass(frozen=True)
class Exchange:
    """One request and its response (or the error that stopped it), in either direction.

    `id` may be left empty: `EvidenceRecorder.record` assigns one. `scenario` left None is filled with the
    recorder's current scenario.
    """

    counterpart: str  # psc, api-as, api, sut…
    direction: Direction
    method: str
    url: str
    started_at: float  # epoch seconds
    duration_s: float = 0.0
    request_headers: Headers = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = None  # None: no response was received
    reason: str | None = None  # reason phrase when the peer sent one
    response_headers: Headers = field(default_factory=list)
    response_body: bytes = b""
    http_version: str = "HTTP/1.1"
    headers_received_s: float | None = None  # from start to the response head, when measured
    tls: TLSDetails | None = None
    error: str | None = None  # e.g. "ReadTimeout: The read operation timed out"
    scenario: str | None = None  # pytest nodeid of the scenario that was running
    # True when the exchange concerns no scenario in particular (metadata, JWKS): `scenario` is then only
    # the one that happened to be running alone, and every scenario may judge the exchange.
    shared: bool = False
    id: str = ""

    def request_header(self, name: str) -> str | None:
        """First value of a request header (case-insensitive)."""
        return _first(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        """First value of a response header (case-insensitive)."""
        return _first(self.response_headers, name)

    @property
    def ok(self) -> bool:
        """A response arrived and nothing failed while reading it."""
        return self.status is not None and self.error is None


def _first(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)
