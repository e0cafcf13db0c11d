"""`psc-conformance pki`: mint the test PKI into a directory a vendor can configure their proxy with."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from conformance import exitcodes
from conformance.config import Config, load_config
from conformance.counterparts.layout import write_counterparts
from conformance.errors import UsageError
from conformance.pki import (
    DEFAULT_P12_PASSWORD,
    PROXY_CLIENT_ID,
    PkiError,
    PkiFiles,
    TestPKI,
    build_pki,
    write_pki,
)
from conformance.pki.builder import DEFAULT_LEAF_VALIDITY
from conformance.reference.consumer.settings import PROXY_CONFIG_FILE as REFERENCE_PROXY_FILE
from conformance.roles import Role

DEFAULT_PROXY_PORT = 8443
DEFAULT_PROXY_IDLE_TIMEOUT_S = 900
DEFAULT_PROVIDER_PORTS = (8446, 8447)  # the reference provider's authorization server and API


def register(sub: Any) -> None:
    """Add the `pki` sub-command to the CLI's subparsers."""
    parser = sub.add_parser(
        "pki",
        help="write a test PKI (IGC-Santé look-alike CAs, client/server/negative certificates, CRL)",
        description="Mint an IGC-Santé look-alike test PKI and write PEM, keys (mode 0600), PKCS#12 files "
        "and a pki.json manifest. Give the system under test ca-bundle.pem as trust anchor and the "
        "proxy's certificate (client-<id>.pem/.key or .p12) as its client certificate.",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    parser.add_argument(
        "--key-type", choices=("ec", "rsa"), default="ec", help="EC P-256 (default) or RSA 2048"
    )
    parser.add_argument(
        "--p12-password",
        default=DEFAULT_P12_PASSWORD,
        metavar="PW",
        help=f"password of the PKCS#12 files (default: {DEFAULT_P12_PASSWORD!r}; '' for none). "
        "It is recorded in pki.json: use test passwords only",
    )
    parser.add_argument(
        "--proxy-client-id",
        default=PROXY_CLIENT_ID,
        metavar="ID",
        help=f"PSC client id of the proxy under test, the CN of its certificate (default: {PROXY_CLIENT_ID})",
    )
    parser.add_argument(
        "--valid-days",
        type=int,
        default=DEFAULT_LEAF_VALIDITY.days,
        metavar="N",
        help=f"validity of the leaf certificates in days (default: {DEFAULT_LEAF_VALIDITY.days})",
    )
    parser.add_argument(
        "--server-san",
        action="append",
        default=[],
        metavar="NAME",
        help="extra DNS name or IP address for the server certificates (repeatable), "
        "when the SUT reaches the harness by another name than localhost",
    )
    parser.add_argument("--force", action="store_true", help="write into a non-empty directory")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="campaign configuration whose [counterparts] table gives the ports written in counterparts.json "
        "(default ports otherwise)",
    )
    parser.add_argument(
        "--role",
        choices=[role.value for role in Role],
        help="role of the system under test: which reference SUT's configuration to write beside the PKI "
        "(reference-proxy.toml or reference-provider.toml; default: [sut] role of --config, else consumer)",
    )
    parser.add_argument(
        "--provider-ports",
        default=f"{DEFAULT_PROVIDER_PORTS[0]},{DEFAULT_PROVIDER_PORTS[1]}",
        metavar="AS,API",
        help="ports of the reference provider's authorization server and API, written in "
        f"reference-provider.toml (default: {DEFAULT_PROVIDER_PORTS[0]},{DEFAULT_PROVIDER_PORTS[1]})",
    )
    parser.add_argument(
        "--proxy-port",
        type=int,
        default=DEFAULT_PROXY_PORT,
        metavar="N",
        help=f"port of the reference proxy written in {REFERENCE_PROXY_FILE} "
        f"(default: {DEFAULT_PROXY_PORT}; 0 for any free port)",
    )
    parser.add_argument(
        "--proxy-idle-timeout",
        type=int,
        default=DEFAULT_PROXY_IDLE_TIMEOUT_S,
        metavar="S",
        help=f"idle timeout of the reference proxy written in {REFERENCE_PROXY_FILE}, in seconds "
        f"(default: {DEFAULT_PROXY_IDLE_TIMEOUT_S}); a campaign judging it declares the same "
        "[sut.declared] idle_timeout_s",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the PKI; exit 2 on a usage problem (non-empty directory without --force, bad value)."""
    out: Path = args.out
    if out.exists() and not out.is_dir():
        return _usage(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        return _usage(f"--out {out}: directory is not empty; use --force to write into it anyway")
    if args.valid_days < 1:
        return _usage("--valid-days must be at least 1")
    if not 0 <= args.proxy_port <= 65535:
        return _usage(f"--proxy-port {args.proxy_port} is not a TCP port")
    if args.proxy_idle_timeout < 1:
        return _usage(f"--proxy-idle-timeout {args.proxy_idle_timeout}: must be 1 or more")
    try:
        config = load_config(args.config) if args.config else Config()
        provider_ports = _ports(args.provider_ports)
    except UsageError as exc:
        return _usage(str(exc))
    settings = config.counterparts
    role = Role(args.role or config.sut.role.value)
    try:
        pki = build_pki(
            args.key_type,
            proxy_client_id=args.proxy_client_id,
            extra_server_sans=tuple(args.server_san),
            leaf_validity=timedelta(days=args.valid_days),
        )
        files = write_pki(pki, out, p12_password=args.p12_password)
    except PkiError as exc:
        return _usage(str(exc))
    except OSError as exc:
        print(f"psc-conformance pki: cannot write {out}: {exc}", file=sys.stderr)
        return exitcodes.HARNESS_OR_SUT
    written = [*files.all_paths(), write_counterparts(out, settings, pki, files, args.p12_password)]
    if role is Role.CONSUMER:
        written.append(
            write_reference_proxy_config(out, port=args.proxy_port, idle_timeout_s=args.proxy_idle_timeout)
        )
        reference = f"reference consumer --config {out / REFERENCE_PROXY_FILE}"
    else:
        from conformance.reference.provider.settings import write_config

        as_port, rs_port = provider_ports
        written.append(write_config(out, as_port=as_port, rs_port=rs_port))
        reference = f"reference provider --config {written[-1]}"
    _print_summary(pki, files, written)
    config_hint = f" --config {args.config}" if args.config else ""
    print(f"Next: serve the counterparts with this PKI, then the reference {role.value} in front of them:")
    print(f"  psc-conformance counterparts --pki {out}{config_hint}")
    print(f"  psc-conformance {reference}")
    return exitcodes.OK


def _ports(text: str) -> tuple[int, int]:
    """`--provider-ports AS,API`: two TCP ports."""
    try:
        as_port, api_port = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--provider-ports {text!r}: expected two ports, AS,API (e.g. 8446,8447)") from None
    for port in (as_port, api_port):
        if not 0 <= port <= 65535:
            raise UsageError(f"--provider-ports: {port} is not a TCP port")
    return as_port, api_port


def reference_proxy_config(
    *,
    port: int = DEFAULT_PROXY_PORT,
    host: str = "127.0.0.1",
    idle_timeout_s: int = DEFAULT_PROXY_IDLE_TIMEOUT_S,
) -> str:
    """The text of `reference-proxy.toml`: commented, so the file explains itself to whoever opens it."""
    return f"""\
# Configuration of the reference Proxy e-Santé shipped with psc-conformance.
# Serve it with:  psc-conformance reference consumer --config <this file>
# It talks to the harness's counterparts (psc-conformance counterparts) exactly as a vendor's
# proxy would: everything it needs to know about them comes from counterparts.json.

[proxy]
# The counterparts file written beside this one by `psc-conformance pki`, relative to this file:
# PSC discovery URL, the PSC clients (one per LPS, plus the proxy's own) with their certificates,
# the APIs with their token endpoints and scopes, the CA bundle, the proxy's server certificate.
counterparts = "counterparts.json"

# Address of the proxy's API Conformité (HTTPS with the sut_server certificate of counterparts.json).
# The LPS (or curl) calls https://{host}:{port}/connect, /send/<api>/<endpoint>, /traces, /disconnect.
host = "{host}"
port = {port}

# Seconds of inactivity after which a proxy session ends (EXI PSC 32). A campaign that judges this
# proxy declares the same value in [sut.declared] idle_timeout_s.
idle_timeout_s = {idle_timeout_s}

# Maximum lifetime of a proxy session in seconds, however active it is.
session_timeout_s = 14400

# Optional, with their defaults:
# refresh_margin_s = 30     # refresh the PSC access token this long before it expires (on LPS activity only)
# http_timeout_s = 10       # bound on every call to PSC and the APIs
# ciba_max_wait_s = 150     # give up a CIBA authentication after this long
# faults = []               # injected defects, see `psc-conformance faults` (for the harness's self-tests)
# variants = []             # allowed behaviours other than the reference's, see `psc-conformance variants`
"""


def write_reference_proxy_config(
    directory: Path,
    *,
    port: int = DEFAULT_PROXY_PORT,
    host: str = "127.0.0.1",
    idle_timeout_s: int = DEFAULT_PROXY_IDLE_TIMEOUT_S,
) -> Path:
    """Write `reference-proxy.toml`, so the reference proxy runs from the PKI directory as it is."""
    path = directory / REFERENCE_PROXY_FILE
    path.write_text(
        reference_proxy_config(port=port, host=host, idle_timeout_s=idle_timeout_s), encoding="utf-8"
    )
    return path


def _usage(message: str) -> int:
    print(f"psc-conformance pki: {message}", file=sys.stderr)
    return exitcodes.USAGE


def _print_summary(pki: TestPKI, files: PkiFiles, written: list[Path]) -> None:
    print(f"Test PKI ({pki.key_type.upper()}) written to {files.directory}:")
    for path in written:
        print(f"  {path.relative_to(files.directory).as_posix()}")
    print(f"Trust anchor for the SUT: {files.ca_bundle.name}; CRL: {files.crl.name}")
    print(f"PKCS#12 password: {files.p12_password!r}" if files.p12_password else "PKCS#12 files: unencrypted")
    print("Clients (CN = PSC client id, OU = structure id):")
    for cid, leaf in pki.clients.items():
        profile = pki.client_profiles[cid]
        print(f"  {profile.role:5} {cid}  OU={profile.structure_id}  x5t#S256={leaf.x5t_s256}")
    not_after = min(leaf.not_after for leaf in pki.clients.values())
    print(f"Leaf certificates expire on {not_after:%Y-%m-%d %H:%M} UTC.")
