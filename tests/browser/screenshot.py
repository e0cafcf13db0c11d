"""Take the docs' picture of a report's cover and matrix (docs/img/report-cover.png), by hand:

    .venv/bin/python tests/browser/screenshot.py               # runs the failing campaign (~10 s) first
    .venv/bin/python tests/browser/screenshot.py --run DIR     # or pictures DIR/report.html

Headless Chromium, 1400 px wide (the issue's reading width) and 1200 px high, so that the first rows of
the matrix show under the cover; behind the same recording proxy as the browser test, so that the picture
is refused if the report tried to fetch anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from browser_campaign import run_failing_campaign
from headless_chromium import Chromium, ConnectionRecorder, find_chromium

REPO = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE = REPO / "docs" / "img" / "report-cover.png"


def take(report: Path, image: Path, width: int, height: int) -> list[str]:
    """Write the picture of `report` to `image`; the connections the report attempted (none expected)."""
    binary = find_chromium()
    if binary is None:
        raise SystemExit("no chromium or chromium-browser on PATH (Debian: apt-get install chromium)")
    with ConnectionRecorder() as network:
        Chromium(binary, network.port).screenshot(report, image, width=width, height=height)
        return network.seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, help="a run directory holding report.html (default: run one)")
    parser.add_argument("--output", type=Path, default=DEFAULT_IMAGE, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400, help="CSS pixels (default 1400)")
    parser.add_argument("--height", type=int, default=1200, help="CSS pixels (default 1200)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="psc-screenshot-") as scratch:
        run = args.run or run_failing_campaign(Path(scratch) / "fault")
        fetched = take(run / "report.html", args.output, args.width, args.height)
    if fetched:
        args.output.unlink(missing_ok=True)
        print(f"the report tried to fetch: {fetched}; no picture written", file=sys.stderr)
        return 1
    print(f"{args.output} ({args.output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
