"""`psc-conformance reference consumer|provider`: serve a reference SUT alone, for manual exploration.

The reference Proxy e-Santé is the conformant system the harness proves its checks against;
served alone (in front of `psc-conformance counterparts`) it shows a vendor, with curl, what a
conformant proxy answers, with `--fault` what a given defect looks like on the wire, and with
`--variant` another behaviour the sources allow.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance import exitcodes
from conformance.cli.serving import POLL_S, stop_signals
from conformance.errors import UsageError
from conformance.reference import registry
from conformance.reference.consumer.settings import PROXY_CONFIG_FILE, ProxySettings, load_settings
from conformance.roles import Role

PROG = "psc-conformance reference"


def register(sub: Any) -> None:
    """Add the `reference` sub-command (with `consumer` and `provider`) to the CLI's subparsers."""
    parser = sub.add_parser(
        "reference",
        help="serve a reference SUT alone (the reference Proxy e-Santé), for manual exploration",
        description="Serve one of the harness's reference systems under test until SIGINT or SIGTERM. "
        "`consumer` is the reference Proxy e-Santé (API Conformité: /connect, /send/<api>/<endpoint>, "
        "/traces, /disconnect); it talks to the counterparts of `psc-conformance counterparts`. "
        "See docs/reference-proxy.md.",
    )
    roles = parser.add_subparsers(dest="reference_role", metavar="ROLE", required=True)
    consumer = roles.add_parser(
        "consumer",
        help="the reference Proxy e-Santé",
        description="Serve the reference Proxy e-Santé configured by a reference-proxy.toml (written by "
        "`psc-conformance pki --out DIR`), in front of the counterparts that counterparts.json names "
        "(start them with `psc-conformance counterparts`). Exit status: 0 after SIGINT or SIGTERM, "
        "2 usage or configuration error (unknown fault or variant included), 3 the port is busy.",
    )
    _add_options(consumer)
    consumer.set_defaults(handler=run_consumer)
    provider = roles.add_parser(
        "provider",
        help="the reference data provider: an API PSC and its authorization server",
        description="Serve the reference data provider configured by a reference-provider.toml (written by "
        "`psc-conformance pki --out DIR`): an authorization server (RFC 8693 token exchange over mTLS, "
        "RFC 7662 introspection, JWKS) and a resource server (POST /mockservice/apipsc/signsessiondata), "
        "in front of the simulated PSC of `psc-conformance counterparts`. See docs/reference-provider.md. "
        "Exit status: 0 after SIGINT or SIGTERM, 2 usage or configuration error.",
    )
    provider.add_argument("--config", type=Path, metavar="FILE", help="reference-provider.toml")
    provider.add_argument("--fault", action="append", default=[], metavar="NAME", help="inject a fault")
    provider.add_argument("--variant", action="append", default=[], metavar="NAME", help="apply a variant")
    provider.set_defaults(handler=run_provider)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the reference SUT's TOML configuration (default: {PROXY_CONFIG_FILE} in the current "
        "directory; `psc-conformance pki --out DIR` writes DIR/" + PROXY_CONFIG_FILE + ")",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a fault, a realistic defect (repeatable; added to the file's [proxy] faults); "
        "`psc-conformance faults` lists them",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="apply an allowed variant, a behaviour the sources allow that the reference does not "
        "choose (repeatable; added to the file's [proxy] variants); `psc-conformance variants` lists them",
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="listen on this port instead of the file's [proxy] port (0: any free port)",
    )


def run_provider(args: argparse.Namespace) -> int:
    """Serve the reference data provider (its own entry point, shared with `python -m`)."""
    from conformance.reference.provider.__main__ import main

    argv = [*(["--config", str(args.config)] if args.config else [])]
    argv += [f"--fault={name}" for name in args.fault] + [f"--variant={name}" for name in args.variant]
    return main(argv)


def run_consumer(args: argparse.Namespace) -> int:
    """Serve the reference proxy until a signal; 2 for a configuration problem, 3 when the port is busy."""
    from conformance.reference.consumer.proxy import CannotListen, ReferenceProxy  # only when serving
    from conformance.reference.consumer.variants import variant_settings

    config: Path = args.config or Path(PROXY_CONFIG_FILE)
    if args.port is not None and not 0 <= args.port <= 65535:
        return _usage(f"--port {args.port} is not a TCP port")
    try:
        settings = load_settings(config, overrides={"port": args.port} if args.port is not None else None)
        faults = _checked_faults([*settings.faults, *args.fault])
        variants = registry.check_variants([*settings.variants, *args.variant], Role.CONSUMER)
        # The settings a variant needs (a longer upstream timeout) win over the file's.
        overrides: dict[str, Any] = {"variants": tuple(variants), **variant_settings(variants)}
        settings = dataclasses.replace(settings, **overrides)
    except UsageError as exc:
        return _usage(str(exc))
    with stop_signals() as stop:
        try:
            proxy = ReferenceProxy(settings)
        except CannotListen as exc:
            print(
                f"{PROG}: {exc}; choose a free port with --port or [proxy] port in {config}", file=sys.stderr
            )
            return exitcodes.HARNESS_OR_SUT
        except OSError as exc:  # a certificate or key named by counterparts.json cannot be loaded
            return _usage(f"{config}: cannot load the proxy's server certificate: {exc}")
        try:
            registry.fault_catalogue(Role.CONSUMER).apply(proxy, faults, Role.CONSUMER)
        except (UsageError, KeyError, ValueError) as exc:
            return _usage(f"cannot inject {', '.join(faults)}: {exc}")
        registry.variant_catalogue(Role.CONSUMER).apply(proxy, variants, Role.CONSUMER)
        proxy.start()
        try:
            print_banner(proxy.url, settings, faults, variants)
            while not stop.wait(POLL_S):
                pass
        finally:
            proxy.stop()
    print("reference proxy stopped", flush=True)
    return exitcodes.OK


def _checked_faults(names: Sequence[str]) -> list[str]:
    """Known fault names, without repeats; an unknown one is a usage error naming the closest."""
    return registry.check_faults(names, Role.CONSUMER)


def print_banner(
    url: str, settings: ProxySettings, faults: Sequence[str], variants: Sequence[str] = ()
) -> None:
    """Where the proxy listens and what it talks to, so the first curl can be written from this."""
    rows = [
        (
            "API Conformité",
            f"{url}  (POST /connect, /send/<api>/<endpoint>, GET /traces, DELETE /disconnect)",
        ),
        ("PSC discovery", settings.psc_discovery_url),
        *(
            (f"API {api.name}", f"{api.base_url}  (token: {api.token_endpoint})")
            for api in settings.apis.values()
        ),
        ("LPS clients", ", ".join(settings.lps_clients) or "none"),
        ("CA bundle", str(settings.ca_bundle)),
        (
            "Timeouts",
            f"idle {settings.idle_timeout_s:g} s, session {settings.session_timeout_s:g} s, "
            f"upstream {settings.http_timeout_s:g} s",
        ),
    ]
    rows += [("Fault", line) for line in _described(faults)] or [("Faults", "none")]
    rows += [("Variant", line) for line in _described_variants(variants)]
    print(f"Reference Proxy e-Santé serving {url}")
    for label, value in rows:
        print(f"  {label:<15} {value}")
    print("Ctrl-C or SIGTERM to stop.", flush=True)


def _described(faults: Sequence[str]) -> list[str]:
    """Each injected fault with what it does and the requirements a campaign must then find failed."""
    lines = []
    for name in faults:
        fault = registry.fault(Role.CONSUMER, name)
        lines.append(f"{name}: {fault.description_en} (must fail: {', '.join(fault.requirements)})")
    return lines


def _described_variants(variants: Sequence[str]) -> list[str]:
    """Each applied variant with what it does."""
    return [f"{name}: {registry.variant(Role.CONSUMER, name).description_en}" for name in variants]


def _usage(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return exitcodes.USAGE
