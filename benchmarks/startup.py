"""What a campaign costs besides its scenarios' timers, piece by piece: process start-ups (python and
imports), PKI, catalogues, results, evidence, report, junit and seal.

    python benchmarks/startup.py [--repeat N] [--run DIR] [--imports N] [--json]

Each figure is the median of N (default 5) repetitions. Process start-ups are timed as separate
processes, the way a campaign starts them; the rest in this process. `--run DIR` (a run directory, e.g.
kept by `campaign.py --keep`) adds what depends on a campaign's output: results validation, report
rendering, evidence serialization, junit requirement cases, sealing. `--imports N` lists, per process,
the N imports that cost most (`python -X importtime`, cumulative).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
PYTEST_ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

# Process start-ups: what each process of a campaign imports before it does anything.
PROCESSES: dict[str, list[str]] = {
    "python alone": ["-c", "pass"],
    "pytest imported": ["-c", "import pytest"],
    "`run` command, up to its arguments parsed": ["-m", "conformance", "run", "--help"],
    "campaign plugin imported (pytest process)": ["-c", "import conformance.campaign.plugin"],
    "consumer scenarios collected (pytest --collect-only)": [
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "conformance.campaign.plugin",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        str(PROJECT / "scenarios" / "harness"),
        str(PROJECT / "scenarios" / "consumer"),
    ],
    "reference proxy command, up to its arguments parsed": [
        "-m",
        "conformance",
        "reference",
        "consumer",
        "--help",
    ],
    "reference proxy server imported": ["-c", "import conformance.reference.consumer.proxy"],
    "reference provider imported": ["-c", "import conformance.reference.provider.provider"],
}


def median_of(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def process_costs(repeat: int) -> dict[str, float]:
    """Wall time of each process start-up, and its CPU time (user + system: what the work costs, nearly
    whatever else runs on the machine), as `<name> (CPU)`."""
    costs: dict[str, float] = {}
    for name, arguments in PROCESSES.items():
        walls, cpus = [], []
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, *arguments], env=PYTEST_ENV, cwd=PROJECT, capture_output=True, check=True
            )
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        costs[name] = statistics.median(walls)
        costs[f"{name} (CPU)"] = statistics.median(cpus)
    return costs


def top_imports(arguments: list[str], count: int) -> list[tuple[float, str]]:
    """The `count` imports with the largest cumulative time, in seconds."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        env=PYTEST_ENV,
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    costs = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            costs.append((int(parts[1]) / 1e6, parts[2].rstrip()))
    return sorted(costs, reverse=True)[:count]


def in_process_costs(repeat: int) -> dict[str, float]:
    from conformance.pki import build_pki, write_pki
    from conformance.requirements import load_catalogues, loader

    pki = build_pki()
    scratch = Path(tempfile.mkdtemp(prefix="psc-startup-"))
    counter = iter(range(10**6))

    def load_catalogues_with(memo: str) -> Callable[[], object]:
        def load() -> object:
            os.environ[loader.SCHEMA_MEMO_VARIABLE] = memo
            load_catalogues.cache_clear()
            return load_catalogues()

        return load

    previous = os.environ.get(loader.SCHEMA_MEMO_VARIABLE)
    memo = str(scratch / "memo")
    load_catalogues_with(memo)()  # the memo now holds the packaged catalogues
    try:
        return {
            "test PKI built (EC P-256)": median_of(repeat, build_pki),
            "test PKI written (PEM, keys, PKCS#12)": median_of(
                repeat, lambda: write_pki(pki, scratch / f"pki-{next(counter)}", p12_password="x")
            ),
            "catalogues loaded, schema checked": median_of(repeat, load_catalogues_with("off")),
            "catalogues loaded, schema remembered": median_of(repeat, load_catalogues_with(memo)),
        }
    finally:
        if previous is None:
            os.environ.pop(loader.SCHEMA_MEMO_VARIABLE, None)
        else:
            os.environ[loader.SCHEMA_MEMO_VARIABLE] = previous
        load_catalogues.cache_clear()
        shutil.rmtree(scratch, ignore_errors=True)


def run_costs(run: Path, repeat: int) -> dict[str, float]:
    """What the end of a campaign does with its output, timed on the output of `run`."""
    from conformance.campaign.results import validate_results
    from conformance.report import bundle, render_html
    from conformance.report.junit import add_requirement_cases

    doc: dict[str, Any] = json.loads((run / "results.json").read_text(encoding="utf-8"))
    evidence = json.loads((run / "evidence" / "evidence.json").read_text(encoding="utf-8"))
    scratch = Path(tempfile.mkdtemp(prefix="psc-startup-"))
    try:
        copy = scratch / "run"
        shutil.copytree(run, copy)

        def seal() -> object:
            return bundle.seal(copy)

        def junit() -> object:
            shutil.copy(run / "junit.xml", copy / "junit.xml")
            return add_requirement_cases(copy / "junit.xml", doc, lang="fr")

        return {
            "results.json read (json.loads)": median_of(
                repeat, lambda: json.loads((run / "results.json").read_text(encoding="utf-8"))
            ),
            "results.json validated (jsonschema)": median_of(repeat, lambda: validate_results(doc)),
            "results.json serialized, indent=2": median_of(repeat, lambda: json.dumps(doc, indent=2)),
            "evidence.json serialized, indent=2": median_of(repeat, lambda: json.dumps(evidence, indent=2)),
            "evidence.json serialized, compact": median_of(repeat, lambda: json.dumps(evidence)),
            "report.html rendered": median_of(repeat, lambda: render_html(doc, "fr")),
            "junit.xml requirement cases added": median_of(repeat, junit),
            "run sealed (manifest hashed, signed)": median_of(repeat, seal),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measure (default 5)")
    parser.add_argument(
        "--run", type=Path, metavar="DIR", help="a run directory: also time its end of campaign"
    )
    parser.add_argument("--imports", type=int, default=0, metavar="N", help="list the N costliest imports")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {
        "processes": process_costs(args.repeat),
        "in process": in_process_costs(args.repeat),
    }
    if args.run:
        figures["end of campaign"] = run_costs(args.run, args.repeat)
    if args.json:
        print(
            json.dumps(
                {group: {k: round(v, 4) for k, v in costs.items()} for group, costs in figures.items()}
            )
        )
    else:
        for group, costs in figures.items():
            print(f"\n{group} (median of {args.repeat}):")
            for name, seconds in costs.items():
                print(f"  {seconds * 1000:8.1f} ms  {name}")
    if args.imports:
        for name, arguments in PROCESSES.items():
            if arguments[:1] == ["-m"] and arguments[1] == "pytest":
                continue  # pytest's own imports are those of "pytest imported"
            print(f"\ncostliest imports: {name}")
            for seconds, module in top_imports(arguments, args.imports):
                print(f"  {seconds * 1000:8.1f} ms  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
