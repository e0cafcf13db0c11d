"""`psc-conformance init DIR`: everything a vendor needs to connect their own proxy (or data provider).

A vendor meets the harness through `pip install`, not through a clone: the campaign file, the test PKI
with `counterparts.json`, an attestation template and the CI recipes must come from the installed
command itself, consistent with one another (the ports of `campaign.toml` are those of
`counterparts.json`, the declared idle timeout is the reference proxy's). The CI recipes are package data
(`conformance/templates/ci/`), copies of `docs/ci/` kept equal by a test, since `docs/` is not installed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from conformance import exitcodes
from conformance.cli.pki_cmd import DEFAULT_PROVIDER_PORTS, DEFAULT_PROXY_PORT, write_reference_proxy_config
from conformance.config import load_config
from conformance.counterparts.layout import COUNTERPARTS_FILE, write_counterparts
from conformance.errors import UsageError
from conformance.pki import DEFAULT_P12_PASSWORD, PkiError, PkiFiles, build_pki, write_pki
from conformance.reference.consumer.settings import PROXY_CONFIG_FILE
from conformance.requirements import requirement_index
from conformance.requirements.model import Method
from conformance.roles import Role

PROG = "psc-conformance init"
CAMPAIGN_FILE = "campaign.toml"
PKI_DIR = "pki"
ATTESTATIONS_FILE = "attestations.toml"
CI_DIR = "ci"
CI_TEMPLATES = ("gitlab-ci.yml", "github-actions.yml")
DEFAULT_COUNTERPART_PORTS = (9443, 9444, 9445)  # PSC, the API's authorization server, the API PSC
# The campaign declares what the example SUT (the reference proxy) is configured with: a short idle
# timeout so that EXI PSC 32 waits seconds, and the reference proxy's read timeout toward PSC and the APIs.
DECLARED_IDLE_TIMEOUT_S = 5
DECLARED_UPSTREAM_TIMEOUT_S = 10
_SUT_KIND = {Role.CONSUMER: "a Proxy e-Santé", Role.PROVIDER: "a data provider (API PSC)"}
# The line of `campaign.toml` the vendor (or a test) uncomments to run the reference SUT as their own.
REFERENCE_FILES = {Role.CONSUMER: PROXY_CONFIG_FILE, Role.PROVIDER: "reference-provider.toml"}
EXAMPLE_START = {
    role: f'# start = "psc-conformance reference {role.value} --config {PKI_DIR}/{REFERENCE_FILES[role]}"'
    for role in Role
}


@dataclass(frozen=True)
class Ports:
    """Fixed ports: the vendor configures their SUT once, so nothing here is ephemeral."""

    psc: int
    api_as: int
    api: int
    sut: tuple[int, ...]  # consumer: the API Conformité; provider: its authorization server, its API


def register(sub: Any) -> None:
    """Add the `init` sub-command to the CLI's subparsers."""
    parser = sub.add_parser(
        "init",
        help="scaffold a directory to connect your proxy or provider: campaign.toml, PKI, attestations, CI",
        description="Write into DIR what connecting a system under test needs: a commented campaign.toml "
        f"for the role, the test PKI and counterparts.json ({PKI_DIR}/), an attestation template "
        f"({ATTESTATIONS_FILE}) and CI recipes ({CI_DIR}/), then print the next steps. Existing files are "
        "never overwritten without --force (exit status 2, naming them).",
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="directory to write (created if needed)")
    parser.add_argument(
        "--role",
        choices=[role.value for role in Role],
        default=Role.CONSUMER.value,
        help="consumer: a Proxy e-Santé (default); provider: a data provider (API PSC)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--counterpart-ports",
        default=",".join(map(str, DEFAULT_COUNTERPART_PORTS)),
        metavar="PSC,AS,API",
        help="ports of the harness's PSC, API authorization server and API PSC "
        f"(default: {','.join(map(str, DEFAULT_COUNTERPART_PORTS))})",
    )
    parser.add_argument(
        "--sut-ports",
        metavar="PORTS",
        help=f"ports of the system under test: consumer, its API Conformité (default: {DEFAULT_PROXY_PORT}); "
        f"provider, AS,API (default: {DEFAULT_PROVIDER_PORTS[0]},{DEFAULT_PROVIDER_PORTS[1]})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Scaffold DIR; 2 for a usage problem (files exist without --force, a bad port), 3 on a write error."""
    directory: Path = args.directory
    role = Role(args.role)
    try:
        ports = _ports(args.counterpart_ports, args.sut_ports, role)
    except UsageError as exc:
        return _usage(str(exc))
    if directory.exists() and not directory.is_dir():
        return _usage(f"{directory}: exists and is not a directory")
    existing = existing_files(directory)
    if existing and not args.force:
        return _usage(f"{directory}: would overwrite {_named(directory, existing)}; use --force to overwrite")
    try:
        result = scaffold(directory, role, ports)
    except (UsageError, PkiError) as exc:
        return _usage(str(exc))
    except OSError as exc:
        print(f"{PROG}: cannot write {directory}: {exc}", file=sys.stderr)
        return exitcodes.HARNESS_OR_SUT
    _print_next_steps(directory, role, ports, result)
    return exitcodes.OK


def existing_files(directory: Path) -> list[Path]:
    """The files `init` would overwrite: its fixed files, and anything already in the PKI directory (whose
    file names depend on the PKI, and which must hold one PKI only)."""
    fixed = [directory / CAMPAIGN_FILE, directory / ATTESTATIONS_FILE]
    fixed += [directory / CI_DIR / name for name in CI_TEMPLATES]
    pki = directory / PKI_DIR
    in_pki = sorted(path for path in pki.rglob("*") if not path.is_dir()) if pki.is_dir() else []
    return [path for path in fixed if path.exists()] + in_pki


@dataclass(frozen=True)
class Scaffold:
    written: dict[str, Path]  # what each file is for -> its path (the PKI's own files aside)
    pki: PkiFiles


def _named(directory: Path, paths: list[Path]) -> str:
    """The files, the PKI's counted rather than listed: they are dozens, and one PKI goes as a whole."""
    pki = directory / PKI_DIR
    names = [path.relative_to(directory).as_posix() for path in paths if not path.is_relative_to(pki)]
    in_pki = sum(1 for path in paths if path.is_relative_to(pki))
    return ", ".join(names + ([f"{PKI_DIR}/ ({in_pki} files)"] if in_pki else []))


def scaffold(directory: Path, role: Role, ports: Ports) -> Scaffold:
    """Write every file; the campaign file first, since the PKI's counterparts.json is made from it."""
    (directory / CI_DIR).mkdir(parents=True, exist_ok=True)
    campaign = directory / CAMPAIGN_FILE
    campaign.write_text(campaign_toml(role, ports), encoding="utf-8")
    config = load_config(campaign)  # what the vendor starts from must be a valid campaign
    pki_dir = directory / PKI_DIR
    pki = build_pki("ec")
    files = write_pki(pki, pki_dir, p12_password=DEFAULT_P12_PASSWORD)
    attestations = directory / ATTESTATIONS_FILE
    attestations.write_text(attestations_template(role), encoding="utf-8")
    written = {
        "the campaign file": campaign,
        "what your SUT is configured from": write_counterparts(
            pki_dir, config.counterparts, pki, files, DEFAULT_P12_PASSWORD
        ),
        f"the reference {role.value}'s configuration": _write_reference_sut(pki_dir, role, ports),
        "attestation template": attestations,
    }
    for name in CI_TEMPLATES:
        target = directory / CI_DIR / name
        target.write_text(ci_template(name), encoding="utf-8")
        written[f"CI recipe ({name})"] = target
    return Scaffold(written=written, pki=files)


def _write_reference_sut(pki_dir: Path, role: Role, ports: Ports) -> Path:
    """The reference SUT's configuration, so that the commented `start` example runs it as it is."""
    if role is Role.PROVIDER:
        from conformance.reference.provider.settings import write_config

        return write_config(pki_dir, as_port=ports.sut[0], rs_port=ports.sut[1])
    return write_reference_proxy_config(pki_dir, port=ports.sut[0], idle_timeout_s=DECLARED_IDLE_TIMEOUT_S)


def campaign_toml(role: Role, ports: Ports) -> str:
    """The commented campaign file: every value to fill in says so, and the example SUT is one line away."""
    header = f"""\
# psc-conformance campaign for {_SUT_KIND[role]}, written by `psc-conformance init`.
# Run it with:  psc-conformance run --config {CAMPAIGN_FILE}
# Every key: docs/configuration.md of psc-conformance; the file is checked against the JSON Schema
# config_schema.json shipped in the package. Relative paths are relative to this file.
# Lines marked FILL IN describe your system under test.

"""
    sut = _consumer_sut(ports) if role is Role.CONSUMER else _provider_sut(ports)
    return header + sut + "\n" + _campaign_tables(role, ports)


def _start_lines(role: Role, url_key: str) -> str:
    what = "proxy" if role is Role.CONSUMER else "provider"
    return f"""\
# FILL IN (optional): the command that starts your {what}, run from this file's directory. The harness
# waits until {url_key} answers (at most startup_timeout_s), keeps its output as sut.log in the
# run directory, and stops its whole process group at the end. It must stay in the foreground.
# Leave it out if you start your {what} yourself before `psc-conformance run`.
# start = "./start-{what}.sh"
#
# Example: to see a campaign end to end before your {what} is connected, let the harness start its
# reference {what} as if it were yours: remove the "# " in front of the next line (one `start` only).
# It listens where {url_key} points, as {PKI_DIR}/{REFERENCE_FILES[role]} configures it.
{EXAMPLE_START[role]}
"""


def _commented(assignment: str, comment: str) -> str:
    """`key = value` with its comment in the file's comment column."""
    return f"{assignment:<{_COMMENT_COLUMN}}# {comment}"


_COMMENT_COLUMN = 42


def _consumer_sut(ports: Ports) -> str:
    return "\n".join(
        [
            "[sut]",
            'role = "consumer"',
            _commented('name = "My Proxy e-Santé"', "FILL IN: shown in the report"),
            _commented(
                f'base_url = "https://127.0.0.1:{ports.sut[0]}"', "FILL IN: your API Conformité (https)"
            ),
            f"# trust anchor of your endpoint's certificate ({PKI_DIR}/server-sut.pem chains to it)",
            f'ca_file = "{PKI_DIR}/ca-bundle.pem"',
            _commented("startup_timeout_s = 30", "how long to wait for base_url to answer"),
            _start_lines(Role.CONSUMER, "base_url"),
            _commented("[sut.declared]", "what the wire cannot show"),
            "# FILL IN: the idle timeout your proxy runs with during the campaign (EXI PSC 32)",
            f"idle_timeout_s = {DECLARED_IDLE_TIMEOUT_S}",
            "# FILL IN: your proxy's read timeout toward PSC and the APIs (EDC-07)",
            f"upstream_timeout_s = {DECLARED_UPSTREAM_TIMEOUT_S}",
            "",
        ]
    )


def _provider_sut(ports: Ports) -> str:
    as_port, api_port = ports.sut
    return "\n".join(
        [
            "[sut]",
            'role = "provider"',
            _commented('name = "My API PSC"', "FILL IN: shown in the report"),
            "# FILL IN: your authorization server's token endpoint (RFC 8693 token exchange over mTLS);",
            "# remove the line to judge your resource server alone: the harness then plays the AS.",
            f'token_endpoint = "https://127.0.0.1:{as_port}/realms/signsessiondata/protocol/openid-connect/token"',
            "# FILL IN: your API; the harness calls POST <api_base_url>/signsessiondata",
            f'api_base_url = "https://127.0.0.1:{api_port}/mockservice/apipsc"',
            _commented(
                f'ca_file = "{PKI_DIR}/ca-bundle.pem"', "trust anchor of your endpoints' certificates"
            ),
            _commented("startup_timeout_s = 30", "how long to wait for api_base_url to answer"),
            _start_lines(Role.PROVIDER, "api_base_url"),
        ]
    )


def _campaign_tables(role: Role, ports: Ports) -> str:
    what = "proxy" if role is Role.CONSUMER else "provider"
    return "\n".join(
        [
            "[campaign]",
            _commented(f'pki_dir = "{PKI_DIR}"', f"the test PKI and {COUNTERPARTS_FILE}, written by init"),
            _commented(f'attestations = "{ATTESTATIONS_FILE}"', "declarations (see the file)"),
            _commented('# waivers = "waivers.toml"', "dérogations: failures accepted until a date"),
            _commented('# output = "reports"', "reports/<UTC timestamp>/ and reports/latest"),
            "",
            f"# Where the harness's counterparts listen: {PKI_DIR}/{COUNTERPARTS_FILE} tells your {what}.",
            "# Choose them with `psc-conformance init --counterpart-ports`; after changing them here,",
            f"# write the PKI again: psc-conformance pki --out {PKI_DIR} --config {CAMPAIGN_FILE} --force",
            "# (which also writes the reference SUT's configuration again, with its default timeouts).",
            "[counterparts]",
            'host = "127.0.0.1"',
            _commented(f"psc_port = {ports.psc}", "simulated Pro Santé Connect"),
            _commented(
                f"api_as_port = {ports.api_as}", "the API PSC's authorization server (token exchange)"
            ),
            _commented(f"api_port = {ports.api}", "the API PSC"),
            "",
        ]
    )


def attestations_template(role: Role) -> str:
    """Every requirement of the role that only a declaration can establish, as a commented entry."""
    lines = [
        "# Attestations: declarations for requirements the wire cannot establish (read by the campaign",
        f"# through [campaign] attestations in {CAMPAIGN_FILE}). Each entry turns the requirement's `manual`",
        "# verdict into `attested` (never into `pass`); a failed check on the wire still makes it `fail`.",
        "# To attest one, remove the '# ' in front of its four lines and fill them in. Unknown ids and keys",
        "# are refused. As written (every entry commented), the file attests nothing.",
    ]
    for requirement in requirement_index().values():
        if not requirement.applies(role) or requirement.method_for(role) is Method.AUTOMATIC:
            continue
        lines += [
            "",
            f"# {requirement.id}: {requirement.title_in('en')}",
            "# [[attestation]]",
            f'# requirement = "{requirement.id}"',
            '# by = "Name, position, company"',
            "# date = 2026-01-31",
            '# evidence = "The document that establishes it (e.g. item 3 of the connection file)"',
        ]
    return "\n".join(lines) + "\n"


def ci_template(name: str) -> str:
    """A CI recipe shipped in the package (the same text as docs/ci/<name>)."""
    return resources.files("conformance").joinpath("templates", "ci", name).read_text(encoding="utf-8")


def _ports(counterparts: str, sut: str | None, role: Role) -> Ports:
    psc, api_as, api = _port_list(counterparts, 3, "--counterpart-ports")
    default_sut = (DEFAULT_PROXY_PORT,) if role is Role.CONSUMER else DEFAULT_PROVIDER_PORTS
    sut_ports = _port_list(sut, len(default_sut), "--sut-ports") if sut else default_sut
    every = (psc, api_as, api, *sut_ports)
    if len(set(every)) != len(every):
        raise UsageError(f"the ports must all differ: {', '.join(map(str, every))}")
    return Ports(psc=psc, api_as=api_as, api=api, sut=sut_ports)


def _port_list(text: str, count: int, option: str) -> tuple[int, ...]:
    """`count` comma-separated TCP ports, none of them 0: these addresses are written down once."""
    try:
        ports = tuple(int(part) for part in text.split(","))
    except ValueError:
        ports = ()
    if len(ports) != count or not all(1 <= port <= 65535 for port in ports):
        raise UsageError(f"{option} {text!r}: expected {count} TCP port(s) (1 to 65535), comma-separated")
    return ports


def _print_next_steps(directory: Path, role: Role, ports: Ports, result: Scaffold) -> None:
    what = "proxy" if role is Role.CONSUMER else "provider"
    files = result.pki
    pki = directory / PKI_DIR
    print(f"Wrote {directory} for a {'Proxy e-Santé' if role is Role.CONSUMER else 'data provider'}:")
    for label, path in result.written.items():
        print(f"  {path.relative_to(directory).as_posix():<32} {label}")
    print(
        f"  {PKI_DIR}/ (test PKI, {len(files.all_paths())} files; certificates expire in 7 days: run init "
        "again, or `psc-conformance pki`, to renew)"
    )
    print()
    print("Next steps:")
    print(
        f"1. Configure your {what} from {pki / COUNTERPARTS_FILE}: the counterparts' addresses "
        f"(PSC on port {ports.psc}, the API's authorization server on {ports.api_as}, "
        f"the API on {ports.api}),"
    )
    print(
        f"   the trust anchor {pki / files.ca_bundle.name} (and {files.crl.name}), each client's "
        f"certificate and key (.pem/.key or .p12, password {files.p12_password!r}) and test secret,"
    )
    server = files.servers["sut"]
    print(
        f"   and for your own endpoint{'s' if role is Role.PROVIDER else ''} {server.pem} with {server.key}."
    )
    print(f"2. Fill in the FILL IN lines of {directory / CAMPAIGN_FILE} ([sut]: name, address, start).")
    print(f"   To try first with the harness's reference {what} as if it were yours, uncomment the example")
    print("   `start` line there.")
    print(f"3. Run the campaign:  psc-conformance run --config {directory / CAMPAIGN_FILE}")
    print("   (report: reports/latest/report.html under the current directory, or under --output DIR)")
    print(
        f"Then: attest the declarative requirements in {directory / ATTESTATIONS_FILE}; "
        "run the campaign in CI"
    )
    print(
        f"with {directory / CI_DIR / CI_TEMPLATES[0]} or {directory / CI_DIR / CI_TEMPLATES[1]} (docs/ci.md)."
    )


def _usage(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return exitcodes.USAGE
