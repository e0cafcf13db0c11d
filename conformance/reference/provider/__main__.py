"""`python -m conformance.reference.provider --config FILE [--fault NAME]... [--variant NAME]...`

Serves the reference data provider (authorization server and API PSC) until SIGTERM or SIGINT.
Exit status: 0 after a signal, 2 for a usage or configuration error (an unknown fault or variant
included), 3 when a listener cannot be bound.
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from conformance.errors import UsageError
from conformance.reference.provider import LOGGER
from conformance.reference.provider.settings import PROVIDER_CONFIG_FILE, load_settings

PROG: Final = "python -m conformance.reference.provider"
BANNER: Final = "psc-conformance reference provider"  # also the prefix of its error messages
EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_CANNOT_LISTEN: Final = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the provider command, for `psc-conformance reference provider` to reuse."""
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(PROVIDER_CONFIG_FILE),
        metavar="FILE",
        help=f"the provider's TOML configuration (default: {PROVIDER_CONFIG_FILE} in the current directory)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a fault, a realistic defect (repeatable)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="apply an allowed variant, a behaviour the sources allow that the reference does not choose "
        "(repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve with parsed options (`--config`, `--fault`, `--variant`) until SIGTERM or SIGINT."""
    from conformance.reference.provider.faults import FAULT_CATALOGUE, apply_faults
    from conformance.reference.provider.openssl_verify import VerifyOverrideUnavailable
    from conformance.reference.provider.provider import ReferenceProvider
    from conformance.reference.provider.variants import VARIANT_CATALOGUE, apply_variants
    from conformance.roles import Role

    try:
        faults = FAULT_CATALOGUE.check_names(args.fault, Role.PROVIDER)
        variants = VARIANT_CATALOGUE.check_names(args.variant, Role.PROVIDER)
        settings = load_settings(args.config)
    except UsageError as exc:
        print(f"{BANNER}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        provider = ReferenceProvider(settings)
    except (ssl.SSLError, FileNotFoundError) as exc:  # both are OSErrors: before the bind failure
        print(
            f"{BANNER}: {args.config}: cannot load the server certificate, key, CA bundle or CRL: {exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"{BANNER}: cannot listen on {settings.host} ports {settings.as_port} and {settings.rs_port} "
            f"({exc.strerror or exc}); choose free ports in {args.config}",
            file=sys.stderr,
        )
        return EXIT_CANNOT_LISTEN
    try:
        apply_variants(provider, variants)
        apply_faults(provider, faults)
    except (UsageError, VerifyOverrideUnavailable) as exc:  # the latter: a fault this Python cannot inject
        provider.stop()
        print(f"{BANNER}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stopping = threading.Event()
    restore_signals = _on_stop_signals(stopping)
    log_lines = _request_log_to_stdout()
    provider.start()
    try:
        print(f"{BANNER}: AS {provider.urls.issuer}, RS {provider.urls.rs_base_url}", flush=True)
        for kind, names in (("fault", faults), ("variant", variants)):
            for name in names:
                print(f"{BANNER}: {kind} {name}", flush=True)
        while not stopping.wait(0.1):
            pass
    finally:
        provider.stop()
        logging.getLogger(LOGGER).removeHandler(log_lines)
        restore_signals()
    print(f"{BANNER}: stopped", flush=True)
    return EXIT_OK


def _request_log_to_stdout() -> logging.Handler:
    """One line per request on stdout (the launcher sends it to the campaign's log file)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def _on_stop_signals(stopping: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stopping`; the returned function puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may set handlers; the caller stops us otherwise

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the reference data provider (its authorization server and the API PSC) until "
        "SIGTERM or SIGINT. Exit status: 0 after a signal, 2 usage or configuration error, 3 a port is busy.",
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse's own usage errors exit 2 already; keep any other code
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_USAGE
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
