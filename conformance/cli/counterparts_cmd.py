"""`psc-conformance counterparts`: serve the simulated PSC, API authorization server and API PSC alone.

For a vendor (or the reference proxy) to be driven by hand, with curl or their own LPS, against
the same counterparts a campaign plays: same PKI, same client secrets as `counterparts.json`,
same ports. What the counterparts observe is printed as it happens, one line per observation,
so the person at the terminal sees what the proxy did at PSC and at the API.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from conformance import exitcodes
from conformance.cli.serving import POLL_S, stop_signals
from conformance.config import Config, load_config
from conformance.counterparts.layout import COUNTERPARTS_FILE, read_client_secrets
from conformance.counterparts.observations import Observation, ObservationLog
from conformance.counterparts.settings import CounterpartSettings
from conformance.errors import UsageError
from conformance.pki import PkiError, load_pki, load_pki_files

PROG = "psc-conformance counterparts"


def register(sub: Any) -> None:
    """Add the `counterparts` sub-command to the CLI's subparsers."""
    parser = sub.add_parser(
        "counterparts",
        help="serve the harness's counterparts (simulated PSC, API authorization server, API PSC) alone",
        description="Serve the simulated Pro Santé Connect, the API PSC's authorization server and the "
        "API PSC on the ports of the [counterparts] table, with the test PKI and the client secrets of "
        "counterparts.json, until SIGINT or SIGTERM. Prints their URLs, then one line per observation "
        "(time, counterpart, kind, client id, detail). Exit status: 0 after a signal, 2 usage or "
        "configuration error, 3 a port is busy.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="campaign configuration: its [counterparts] table gives host, ports, API name and scope and "
        "timings (defaults otherwise), its [campaign] pki_dir the PKI. Give the same file as to "
        "`psc-conformance pki --config`, so the ports match counterparts.json",
    )
    parser.add_argument(
        "--pki",
        type=Path,
        metavar="DIR",
        help="directory written by `psc-conformance pki --out DIR` (default: [campaign] pki_dir of --config)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve until a signal; 2 when the PKI or the config cannot be used, 3 when a port is busy."""
    from conformance.counterparts.suite import Counterparts  # the servers: only when serving

    try:
        config = load_config(args.config) if args.config else None
    except UsageError as exc:
        return _usage(str(exc))
    pki_dir: Path | None = args.pki or (config.campaign.pki_dir if config else None)
    if pki_dir is None:
        return _usage(
            "no PKI: give --pki DIR (a directory written by `psc-conformance pki --out DIR`) "
            "or set pki_dir in the [campaign] table of --config"
        )
    try:
        pki = load_pki(pki_dir)
        client_secrets = read_client_secrets(pki_dir)
    except (PkiError, UsageError) as exc:
        return _usage(str(exc))
    settings = config.counterparts if config else CounterpartSettings()
    for warning in announced_mismatches(pki_dir, settings, config):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)

    counterparts = Counterparts.build(pki, settings, client_secrets=client_secrets)
    with stop_signals() as stop:
        try:
            counterparts.start()
        except OSError as exc:
            print(f"{PROG}: {exc.strerror or exc}", file=sys.stderr)
            return exitcodes.HARNESS_OR_SUT
        try:
            print_addresses(counterparts.bound_settings, pki_dir)
            seen = 0
            while not stop.wait(POLL_S):
                seen = print_new_observations(counterparts.observations, seen)
            print_new_observations(counterparts.observations, seen)
        finally:
            counterparts.stop()
    print("counterparts stopped", flush=True)
    return exitcodes.OK


def print_addresses(settings: CounterpartSettings, pki_dir: Path) -> None:
    """What a proxy (or curl) needs; the same values as counterparts.json when the configs agree."""
    rows = [
        ("PSC issuer", settings.psc_issuer),
        ("PSC discovery", settings.psc_discovery_url),
        ("API token endpoint", settings.api_token_endpoint),
        ("API base URL", f"{settings.api_base_url}  (api {settings.api_name}, scope {settings.api_scope})"),
        ("CA bundle", str(load_pki_files(pki_dir).ca_bundle)),
    ]
    print(f"Counterparts serving, PKI from {pki_dir}:")
    for label, value in rows:
        print(f"  {label:<19} {value}")
    print(
        "Observations (time UTC, counterpart, kind, client id, detail); Ctrl-C or SIGTERM to stop:",
        flush=True,
    )


def print_new_observations(log: ObservationLog, seen: int) -> int:
    """Print the observations after the first `seen`; return how many have been printed in all."""
    items = list(log)
    if len(items) < seen:  # the log was cleared: start again from its beginning
        seen = 0
    for observation in items[seen:]:
        print(observation_line(observation))
    if len(items) > seen:
        sys.stdout.flush()
    return len(items)


def observation_line(observation: Observation) -> str:
    """One line; the caller's text is escaped so a hostile client cannot forge lines or drive the terminal."""
    at = dt.datetime.fromtimestamp(observation.at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    fields = (observation.counterpart, observation.kind, observation.client_id or "-", observation.detail)
    return " ".join([at, *(_printable(f) for f in fields)])


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def announced_mismatches(pki_dir: Path, settings: CounterpartSettings, config: Config | None) -> list[str]:
    """Where counterparts.json announces other addresses than the ones served: a proxy would miss them."""
    try:
        document = json.loads((pki_dir / COUNTERPARTS_FILE).read_text(encoding="utf-8"))
        announced = {
            "PSC issuer": document["psc"]["issuer"],
            "API token endpoint": document["apis"][0]["token_endpoint"],
            "API base URL": document["apis"][0]["base_url"],
        }
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []  # read_client_secrets has already vouched for the file; nothing more to compare
    served = {
        "PSC issuer": settings.psc_issuer,
        "API token endpoint": settings.api_token_endpoint,
        "API base URL": settings.api_base_url,
    }
    if _ephemeral(settings):
        return []
    same_config = f"--config {config.source}" if config and config.source else "no --config"
    return [
        f"{pki_dir / COUNTERPARTS_FILE} announces {label} {announced[label]} but this serves "
        f"{served[label]} ({same_config}); a proxy configured from that file will not reach it. "
        "Give `psc-conformance pki` and `psc-conformance counterparts` the same --config."
        for label in served
        if announced[label] != served[label]
    ]


def _ephemeral(settings: CounterpartSettings) -> bool:
    """Ports 0 (any free port) cannot be announced in advance: nothing to compare."""
    return 0 in (settings.psc_port, settings.api_as_port, settings.api_port)


def _usage(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return exitcodes.USAGE
