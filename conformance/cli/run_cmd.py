"""`psc-conformance run`: one campaign, in a pytest process of its own, always ending in a report.

pytest runs in a child process so that a campaign that crashes, hangs, is interrupted (Ctrl-C,
SIGTERM) or is killed at its time bound still leaves a report: the parent rebuilds it from the
scenario journal, listing what did not run (`conformance.cli.campaign_process` supervises the child).
A run never replaces another: an `--output` directory that holds one is refused without `--force`.

What only the end of a run needs (the requirement cases of `junit.xml`, the summary, the waivers, and the
rescue's results and evidence) is imported there, not before pytest starts: the modules the end of a normal
run needs load while pytest starts, at the supervisor's first tick, rather than delaying either.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance import exitcodes
from conformance.campaign.journal import JOURNAL, PLAN, SUT_READY  # the run's file names, before it starts
from conformance.campaign.pytest_options import UNUSED_PLUGIN_OPTIONS
from conformance.cli.campaign_process import CampaignEnd, CampaignProcess
from conformance.cli.progress import ProgressDisplay, counterpart_lines
from conformance.config import Config, load_config, to_document
from conformance.errors import UsageError
from conformance.paths import project_root, scenarios_root
from conformance.report.bundle_files import BUNDLE_FILES, PUBLIC_KEY
from conformance.roles import Role

if TYPE_CHECKING:
    from conformance.evidence import EvidenceRecorder

# The upstream OpenAPI document each role's contract is judged by, under `--swagger DIR`.
# (ANS's name, and its ASCII spelling as copies of the repository often carry it).
UPSTREAM_DOCUMENTS = {
    Role.CONSUMER: ("API-Proxy-eSante.json",),
    Role.PROVIDER: ("API-PSC-tests de conformité.json", "API-PSC-tests-de-conformite.json"),
}
RESOLVED_CAMPAIGN = "campaign.json"
ALLURE_IN_RUN = Path("allure-results")  # `--allure` without DIR: inside the run (and its sealed bundle)
# What a run writes into its directory: a directory holding any of these holds a run, which another
# run never replaces unless --force (which then removes these only, and nothing else of the directory).
_OUTPUTS = (
    RESOLVED_CAMPAIGN,
    "results.json",
    "report.html",
    "junit.xml",
    JOURNAL,
    PLAN,
    "pytest.log",
    "sut.log",
    SUT_READY,
    *sorted(BUNDLE_FILES),
)
_OUTPUT_DIRS = ("evidence", str(ALLURE_IN_RUN))
# 128 + SIGINT, the shell's convention for a command stopped by Ctrl-C (BRIEF §4 says nothing of it):
# a CI step or a script sees that the run was stopped, not that the SUT failed. SIGTERM exits 3.
INTERRUPTED_EXIT = 128 + signal.SIGINT
_COUNTERPART_PORTS = {  # the fixed-port listeners of an external campaign, by the [counterparts] key
    Role.CONSUMER: ("psc_port", "api_as_port", "api_port"),
    Role.PROVIDER: ("psc_port", "api_as_port"),
}
# What the end of a normal run imports (junit.xml's requirement cases, the waivers, the summary's texts),
# loaded while pytest starts: on a second core, instead of before pytest starts or after it ends.
_NEEDED_AT_THE_END = (
    "conformance.campaign.waivers",
    "conformance.report.junit",
    "conformance.report.i18n",
    "conformance.report.bundle",  # cryptography and PyJWT: a tenth of a second before pytest could start
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a conformance campaign and write its report",
        description="Run a campaign against a system under test. Without --config, the embedded "
        "reference SUT of the role is used. Writes report.html, results.json, junit.xml and evidence/ "
        "into the output directory, and seals them (manifest.json, signed; `psc-conformance verify`). "
        "Exit status: 0 no requirement failed (or every failure is under an active waiver), 1 at least "
        "one failed, 2 usage or configuration error, 3 SUT unreachable, harness failure or a run stopped by "
        "SIGTERM, 130 a run stopped by Ctrl-C (SIGINT); a stopped run still has its report, listing what "
        "did not run.",
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="campaign configuration (TOML); see docs/")
    p.add_argument(
        "--role",
        choices=[r.value for r in Role],
        help="role of the system under test (default: [sut] role, else consumer)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a fault in the embedded reference SUT (repeatable); see `psc-conformance faults`",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="apply an allowed variant to the embedded reference SUT (repeatable; combines with --fault): "
        "a behaviour the sources allow that the reference does not choose; see `psc-conformance variants`",
    )
    p.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="output directory (default: reports/<UTC timestamp>/, and reports/latest); one that already "
        "holds a run is refused, unless --force",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="let --output DIR replace the run DIR already holds (its files are removed first)",
    )
    p.add_argument(
        "-k", dest="keyword", metavar="EXPR", help="only run scenarios matching this pytest -k expression"
    )
    p.add_argument("--lang", choices=["fr", "en"], help="language of the report (default fr)")
    p.add_argument(
        "--attestations",
        type=Path,
        metavar="FILE",
        help="attestation file (TOML) for requirements established by declaration",
    )
    p.add_argument(
        "--waivers",
        type=Path,
        metavar="FILE",
        help="waiver file (TOML, dérogations): failures accepted until a date, each with its justification "
        "and owner; a failure under an active waiver stays `fail` in the report but does not make the run "
        "exit 1 (see fixtures/waivers.example.toml)",
    )
    p.add_argument(
        "--swagger",
        type=Path,
        metavar="DIR",
        help="judge the mandatory contract checks by the upstream OpenAPI files in DIR, loaded unchanged "
        "(a note per known defect in the report, each read leniently); default: the project's baseline "
        "of them, swagger/api-conformite-baseline.json",
    )
    p.add_argument(
        "--allure",
        nargs="?",
        const=ALLURE_IN_RUN,
        type=Path,
        metavar="DIR",
        help="also write Allure results (requirement labels and links, a step per condition, the "
        "exchanges attached) into DIR, relative to the current directory; without DIR, into the run's "
        "allure-results/. Needs allure-pytest: pip install 'psc-conformance[allure]'; see docs/report.md",
    )
    p.add_argument(
        "--signing-key",
        type=Path,
        metavar="FILE",
        help="PEM private key (EC P-256 or RSA) that signs the run's manifest (default: [campaign] "
        "signing_key, else a key generated for the run, its public half kept in the run); "
        "see docs/evidence-bundle.md",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="scenarios run at the same time against the SUT (default: four per core against an embedded "
        "SUT, eight per core against yours, at most 16; 1: one after another). Scenarios that switch shared "
        "state run alone either way",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="stream pytest's output to the terminal")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no live progress on stderr (by default: one updating line on a terminal, a line per theme "
        "otherwise; none with -v, pytest's output being shown); the final summary is still printed",
    )
    p.set_defaults(handler=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        with CampaignProcess() as campaign_process:  # from here on, a stop signal still ends in a report
            return _run(args, campaign_process)
    except UsageError as exc:
        print(f"psc-conformance run: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE


def _run(args: argparse.Namespace, campaign_process: CampaignProcess) -> int:
    config = load_config(args.config) if args.config else Config()
    role = Role(args.role or config.sut.role.value)
    if args.fault:
        if config.external:
            raise UsageError(
                "--fault injects defects in the embedded reference SUT; it cannot apply to "
                "the external SUT of --config"
            )
        _check_faults(args.fault, role)
    if args.variant:
        if config.external:
            raise UsageError(
                "--variant changes the embedded reference SUT; it cannot apply to the external SUT "
                "of --config"
            )
        _check_variants(args.variant, role)
    if args.allure and importlib.util.find_spec("allure_pytest") is None:
        raise UsageError("--allure needs allure-pytest: pip install 'psc-conformance[allure]'")
    signing_key = args.signing_key or config.campaign.signing_key
    if signing_key is not None:
        from conformance.report import bundle

        bundle.load_signing_key(signing_key)  # a bad key is a usage error now, not after the campaign
    lang = args.lang or config.campaign.lang
    targets = [str(p) for p in _scenario_dirs(role)]
    if args.swagger:
        names = UPSTREAM_DOCUMENTS[role]
        if not any((args.swagger / name).is_file() for name in names):
            raise UsageError(
                f"--swagger {args.swagger}: no {' or '.join(map(repr, names))} in that directory "
                f"(the {role.value} role's contract)"
            )
    resolved = _resolve(config, role, lang, args)
    output, latest_root = _output_dir(args.output, config, force=args.force)  # after every usage check
    argv = [
        sys.executable,
        "-m",
        "conformance.campaign.launch",  # pytest, ended without the interpreter's teardown
        *targets,
        "-p",
        "conformance.campaign.plugin",
        "-p",
        "no:cacheprovider",
        *UNUSED_PLUGIN_OPTIONS,
        # Their session-end garbage collections cost a quarter of a second; scenarios run in workers,
        # which never load them.
        "-p",
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "--rootdir",
        str(project_root()),
        # Scenario modules named after their path, as the worker sessions name them: the workers find them
        # imported already instead of importing (and rewriting) each one again.
        "--import-mode=importlib",
        "-o",
        "addopts=",
        "-q",
        "-rN",
        f"--junitxml={output / 'junit.xml'}",
        "-o",
        "junit_family=xunit2",
        f"--psc-output={output}",
        f"--psc-campaign={_write_resolved(output, resolved, args)}",
    ]
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.jobs is not None:
        argv += [f"--psc-jobs={args.jobs}"]
    if args.allure:
        # argparse hands `const` over as is: only a bare --allure is this very object.
        allure_dir = output / ALLURE_IN_RUN if args.allure is ALLURE_IN_RUN else args.allure.resolve()
        argv += ["-p", "allure_pytest.plugin", f"--alluredir={allure_dir}"]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    bound = config.timeouts.campaign_s
    sut_name = config.sut.name if config.external else ""
    print(f"psc-conformance: campaign ({role.value}) → {output}", flush=True)
    busy = _busy_counterpart_port(config, role)
    if busy is not None:
        end = CampaignEnd(None, busy)
    else:
        progress = None if args.quiet or args.verbose else _progress_display(output)
        if progress is not None and config.external:
            ports = [(key, getattr(config.counterparts, key)) for key in _COUNTERPART_PORTS[role]]
            for line in counterpart_lines(config.counterparts.url, ports):
                progress.say(line)
        with (output / "pytest.log").open("wb") as log:
            end = campaign_process.run(
                argv,
                env=env,
                bound_s=bound,
                stdout=None if args.verbose else log,
                stderr=subprocess.STDOUT if not args.verbose else None,
                journal=output / JOURNAL,
                on_tick=_while_pytest_runs(progress.tick if progress is not None else None),
            )
        if progress is not None:
            progress.finish()
    code = end.returncode
    doc = _results_or_rescue(
        output, code, end.error, config, role, sut_name, lang, args, journal_upto=end.journal_at_stop
    )
    from conformance.report import bundle
    from conformance.report.junit import add_requirement_cases

    add_requirement_cases(output / "junit.xml", doc, lang=lang)  # a CI's test view shows requirements
    # Last: every file of the run is in it. Its times are the document's, not read back from results.json.
    manifest = bundle.seal(output, signing_key=signing_key, results=doc)
    if latest_root is not None:
        _point_latest(latest_root, output)
    _print_summary(doc, output, lang)
    key = bundle.thumbprint(bundle.load_public_key(manifest.parent / PUBLIC_KEY))
    print(f"sealed: {manifest.name} signed by key {key} (psc-conformance verify {output})")
    if end.interrupted_by is signal.SIGINT:
        return INTERRUPTED_EXIT
    return _exit_status(doc, code)


def _while_pytest_runs(tick: Callable[[], None] | None) -> Callable[[], None]:
    """The supervisor's tick: the first imports what the run's end needs, every one shows progress."""
    pending = list(_NEEDED_AT_THE_END)

    def on_tick() -> None:
        while pending:
            importlib.import_module(pending.pop())
        if tick is not None:
            tick()

    return on_tick


def _progress_display(output: Path) -> ProgressDisplay:
    """Progress on stderr: an updating line on a terminal, a line per theme in CI (`cli.progress`)."""
    tty = sys.stderr.isatty()
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns if tty else 80
    except OSError:  # a terminal that does not tell its size
        width = 80
    return ProgressDisplay(output, sys.stderr, tty=tty, width=width)


def _resolve(config: Config, role: Role, lang: str, args: argparse.Namespace) -> Config:
    """The configuration with the command line's choices applied: what the campaign process runs."""
    campaign = dataclasses.replace(
        config.campaign,
        lang=lang,
        attestations=args.attestations.resolve() if args.attestations else config.campaign.attestations,
        waivers=args.waivers.resolve() if args.waivers else config.campaign.waivers,
        swagger_dir=args.swagger.resolve() if args.swagger else config.campaign.swagger_dir,
    )
    if campaign.waivers is not None:
        from conformance.campaign.waivers import load_waivers

        load_waivers(campaign.waivers)  # a bad waiver file is a usage error now, not in the campaign process
    return dataclasses.replace(config, sut=dataclasses.replace(config.sut, role=role), campaign=campaign)


def _write_resolved(output: Path, config: Config, args: argparse.Namespace) -> Path:
    """`campaign.json`: the resolved campaign, handed to pytest and kept beside the report."""
    path = output / RESOLVED_CAMPAIGN
    document = {"config": to_document(config), "faults": list(args.fault), "variants": list(args.variant)}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _check_faults(names: list[str], role: Role) -> None:
    """Unknown faults are a usage error, said before anything starts, with the closest known name."""
    from conformance.reference import registry

    try:
        registry.check_faults(names, role)
    except UsageError as exc:
        raise UsageError(f"{exc}; `psc-conformance faults` lists them") from None


def _check_variants(names: list[str], role: Role) -> None:
    """Unknown variants are a usage error, said before anything starts, with the closest known name."""
    from conformance.reference import registry

    try:
        registry.check_variants(names, role)
    except UsageError as exc:
        raise UsageError(f"{exc}; `psc-conformance variants` lists them") from None


def _scenario_dirs(role: Role) -> list[Path]:
    root = scenarios_root()
    return [d for d in (root / "harness", root / role.value) if d.is_dir()]


def _output_dir(explicit: Path | None, config: Config, *, force: bool = False) -> tuple[Path, Path | None]:
    """The run's directory, claimed for this run alone, and the root under which `latest` must point at it
    (default layout only). A directory that already holds a run is never reused, unless `force`."""
    if explicit is not None:
        output = explicit.resolve()
        if output.exists() and not output.is_dir():
            raise UsageError(f"--output {explicit}: not a directory")
        output.mkdir(parents=True, exist_ok=True)
        held = [name for name in (*_OUTPUTS, *_OUTPUT_DIRS) if (output / name).exists()]
        if held and not force:
            raise UsageError(
                f"--output {explicit} already holds a run ({', '.join(held[:4])}): choose another "
                "directory or remove it (--force replaces that run)"
            )
        for name in _OUTPUTS if force else ():
            (output / name).unlink(missing_ok=True)
        for name in _OUTPUT_DIRS if force else ():
            shutil.rmtree(output / name, ignore_errors=True)
        _claim(output)
        return output, None
    root = config.campaign.output.resolve()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for suffix in itertools.count(1):
        output = root / (stamp if suffix == 1 else f"{stamp}-{suffix}")
        try:
            output.mkdir(parents=True)  # atomic: of two runs started in the same second, one gets -2
        except FileExistsError:
            continue
        _claim(output)
        return output, root
    raise AssertionError("unreachable")


def _claim(output: Path) -> None:
    """Create the run's first file exclusively, so that two runs given one directory at once cannot both
    write into it (`campaign.json` is rewritten with the resolved campaign next)."""
    try:
        (output / RESOLVED_CAMPAIGN).open("x").close()
    except FileExistsError:
        raise UsageError(f"{output}: another run started in it just now: choose another directory") from None


def _busy_counterpart_port(config: Config, role: Role) -> str | None:
    """Why the counterparts of an external campaign cannot listen, if one of their ports is taken.

    They listen on the fixed ports the vendor's SUT was configured with ([counterparts]): a port another
    campaign or service holds is said now, naming its setting, rather than erring in every scenario.
    Embedded campaigns use ephemeral ports and never clash.
    """
    if not config.external:
        return None
    settings = config.counterparts
    for key in _COUNTERPART_PORTS[role]:
        port: int = getattr(settings, key)
        problem = _cannot_listen(settings.host, port) if port else None
        if problem is not None:
            return (
                f"[counterparts] {key} = {port}: the harness cannot listen on {settings.host}:{port} "
                f"({problem}); another campaign or service holds it: stop it, or choose another port "
                "(and configure the SUT with it)"
            )
    return None


def _cannot_listen(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the counterparts' listeners bind
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _results_or_rescue(
    output: Path,
    code: int | None,
    error: str | None,
    config: Config,
    role: Role,
    sut_name: str,
    lang: str,
    args: argparse.Namespace,
    *,
    journal_upto: int | None = None,
) -> dict[str, Any]:
    """Read the campaign's results, or rebuild them from its journal when pytest did not finish: the
    scenarios that ended as they ended, every other planned one `not_run`, with why.

    `journal_upto`: the journal's size when pytest was asked to stop. A scenario whose record came after
    may have had the SUT and counterparts stopped under it: its outcome is not kept, it is `not_run` too.
    """
    results = output / "results.json"
    if error is None and code in (0, 1, 3) and results.exists():
        doc: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
        return doc
    from conformance.campaign.attestation import load_attestations
    from conformance.campaign.journal import not_run_records, read_journal, read_plan
    from conformance.campaign.plugin import Campaign, write_campaign
    from conformance.campaign.results import CampaignStatus, SutInfo, write_results
    from conformance.campaign.waivers import load_waivers
    from conformance.report import render_html

    if error is None:
        error = {
            2: "pytest was interrupted",
            4: "pytest usage error (see pytest.log)",
            5: "no scenario was selected (check -k)",
        }.get(code or 0, f"the campaign process ended with status {code} (see pytest.log)")
    records = read_journal(output / JOURNAL, upto=journal_upto)
    plan = read_plan(output)
    if plan is not None:
        records += not_run_records(plan, records, f"not run, or not to its end: {error}")
    summaries = _exchange_summaries(results)  # what the campaign process wrote on its way out, if it did
    attestation_file = args.attestations or config.campaign.attestations
    waiver_file = getattr(args, "waivers", None) or config.campaign.waivers
    campaign = Campaign(
        config=config,
        role=role,
        output=output,
        lang=lang,
        attestations=load_attestations(attestation_file) if attestation_file else {},
        waivers=load_waivers(waiver_file) if waiver_file else {},
        sut=SutInfo(
            role=role,
            name=sut_name,
            base_url=config.sut.health_url,
            faults=tuple(args.fault),
            variants=tuple(getattr(args, "variant", ()) or ()),
        ),
        records=records,
        evidence=_evidence_as_written(),
    )
    doc = write_campaign(campaign, CampaignStatus(complete=False, errors=(error,), selection=args.keyword))
    if summaries:
        cited = {
            ref for scenario in doc["scenarios"] for check in scenario["checks"] for ref in check["evidence"]
        }
        doc["exchanges"] = {ref: summaries[ref] for ref in sorted(cited) if ref in summaries}
        write_results(doc, results)
        (output / "report.html").write_text(render_html(doc, lang), encoding="utf-8")
    return doc


def _exchange_summaries(results: Path) -> dict[str, Any]:
    """The summaries of cited exchanges in a `results.json` the campaign process wrote, or none."""
    try:
        summaries: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))["exchanges"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return summaries


def _evidence_as_written() -> EvidenceRecorder:
    """The rescue's recorder: it saw no exchange itself, so it keeps the evidence files the campaign
    process wrote on its way out (pytest stopped by a signal still writes them), when they are whole.
    (A class made here: the evidence package is imported by a rescue only.)"""
    from conformance.evidence import HAR_NAME, JSON_NAME, EvidenceRecorder

    class EvidenceAsWritten(EvidenceRecorder):
        def write(self, directory: str | Path, *, scenario: str | None = None) -> tuple[Path, Path]:
            paths = (Path(directory) / JSON_NAME, Path(directory) / HAR_NAME)
            try:
                for path in paths:
                    json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # none, or cut short by a kill: nothing but empty files to write
                return super().write(directory, scenario=scenario)
            return paths

    return EvidenceAsWritten()


def _point_latest(root: Path, output: Path) -> None:
    latest = root / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.is_dir():
        shutil.rmtree(latest)
    try:
        latest.symlink_to(output.name, target_is_directory=True)
    except OSError:  # a file system without symbolic links: copy instead
        shutil.copytree(output, latest)


def _exit_status(doc: dict[str, Any], pytest_code: int | None) -> int:
    from conformance.campaign.waivers import unwaived_failures

    if pytest_code == 5 or pytest_code == 4:
        return exitcodes.USAGE
    if not doc["campaign"]["complete"]:
        return exitcodes.HARNESS_OR_SUT
    if unwaived_failures(doc["requirements"]):  # a run whose every failure is waived exits 0
        return exitcodes.REQUIREMENT_FAILED
    return exitcodes.OK


def _print_summary(doc: dict[str, Any], output: Path, lang: str) -> None:
    from conformance.campaign.waivers import is_actively_waived
    from conformance.report.i18n import texts

    t = texts(lang)
    counts = doc["summary"]["verdicts"]
    outcomes = doc["summary"]["outcomes"]
    line = ", ".join(f"{t[f'verdict.{v}']} {n}" for v, n in counts.items())
    print(f"{t['verdict']}: {line}")
    print(f"{t['scenarios']}: " + ", ".join(f"{t[f'outcome.{o}']} {n}" for o, n in outcomes.items()))
    waived = f" ({t.get('waived', 'waived')})"
    failed = [
        r["id"] + (waived if is_actively_waived(r) else "")
        for r in doc["requirements"]
        if r["verdict"] == "fail"
    ]
    if failed:
        print(f"{t['verdict.fail']}: {', '.join(failed)}")
    blocked = [r for r in doc["requirements"] if r["verdict"] == "inconclusive"]
    for r in blocked:
        causes = sorted({b["root_cause"] for b in r.get("inconclusive", [])})
        print(f"{t['verdict.inconclusive']}: {r['id']} — {t['root_cause']}: {'; '.join(causes)[:300]}")
    for err in doc["campaign"]["errors"]:
        print(f"! {err}")
    print(f"report: {output / 'report.html'}")
