"""The harness's own mTLS listener, as every counterpart will configure it.

Fixtures rather than module code, so the harness's tests can substitute a broken listener and
show that the HARNESS-NN checks catch it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from conformance.pki import TestPKI, server_context
from conformance.tls import Request, Response, TLSServer

TIMEOUT_S = 5.0


def client_id_must_match_certificate(request: Request) -> Response:
    """What an authorization server does with tls_client_auth: CN of the certificate = client_id."""
    claimed = request.param("client_id")
    presented = request.tls.peer_common_name if request.tls else None
    if claimed is None or claimed != presented:
        return Response.json({"error": "invalid_client"}, status=401)
    return Response.json({"client_id": presented})


@pytest.fixture(scope="module")
def mtls_listener_context(pki: TestPKI) -> ssl.SSLContext:
    return server_context(pki, "psc", require_client_cert=True, check_crl=True)


@pytest.fixture(scope="module")
def mtls_listener(mtls_listener_context: ssl.SSLContext) -> Iterator[TLSServer]:
    with TLSServer(mtls_listener_context, client_id_must_match_certificate, timeout=TIMEOUT_S) as server:
        yield server
