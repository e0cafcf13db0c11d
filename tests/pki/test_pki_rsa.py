"""RSA 2048 variant: slower to mint, so one PKI for the whole module."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from conformance.pki import (
    LPS1_CLIENT_ID,
    TestPKI,
    build_pki,
    client_context,
    load_pki,
    server_context,
    write_pki,
)
from conformance.tls import Request, Response, TLSServer


@pytest.fixture(scope="module")
def rsa_pki() -> TestPKI:
    return build_pki("rsa")


def test_all_keys_are_rsa_2048(rsa_pki: TestPKI) -> None:
    leaves = [rsa_pki.root, rsa_pki.intermediate, rsa_pki.rogue_root, *rsa_pki.clients.values()]
    leaves += [*rsa_pki.servers.values(), *rsa_pki.negatives.values()]
    for issued in leaves:
        assert isinstance(issued.key, rsa.RSAPrivateKey) and issued.key.key_size == 2048


def test_rsa_server_cert_allows_key_encipherment(rsa_pki: TestPKI) -> None:
    ku = rsa_pki.servers["psc"].cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment


def test_rsa_write_load_and_p12(rsa_pki: TestPKI, tmp_path: Path) -> None:
    files = write_pki(rsa_pki, tmp_path)
    loaded = load_pki(tmp_path)
    assert loaded.key_type == "rsa"
    assert loaded.clients[LPS1_CLIENT_ID].cert == rsa_pki.clients[LPS1_CLIENT_ID].cert
    p12 = files.clients[LPS1_CLIENT_ID].p12
    assert p12 is not None
    _, cert, cas = pkcs12.load_key_and_certificates(p12.read_bytes(), files.p12_password.encode())
    assert cert == rsa_pki.clients[LPS1_CLIENT_ID].cert and len(cas) == 2


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
def test_rsa_mtls_handshake(rsa_pki: TestPKI, version: ssl.TLSVersion) -> None:
    def handler(request: Request) -> Response:
        return Response.json({"cn": request.tls.peer_common_name, "version": request.tls.version})

    ctx = server_context(rsa_pki, check_crl=True, max_version=version)
    with (
        TLSServer(ctx, handler) as server,
        httpx.Client(verify=client_context(rsa_pki, LPS1_CLIENT_ID)) as client,
    ):
        body = client.get(server.url + "/").json()
        assert body == {
            "cn": LPS1_CLIENT_ID,
            "version": "TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3",
        }
        with (
            httpx.Client(verify=client_context(rsa_pki, negative="revoked")) as bad,
            pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
        ):
            bad.get(server.url + "/")
